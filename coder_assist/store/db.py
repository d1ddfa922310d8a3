"""SQLite connection for a project: WAL, foreign keys, busy timeout, migrations run on open."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 30_000


def utcnow() -> str:
    """An ISO-8601 UTC timestamp with microseconds, as stored everywhere in the database."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class ProjectConnection(sqlite3.Connection):
    """A connection that knows whether a human decision is in progress on it.

    The schema's guard triggers call ``ca_human_decision()``: the codebook tables can change only
    while a decision scope is open (``decisions.human_decision``). A connection that lacks the
    function (any other program) cannot write them at all.
    """

    human: int = 0
    anchor_path: Path | None = None
    pending_anchor: list[tuple[int, str]]


def connect(path: str | Path) -> ProjectConnection:
    """Open (creating if needed) a project database and bring its schema up to date."""
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, factory=ProjectConnection
    )
    conn.pending_anchor = []
    conn.create_function("ca_human_decision", 0, lambda: 1 if conn.human > 0 else 0)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn)
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:  # noqa: C901
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolls back on any exception. Inside an open
    transaction it joins it (the outermost one commits or rolls back everything)."""
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        if isinstance(conn, ProjectConnection):
            conn.pending_anchor.clear()
        raise
    conn.execute("COMMIT")
    if isinstance(conn, ProjectConnection) and conn.pending_anchor:
        _write_anchor(conn)


def _write_anchor(conn: ProjectConnection) -> None:
    """Append the committed ledger heads to the anchor file (outside the database), so that
    removing the last entries of the ledger is detected too."""
    lines = "".join(f"{seq} {digest}\n" for seq, digest in conn.pending_anchor)
    conn.pending_anchor.clear()
    if conn.anchor_path is not None:
        fd = os.open(conn.anchor_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, lines.encode())
        finally:
            os.close(fd)


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations recorded as applied, in order."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
        " applied_at TEXT NOT NULL)"
    )
    return [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY id")]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations, each in its own transaction. Returns the names applied now."""
    done = set(applied_migrations(conn))
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        with transaction(conn):
            # Another process may have applied it while we waited for the write lock.
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                continue
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, utcnow()))
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration script into complete statements (trigger bodies hold ';' too)."""
    out, buf = [], ""
    for piece in sql.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n;"):
                out.append(buf.strip())
            buf = ""
    return out
