"""SQLite connection for a project: WAL, foreign keys, busy timeout, migrations run on open.

Taking the write lock (``transaction``) waits up to ``BUSY_TIMEOUT_MS`` inside SQLite and is then
retried with backoff until ``LOCK_WAIT_S`` have passed; after that the caller gets a one-line
``ProjectError`` naming the database instead of sqlite3's "database is locked".
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from ..errors import ProjectError
from .migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 30_000
LOCK_WAIT_S = 60.0  # total wait for the write lock, SQLite's busy timeout included
SQLITE_HEADER = b"SQLite format 3\x00"
T = TypeVar("T")


def utcnow() -> str:
    """An ISO-8601 UTC timestamp with microseconds, as stored everywhere in the database."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class ProjectConnection(sqlite3.Connection):
    """A connection that knows whether a human decision is in progress on it.

    The schema's guard triggers call ``ca_human_decision()``: the codebook tables can change only
    while a decision scope is open (``decisions.human_decision``). A connection that lacks the
    function (any other program) cannot write them at all.

    ``ca_ledger_write()`` does the same for the audit ledger: ``events`` accepts an INSERT only
    while ``audit.append`` raises ``ledger`` on this connection.
    """

    human: int = 0
    ledger: int = 0
    path: Path
    anchor_path: Path | None = None
    pending_anchor: list[tuple[int, str]]


def connect(path: str | Path, *, create: bool = True) -> ProjectConnection:
    """Open a project database and bring its schema up to date. With ``create=False`` the file
    must already be a project database (it has the migrations table); anything else, or a file
    SQLite cannot read, is refused with a ``ProjectError`` naming it."""
    path = Path(path)
    if not create:
        _check_header(path)
    try:
        return _open(path, create)
    except sqlite3.OperationalError as exc:  # cannot open, I/O error, locked
        if _is_locked(exc):
            raise _locked(path, BUSY_TIMEOUT_MS / 1000) from exc
        raise ProjectError(f"{path}: cannot use the project database: {exc}") from exc
    except sqlite3.DatabaseError as exc:  # not a database, malformed
        raise ProjectError(f"{path}: not a coder-assist project database: {exc}") from exc


def _open(path: Path, create: bool) -> ProjectConnection:
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, factory=ProjectConnection
    )
    try:
        conn.path = path
        conn.pending_anchor = []
        conn.create_function("ca_human_decision", 0, lambda: 1 if conn.human > 0 else 0)
        conn.create_function("ca_ledger_write", 0, lambda: 1 if conn.ledger > 0 else 0)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not create and conn.execute("SELECT 1 FROM sqlite_master WHERE name = '_migrations'").fetchone() is None:
            raise ProjectError(f"{path}: not a coder-assist project database: it has no migrations table")
        with_lock_retry(conn, lambda: conn.execute("PRAGMA journal_mode = WAL"))
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _check_header(path: Path) -> None:
    """Refuse an empty file or one that does not start with SQLite's header, before SQLite
    opens it (it would take an empty file for a new database and write to it)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise ProjectError(f"{path}: cannot be read: {exc.strerror}") from exc
    if not head:
        raise ProjectError(f"{path}: not a coder-assist project database: the file is empty")
    if head != SQLITE_HEADER:
        raise ProjectError(f"{path}: not a coder-assist project database: file is not a database")


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


def _locked(path: Path, waited: float) -> ProjectError:
    return ProjectError(f"{path} is locked by another process (waited {waited:.0f} s); try again")


def with_lock_retry(conn: sqlite3.Connection, step: Callable[[], T]) -> T:
    """Run ``step``; while it fails on a locked database, retry with backoff (jittered, up to
    2 s between tries) until ``LOCK_WAIT_S`` have passed, then raise a ``ProjectError``."""
    start, pause = time.monotonic(), 0.05
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            waited = time.monotonic() - start
            if not _is_locked(exc):
                raise
            if waited >= LOCK_WAIT_S:
                raise _locked(getattr(conn, "path", Path("project.db")), waited) from exc
            time.sleep(min(pause * (1 + random.random()), 2.0, max(LOCK_WAIT_S - waited, 0.01)))
            pause *= 2


@contextmanager
def ledger_write(conn: sqlite3.Connection) -> Iterator[None]:
    """The scope in which ``events`` accepts an INSERT on this connection (``audit.append``)."""
    if not hasattr(conn, "ledger"):
        yield  # a plain connection: the trigger refuses the insert
        return
    conn.ledger += 1
    try:
        yield
    finally:
        conn.ledger -= 1


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:  # noqa: C901
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolls back on any exception. Inside an open
    transaction it joins it (the outermost one commits or rolls back everything)."""
    if conn.in_transaction:
        yield conn
        return
    with_lock_retry(conn, lambda: conn.execute("BEGIN IMMEDIATE"))
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        if getattr(conn, "pending_anchor", None) is not None:
            conn.pending_anchor.clear()
        raise
    conn.execute("COMMIT")
    if getattr(conn, "pending_anchor", None):
        _write_anchor(conn)  # type: ignore[arg-type]


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
            for statement in split_statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, utcnow()))
        applied.append(name)
    return applied


def split_statements(sql: str) -> list[str]:
    """Split a migration script into complete statements (trigger bodies hold ';' too)."""
    out, buf = [], ""
    for piece in sql.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n;"):
                out.append(buf.strip())
            buf = ""
    return out
