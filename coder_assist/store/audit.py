"""Append-only, hash-chained event ledger.

Each entry's hash covers its sequence number, time, actor, type, payload and the previous entry's
hash, so changing, deleting, reordering or inserting an entry breaks the chain from that point.
Append inside the same transaction as the change it records. Every committed entry's ``seq hash``
is also appended to ``audit.anchor`` beside the database (``db.transaction``).

What verification proves: that the entries in the ledger are the ones written, in order, none
changed, removed, reordered or inserted in between (the chain), and none removed from the end or
added without the library (the anchor: every entry must be recorded there, and every recorded
entry must be in the ledger with the same hash). Triggers refuse UPDATE and DELETE on ``events``,
and INSERT unless the library's own connection is appending, so other programs cannot write it.

What it does not prove: the chain has no key. Someone who can write both files can drop the
triggers, rewrite the ledger from any point with fresh hashes and rewrite the anchor to match;
only a copy of the anchor (or of an ``audit export``) kept elsewhere shows that. Nor does it show
that an event describes what really happened: it records what the library was told (the actor
is who the configuration or ``--coder`` says).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from .db import ledger_write, transaction, utcnow
from .files import atomic_write

GENESIS = "0" * 64
#: Times a short anchor is read again before it counts (a write in flight commits, then anchors).
ANCHOR_RETRIES = 3
_ANCHOR_LINE = re.compile(r"([0-9]{1,18}) (\S+)")


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
    with ledger_write(conn):
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


def verify(conn: sqlite3.Connection, anchor: Path | None = None, *, shared: bool = False) -> list[ChainBreak]:
    """Check every entry, and the ledger against the ``anchor`` file when given (a missing,
    short or unreadable anchor is a failure too). An empty list means the ledger is intact.

    ``shared``: the ledger is in a database several project folders write to (PostgreSQL), and
    this folder's anchor holds only the entries written from it; those must be in the ledger
    with their hashes, but entries written elsewhere are not expected in it."""
    problems: list[ChainBreak] = []
    prev, expected_seq = GENESIS, 1
    entries: dict[int, str] = {}
    for row in conn.execute("SELECT seq, at, actor, type, payload, prev_hash, hash FROM events ORDER BY seq"):
        seq, at, actor, type_, payload, prev_hash, digest = row
        if seq != expected_seq:
            problems.append(ChainBreak(seq, f"expected entry {expected_seq}, found {seq} (deleted or inserted)"))
        if prev_hash != prev:
            problems.append(ChainBreak(seq, "previous-hash link does not match the entry before it"))
        if _digest(seq, at, actor, type_, payload, prev_hash) != digest:
            problems.append(ChainBreak(seq, "entry content does not match its hash (modified)"))
        prev, expected_seq = digest, seq + 1
        entries[seq] = digest
    if anchor is not None:
        problems += _check_anchor(conn, anchor, entries, shared)
    return sorted(problems, key=lambda b: b.seq)


def _check_anchor(conn: sqlite3.Connection, anchor: Path, entries: dict[int, str], shared: bool = False) -> list[ChainBreak]:
    """Every anchored entry is in the ledger with its hash, and (unless ``shared``) every entry is anchored."""
    if not anchor.exists():
        if not entries or shared:
            return []
        return [ChainBreak(0, f"{anchor.name} is missing although the ledger has {len(entries)} entries"
                              " (deleted): entries removed from the end cannot be detected")]  # fmt: skip
    try:
        anchored, bad, entries = _settled_anchor(conn, anchor, entries)
    except OSError as exc:
        return [ChainBreak(0, f"{anchor.name} cannot be read: {exc.strerror or exc}")]
    name = anchor.name
    problems = [ChainBreak(seq, f"entry is missing from the ledger but recorded in {name} (removed)")
                for seq in sorted(anchored) if seq not in entries]  # fmt: skip
    problems += [ChainBreak(seq, f"entry hash differs from the one recorded in {name} (rewritten)")
                 for seq, digest in sorted(anchored.items()) if seq in entries and entries[seq] != digest]  # fmt: skip
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        problems.append(ChainBreak(0, f"{name} line {bad[0]}{more} is not 'seq hash' (damaged or not an anchor file)"))
    head = max(anchored, default=0)
    for first, last in [] if shared else _ranges([seq for seq in sorted(entries) if seq not in anchored]):
        what = f"entry {first} is" if first == last else f"entries {first}-{last} are"
        cause = "the anchor is empty" if not anchored else "the anchor was truncated" if first > head else "a gap in the anchor"
        problems.append(ChainBreak(first, f"{what} not recorded in {name} ({cause}, or written without coder-assist)"))
    return problems


def _settled_anchor(conn: sqlite3.Connection, anchor: Path,
                    entries: dict[int, str]) -> tuple[dict[int, str], list[int], dict[int, str]]:  # fmt: skip
    """The anchor (``seq -> hash``, bad line numbers) and the ledger's hashes, read so that a write
    in flight does not count: a writer commits, then appends to the anchor, so a short anchor is
    read again (``ANCHOR_RETRIES`` times, briefly), and entries anchored after the ledger was read
    are looked up in it again."""
    for attempt in range(ANCHOR_RETRIES + 1):
        anchored, bad = _read_anchor(anchor)
        head = max(entries, default=0)
        if max(anchored, default=0) > head:
            later = conn.execute("SELECT seq, hash FROM events WHERE seq > ?", (head,))
            entries = entries | {r[0]: r[1] for r in later}
        if max(anchored, default=0) >= max(entries, default=0) or attempt == ANCHOR_RETRIES:
            break
        time.sleep(0.1 * (attempt + 1))
    return anchored, bad, entries


def _read_anchor(anchor: Path) -> tuple[dict[int, str], list[int]]:
    """The anchor's ``seq -> hash`` and the numbers of the lines that are not ``seq hash``."""
    anchored: dict[int, str] = {}
    bad: list[int] = []
    for line_no, line in enumerate(anchor.read_bytes().decode("utf-8", errors="replace").splitlines(), 1):
        m = _ANCHOR_LINE.fullmatch(line.strip())
        if m is None:
            bad.append(line_no)
        else:
            anchored[int(m[1])] = m[2]
    return anchored, bad


def _ranges(seqs: list[int]) -> list[tuple[int, int]]:
    """Sorted numbers as runs of consecutive ones: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    out: list[tuple[int, int]] = []
    for s in seqs:
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def project_key(conn: sqlite3.Connection) -> str:
    """A project's identity: the hash of its first ledger entry (``project-init``), unique per
    project and never changed (stable GUIDs on export, a project's own collections on a server)."""
    row = conn.execute("SELECT hash FROM events ORDER BY seq LIMIT 1").fetchone()
    return row[0] if row else "coder-assist"


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
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from None
    with transaction(conn):
        append(conn, actor, "audit-export", {"path": str(path), "entries": len(rows)})
    return len(rows)
