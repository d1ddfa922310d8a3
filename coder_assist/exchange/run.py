"""The exchange step: export the project to, and import it from, REFI-QDA files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..progress import Progress
from ..store import audit
from ..store.context import StoreContext
from ..store.db import transaction
from ..store.vectors import Vectors
from . import collect, load, reader, writer
from .load import ImportReport

KINDS = ("qdpx", "qdc")


@dataclass
class ExportReport:
    path: str
    kind: str
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    sha256: str = ""


def export(store: StoreContext, path: Path, kind: str, actor: str) -> ExportReport:
    """Write the project (``qdpx``) or its codebook (``qdc``); the file is validated against the
    REFI-QDA schema before it is written, and never written when invalid."""
    _check_kind(kind, path)
    got = collect.collect(store.conn, store.config.project.name, actor, codebook_only=kind == "qdc")
    warnings = list(got.project.warnings)
    if kind == "qdpx":
        warnings += writer.write_qdpx(got.project, path)
    else:
        warnings += writer.write_qdc(got.project, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with transaction(store.conn):
        audit.append(store.conn, actor, "export", {"format": kind, "path": str(path), "sha256": sha,
                                                   "counts": got.counts, "warnings": warnings})  # fmt: skip
    return ExportReport(str(path), kind, got.counts, warnings, sha)


def import_(store: StoreContext, vectors: Vectors, path: Path, kind: str | None, coder: str | None,
            index: bool = True, progress: Progress | None = None) -> ImportReport:  # fmt: skip
    """Read a ``.qdpx`` or ``.qdc`` (refused with one ``InputError`` line when unsafe or malformed)
    and import it as decisions of ``coder``; new segments are indexed afterwards."""
    kind = kind or path.suffix.lower().lstrip(".")
    _check_kind(kind, path)
    if not path.is_file():
        raise InputError(path, "no such file" if not path.exists() else "not a regular file")
    rp = reader.read_qdpx(path) if kind == "qdpx" else reader.read_qdc(path)
    report = load.import_project(store, rp, path, coder, kind)
    if index and report.counts.get("sources"):
        vectors.index_pending(progress)
    return report


def _check_kind(kind: str, path: Path) -> None:
    if kind not in KINDS:
        raise InputError(path, f"unknown exchange format {kind!r} (use .qdpx for a project, .qdc for a codebook)")
