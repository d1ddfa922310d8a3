"""Read-only views of theory work: category, link and memo suggestions, memos, lineage."""

from __future__ import annotations

import json
import sqlite3
from typing import Any


def category_suggestion_rows(conn: sqlite3.Connection, status: str | None = None) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT * FROM category_suggestions" + (" WHERE status = ?" if status else "") + " ORDER BY id",
        (status,) if status else (),
    ).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        for key in ("properties", "member_code_ids", "top_terms", "params"):
            d[key] = json.loads(d[key])
        out.append(d)
    return out


def link_suggestion_rows(conn: sqlite3.Connection, status: str | None = None,
                         framework: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    conds, params = [], []
    for cond, value in (("status = ?", status), ("framework = ?", framework)):
        if value:
            conds.append(cond)
            params.append(value)
    rows = conn.execute(
        f"SELECT * FROM link_suggestions {'WHERE ' + ' AND '.join(conds) if conds else ''} ORDER BY id", params
    ).fetchall()
    return [dict(r) | {"evidence": json.loads(r["evidence"])} for r in rows]


def memo_drafts(conn: sqlite3.Connection, status: str | None = None, draft_id: int | None = None) -> list[dict[str, Any]]:
    conds, params = [], []
    for cond, value in (("status = ?", status), ("id = ?", draft_id)):
        if value is not None:
            conds.append(cond)
            params.append(value)
    rows = conn.execute(f"SELECT * FROM memo_drafts {'WHERE ' + ' AND '.join(conds) if conds else ''} ORDER BY id",
                        params).fetchall()  # fmt: skip
    return [dict(r) | {"citations": json.loads(r["citations"])} for r in rows]


def memos(conn: sqlite3.Connection, subject: str | None = None) -> list[dict[str, Any]]:
    """Memo versions, newest last."""
    rows = conn.execute("SELECT * FROM memos" + (" WHERE subject = ?" if subject else "") + " ORDER BY subject, version",
                        (subject,) if subject else ()).fetchall()  # fmt: skip
    return [dict(r) | {"citations": json.loads(r["citations"])} for r in rows]


def lineage(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Initial code -> focused category -> construct, for every active code."""
    rows = conn.execute(
        "SELECT c.id, c.label, cat.id AS category_id, cat.name AS category,"
        " (SELECT count(*) FROM codings g WHERE g.code_id = c.id AND g.active = 1) AS codings"
        " FROM codes c LEFT JOIN category_members m ON m.code_id = c.id AND m.active = 1"
        " LEFT JOIN categories cat ON cat.id = m.category_id AND cat.active = 1"
        " WHERE c.active = 1 ORDER BY cat.name IS NULL, cat.name, c.label"
    ).fetchall()
    links = conn.execute("SELECT framework, construct, level, target FROM construct_links WHERE active = 1").fetchall()
    by_target: dict[tuple[str, str], list[str]] = {}
    for link in links:
        by_target.setdefault((link["level"], link["target"]), []).append(f"{link['framework']}.{link['construct']}")
    return [
        dict(r) | {"constructs": sorted(set(by_target.get(("code", str(r["id"])), [])
                                            + by_target.get(("category", str(r["category_id"])), [])))}
        for r in rows
    ]  # fmt: skip
