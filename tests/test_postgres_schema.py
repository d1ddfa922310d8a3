"""The PostgreSQL store: its schema and guards, and the store's own code on it, against a real server.

The numbered migrations are written once; on PostgreSQL they must give the same tables and
columns as on SQLite (``schema_snapshot.json``), and the same guards: only a human decision
writes the codebook, the ledger and decisions are append-only, only the library appends to the
ledger. Each test gets a fresh database.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator

import pytest

from coder_assist.store import postgres
from coder_assist.store.db import utcnow
from coder_assist.store.migrations import MIGRATIONS

from .conftest import ROOT
from .pg_server import PgServer

psycopg = pytest.importorskip("psycopg")  # a dev dependency: missing means the venv is stale


@pytest.fixture
def db(pg_server: PgServer) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_server.database(), autocommit=True) as conn:
        postgres.migrate(conn)
        yield conn


def _columns(conn: psycopg.Connection) -> dict[str, dict[str, bool]]:
    rows = conn.execute(
        "SELECT table_name, column_name, is_nullable FROM information_schema.columns WHERE table_schema = 'public'"
    ).fetchall()
    out: dict[str, dict[str, bool]] = {}
    for table, column, nullable in rows:
        out.setdefault(table, {})[column] = nullable == "NO"
    return out


def test_the_same_tables_columns_and_not_null_as_sqlite(db: psycopg.Connection) -> None:
    snapshot = json.loads((ROOT / "tests" / "schema_snapshot.json").read_text())
    expected = {t: {c["name"]: bool(c["notnull"]) for c in spec["columns"]} for t, spec in snapshot["tables"].items()}
    got = _columns(db)
    assert set(got) == set(expected)
    for table, columns in expected.items():
        assert set(got[table]) == set(columns), table
        for column, notnull in columns.items():
            primary = any(c["name"] == column and c["pk"] for c in snapshot["tables"][table]["columns"])
            assert got[table][column] == (notnull or primary), (table, column)  # a PRIMARY KEY is NOT NULL in PostgreSQL
    names = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY id")]
    assert names == [name for name, _ in MIGRATIONS] == snapshot["migrations"]
    assert postgres.migrate(db) == []  # applied once


def test_foreign_keys_and_indexes_are_there(db: psycopg.Connection) -> None:
    fks = {(r[0], r[1], r[2]) for r in db.execute(
        "SELECT tc.table_name, kcu.column_name, ccu.table_name FROM information_schema.table_constraints tc"
        " JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name"
        " JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name"
        " WHERE tc.constraint_type = 'FOREIGN KEY'")}  # fmt: skip
    snapshot = json.loads((ROOT / "tests" / "schema_snapshot.json").read_text())
    expected = {(t, fk[0], fk[1]) for t, spec in snapshot["tables"].items() for fk in spec["foreign_keys"]}
    assert fks == expected  # forward references (codings -> suggestions, decisions) included
    indexes = {r[0] for r in db.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert {"documents_one_current", "codes_label", "exchange_ids_guid", "codings_segment"} <= indexes


def _insert_code(conn: psycopg.Connection, label: str) -> None:
    conn.execute("INSERT INTO codes (label, created_at, created_by) VALUES (%s, %s, 'ann')", (label, utcnow()))


def test_only_a_human_decision_writes_the_codebook(db: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="only through a human decision"):
        with db.transaction():
            _insert_code(db, "Chasing the supplier")
    with db.transaction():
        postgres.human_scope(db)
        _insert_code(db, "Chasing the supplier")
    # The setting ends with its transaction: the next one is guarded again.
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation):
        with db.transaction():
            db.execute("UPDATE codes SET label = 'x'")
    assert db.execute("SELECT label FROM codes").fetchall() == [("Chasing the supplier",)]


def test_the_ledger_is_append_only_and_written_only_by_the_library(db: psycopg.Connection) -> None:
    row = ("2026-12-06T00:00:00+00:00", "ann", "note", "{}", "0" * 64, "f" * 64)
    sql = "INSERT INTO events (at, actor, type, payload, prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s)"
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="written only by coder-assist"):
        with db.transaction():
            db.execute(sql, row)
    with db.transaction():
        postgres.ledger_scope(db)
        db.execute(sql, row)
    for statement in ("UPDATE events SET actor = 'eve'", "DELETE FROM events"):
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
            with db.transaction():
                postgres.ledger_scope(db)
                db.execute(statement)
    assert db.execute("SELECT actor FROM events").fetchall() == [("ann",)]


def test_identity_ids_and_the_reserved_end_column(db: psycopg.Connection) -> None:
    with db.transaction():
        doc = db.execute(
            "INSERT INTO documents (name, version, path, sha256, format, encoding, labelled, text, text_sha256,"
            " ingested_at, ingested_by) VALUES ('i.txt', 1, 'i.txt', 'x', 'txt', 'utf-8', 1, 'Ann: hello', 'y', %s, 'ann')"
            " RETURNING id", (utcnow(),),
        ).fetchone()[0]  # fmt: skip
        db.execute('INSERT INTO turns (document_id, idx, speaker, start, "end") VALUES (%s, 0, %s, 0, 10)', (doc, "Ann"))
    assert db.execute('SELECT start, "end" FROM turns').fetchone() == (0, 10)


def test_two_processes_migrating_at_once_apply_each_migration_once(pg_server: PgServer) -> None:
    url = pg_server.database()
    results: list[list[str]] = []

    def run() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            results.append(postgres.migrate(conn))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and sum(len(r) for r in results) == len(MIGRATIONS)  # each applied by one of them
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)


def test_every_guard_trigger_is_translated() -> None:
    sqlite_triggers = sum(s.count("CREATE TRIGGER") for _, s in MIGRATIONS)
    pg = [st for _, statements in postgres.translated_migrations() for st in statements]
    assert sum(st.startswith("CREATE TRIGGER") for st in pg) == sqlite_triggers > 20
    assert not any("RAISE(ABORT" in st for st in pg)


# -- the store's own code on PostgreSQL, through PgConnection -------------------------------------
@pytest.fixture
def pg(pg_server: PgServer, tmp_path) -> Iterator[postgres.PgConnection]:  # noqa: ANN001 - pytest's tmp_path
    conn = postgres.PgConnection(pg_server.database(), anchor_path=tmp_path / "audit.anchor")
    yield conn
    conn.close()


def test_the_ledger_appended_and_verified_by_the_library(pg: postgres.PgConnection, tmp_path) -> None:  # noqa: ANN001
    from coder_assist.store import audit
    from coder_assist.store.db import transaction

    for n in range(3):
        with transaction(pg):
            audit.append(pg, "ann", "note", {"n": n, "text": "100% of the invoices"})
    assert audit.verify(pg, tmp_path / "audit.anchor") == []
    assert [r["payload"] for r in audit.log(pg)] == [{"n": n, "text": "100% of the invoices"} for n in range(3)]
    with transaction(pg):  # outside audit.append, the ledger refuses an insert
        with pytest.raises(sqlite3.IntegrityError, match="written only by coder-assist"):
            pg.execute("INSERT INTO events (seq, at, actor, type, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (9, "t", "eve", "x", "{}", "0", "0"))  # fmt: skip


def test_appends_from_several_connections_at_once_keep_one_chain(pg_server: PgServer, tmp_path) -> None:  # noqa: ANN001
    from coder_assist.store import audit
    from coder_assist.store.db import transaction

    url, anchor = pg_server.database(), tmp_path / "audit.anchor"
    postgres.PgConnection(url).close()  # migrated once

    def writer(name: str) -> None:
        conn = postgres.PgConnection(url, anchor_path=anchor)
        try:
            for n in range(25):
                with transaction(conn):
                    audit.append(conn, name, "note", {"n": n})
        finally:
            conn.close()

    threads = [threading.Thread(target=writer, args=(f"coder{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check = postgres.PgConnection(url)
    try:
        assert check.execute("SELECT count(*) FROM events").fetchone()[0] == 100
        assert audit.verify(check, anchor) == []  # the write lock serialises the appends: no fork in the chain
    finally:
        check.close()


def test_a_human_decision_scope_writes_the_codebook_and_nothing_else_does(pg: postgres.PgConnection) -> None:
    from coder_assist.review.decisions import human_decision
    from coder_assist.store.db import transaction

    with human_decision(pg, "ann"):
        code_id = pg.execute("INSERT INTO codes (label, created_at, created_by) VALUES (?, ?, ?)",
                             ("Chasing the supplier", utcnow(), "ann")).lastrowid  # fmt: skip
    assert isinstance(code_id, int)
    with transaction(pg):
        with pytest.raises(sqlite3.IntegrityError, match="only through a human decision"):
            pg.execute("UPDATE codes SET label = ? WHERE id = ?", ("Renamed by a script", code_id))
    row = pg.execute("SELECT id, label FROM codes WHERE label LIKE ?", ("Chasing%",)).fetchone()
    assert (row["id"], row["label"], row[1]) == (code_id, "Chasing the supplier", "Chasing the supplier")


def test_a_coder_role_works_but_cannot_drop_the_guards(pg_server: PgServer) -> None:
    from coder_assist.review.decisions import human_decision

    url = pg_server.database()
    with psycopg.connect(url, autocommit=True) as owner:
        postgres.migrate(owner)
        owner.execute("DROP ROLE IF EXISTS coder_ann")
        owner.execute("CREATE ROLE coder_ann LOGIN")
        postgres.grant_coder(owner, "coder_ann")
    coder_url = url.replace("owner@", "coder_ann@")
    conn = postgres.PgConnection(coder_url)  # opens an up-to-date database without creating anything
    try:
        with human_decision(conn, "ann"):
            code = conn.execute("INSERT INTO codes (label, created_at, created_by) VALUES (?, ?, ?)",
                                ("Chasing the supplier", utcnow(), "ann")).lastrowid  # fmt: skip
        assert code
        for statement in ("DROP TRIGGER codes_guard_insert ON codes", "DELETE FROM codes", "ALTER TABLE events DROP COLUMN hash"):
            with pytest.raises(sqlite3.OperationalError, match="permission denied|must be owner"):
                conn.execute(statement)
        conn.execute("DELETE FROM llm_calls WHERE status = 'failed'")  # the one delete the steps make
    finally:
        conn.close()
