"""Read-only queries over the store: segments with their attributes, documents, participants."""

from __future__ import annotations

import json
import sqlite3
from typing import Any


#: Researchers' turns: by the turn's role, the participant's side, or an unlabelled role-only speaker.
RESEARCHER_ROLES = ("interviewer", "moderator")
#: SQL condition for participants' talk, over ``segments s``, ``turns t`` and ``participants p``
#: (left-joined on the speaker). Coding, segment-level mapping and memos all use this one rule.
PARTICIPANT_TALK = (
    "COALESCE(t.role, '') NOT IN ('interviewer', 'moderator') AND COALESCE(p.side, '') != 'researcher'"
    " AND COALESCE(s.speaker, '') NOT IN ('Interviewer', 'Moderator')"
)


def is_participant_talk(role: str | None, side: str | None, speaker: str | None) -> bool:
    """:data:`PARTICIPANT_TALK` for one row already read."""
    return (role or "") not in RESEARCHER_ROLES and side != "researcher" and (speaker or "") not in ("Interviewer", "Moderator")


def segment_rows(conn: sqlite3.Connection, where: str = "", params: tuple = ()) -> list[sqlite3.Row]:
    """Current segments joined with document, turn and participant; ``where`` starts with ``AND``."""
    return conn.execute(
        "SELECT s.id, s.text, s.speaker, s.start, s.end, s.idx, d.id AS document_id, d.name, d.version,"
        " d.wave, COALESCE(d.case_id, p.case_id) AS case_id, p.id AS participant, p.side, p.role_category,"
        " t.idx AS turn"
        " FROM segments s JOIN documents d ON d.id = s.document_id JOIN turns t ON t.id = s.turn_id"
        " LEFT JOIN participants p ON p.speaker = s.speaker"
        f" WHERE d.current = 1 {where} ORDER BY d.id, s.idx",
        params,
    ).fetchall()


def segment_meta(row: sqlite3.Row) -> dict[str, Any]:
    """The attributes of a :func:`segment_rows` row, as stored with its vector."""
    return {
        "source": row["name"], "document_id": row["document_id"], "version": row["version"],
        "speaker": row["speaker"], "participant": row["participant"], "side": row["side"],
        "role_category": row["role_category"], "wave": row["wave"], "case": row["case_id"],
        "turn": row["turn"], "start": row["start"], "end": row["end"],
    }  # fmt: skip


def segments(conn: sqlite3.Connection, source: str | None = None) -> list[dict[str, Any]]:
    """Current segments with their attributes, in document order."""
    rows = segment_rows(conn, "AND d.name = ?", (source,)) if source else segment_rows(conn)
    return [{"id": r["id"], "text": r["text"], **segment_meta(r)} for r in rows]


def participants(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Participants with their free attributes spread into each row."""
    rows = conn.execute("SELECT * FROM participants ORDER BY case_id, side, id").fetchall()
    return [{**{k: r[k] for k in r.keys() if k != "extra"}, **json.loads(r["extra"])} for r in rows]


def documents(conn: sqlite3.Connection, all_versions: bool = False) -> list[dict[str, Any]]:
    """Ingested documents (current versions unless ``all_versions``)."""
    rows = conn.execute(
        "SELECT d.id, d.name, d.version, d.current, d.format, d.encoding, d.wave, d.case_id AS "
        "\"case\", d.path, d.sha256, d.ingested_at, d.ingested_by, length(d.text) AS chars,"
        " (SELECT count(*) FROM turns t WHERE t.document_id = d.id) AS turns,"
        " (SELECT count(*) FROM segments s WHERE s.document_id = d.id) AS segments,"
        " (SELECT group_concat(DISTINCT t.speaker) FROM turns t WHERE t.document_id = d.id) AS speakers"
        f" FROM documents d {'' if all_versions else 'WHERE d.current = 1'} ORDER BY d.name, d.version"
    )
    out = []
    for r in rows:
        d = dict(r)
        d["current"] = bool(d["current"])
        d["speakers"] = sorted((d["speakers"] or "").split(",")) if d["speakers"] else []
        out.append(d)
    return out


def document_text(conn: sqlite3.Connection, name: str, version: int | None = None) -> str | None:
    """The stored normalized text that all offsets point into, or ``None``."""
    sql = "SELECT text FROM documents WHERE name = ? AND " + ("version = ?" if version else "current = 1")
    row = conn.execute(sql, (name, version) if version else (name,)).fetchone()
    return row[0] if row else None


def failed_calls(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Segments whose last call failed, with the reason and the raw text."""
    rows = conn.execute(
        "SELECT c.segment_id, c.error, c.attempts, c.raw_response, c.run_id FROM llm_calls c"
        " WHERE c.status = 'failed' ORDER BY c.id"
    ).fetchall()
    return [dict(r) for r in rows]


def codes_of_segment(conn: sqlite3.Connection, segment_id: str) -> list[str]:
    """Labels of the active codes applied to a segment."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT c.label FROM codings g JOIN codes c ON c.id = g.code_id"
        " WHERE g.segment_id = ? AND g.active = 1 AND c.active = 1", (segment_id,))]  # fmt: skip


def has_codings(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM codings WHERE active = 1 LIMIT 1").fetchone() is not None


def status(conn: sqlite3.Connection) -> dict[str, Any]:
    """Counts of what the project holds."""
    one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "documents": one("SELECT count(*) FROM documents WHERE current = 1"),
        "document_versions": one("SELECT count(*) FROM documents"),
        "segments": one("SELECT count(*) FROM segments s JOIN documents d ON d.id = s.document_id WHERE d.current = 1"),
        "indexed": one("SELECT count(*) FROM index_state i JOIN segments s ON s.id = i.segment_id "
                       "JOIN documents d ON d.id = s.document_id WHERE d.current = 1"),
        "participants": one("SELECT count(*) FROM participants"),
        "suggestions": dict(conn.execute("SELECT status, count(*) FROM suggestions GROUP BY status").fetchall()),
        "decisions": one("SELECT count(*) FROM decisions"),
        "codes": one("SELECT count(*) FROM codes WHERE active = 1"),
        "codings": one("SELECT count(*) FROM codings WHERE active = 1"),
        "events": one("SELECT count(*) FROM events"),
        "runs": dict(conn.execute("SELECT status, count(*) FROM coding_runs GROUP BY status").fetchall()),
    }  # fmt: skip


#: Remote batch states that can still change.
BATCH_ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
#: Batch states whose segments are still held (running, or finished but not yet collected).
BATCH_PENDING = (*BATCH_ACTIVE, "completed")


def pending_segments(conn: sqlite3.Connection, key: str | None = None) -> set[str]:
    """Segments held by a batch (of this work key, or of any) that is still running or not yet collected."""
    marks = ",".join("?" * len(BATCH_PENDING))
    where, params = ("AND work_key = ?", (key,)) if key is not None else ("", ())
    held: set[str] = set()
    for (ids,) in conn.execute(f"SELECT segment_ids FROM batches WHERE collected_at IS NULL AND status IN ({marks})"
                               f" {where}", (*BATCH_PENDING, *params)):  # fmt: skip
        held.update(json.loads(ids))
    return held
