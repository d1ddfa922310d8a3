"""The SQLite store: migrations, WAL, and the hash-chained audit ledger."""

from __future__ import annotations

import sqlite3

import pytest

from coder_assist.store import audit
from coder_assist.store.db import connect, migrate, transaction
from coder_assist.store.migrations import MIGRATIONS


def test_migrations_run_once_and_are_recorded(tmp_path):
    conn = connect(tmp_path / "p.db")
    names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY id")]
    assert names == [name for name, _ in MIGRATIONS]
    assert migrate(conn) == []  # nothing pending on a second run
    conn.close()
    conn = connect(tmp_path / "p.db")  # reopening does not re-apply
    assert conn.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)


def test_wal_and_foreign_keys(tmp_path):
    conn = connect(tmp_path / "p.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        with transaction(conn):
            conn.execute(
                "INSERT INTO turns (document_id, idx, start, end) VALUES (999, 0, 0, 1)"
            )


def test_transaction_rolls_back_on_error(tmp_path):
    conn = connect(tmp_path / "p.db")
    with pytest.raises(RuntimeError):
        with transaction(conn):
            audit.append(conn, "ann", "x", {})
            raise RuntimeError("boom")
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0


def _ledger(tmp_path, n=5):
    """A ledger of n entries whose append-only triggers were dropped, as someone editing the
    database file directly could: the hash chain must still show the tampering."""
    conn = connect(tmp_path / "p.db")
    for i in range(n):
        with transaction(conn):
            audit.append(conn, "ann", "test", {"i": i, "text": "Zoë – café"})
    conn.execute("DROP TRIGGER events_append_only_u")
    conn.execute("DROP TRIGGER events_append_only_d")
    return conn


def test_ledger_is_append_only(tmp_path):
    conn = connect(tmp_path / "p.db")
    with transaction(conn):
        audit.append(conn, "ann", "test", {})
    for sql in ("UPDATE events SET actor = 'x'", "DELETE FROM events"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql)


def test_truncated_tail_is_caught_by_the_anchor(tmp_path):
    conn = connect(tmp_path / "p.db")
    conn.anchor_path = tmp_path / "audit.anchor"
    for i in range(4):
        with transaction(conn):
            audit.append(conn, "ann", "test", {"i": i})
    assert audit.verify(conn, conn.anchor_path) == []
    assert len(conn.anchor_path.read_text().splitlines()) == 4
    conn.execute("DROP TRIGGER events_append_only_d")
    conn.execute("DELETE FROM events WHERE seq = 4")
    assert audit.verify(conn) == []  # the chain alone cannot see a missing tail ...
    breaks = audit.verify(conn, conn.anchor_path)  # ... the anchor file can
    assert [b.seq for b in breaks] == [4] and "removed" in breaks[0].reason


def test_rolled_back_entries_are_not_anchored(tmp_path):
    conn = connect(tmp_path / "p.db")
    conn.anchor_path = tmp_path / "audit.anchor"
    with pytest.raises(RuntimeError):
        with transaction(conn):
            audit.append(conn, "ann", "x", {})
            raise RuntimeError
    with transaction(conn):
        audit.append(conn, "ann", "y", {})
    assert conn.anchor_path.read_text().split()[0] == "1"
    assert audit.verify(conn, conn.anchor_path) == []


def test_intact_chain_verifies(tmp_path):
    conn = _ledger(tmp_path)
    assert audit.verify(conn) == []


def test_modified_payload_is_detected(tmp_path):
    conn = _ledger(tmp_path)
    conn.execute("UPDATE events SET payload = '{\"i\":99}' WHERE seq = 3")
    breaks = audit.verify(conn)
    assert [b.seq for b in breaks] == [3]
    assert "modified" in breaks[0].reason


def test_modified_actor_is_detected(tmp_path):
    conn = _ledger(tmp_path)
    conn.execute("UPDATE events SET actor = 'mallory' WHERE seq = 2")
    assert [b.seq for b in audit.verify(conn)] == [2]


def test_deleted_entry_is_detected(tmp_path):
    conn = _ledger(tmp_path)
    conn.execute("DELETE FROM events WHERE seq = 2")
    breaks = audit.verify(conn)
    assert breaks and breaks[0].seq == 3
    assert any("deleted or inserted" in b.reason for b in breaks)


def test_rehashed_forgery_breaks_the_next_link(tmp_path):
    conn = _ledger(tmp_path)
    row = conn.execute("SELECT * FROM events WHERE seq = 2").fetchone()
    forged = audit._digest(2, row["at"], "mallory", row["type"], row["payload"], row["prev_hash"])
    conn.execute("UPDATE events SET actor = 'mallory', hash = ? WHERE seq = 2", (forged,))
    breaks = audit.verify(conn)
    assert [b.seq for b in breaks] == [3]
    assert "previous-hash" in breaks[0].reason


def test_swapped_entries_are_detected(tmp_path):
    conn = _ledger(tmp_path)
    a = conn.execute("SELECT at, actor, type, payload, prev_hash, hash FROM events WHERE seq = 2").fetchone()
    b = conn.execute("SELECT at, actor, type, payload, prev_hash, hash FROM events WHERE seq = 3").fetchone()
    conn.execute("UPDATE events SET at=?, actor=?, type=?, payload=?, prev_hash=?, hash=? WHERE seq = 2", tuple(b))
    conn.execute("UPDATE events SET at=?, actor=?, type=?, payload=?, prev_hash=?, hash=? WHERE seq = 3", tuple(a))
    assert {b.seq for b in audit.verify(conn)} >= {2, 3}


def test_actor_is_required(tmp_path):
    conn = connect(tmp_path / "p.db")
    with pytest.raises(ValueError):
        with transaction(conn):
            audit.append(conn, "", "x", {})
