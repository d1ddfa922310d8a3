"""SQLite connection for a project: WAL, foreign keys, busy timeout, migrations run on open."""

from __future__ import annotations

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


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating if needed) a project database and bring its schema up to date."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn)
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolls back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


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
    """Split a migration script into statements (scripts hold no ';' inside literals)."""
    return [s.strip() for s in sql.split(";") if s.strip()]
