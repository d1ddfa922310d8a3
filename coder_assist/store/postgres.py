"""The PostgreSQL project store: the schema from the same migrations, the connection every step uses.

The schema, the guard triggers and the append-only ledger in PostgreSQL come from
:data:`~coder_assist.store.migrations.MIGRATIONS` through :mod:`~coder_assist.store.dialect`;
:class:`PgConnection` gives every step the connection it uses on SQLite, so a project whose
config names ``store.url`` (``init --store``) runs on PostgreSQL unchanged.

A human decision is a transaction in which ``set_config('coder_assist.human', '1', true)`` was
called (:func:`human_scope`); the setting ends with the transaction, as the SQLite connection's
flag ends with its scope. Migrations take a transaction-level advisory lock, so two processes
opening a new database at once apply each migration once. Connections are opened with
``autocommit=True``, so each ``with conn.transaction()`` is a transaction of its own (not a
savepoint of an implicit one, which would carry a setting over to the next).
"""

from __future__ import annotations

import functools
from typing import Any

from .db import split_statements, utcnow
from .dialect import PRELUDE, Translator, runtime
from .migrations import MIGRATIONS

#: Advisory lock key of the migration step (any constant shared by every process of the tool).
MIGRATION_LOCK = 0x0C0DE5A1


@functools.lru_cache(maxsize=1)
def _translation() -> tuple[tuple[tuple[str, tuple[str, ...]], ...], Translator]:
    """Every migration translated, once per process, and the translator that saw them all (the
    tables with an identity ``id``, each table's primary key)."""
    t = Translator()
    return tuple((name, tuple(t.migration(split_statements(sql)))) for name, sql in MIGRATIONS), t


def translated_migrations() -> list[tuple[str, list[str]]]:
    """Every migration as ``(name, PostgreSQL statements)``, in order."""
    return [(name, list(statements)) for name, statements in _translation()[0]]


def identity_tables() -> set[str]:
    """The tables whose ``id`` is an identity column (their sequences follow copied ids)."""
    return set(_translation()[1].identity)


@functools.lru_cache(maxsize=4096)
def _statement(sql: str, with_params: bool) -> tuple[str, bool]:
    """A step's statement for PostgreSQL (:func:`dialect.runtime`), translated once per process."""
    t = _translation()[1]
    return runtime(sql, t.identity, with_params, t.keys)


def applied_migrations(conn: Any) -> list[str]:
    """Names of the migrations recorded as applied, in order (``conn``: a psycopg connection).
    On an up-to-date database nothing is created, so a coder role without DDL rights can open it."""
    if conn.execute("SELECT to_regclass('_migrations')").fetchone()[0] is not None:
        names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY id").fetchall()]
        if set(names) >= {name for name, _ in MIGRATIONS}:
            return names
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


#: Tables a coder role may delete from: failed calls replaced by their retry, index records of
#: segments no longer indexed. Everything else is append-only or changed by UPDATE.
DELETABLE = ("llm_calls", "index_state")


def grant_coder(conn: Any, role: str) -> None:
    """As the owner: let ``role`` read and write the project's tables as the steps do (SELECT,
    INSERT, UPDATE; DELETE only on :data:`DELETABLE`), and nothing else: it cannot create, alter
    or drop anything, so it cannot drop the guard triggers either (a plain SQLite file can)."""
    from psycopg import sql

    r = sql.Identifier(role)
    with conn.transaction():
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(r))
        conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {}").format(r))
        conn.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(r))
        for table in DELETABLE:
            conn.execute(sql.SQL("GRANT DELETE ON {} TO {}").format(sql.Identifier(table), r))


def human_scope(conn: Any) -> None:
    """Inside an open transaction: its writes are a human decision (the guard triggers let them through)."""
    conn.execute("SELECT set_config('coder_assist.human', '1', true)")


def ledger_scope(conn: Any) -> None:
    """Inside an open transaction: it may append to the audit ledger."""
    conn.execute("SELECT set_config('coder_assist.ledger', '1', true)")


# -- the connection the steps use -------------------------------------------------------------------
#: Advisory lock key held by every write transaction: one writer at a time, as with SQLite's
#: ``BEGIN IMMEDIATE``, so decisions and the hash-chained ledger append keep their semantics.
WRITE_LOCK = 0x0C0DE5A2


class Row(tuple):
    """A result row read by position or by column name, like ``sqlite3.Row``."""

    names: tuple[str, ...] = ()

    def __new__(cls, names: tuple[str, ...], values: Any) -> Row:
        row = super().__new__(cls, values)
        row.names = names
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names.index(key))
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self.names)


def _row_factory(cursor: Any) -> Any:
    names = tuple(c.name for c in cursor.description or ())
    return lambda values: Row(names, values)


class Cursor:
    """What ``execute`` returns: rows, ``lastrowid`` (the id an INSERT returned), ``rowcount``."""

    def __init__(self, cursor: Any, returning: bool) -> None:
        self._cursor = cursor
        self.lastrowid = None
        if returning:
            got = cursor.fetchone()
            self.lastrowid = got[0] if got else None
        self.rowcount = cursor.rowcount

    def fetchone(self) -> Any:
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall() if self._cursor.description else []

    def __iter__(self) -> Any:
        return iter(self.fetchall())


class PgConnection:
    """A psycopg connection with the interface the steps use on SQLite (``execute`` with ``?``
    placeholders, rows by name, ``lastrowid``, ``in_transaction``, the ``human`` and ``ledger``
    scopes, ``pending_anchor``); errors come out as the ``sqlite3`` exception classes the steps
    catch. ``BEGIN IMMEDIATE`` takes :data:`WRITE_LOCK`. The human and ledger scopes set their
    transaction-local setting when they open (or when a transaction starts inside them)."""

    def __init__(self, url: str, anchor_path: Any = None) -> None:
        import psycopg

        from ..errors import ProjectError

        try:
            # Client-side binding, as sqlite3 does: "? IS NULL" with None needs no parameter type.
            self._conn = psycopg.connect(url, autocommit=True, row_factory=_row_factory, connect_timeout=10,
                                         cursor_factory=psycopg.ClientCursor)  # fmt: skip
        except psycopg.OperationalError as exc:
            reason = " ".join(str(exc).split())[:300]
            raise ProjectError(f"{url}: cannot connect to the PostgreSQL project database ({reason}) (store.url)") from None
        migrate(self._conn)
        self._human = self._ledger = 0
        self.in_transaction = False
        self.path = url
        self.anchor_path = anchor_path
        self.pending_anchor: list[tuple[int, str]] = []

    # the scopes of db.ProjectConnection, as settings of the current transaction
    @property
    def human(self) -> int:
        return self._human

    @human.setter
    def human(self, value: int) -> None:
        self._human = value
        self._setting("coder_assist.human", value > 0)

    @property
    def ledger(self) -> int:
        return self._ledger

    @ledger.setter
    def ledger(self, value: int) -> None:
        self._ledger = value
        self._setting("coder_assist.ledger", value > 0)

    def _setting(self, name: str, on: bool) -> None:
        if self.in_transaction:
            self._raw("SELECT set_config(%s, %s, true)", (name, "1" if on else "0"))

    def execute(self, sql: str, params: Any = ()) -> Cursor:
        word = sql.strip().split(None, 1)[0].upper() if sql.strip() else ""
        if word == "BEGIN":
            self._raw("BEGIN")
            self.in_transaction = True
            self._raw("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            self._setting("coder_assist.human", self._human > 0)
            self._setting("coder_assist.ledger", self._ledger > 0)
            return Cursor(self._conn.cursor(), False)
        if word in ("COMMIT", "ROLLBACK"):
            self.in_transaction = False
            return self._raw(word)
        if word == "PRAGMA":
            return Cursor(self._conn.cursor(), False)
        text, returning = _statement(sql, bool(params))
        values = tuple(int(v) if isinstance(v, bool) else v for v in params) if params else None  # 0/1, as stored
        return self._raw(text, values, returning)

    def executemany(self, sql: str, seq: Any) -> None:
        for params in seq:
            self.execute(sql, params)

    def commit(self) -> None:
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        """As ``with sqlite3_connection:``: commit an open transaction, or roll it back on an error."""
        if kind is None:
            self.commit()
        else:
            self.rollback()

    def close(self) -> None:
        self._conn.close()

    def _raw(self, sql: str, params: Any = None, returning: bool = False) -> Cursor:
        import sqlite3

        import psycopg

        try:
            return Cursor(self._conn.execute(sql, params), returning)
        except psycopg.errors.IntegrityError as exc:
            raise sqlite3.IntegrityError(str(exc).strip()) from exc
        except psycopg.errors.LockNotAvailable as exc:
            raise sqlite3.OperationalError(f"database is locked: {exc}") from exc
        except psycopg.errors.DatabaseError as exc:
            raise sqlite3.OperationalError(str(exc).strip()) from exc

