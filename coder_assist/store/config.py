"""The project configuration file (``coder-assist.toml``): provider, model, embedder, coder."""

from __future__ import annotations

import tomllib
from pathlib import Path

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InputError

CONFIG_NAME = "coder-assist.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectSection(_Section):
    name: str = "coder-assist project"
    coder: str = ""
    """Default coder name for decisions; ``--coder`` or ``CODER_ASSIST_CODER`` override it."""


class ProviderSection(_Section):
    name: str = "auto"
    """``offline`` (no model, no network), ``openai`` (any OpenAI-compatible endpoint), a plug-in's
    name, or ``auto``: openai when a base URL or ``OPENAI_API_KEY``/``OPENAI_BASE_URL`` is set."""
    model: str = ""
    base_url: str = ""
    temperature: float = Field(default=0.0, ge=0, le=2)
    seed: int | None = 42
    timeout: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)
    concurrency: int = Field(default=4, ge=1, le=64)
    """Model calls in flight at once during a coding run (halved on a 429, grown back as calls succeed)."""
    rpm: int = Field(default=0, ge=0)
    """Client-side limit of requests per minute (0: none)."""
    tpm: int = Field(default=0, ge=0)
    """Client-side limit of prompt tokens per minute (0: none)."""
    structured_output: str = "auto"
    """``auto`` (json_schema, falling back to function calling, then JSON mode) or one of them."""
    language: str = "en"
    """Language of the transcripts for the offline provider: ``en`` parses with spaCy; any other
    language gets only conservative in-vivo codes (detected per segment as well)."""


class PrivacySection(_Section):
    redact: str = Field(default="auto", pattern="^(auto|always|never)$")
    """``auto``: pseudonymise before sending text to any host that is not this machine."""
    extra_names: list[str] = []
    patterns: dict[str, str] = {}
    """Extra regular expressions, by placeholder kind (``ID = 'EMP-\\d+'``), on top of e-mail and phone."""


class CodingSection(_Section):
    context_turns: int = Field(default=2, ge=0, le=10)
    similar: int = Field(default=3, ge=0, le=20)
    include_researchers: bool = False
    """Code interviewer and moderator turns too (off: only participants' talk is coded)."""
    completion_tokens_estimate: int = Field(default=180, ge=1)
    segments_per_call: int = Field(default=1, ge=1, le=32)
    """Consecutive segments of one document coded in one model request (passage prompts): fewer
    prompt tokens per transcript token, at some cost in attention per segment. 1: one per request."""


DEFAULT_PRICES = {
    # USD per million tokens (input, output). Local servers cost nothing. Override in the config.
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
}


class BudgetSection(_Section):
    max_cost_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Stop a coding run before a call would take its cost above this (USD); ``--max-cost`` overrides."""


class EmbedderSection(_Section):
    name: str = "minilm"
    """``minilm`` (offline all-MiniLM-L6-v2), ``openai``, or a plug-in's name."""
    model: str = ""
    base_url: str = ""
    batch_size: int = Field(default=32, ge=1, le=1024)


class IndexSection(_Section):
    url: str = ""
    """Empty: embedded chroma under ``index/``. ``http://host:port``: a shared chroma server."""


class SegmentationSection(_Section):
    max_tokens: int = Field(default=64, ge=8, le=256)
    """Upper bound for one segment in word-pieces (the embedder truncates beyond 256)."""


class IngestSection(_Section):
    max_file_mb: float = Field(default=50, gt=0)


class Config(_Section):
    project: ProjectSection = ProjectSection()
    provider: ProviderSection = ProviderSection()
    embedder: EmbedderSection = EmbedderSection()
    index: IndexSection = IndexSection()
    segmentation: SegmentationSection = SegmentationSection()
    ingest: IngestSection = IngestSection()
    privacy: PrivacySection = PrivacySection()
    coding: CodingSection = CodingSection()
    budget: BudgetSection = BudgetSection()
    prices: dict[str, tuple[float, float]] = DEFAULT_PRICES

    @classmethod
    def load(cls, path: Path) -> "Config":
        """Read and validate a config file; errors name the file and the first problem."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(path, f"cannot read config: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise InputError(path, f"invalid TOML: {exc}") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InputError(path, f"invalid config at {where}: {first['msg']}") from exc

    def save(self, path: Path) -> None:
        """Write the config atomically."""
        tmp = path.with_suffix(".toml.tmp")
        data = self.model_dump(exclude_none=True)
        data["prices"] = {k: list(v) for k, v in data["prices"].items()}
        tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
        tmp.replace(path)
