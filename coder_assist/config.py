"""The project configuration file (``coder-assist.toml``): provider, model, embedder, coder."""

from __future__ import annotations

import tomllib
from pathlib import Path

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import InputError

CONFIG_NAME = "coder-assist.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectSection(_Section):
    name: str = "coder-assist project"
    coder: str = ""
    """Default coder name for decisions; ``--coder`` or ``CODER_ASSIST_CODER`` override it."""


class ProviderSection(_Section):
    name: str = "offline"
    """``offline`` (no model, no network) or ``openai`` (any OpenAI-compatible endpoint)."""
    model: str = ""
    base_url: str = ""


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
        tmp.write_text(tomli_w.dumps(self.model_dump()), encoding="utf-8")
        tmp.replace(path)
