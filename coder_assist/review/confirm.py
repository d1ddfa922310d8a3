"""Decisions on engine suggestions other than codes: categories, construct links, analyses and
memo drafts, and memo versions. One writer for every target, all or nothing.

``confirm(conn, target, ids, action, coder)`` decides several suggestions of one kind in one
write transaction: if one fails (a conflict, an unknown id), none is decided. Each decision
closes its suggestion (optimistic concurrency on its ``version``), writes what a person
confirmed (a category, a link, a confirmed analysis, a memo version), and records the decision
row and its audit event, in that same transaction.
"""

from __future__ import annotations

import difflib
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from ..errors import CoderAssistError
from ..store import audit
from ..store.db import utcnow
from ..suggest.grounding import ANCHOR, verify_citations
from ..suggest.passages import checked_body
from .decisions import Conflict, human_decision

#: target -> (suggestion table, allowed actions)
TARGETS = {
    "category": ("category_suggestions", ("accept", "edit", "reject")),
    "link": ("link_suggestions", ("accept", "reject")),
    "analysis": ("analysis_suggestions", ("accept", "reject")),
    "memo_draft": ("memo_drafts", ("accept", "edit", "reject")),
}
_SUGGESTION_TABLES = tuple(t for t, _ in TARGETS.values())
_TO_STATUS = {"accept": "accepted", "edit": "edited", "reject": "rejected"}



def close_suggestion(conn: sqlite3.Connection, table: str, suggestion_id: int, to_status: str,
                     expected_version: int | None = None) -> sqlite3.Row:  # fmt: skip
    """Load an open engine suggestion, check nobody decided it first, and set its new status.
    Call inside ``human_decision``."""
    if table not in _SUGGESTION_TABLES:
        raise ValueError(table)
    noun = table.replace("_", " ").removesuffix("s")
    s = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (suggestion_id,)).fetchone()
    if s is None:
        raise CoderAssistError(f"no {noun} {suggestion_id}")
    if expected_version is not None and s["version"] != expected_version:
        raise Conflict(f"{noun} {suggestion_id} changed since you saw it")
    if s["status"] != "proposed":
        raise Conflict(f"{noun} {suggestion_id} was already {s['status']}")
    conn.execute(f"UPDATE {table} SET status = ?, version = version + 1 WHERE id = ?", (to_status, suggestion_id))
    return s


def record_decision(conn: sqlite3.Connection, who: str, action: str, target: str, *, from_status: str | None = None,
                    to_status: str | None = None, label: str | None = None, note: str | None = None,
                    **payload: Any) -> None:  # fmt: skip
    """The decision row and its audit event, for a decision on anything but a code suggestion."""
    conn.execute(
        "INSERT INTO decisions (action, coder, at, from_status, to_status, label, note, target) VALUES (?,?,?,?,?,?,?,?)",
        (action, who, utcnow(), from_status, to_status, label, note, target),
    )
    audit.append(conn, who, "decision", {"target": target, "action": action.split(":")[-1], "note": note, **payload})



# -- one verb for every target ---------------------------------------------------------------------
def confirm(conn: sqlite3.Connection, target: str, ids: list[int], action: str, coder: str | None, *,
            note: str | None = None, **edits: Any) -> list[int | None]:  # fmt: skip
    """Decide suggestions of one ``target`` kind together (all or nothing). Returns, per id, the id
    of what was created (category, link, confirmed analysis, memo), or ``None`` for a rejection.
    ``edits``: ``name``/``definition`` for a category, ``body`` and ``allow_unverified`` for a memo draft."""
    if target not in TARGETS:
        raise ValueError(target)
    actions = TARGETS[target][1]
    if action not in actions:
        raise CoderAssistError(f"unknown {target.replace('_', ' ')} action {action!r} ({', '.join(actions)})")
    if not ids:
        raise CoderAssistError(f"no {target.replace('_', ' ')} ids given")
    apply = _APPLY[target]
    with human_decision(conn, coder) as who:
        return [apply(conn, who, int(i), action, note, **edits) for i in ids]


def _category(conn: sqlite3.Connection, who: str, suggestion_id: int, action: str, note: str | None, *,
              name: str | None = None, definition: str | None = None, expected_version: int | None = None) -> int | None:  # fmt: skip
    if action == "accept" and (name or definition):
        action = "edit"
    to_status = _TO_STATUS[action]
    s = close_suggestion(conn, "category_suggestions", suggestion_id, to_status, expected_version)
    category_id = None
    final_name = (name or s["name"]) if action != "reject" else None
    if action != "reject":
        category_id = conn.execute(
            "INSERT INTO categories (name, definition, properties, suggestion_id, created_at, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (final_name, definition or s["definition"], s["properties"], suggestion_id, utcnow(), who),
        ).lastrowid
        for code_id in json.loads(s["member_code_ids"]):
            if conn.execute("SELECT 1 FROM codes WHERE id = ? AND active = 1", (code_id,)).fetchone():
                conn.execute("INSERT INTO category_members (category_id, code_id) VALUES (?, ?)", (category_id, code_id))
    record_decision(conn, who, f"category:{action}", f"category_suggestion:{suggestion_id}", from_status=s["status"],
                    to_status=to_status, label=final_name, note=note, category_id=category_id, name=final_name)  # fmt: skip
    return int(category_id) if category_id else None


def _link(conn: sqlite3.Connection, who: str, suggestion_id: int, action: str, note: str | None) -> int | None:
    to_status = _TO_STATUS[action]
    s = close_suggestion(conn, "link_suggestions", suggestion_id, to_status)
    link_id = None
    if action == "accept":
        link_id = conn.execute(
            "INSERT INTO construct_links (framework, construct, level, target, suggestion_id, created_at, created_by)"
            " VALUES (?,?,?,?,?,?,?)",
            (s["framework"], s["construct"], s["level"], s["target"], suggestion_id, utcnow(), who),
        ).lastrowid
    construct = f"{s['framework']}.{s['construct']}"
    record_decision(conn, who, f"link:{action}", f"link_suggestion:{suggestion_id}", from_status=s["status"],
                    to_status=to_status, label=construct, note=note, link_id=link_id, construct=construct,
                    level=s["level"], item=s["target"])  # fmt: skip
    return int(link_id) if link_id else None


def _analysis(conn: sqlite3.Connection, who: str, suggestion_id: int, action: str, note: str | None) -> int | None:
    to_status = _TO_STATUS[action]
    s = close_suggestion(conn, "analysis_suggestions", suggestion_id, to_status)
    confirmed = None
    if action == "accept":
        confirmed = conn.execute(
            "INSERT INTO confirmed_analyses (suggestion_id, kind, case_id, payload, created_at, created_by)"
            " VALUES (?,?,?,?,?,?)", (suggestion_id, s["kind"], s["case_id"], s["payload"], utcnow(), who),
        ).lastrowid  # fmt: skip
    record_decision(conn, who, f"analysis:{action}", f"analysis_suggestion:{suggestion_id}", from_status=s["status"],
                    to_status=to_status, label=f"{s['kind']}:{s['case_id']}", note=note, kind=s["kind"],
                    case=s["case_id"], confirmed_id=confirmed)  # fmt: skip
    return int(confirmed) if confirmed else None


def _memo_draft(conn: sqlite3.Connection, who: str, draft_id: int, action: str, note: str | None, *,
                body: str | None = None, allow_unverified: bool = False) -> int | None:  # fmt: skip
    d = conn.execute("SELECT subject, body FROM memo_drafts WHERE id = ?", (draft_id,)).fetchone()
    if d is None:
        raise CoderAssistError(f"no memo draft {draft_id}")
    if action == "reject":
        close_suggestion(conn, "memo_drafts", draft_id, "rejected")
        record_decision(conn, who, "memo:reject", f"memo_draft:{draft_id}", to_status="rejected", note=note)
        return None
    final = _check_quotes(conn, body if body is not None else d["body"], allow_unverified)
    s = close_suggestion(conn, "memo_drafts", draft_id, "edited" if final != d["body"] else "accepted")
    return _save_version(conn, who, d["subject"], final, "theory", draft_id, note, from_status=s["status"])


def write_memo(conn: sqlite3.Connection, subject: str, body: str, coder: str | None, *, kind: str = "reflexive",
               note: str | None = None, allow_unverified: bool = False) -> int:  # fmt: skip
    """Save a memo a researcher wrote (reflexive, or a new version of a theory memo)."""
    body = _check_quotes(conn, body, allow_unverified)
    with human_decision(conn, coder) as who:
        return _save_version(conn, who, subject, body, kind, None, note)


def _check_quotes(conn: sqlite3.Connection, body: str, allow_unverified: bool = False) -> str:
    """The body to save: anchored quotes must match their transcript; other quoted passages must be
    in a transcript or, with ``allow_unverified``, are marked (:mod:`..suggest.passages`)."""
    problems = verify_citations(conn, body)
    if problems:
        raise CoderAssistError(f"memo not saved: {len(problems)} quote(s) do not match the transcript; first: {problems[0]}")
    return checked_body(conn, body, allow_unverified=allow_unverified)


def _save_version(conn: sqlite3.Connection, who: str, subject: str, body: str, kind: str, draft_id: int | None,
                  note: str | None, from_status: str | None = None) -> int:  # fmt: skip
    """A new memo version (never an overwrite), its decision, and an audit event carrying the diff."""
    prev = conn.execute("SELECT version, body FROM memos WHERE subject = ? ORDER BY version DESC LIMIT 1", (subject,)).fetchone()
    version = (prev["version"] + 1) if prev else 1
    cites = [m.groupdict() for m in ANCHOR.finditer(body)]
    memo_id = conn.execute(
        "INSERT INTO memos (subject, version, kind, body, citations, draft_id, created_at, created_by) VALUES (?,?,?,?,?,?,?,?)",
        (subject, version, kind, body, json.dumps(cites, ensure_ascii=False), draft_id, utcnow(), who),
    ).lastrowid
    diff = "".join(difflib.unified_diff((prev["body"] if prev else "").splitlines(True), body.splitlines(True),
                                        f"{subject} v{version - 1}", f"{subject} v{version}"))  # fmt: skip
    conn.execute(
        "INSERT INTO decisions (action, coder, at, from_status, label, note, target) VALUES (?,?,?,?,?,?,?)",
        ("memo:save", who, utcnow(), from_status, subject, note, f"memo_draft:{draft_id}" if draft_id else f"memo:{subject}"),
    )  # the memo-version event below is this decision's audit event: it carries the diff
    audit.append(conn, who, "memo-version", {"memo_id": memo_id, "subject": subject, "version": version,
                                             "kind": kind, "draft_id": draft_id, "quotes": len(cites), "diff": diff})  # fmt: skip
    return int(memo_id)  # type: ignore[arg-type]


_APPLY: dict[str, Callable[..., int | None]] = {
    "category": _category, "link": _link, "analysis": _analysis, "memo_draft": _memo_draft,
}
