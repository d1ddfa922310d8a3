"""The PostgreSQL project store (issue 13): the schema, migrated from the same numbered migrations.

This is the first part of the PostgreSQL backend: the schema, the guard triggers and the
append-only ledger in PostgreSQL, from :data:`~coder_assist.store.migrations.MIGRATIONS` through
:mod:`~coder_assist.store.dialect`. Projects do not run on it yet (``store.url`` is not read):
the connection layer that lets every step use it is the next part.

A human decision is a transaction in which ``set_config('coder_assist.human', '1', true)`` was
called (:func:`human_scope`); the setting ends with the transaction, as the SQLite connection's
flag ends with its scope. Migrations take a transaction-level advisory lock, so two processes
opening a new database at once apply each migration once. Connections are opened with
``autocommit=True``, so each ``with conn.transaction()`` is a transaction of its own (not a
savepoint of an implicit one, which would carry a setting over to the next).
"""

from __future__ import annotations

from typing import Any

from .db import split_statements, utcnow
from .dialect import PRELUDE, Translator
from .migrations import MIGRATIONS

#: Advisory lock key of the migration step (any constant shared by every process of the tool).
MIGRATION_LOCK = 0x0C0DE5A1


def translated_migrations() -> list[tuple[str, list[str]]]:
    """Every migration as ``(name, PostgreSQL statements)``, in order."""
    t = Translator()
    return [(name, t.migration(split_statements(sql))) for name, sql in MIGRATIONS]


def applied_migrations(conn: Any) -> list[str]:
    """Names of the migrations recorded as applied, in order (``conn``: a psycopg connection)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        for statement in PRELUDE:
            conn.execute(statement)
    return [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY id").fetchall()]


def migrate(conn: Any) -> list[str]:
    """Apply pending migrations, each in its own transaction; returns the names applied now."""
    done = set(applied_migrations(conn))
    applied = []
    for name, statements in translated_migrations():
        if name in done:
            continue
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            if conn.execute("SELECT 1 FROM _migrations WHERE name = %s", (name,)).fetchone():
                continue  # another process applied it while we waited for the lock
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (%s, %s)", (name, utcnow()))
        applied.append(name)
    return applied


def human_scope(conn: Any) -> None:
    """Inside an open transaction: its writes are a human decision (the guard triggers let them through)."""
    conn.execute("SELECT set_config('coder_assist.human', '1', true)")


def ledger_scope(conn: Any) -> None:
    """Inside an open transaction: it may append to the audit ledger."""
    conn.execute("SELECT set_config('coder_assist.ledger', '1', true)")
