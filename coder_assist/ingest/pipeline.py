"""Ingest transcript files: parse and segment first (no writes), then one transaction per file.

A file that cannot be used raises ``InputError`` before anything is written, so the project is
left as it was. Identical content is a no-op; a changed file of the same name becomes a new
version (the old version and whatever was coded on it are kept, no longer current).
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ..store import audit
from ..store.db import transaction, utcnow
from ..errors import InputError
from .formats import SUPPORTED, ParsedTranscript, parse_bytes
from .segment import Segment, segment_turns
from ..store.tokens import TokenCounter
from .transcript import TurnSpan, render


@dataclass
class Prepared:
    """A parsed and segmented file, not yet stored."""

    path: Path
    name: str
    sha256: str
    parsed: ParsedTranscript
    text: str
    turns: list[TurnSpan]
    segments: list[Segment]


@dataclass
class FileResult:
    path: str
    name: str
    status: str
    """``added``, ``new-version``, ``unchanged`` or ``updated`` (wave/case changed only)."""
    document_id: int
    version: int
    turns: int = 0
    segments: int = 0
    speakers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    message: str = ""


def expand(paths: list[Path]) -> list[Path]:
    """Files as given; folders expand to the supported files inside them, sorted."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUPPORTED)
        else:
            out.append(p)
    return out


def prepare(path: Path, max_bytes: int, max_tokens: int, counter: TokenCounter, name: str | None = None) -> Prepared:
    """Read, check, parse, render and segment one file. Raises ``InputError``; writes nothing."""
    if not path.exists():
        raise InputError(path, "no such file")
    if not path.is_file():
        raise InputError(path, "not a regular file")
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(path, f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit (ingest.max_file_mb)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from exc
    parsed = parse_bytes(path, data)
    text, turns = render(parsed)
    if not turns:
        raise InputError(path, "no transcript text found")
    sha = hashlib.sha256(data).hexdigest()
    segments = segment_turns(text, turns, sha, max_tokens=max_tokens, counter=counter)
    return Prepared(path, name or path.name, sha, parsed, text, turns, segments)


def store(
    conn: sqlite3.Connection, prep: Prepared, actor: str, wave: int | None, case: str | None
) -> tuple[FileResult, list[str]]:
    """Write one prepared file in one transaction. Returns the result and the segment ids
    of a superseded version (to drop from the index)."""
    speakers = sorted({t.speaker for t in prep.turns if t.speaker})
    warnings = list(prep.parsed.warnings)
    with transaction(conn):
        same = conn.execute(
            "SELECT id, name, version, wave, case_id FROM documents WHERE sha256 = ? ORDER BY current DESC, id DESC",
            (prep.sha256,),
        ).fetchone()
        if same is not None:
            return _unchanged(conn, prep, same, actor, wave, case, speakers), []
        if case is None:
            case = _infer_case(conn, speakers)
        prior = conn.execute(
            "SELECT id, version FROM documents WHERE name = ? AND current = 1", (prep.name,)
        ).fetchone()
        version = 1
        superseded: list[str] = []
        if prior is not None:
            version = prior["version"] + 1
            superseded = [r[0] for r in conn.execute("SELECT id FROM segments WHERE document_id = ?", (prior["id"],))]
            conn.execute("UPDATE documents SET current = 0 WHERE id = ?", (prior["id"],))
        doc_id = conn.execute(
            "INSERT INTO documents (name, version, path, sha256, format, encoding, labelled, text, text_sha256,"
            " wave, case_id, ingested_at, ingested_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                prep.name, version, str(prep.path), prep.sha256, prep.parsed.format, prep.parsed.encoding,
                int(prep.parsed.labelled), prep.text, hashlib.sha256(prep.text.encode()).hexdigest(),
                wave, case, utcnow(), actor,
            ),
        ).lastrowid  # fmt: skip
        turn_ids = {}
        for t in prep.turns:
            turn_ids[t.idx] = conn.execute(
                "INSERT INTO turns (document_id, idx, speaker, role, label, start, end, time_start, time_end)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (doc_id, t.idx, t.speaker, t.role, t.label, t.start, t.end, t.time_start, t.time_end),
            ).lastrowid
        conn.executemany(
            "INSERT INTO segments (id, document_id, turn_id, idx, speaker, start, end, text, n_tokens)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(s.id, doc_id, turn_ids[s.turn_idx], s.idx, s.speaker, s.start, s.end, s.text, s.n_tokens) for s in prep.segments],
        )
        status = "new-version" if prior else "added"
        audit.append(conn, actor, "ingest", {
            "document_id": doc_id, "name": prep.name, "version": version, "path": str(prep.path),
            "sha256": prep.sha256, "format": prep.parsed.format, "encoding": prep.parsed.encoding,
            "wave": wave, "case": case, "turns": len(prep.turns), "segments": len(prep.segments),
            "speakers": speakers, "warnings": warnings, "status": status,
        })  # fmt: skip
    result = FileResult(
        str(prep.path), prep.name, status, doc_id, version, len(prep.turns), len(prep.segments), speakers, warnings,
        f"version {version} (previous version kept)" if prior else "",
    )
    return result, superseded


def _unchanged(
    conn: sqlite3.Connection, prep: Prepared, same: sqlite3.Row, actor: str, wave: int | None, case: str | None,
    speakers: list[str],
) -> FileResult:
    changes = {}
    if wave is not None and wave != same["wave"]:
        changes["wave"] = wave
    if case is not None and case != same["case_id"]:
        changes["case_id"] = case
    result = FileResult(str(prep.path), same["name"], "unchanged", same["id"], same["version"], speakers=speakers)
    if not changes:
        result.message = f"identical content already ingested as {same['name']} v{same['version']}; nothing to do"
        return result
    sets = ", ".join(f"{k} = ?" for k in changes)
    conn.execute(f"UPDATE documents SET {sets} WHERE id = ?", (*changes.values(), same["id"]))
    audit.append(conn, actor, "document-metadata", {"document_id": same["id"], "name": same["name"], **changes})
    result.status = "updated"
    result.message = "identical content; updated " + ", ".join(f"{k.removesuffix('_id')}={v}" for k, v in changes.items())
    return result


def _infer_case(conn: sqlite3.Connection, speakers: list[str]) -> str | None:
    """The case of the transcript's known participants, when they all share one."""
    if not speakers:
        return None
    marks = ",".join("?" * len(speakers))
    cases = {r[0] for r in conn.execute(f"SELECT case_id FROM participants WHERE speaker IN ({marks})", speakers) if r[0]}
    return cases.pop() if len(cases) == 1 else None
