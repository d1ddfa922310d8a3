"""Human decisions on suggestions, and manual codebook edits: the only way the codebook changes.

Every function here needs a named coder, runs in one write transaction with the guard flag set
(see ``db.ProjectConnection``), and appends an audit event in that same transaction. Decisions are
never deleted: ``undo`` records a new decision that reverses an earlier one. Concurrency is
optimistic: a decision states which version of the suggestion it saw, and a decision taken on a
stale version is refused with a clear conflict message instead of overwriting anybody's work.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..store import audit
from ..store.context import named_coder
from ..store.db import transaction, utcnow
from ..errors import CoderAssistError, InputError
from ..ingest.decode import decode_bytes
from ..suggest.grounding import locate

OPEN = ("proposed", "deferred")
DECIDED = ("accepted", "edited", "merged", "rejected")
ACTIONS = ("accept", "edit", "merge", "reject", "defer")
_TO_STATUS = {"accept": "accepted", "edit": "edited", "merge": "merged", "reject": "rejected", "defer": "deferred"}


class Conflict(CoderAssistError):
    """Someone else decided first, or the suggestion is not open for this action."""


@dataclass(frozen=True)
class Decision:
    id: int
    suggestion_id: int | None
    action: str
    coder: str
    from_status: str | None
    to_status: str | None
    code_id: int | None = None
    coding_id: int | None = None


@contextmanager
def human_decision(conn: sqlite3.Connection, coder: str | None) -> Iterator[str]:
    """A write transaction in which the codebook may change, attributed to ``coder``."""
    who = named_coder(coder)
    with transaction(conn):
        conn.human += 1  # type: ignore[attr-defined]
        try:
            yield who
        finally:
            conn.human -= 1  # type: ignore[attr-defined]


def _suggestion(conn: sqlite3.Connection, sid: int) -> sqlite3.Row:
    row = conn.execute(
        "SELECT s.*, seg.text AS seg_text, seg.start AS seg_start, seg.end AS seg_end, seg.document_id"
        " FROM suggestions s JOIN segments seg ON seg.id = s.segment_id WHERE s.id = ?",
        (sid,),
    ).fetchone()
    if row is None:
        raise CoderAssistError(f"no suggestion {sid}")
    return row


def _last_decider(conn: sqlite3.Connection, sid: int) -> str:
    row = conn.execute("SELECT coder, at, action FROM decisions WHERE suggestion_id = ? ORDER BY id DESC LIMIT 1", (sid,)).fetchone()
    return f" by {row['coder']} at {row['at'][:19]}" if row else ""


def _code_id(conn: sqlite3.Connection, label: str, coder: str, create: bool, kind: str = "initial") -> tuple[int, bool]:
    label = " ".join(label.split())
    if not label:
        raise CoderAssistError("a code needs a label")
    row = conn.execute("SELECT id FROM codes WHERE label = ? AND active = 1", (label,)).fetchone()
    if row:
        return row[0], False
    if not create:
        raise CoderAssistError(f"no active code {label!r}")
    cur = conn.execute("INSERT INTO codes (label, kind, created_at, created_by) VALUES (?, ?, ?, ?)", (label, kind, utcnow(), coder))
    return int(cur.lastrowid), True  # type: ignore[arg-type]


def resolve_span(s: sqlite3.Row, span: str | tuple[int, int] | None) -> tuple[int, int]:
    """A new span for a suggestion: ``*`` for the whole segment, exact words from the segment,
    or absolute (start, end) offsets inside it."""
    if span is None:
        if s["start"] is None:
            raise Conflict(f"suggestion {s['id']} is ungrounded: give a span (edit span) before accepting it")
        return s["start"], s["end"]
    if isinstance(span, tuple):
        a, b = span
    elif span.strip() == "*":
        a, b = s["seg_start"], s["seg_end"]
    else:
        g = locate(span, s["seg_text"], base=s["seg_start"], threshold=1.01)  # exact or normalized only
        if not g.grounded:
            raise CoderAssistError(f"the span {span!r} is not in segment {s['segment_id']}")
        a, b = g.start, g.end  # type: ignore[assignment]
    if not (s["seg_start"] <= a < b <= s["seg_end"]):
        raise CoderAssistError(f"span {a}:{b} is outside segment {s['seg_start']}:{s['seg_end']}")
    return a, b


def decide(
    conn: sqlite3.Connection, suggestion_id: int, action: str, coder: str | None, *, label: str | None = None,
    span: str | tuple[int, int] | None = None, into: str | None = None, note: str | None = None,
    expected_version: int | None = None,
) -> Decision:  # fmt: skip
    """Accept, edit (new label and/or span), merge (into an existing code), reject or defer."""
    if action not in ACTIONS:
        raise CoderAssistError(f"unknown action {action!r} (use {', '.join(ACTIONS)}, or undo)")
    with human_decision(conn, coder) as who:
        s = _suggestion(conn, suggestion_id)
        if expected_version is not None and s["version"] != expected_version:
            raise Conflict(f"suggestion {suggestion_id} changed since you saw it{_last_decider(conn, suggestion_id)}; now {s['status']}")
        if s["status"] in DECIDED:
            raise Conflict(f"suggestion {suggestion_id} was already {s['status']}{_last_decider(conn, suggestion_id)}; undo that decision first")
        if s["status"] == "ungrounded" and action in ("accept", "merge") and span is None:
            raise Conflict(f"suggestion {suggestion_id} is ungrounded: its quote is not in the transcript; edit the span or reject it")
        if s["status"] == "deferred" and action == "defer":
            raise Conflict(f"suggestion {suggestion_id} is already deferred")
        code_id = coding_id = None
        created = False
        start = end = None
        new_label = None
        if action in ("accept", "edit", "merge"):
            start, end = resolve_span(s, span)
            if action == "merge":
                if not into:
                    raise CoderAssistError("merge needs the existing code to merge into")
                code_id, _ = _code_id(conn, into, who, create=False)
                new_label = into
            else:
                new_label = (label or s["label"]) if action == "edit" else s["label"]
                kind = "construct" if s["kind"] == "construct-code" else "initial"
                code_id, created = _code_id(conn, new_label, who, create=True, kind=kind)
        to_status = _TO_STATUS[action]
        if action == "accept" and span is not None:
            to_status = "edited"
        cur = conn.execute(
            "UPDATE suggestions SET status = ?, version = version + 1 WHERE id = ? AND version = ?",
            (to_status, suggestion_id, s["version"]),
        )
        if cur.rowcount != 1:  # pragma: no cover - the write lock makes this unreachable within one process
            raise Conflict(f"suggestion {suggestion_id} changed while deciding")
        decision_id = conn.execute(
            "INSERT INTO decisions (suggestion_id, action, coder, at, from_status, to_status, label, start, end,"
            " code_id, created_code, note) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (suggestion_id, action, who, utcnow(), s["status"], to_status, new_label, start, end, code_id, int(created), note),
        ).lastrowid
        if code_id is not None:
            coding_id = conn.execute(
                "INSERT INTO codings (code_id, segment_id, document_id, start, end, suggestion_id, decision_id,"
                " created_at, created_by) VALUES (?,?,?,?,?,?,?,?,?)",
                (code_id, s["segment_id"], s["document_id"], start, end, suggestion_id, decision_id, utcnow(), who),
            ).lastrowid
        audit.append(conn, who, "decision", {
            "decision_id": decision_id, "suggestion_id": suggestion_id, "action": action, "from": s["status"],
            "to": to_status, "label": new_label, "code_id": code_id, "coding_id": coding_id, "created_code": created,
            "span": [start, end] if start is not None else None, "note": note,
        })  # fmt: skip
        return Decision(int(decision_id), suggestion_id, action, who, s["status"], to_status, code_id, coding_id)  # type: ignore[arg-type]


def undo(conn: sqlite3.Connection, coder: str | None, decision_id: int | None = None, note: str | None = None) -> Decision:
    """Reverse a decision (default: this coder's latest one that is still in force)."""
    with human_decision(conn, coder) as who:
        if decision_id is None:
            row = conn.execute(
                "SELECT * FROM decisions d WHERE coder = ? AND action != 'undo' AND suggestion_id IS NOT NULL"
                " AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.reverses = d.id) ORDER BY id DESC LIMIT 1",
                (who,),
            ).fetchone()
            if row is None:
                raise CoderAssistError(f"{who} has no decision to undo")
        else:
            row = conn.execute("SELECT * FROM decisions WHERE id = ?", (decision_id,)).fetchone()
            if row is None or row["action"] == "undo" or row["suggestion_id"] is None:
                raise CoderAssistError(f"no decision {decision_id} that can be undone")
            if conn.execute("SELECT 1 FROM decisions WHERE reverses = ?", (decision_id,)).fetchone():
                raise Conflict(f"decision {decision_id} was already undone")
        s = _suggestion(conn, row["suggestion_id"])
        later = conn.execute(
            "SELECT 1 FROM decisions WHERE suggestion_id = ? AND id > ? AND action != 'undo'", (row["suggestion_id"], row["id"])
        ).fetchone()
        if later or s["status"] != row["to_status"]:
            raise Conflict(f"suggestion {s['id']} has been decided again since decision {row['id']}; undo the later decision first")
        coding = conn.execute("SELECT id, code_id FROM codings WHERE decision_id = ? AND active = 1", (row["id"],)).fetchone()
        if coding:
            conn.execute("UPDATE codings SET active = 0 WHERE id = ?", (coding["id"],))
            if row["created_code"] and not conn.execute(
                "SELECT 1 FROM codings WHERE code_id = ? AND active = 1", (coding["code_id"],)
            ).fetchone():
                conn.execute("UPDATE codes SET active = 0 WHERE id = ?", (coding["code_id"],))
        conn.execute("UPDATE suggestions SET status = ?, version = version + 1 WHERE id = ?", (row["from_status"], s["id"]))
        new_id = conn.execute(
            "INSERT INTO decisions (suggestion_id, action, coder, at, from_status, to_status, reverses, note)"
            " VALUES (?, 'undo', ?, ?, ?, ?, ?, ?)",
            (s["id"], who, utcnow(), s["status"], row["from_status"], row["id"], note),
        ).lastrowid
        audit.append(conn, who, "decision", {
            "decision_id": new_id, "suggestion_id": s["id"], "action": "undo", "reverses": row["id"],
            "from": s["status"], "to": row["from_status"], "coding_id": coding["id"] if coding else None, "note": note,
        })  # fmt: skip
        return Decision(int(new_id), s["id"], "undo", who, s["status"], row["from_status"])  # type: ignore[arg-type]


# -- manual codebook edits -----------------------------------------------------------------------
def _record(conn: sqlite3.Connection, who: str, action: str, **payload: Any) -> None:
    conn.execute(
        "INSERT INTO decisions (action, coder, at, label, code_id, note) VALUES (?, ?, ?, ?, ?, ?)",
        (f"codebook:{action}", who, utcnow(), payload.get("label"), payload.get("code_id"), payload.get("note")),
    )
    audit.append(conn, who, "codebook", {"action": action, **payload})


def add_code(conn: sqlite3.Connection, label: str, coder: str | None, definition: str | None = None,
             parent: str | None = None) -> int:  # fmt: skip
    with human_decision(conn, coder) as who:
        if conn.execute("SELECT 1 FROM codes WHERE label = ? AND active = 1", (label,)).fetchone():
            raise CoderAssistError(f"code {label!r} already exists")
        parent_id = _code_id(conn, parent, who, create=False)[0] if parent else None
        code_id, _ = _code_id(conn, label, who, create=True)
        conn.execute("UPDATE codes SET definition = ?, parent_id = ? WHERE id = ?", (definition, parent_id, code_id))
        _record(conn, who, "add", label=label, code_id=code_id, definition=definition, parent_id=parent_id)
        return code_id


def rename_code(conn: sqlite3.Connection, old: str, new: str, coder: str | None) -> int:
    with human_decision(conn, coder) as who:
        code_id, _ = _code_id(conn, old, who, create=False)
        if conn.execute("SELECT 1 FROM codes WHERE label = ? AND active = 1", (new,)).fetchone():
            raise CoderAssistError(f"code {new!r} already exists: merge instead")
        conn.execute("UPDATE codes SET label = ? WHERE id = ?", (" ".join(new.split()), code_id))
        _record(conn, who, "rename", label=new, code_id=code_id, old=old)
        return code_id


def merge_codes(conn: sqlite3.Connection, sources: list[str], into: str, coder: str | None) -> int:
    """Move every coding of ``sources`` to ``into`` and retire the sources (codings keep their history)."""
    with human_decision(conn, coder) as who:
        target, _ = _code_id(conn, into, who, create=False)
        moved = 0
        for label in sources:
            src, _ = _code_id(conn, label, who, create=False)
            if src == target:
                raise CoderAssistError(f"cannot merge {label!r} into itself")
            moved += conn.execute("UPDATE codings SET code_id = ? WHERE code_id = ? AND active = 1", (target, src)).rowcount
            conn.execute("UPDATE codes SET active = 0, parent_id = ? WHERE id = ?", (target, src))
        _record(conn, who, "merge", label=into, code_id=target, sources=sources, codings_moved=moved)
        return moved


def delete_code(conn: sqlite3.Connection, label: str, coder: str | None) -> int:
    """Retire a code and its codings (kept, inactive, for the record)."""
    with human_decision(conn, coder) as who:
        code_id, _ = _code_id(conn, label, who, create=False)
        n = conn.execute("UPDATE codings SET active = 0 WHERE code_id = ? AND active = 1", (code_id,)).rowcount
        conn.execute("UPDATE codes SET active = 0 WHERE id = ?", (code_id,))
        _record(conn, who, "delete", label=label, code_id=code_id, codings_retired=n)
        return n


def apply_code(conn: sqlite3.Connection, label: str, segment_id: str, coder: str | None,
               span: str | tuple[int, int] | None = None) -> int:  # fmt: skip
    """Manual coding: apply a code (created if new) to a span of a segment (default: all of it)."""
    with human_decision(conn, coder) as who:
        seg = conn.execute("SELECT * FROM segments WHERE id = ?", (segment_id,)).fetchone()
        if seg is None:
            raise CoderAssistError(f"no segment {segment_id}")
        fake = {"id": None, "start": seg["start"], "end": seg["end"], "seg_start": seg["start"], "seg_end": seg["end"],
                "seg_text": seg["text"], "segment_id": segment_id}  # fmt: skip
        start, end = resolve_span(fake, span)  # type: ignore[arg-type]
        code_id, created = _code_id(conn, label, who, create=True)
        coding_id = conn.execute(
            "INSERT INTO codings (code_id, segment_id, document_id, start, end, created_at, created_by)"
            " VALUES (?,?,?,?,?,?,?)",
            (code_id, segment_id, seg["document_id"], start, end, utcnow(), who),
        ).lastrowid
        _record(conn, who, "apply", label=label, code_id=code_id, coding_id=coding_id, segment_id=segment_id,
                span=[start, end], created_code=created)  # fmt: skip
        return int(coding_id)  # type: ignore[arg-type]


def read_decisions_csv(path: Any) -> list[tuple[int, dict[str, Any]]]:
    """Parse and check a decisions file before anything is applied: ``(line, row)`` pairs."""
    import csv
    import io


    try:
        text, _, _ = decode_bytes(path.read_bytes(), path)
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "id" not in fields or "action" not in fields:
        raise InputError(path, "needs 'id' and 'action' columns (optional: label, span, into, note, version)")
    rows = []
    for line_no, raw in enumerate(reader, start=2):
        r = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        if not r.get("action"):
            continue  # undecided (a decision sheet row left empty), or a blank line
        if not r["id"].isdigit():
            raise InputError(path, f"line {line_no}: id {r['id']!r} is not a suggestion id (for undo: a decision id)")
        if r["action"] not in (*ACTIONS, "undo"):
            raise InputError(path, f"line {line_no}: unknown action {r['action']!r}")
        if r["action"] == "merge" and not r.get("into"):
            raise InputError(path, f"line {line_no}: merge needs the 'into' column")
        if r.get("version") and not r["version"].isdigit():
            raise InputError(path, f"line {line_no}: version {r['version']!r} is not a number")
        rows.append((line_no, {k: r.get(k) or None for k in ("id", "action", "label", "span", "into", "note", "version")}))
    if not rows:
        raise InputError(path, "no decisions in the file")
    return rows


# -- several decisions at once (all or nothing) ----------------------------------------------------
def decide_all(conn: sqlite3.Connection, ids: list[int], action: str, coder: str | None,
               note: str | None = None) -> list[Decision]:  # fmt: skip
    """The same decision on several suggestions in one transaction: if one fails, none is taken."""
    with human_decision(conn, coder) as who:
        return [decide(conn, i, action, who, note=note) for i in ids]


def decide_where(conn: sqlite3.Connection, rows: list[dict[str, Any]], action: str, coder: str | None,
                 note: str | None = None) -> list[Decision]:  # fmt: skip
    """Bulk accept/reject/defer of previewed suggestion rows, each at the version that was previewed.
    All or nothing: a conflict leaves everything as it was."""
    if action not in ("accept", "reject", "defer"):
        raise CoderAssistError("bulk decisions are accept, reject or defer")
    with human_decision(conn, coder) as who:  # one transaction: nested decisions join it
        return [decide(conn, r["id"], action, who, note=note, expected_version=r["version"]) for r in rows]


def apply_csv(conn: sqlite3.Connection, path: Path, coder: str | None) -> list[Decision]:
    """Decisions from a CSV (``id, action, label, span, into, note``, optional ``version``: the
    suggestion's version when the sheet was written, so a later decision by someone else is a
    conflict), all or nothing. Rows with an empty ``action`` are skipped."""
    rows = read_decisions_csv(path)
    out = []
    with human_decision(conn, coder) as who:
        for line_no, r in rows:
            try:
                if r["action"] == "undo":
                    out.append(undo(conn, who, int(r["id"]), r["note"]))
                else:
                    version = int(r["version"]) if r["version"] else None
                    out.append(decide(conn, int(r["id"]), r["action"], who, label=r["label"], span=r["span"],
                                      into=r["into"], note=r["note"], expected_version=version))  # fmt: skip
            except CoderAssistError as exc:
                raise InputError(path, f"line {line_no}: {exc}") from None
    return out
