"""Append-only, hash-chained event ledger.

Each entry's hash covers its sequence number, time, actor, type, payload and the previous entry's
hash, so changing, deleting, reordering or inserting an entry breaks the chain from that point.
Append inside the same transaction as the change it records.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .db import transaction, utcnow

GENESIS = "0" * 64


def _digest(seq: int, at: str, actor: str, type_: str, payload: str, prev_hash: str) -> str:
    body = json.dumps([seq, at, actor, type_, payload, prev_hash], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def append(conn: sqlite3.Connection, actor: str, type_: str, payload: dict[str, Any]) -> int:
    """Record one event; returns its sequence number. Call within an open write transaction."""
    if not actor:
        raise ValueError("an audit event needs an actor")
    last = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = utcnow()
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = _digest(seq, at, actor, type_, body, prev)
    conn.execute(
        "INSERT INTO events (seq, at, actor, type, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (seq, at, actor, type_, body, prev, digest),
    )
    pending = getattr(conn, "pending_anchor", None)
    if pending is not None:
        pending.append((seq, digest))
    return seq


@dataclass
class ChainBreak:
    """Where verification found the chain broken, and why."""

    seq: int
    reason: str


def verify(conn: sqlite3.Connection, anchor: Path | None = None) -> list[ChainBreak]:
    """Check every entry, and the ledger's head against the ``anchor`` file when given.
    An empty list means the ledger is intact."""
    problems: list[ChainBreak] = []
    prev, expected_seq = GENESIS, 1
    hashes: dict[int, str] = {}
    for row in conn.execute("SELECT seq, at, actor, type, payload, prev_hash, hash FROM events ORDER BY seq"):
        seq, at, actor, type_, payload, prev_hash, digest = row
        if seq != expected_seq:
            problems.append(ChainBreak(seq, f"expected entry {expected_seq}, found {seq} (deleted or inserted)"))
        if prev_hash != prev:
            problems.append(ChainBreak(seq, "previous-hash link does not match the entry before it"))
        if _digest(seq, at, actor, type_, payload, prev_hash) != digest:
            problems.append(ChainBreak(seq, "entry content does not match its hash (modified)"))
        prev, expected_seq = digest, seq + 1
        hashes[seq] = digest
    if anchor is not None and anchor.exists():
        for line_no, line in enumerate(anchor.read_text().splitlines(), 1):
            seq_s, _, digest = line.partition(" ")
            if not seq_s.isdigit():
                problems.append(ChainBreak(0, f"{anchor.name} line {line_no} is not 'seq hash'"))
            elif int(seq_s) not in hashes:
                problems.append(ChainBreak(int(seq_s), f"entry is missing from the ledger but recorded in {anchor.name} (removed)"))
            elif hashes[int(seq_s)] != digest:
                problems.append(ChainBreak(int(seq_s), f"entry hash differs from the one recorded in {anchor.name} (rewritten)"))
    return sorted(problems, key=lambda b: b.seq)


def log(conn: sqlite3.Connection, *, since: str | None = None, actor: str | None = None,
        type_: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Ledger entries (payload decoded), oldest first, optionally filtered."""
    conds, params = [], []
    for cond, value in (("at >= ?", since), ("actor = ?", actor), ("type = ?", type_)):
        if value:
            conds.append(cond)
            params.append(value)
    rows = conn.execute(
        f"SELECT seq, at, actor, type, payload, prev_hash, hash FROM events {'WHERE ' + ' AND '.join(conds) if conds else ''}"
        " ORDER BY seq", params,
    ).fetchall()  # fmt: skip
    return [dict(r) | {"payload": json.loads(r["payload"])} for r in rows]


def export(conn: sqlite3.Connection, path: Path, actor: str) -> int:
    """Write the whole ledger as JSON lines (with hashes, so it can be verified elsewhere)."""
    rows = log(conn)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(path)
    with transaction(conn):
        append(conn, actor, "audit-export", {"path": str(path), "entries": len(rows)})
    return len(rows)
