"""Read-only views for review: suggestions with their context, the codebook with counts, traces."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..errors import CoderAssistError
from ..suggest.coding import provenance_of
from .where import FROM as WHERE_FROM
from .where import compile_where


def suggestion_rows(
    conn: sqlite3.Connection, status: str | None = None, run_id: str | None = None, where: str | None = None,
    ids: list[int] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Suggestions with segment, speaker, attributes, grounding and provider, as dicts.
    ``where`` takes the bulk filter language (see :mod:`coder_assist.review.where`)."""
    conds, params = [], []
    if status:
        conds.append("s.status = ?")
        params.append(status)
    if run_id:
        conds.append("s.run_id = ?")
        params.append(run_id)
    if where:
        sql, more = compile_where(where)
        conds.append(sql)
        params += more
    if ids is not None:
        conds.append(f"s.id IN ({','.join('?' * len(ids))})")
        params += ids
    rows = conn.execute(
        "SELECT s.id, s.label, s.in_vivo, s.quote, s.start, s.end, s.grounding, s.grounding_score, s.rationale,"
        " s.reused_label, s.status, s.version, s.segment_id, seg.speaker, p.side, p.role_category, d.name AS source,"
        " d.wave, COALESCE(d.case_id, p.case_id) AS \"case\", r.provider, r.model, s.run_id, s.created_at"
        f" {WHERE_FROM} {'WHERE ' + ' AND '.join(conds) if conds else ''} ORDER BY s.id",
        params,
    ).fetchall()
    return [dict(r) | {"in_vivo": bool(r["in_vivo"])} for r in rows]


def bulk_preview(conn: sqlite3.Connection, where: str, action: str) -> list[dict[str, Any]]:
    """The open suggestions a bulk decision would touch (ungrounded ones are never accepted in bulk)."""
    rows = [r for r in suggestion_rows(conn, where=where) if r["status"] in ("proposed", "deferred")]
    if action == "accept":
        rows = [r for r in rows if r["start"] is not None]
    return rows


def code_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Active codes with their parent and counts of active codings per side and wave."""
    rows = conn.execute(
        "SELECT c.id, c.label, c.kind, c.parent_id, c.definition, c.created_by, p.side, d.wave, count(g.id) AS n"
        " FROM codes c LEFT JOIN codings g ON g.code_id = c.id AND g.active = 1"
        " LEFT JOIN segments seg ON seg.id = g.segment_id LEFT JOIN documents d ON d.id = seg.document_id"
        " LEFT JOIN participants p ON p.speaker = seg.speaker WHERE c.active = 1"
        " GROUP BY c.id, p.side, d.wave ORDER BY c.label"
    ).fetchall()
    codes: dict[int, dict[str, Any]] = {}
    for r in rows:
        c = codes.setdefault(r["id"], {k: r[k] for k in ("id", "label", "kind", "parent_id", "definition", "created_by")}
                             | {"codings": 0, "by_side": {}, "by_wave": {}})  # fmt: skip
        if r["n"]:
            c["codings"] += r["n"]
            side, wave = r["side"] or "unknown", str(r["wave"]) if r["wave"] is not None else "none"
            c["by_side"][side] = c["by_side"].get(side, 0) + r["n"]
            c["by_wave"][wave] = c["by_wave"].get(wave, 0) + r["n"]
    return sorted(codes.values(), key=lambda c: (-c["codings"], c["label"]))


def provenance(conn: sqlite3.Connection, suggestion_id: int) -> dict[str, Any]:
    """How a suggestion came about: provider, model, prompt hash, parameters, raw reply ..."""
    try:
        return provenance_of(conn, suggestion_id)
    except KeyError:
        raise CoderAssistError(f"no suggestion {suggestion_id}") from None


def trace(conn: sqlite3.Connection, coding_id: int) -> dict[str, Any]:
    """From a coding back to its decision, suggestion, model, prompt version and input."""
    row = conn.execute(
        "SELECT g.*, c.label AS code, d.name AS source, seg.speaker, substr(d.text, g.start + 1, g.end - g.start)"
        " AS text FROM codings g JOIN codes c ON c.id = g.code_id JOIN documents d ON d.id = g.document_id"
        " JOIN segments seg ON seg.id = g.segment_id WHERE g.id = ?",
        (coding_id,),
    ).fetchone()
    if row is None:
        raise CoderAssistError(f"no coding {coding_id}")
    out: dict[str, Any] = {"coding": dict(row)}
    if row["decision_id"]:
        out["decision"] = dict(conn.execute("SELECT * FROM decisions WHERE id = ?", (row["decision_id"],)).fetchone())
    else:
        out["decision"] = dict(conn.execute(
            "SELECT * FROM decisions WHERE action = 'codebook:apply' AND code_id = ? AND coder = ? ORDER BY id",
            (row["code_id"], row["created_by"])).fetchone() or {})  # fmt: skip
    if row["suggestion_id"]:
        out["suggestion"] = provenance(conn, row["suggestion_id"])
    later = conn.execute("SELECT * FROM decisions WHERE reverses = ?", (row["decision_id"],)).fetchone() if row["decision_id"] else None
    out["undone_by"] = dict(later) if later else None
    return out
