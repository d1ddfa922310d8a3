"""The ingest step: files and folders into the store and the vector index; participant attributes;
who asks (interviewer proposals, ``roles``), listed and decided here for ``Project``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CoderAssistError, InputError
from ..progress import NoProgress, Progress
from ..store import audit
from ..store.context import StoreContext
from ..store.db import transaction
from ..store.tokens import default_counter
from ..store.vectors import Vectors
from . import participants, pipeline, roles


@dataclass
class IngestReport:
    """Every file's outcome: stored (``files``) or failed with its reason (``failures``); files a
    folder walk passed over are named in ``warnings``."""

    files: list[pipeline.FileResult] = field(default_factory=list)
    failures: list[InputError] = field(default_factory=list)
    """One per file that could not be ingested, bad input or an unexpected fault; the batch went on."""
    indexed: int = 0
    warnings: list[str] = field(default_factory=list)
    proposals: list[roles.Detection] = field(default_factory=list)
    """Interviewers detected in this ingest, waiting for a coder's confirmation."""

    @property
    def ok(self) -> bool:
        return not self.failures


def ingest(
    store: StoreContext, vectors: Vectors, paths: list[Path], actor: str, *, wave: int | None = None,
    case: str | None = None, name: str | None = None, progress: Progress | None = None, index: bool = True,
    include_hidden: bool = False,
) -> IngestReport:  # fmt: skip
    """Ingest files or folders; bad files are reported in ``failures`` and skipped.

    Each file is prepared and stored on its own: a file that fails, for any reason, is rolled back
    and reported, and the others are still stored and indexed. Folders are walked by
    :func:`pipeline.expand` (hidden entries only with ``include_hidden``).
    """
    progress = progress or NoProgress()
    report = IngestReport()
    expansion = pipeline.expand(paths, include_hidden)
    files = expansion.files
    report.warnings += expansion.notices
    if name and len(files) != 1:
        raise CoderAssistError("--name needs exactly one file")
    cfg = store.config
    max_bytes = int(cfg.ingest.max_file_mb * 1_000_000)
    stale: list[str] = []
    progress.begin("ingesting", len(files))
    for path in files:
        try:
            prep = pipeline.prepare(path, max_bytes, cfg.segmentation.max_tokens, default_counter(), name)
            result, superseded = pipeline.store(store.conn, prep, actor, wave, case)
            report.files.append(result)
            stale += superseded
            if result.status == "updated" and index:
                vectors.refresh_metadata("AND d.id = ?", (result.document_id,))
        except InputError as exc:
            report.failures.append(exc)
        except Exception as exc:  # noqa: BLE001 - one file's fault must not stop the batch
            report.failures.append(_unexpected(path, exc))
        progress.advance()
    progress.end()
    # Who asks: proposals for documents nothing says it of yet (see ingest.roles), as warnings.
    new = roles.propose(store.conn, [f.document_id for f in report.files], actor)
    report.proposals = new
    report.warnings += roles.warnings(new)
    if index:
        vectors.delete(stale)
        report.indexed = vectors.index_pending(progress=progress)
    return report


def _unexpected(path: Path, exc: Exception) -> InputError:
    """An unexpected fault while ingesting ``path`` as the file's failure, on one line."""
    detail = " ".join(str(exc).split())[:200]
    return InputError(pipeline.shown(path), f"unexpected error ({type(exc).__name__}{': ' + detail if detail else ''})")


def import_attributes(store: StoreContext, vectors: Vectors, csv_path: Path, actor: str) -> participants.AttributeReport:
    """Add or update participant attributes from a CSV, and refresh the index metadata."""
    rows, warnings = participants.read_csv(csv_path)
    with transaction(store.conn):
        report = participants.upsert(store.conn, csv_path, rows)
        report.warnings += warnings
        if report.speakers_changed:
            audit.append(store.conn, actor, "attributes", {
                "path": str(csv_path), "added": report.added, "updated": report.updated,
            })  # fmt: skip
    if report.speakers_changed:
        speakers = report.speakers_changed
        vectors.refresh_metadata(f"AND s.speaker IN ({','.join('?' * len(speakers))})", tuple(speakers))
    return report


def speaker_rows(store: StoreContext, document: str | None = None) -> list[dict]:
    """Speakers per current document with their role, question share and detection status."""
    return roles.speakers(store.conn, document)


def decide_speakers(store: StoreContext, targets: list[str | int], action: str, coder: str | None,
                    note: str | None = None) -> list[dict]:  # fmt: skip
    """Confirm or reject detected interviewers (ids, document names or speakers), all or nothing."""
    return roles.decide(store.conn, targets, action, coder, note=note)
