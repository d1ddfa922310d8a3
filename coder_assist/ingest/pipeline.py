"""Ingest transcript files: parse and segment first (no writes), then one transaction per file.

A file that cannot be used raises ``InputError`` before anything is written, so the project is
left as it was. Identical content is a no-op; a changed file of the same name becomes a new
version (the old version and whatever was coded on it are kept, no longer current).

Folders are walked without leaving them (:func:`expand`): a symbolic link inside a folder is
taken only when it points to a regular file inside that folder; devices, FIFOs and sockets are
skipped, hidden entries (names starting with ``.``) too, and at most ``MAX_FILES_PER_CALL`` files
are taken per call. A link the user names is followed, with a notice.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..store import audit
from ..store.db import transaction, utcnow
from ..errors import InputError
from .formats import SUPPORTED, ParsedTranscript, parse_bytes
from .segment import Segment, segment_turns
from ..store.tokens import TokenCounter
from .transcript import TurnSpan, render
from .limits import MAX_FILES_PER_CALL, MAX_FOLDER_DEPTH


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


@dataclass
class Expansion:
    """The files an ingest takes, and a line for everything passed over or followed."""

    files: list[Path] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    hidden: int = 0
    """Hidden entries passed over (counted, not named)."""
    include_hidden: bool = False

    def add(self, path: Path) -> None:
        if len(self.files) >= MAX_FILES_PER_CALL:
            raise InputError(shown(path), f"more than {MAX_FILES_PER_CALL:,} files in one ingest (the limit per "
                                          "call); ingest the folders in parts")  # fmt: skip
        self.files.append(path)


def shown(path: Path | str) -> str:
    """A path as text that can always be printed and stored (undecodable bytes escaped as ``\\udcNN``)."""
    return str(path).encode("utf-8", "backslashreplace").decode("utf-8")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _link_target(link: Path, root: Path) -> tuple[Path | None, str]:
    """The target of a link found inside ``root`` when it is a regular file inside ``root``, else why not."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):
        return None, "a broken or looping symbolic link"
    if not target.is_relative_to(root):
        return None, f"a symbolic link to {shown(target)}, outside the folder"
    if not target.is_file():
        return None, "a symbolic link to a folder or special file"
    return target, ""


def _walk(folder: Path, root: Path, found: Expansion, depth: int = 0) -> None:
    """Add the supported files under ``folder`` (sorted, never leaving ``root``) to ``found``."""
    unsupported: list[str] = []
    if depth > MAX_FOLDER_DEPTH:
        found.notices.append(f"{shown(folder)}: skipped, over {MAX_FOLDER_DEPTH} folder levels deep")
        return
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as exc:
        found.notices.append(f"{shown(folder)}: skipped, cannot read the folder ({exc.strerror or exc})")
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.name.startswith(".") and not found.include_hidden:
            found.hidden += 1
            continue
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError as exc:
            found.notices.append(f"{shown(path)}: skipped, cannot read it ({exc.strerror or exc})")
            continue
        if stat.S_ISLNK(mode):
            target, why = _link_target(path, root)
            if target is None:
                found.notices.append(f"{shown(path)}: skipped, {why}")
                continue
            mode = target.stat().st_mode
        if stat.S_ISDIR(mode):
            _walk(path, root, found, depth + 1)
        elif not stat.S_ISREG(mode):
            found.notices.append(f"{shown(path)}: skipped, {_kind(mode)}")
        elif path.suffix.lower() not in SUPPORTED:
            unsupported.append(entry.name)
        else:
            found.add(path)
    if unsupported:
        names = ", ".join(shown(name) for name in unsupported[:10]) + (" ..." if len(unsupported) > 10 else "")
        found.notices.append(f"{shown(folder)}: skipped {len(unsupported)} file(s) of unsupported type: {names}")


def expand(paths: list[Path], include_hidden: bool = False) -> Expansion:
    """Files as given; folders expand to the supported files inside them, sorted, never leaving
    the folder (hidden entries skipped unless ``include_hidden``). Raises ``InputError`` over
    ``MAX_FILES_PER_CALL`` files (nothing is ingested)."""
    found = Expansion(include_hidden=include_hidden)
    for p in paths:
        if p.is_symlink():
            found.notices.append(f"{shown(p)}: symbolic link named on the command line, followed to "
                                 f"{shown(p.resolve())}")  # fmt: skip
        if p.is_dir():
            hidden = found.hidden
            _walk(p, p.resolve(), found)
            if found.hidden > hidden:
                found.notices.append(f"{shown(p)}: skipped {found.hidden - hidden} hidden file(s) or folder(s) "
                                     "(names starting with '.')")  # fmt: skip
        else:
            found.add(p)
    return found


def prepare(path: Path, max_bytes: int, max_tokens: int, counter: TokenCounter, name: str | None = None) -> Prepared:
    """Read, check, parse, render and segment one file. Raises ``InputError``; writes nothing."""
    if shown(path) != str(path) or (name is not None and shown(name) != name):
        raise InputError(shown(path), "file name is not valid UTF-8; rename the file")
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
