"""The project configuration file (``coder-assist.toml``): provider, model, embedder, coder."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import InputError
from .files import atomic_write, read_bounded

CONFIG_NAME = "coder-assist.toml"
MAX_CONFIG_BYTES = 1_000_000
"""A config file larger than this (1 MB) is refused unread: real ones are a few hundred bytes."""
_KIND = re.compile(r"[A-Z][A-Z0-9]*")


class _Section(BaseModel):
    """Unknown keys are errors, and no number may be NaN or infinite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


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

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: dict[str, str]) -> dict[str, str]:
        for kind, rx in patterns.items():
            if not _KIND.fullmatch(kind):
                raise ValueError(f"{kind!r}: a kind is upper-case letters and digits, e.g. ID (it names the placeholder [ID_1])")
            try:
                empty = re.compile(rx).fullmatch("") is not None
            except (re.error, RecursionError, OverflowError) as exc:
                raise ValueError(f"{kind}: not a regular expression ({exc})") from None
            if empty:
                raise ValueError(f"{kind}: {rx!r} matches the empty string")
        return patterns


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


Price = Annotated[float, Field(ge=0)]
"""USD per million tokens."""


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

    @field_validator("url")
    @classmethod
    def _server(cls, url: str) -> str:
        u = _parsed(url)
        if u is not None and (u.scheme not in ("http", "https") or not u.hostname):
            raise ValueError(f"{url!r} is not http://host:port or https://host:port")
        return url


class StoreSection(_Section):
    url: str = ""
    """Empty: the embedded SQLite ``project.db``. ``postgresql://user@host:port/db``: a shared
    PostgreSQL database (passwords from ``PGPASSWORD``, a ``~/.pgpass`` or a libpq service file,
    never from this file)."""

    @field_validator("url")
    @classmethod
    def _database(cls, url: str) -> str:
        u = _parsed(url)
        if u is not None:
            if u.scheme not in ("postgresql", "postgres") or not (u.hostname or u.path.strip("/")):
                raise ValueError(f"{url!r} is not postgresql://user@host:port/database")
            if u.password:
                raise ValueError("the URL holds a password: keep it out of the config (PGPASSWORD, ~/.pgpass or a libpq service file)")
        return url


def _parsed(url: str) -> Any:
    """``url`` parsed (None when empty); a port out of range or not a number is a ValueError."""
    if not url:
        return None
    try:
        u = urlparse(url)
        u.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a URL ({exc})") from None
    return u


class SegmentationSection(_Section):
    max_tokens: int = Field(default=64, ge=8, le=256)
    """Upper bound for one segment in word-pieces (the embedder truncates beyond 256)."""


class IngestSection(_Section):
    max_file_mb: float = Field(default=50, gt=0, le=100_000)


class Config(_Section):
    project: ProjectSection = ProjectSection()
    provider: ProviderSection = ProviderSection()
    embedder: EmbedderSection = EmbedderSection()
    index: IndexSection = IndexSection()
    store: StoreSection = StoreSection()
    segmentation: SegmentationSection = SegmentationSection()
    ingest: IngestSection = IngestSection()
    privacy: PrivacySection = PrivacySection()
    coding: CodingSection = CodingSection()
    budget: BudgetSection = BudgetSection()
    prices: dict[str, tuple[Price, Price]] = DEFAULT_PRICES

    @classmethod
    def load(cls, path: Path) -> "Config":
        """Read and validate a config file; errors name the file and the first problem (one line)."""
        raw = read_bounded(path, MAX_CONFIG_BYTES, "config")
        try:
            data = tomllib.loads(raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n"))  # as read_text reads
        except UnicodeDecodeError as exc:
            raise InputError(path, f"cannot read config: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise InputError(path, f"invalid TOML: {' '.join(str(exc).split())}") from exc
        except (ValueError, RecursionError) as exc:  # a 5,000-digit integer; arrays nested too deep
            raise InputError(path, f"invalid TOML: {' '.join(str(exc).split()) or 'nested too deeply'}") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InputError(path, f"invalid config at {where}: {' '.join(first['msg'].split())}") from exc

    def save(self, path: Path) -> None:
        """Write the config atomically."""
        data = self.model_dump(exclude_none=True)
        data["prices"] = {k: list(v) for k, v in data["prices"].items()}
        atomic_write(path, tomli_w.dumps(data).encode("utf-8"))
