"""Read-only views of theory work: category, link and memo suggestions, memos, lineage."""

from __future__ import annotations

import json
import sqlite3
from typing import Any


def category_suggestion_rows(conn: sqlite3.Connection, status: str | None = None) -> list[dict[str, Any]]:
    """Category suggestions, each with the category a person confirmed from it (``category_id``,
    ``category_name``: its current name, which may differ from the proposed ``name``;
    ``category_active``), all ``None`` while it is open or after a rejection."""
    rows = conn.execute(
        "SELECT s.*, c.id AS category_id, c.name AS category_name, c.active AS category_active"
        " FROM category_suggestions s LEFT JOIN categories c ON c.id = (SELECT max(x.id) FROM categories x"
        " WHERE x.suggestion_id = s.id)" + (" WHERE s.status = ?" if status else "") + " ORDER BY s.id",
        (status,) if status else (),
    ).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        for key in ("properties", "member_code_ids", "top_terms", "params"):
            d[key] = json.loads(d[key])
        d["category_active"] = None if d["category_id"] is None else bool(d["category_active"])
        out.append(d)
    return out


def link_suggestion_rows(conn: sqlite3.Connection, status: str | None = None, framework: str | None = None,
                         with_targets: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    """Construct-link suggestions; ``with_targets`` adds each one's ``target_label`` (see
    :func:`link_targets`)."""
    conds, params = [], []
    for cond, value in (("status = ?", status), ("framework = ?", framework)):
        if value:
            conds.append(cond)
            params.append(value)
    rows = conn.execute(
        f"SELECT * FROM link_suggestions {'WHERE ' + ' AND '.join(conds) if conds else ''} ORDER BY id", params
    ).fetchall()
    out = [dict(r) | {"evidence": json.loads(r["evidence"])} for r in rows]
    return link_targets(conn, out) if with_targets else out


SNIPPET = 80


def link_targets(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``target_label`` to link rows (or construct links: anything with ``level`` and ``target``):
    the code's label, the category's name, or a segment's ``source@start:end`` and its first words.
    A retired code or category is marked so; an unknown target says so. Returns ``rows``."""
    for r in rows:
        r["target_label"] = target_label(conn, r["level"], str(r["target"]))
    return rows


def target_label(conn: sqlite3.Connection, level: str, target: str) -> str:
    """What a link's ``target`` id stands for, readably (see :func:`link_targets`)."""
    if level in ("code", "category"):
        table, column = ("codes", "label") if level == "code" else ("categories", "name")
        row = conn.execute(f"SELECT {column} AS name, active FROM {table} WHERE id = ?",
                           (target,)).fetchone()  # fmt: skip
        if row is None:
            return f"(no {level} {target})"
        return row["name"] + ("" if row["active"] else " (retired)")
    if level == "segment":
        row = conn.execute("SELECT s.text, s.start, s.end, d.name FROM segments s"
                           " JOIN documents d ON d.id = s.document_id WHERE s.id = ?", (target,)).fetchone()  # fmt: skip
        if row is None:
            return f"(no segment {target})"
        text = " ".join(row["text"].split())
        text = text if len(text) <= SNIPPET else text[: SNIPPET - 1].rstrip() + "…"
        return f"{row['name']}@{row['start']}:{row['end']} {text}"
    return target


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
