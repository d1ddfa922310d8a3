"""Hardening of the store (issue 12): the ledger refuses foreign inserts, a missing, short or
garbage anchor fails verification, a locked or damaged database is one clear error, a deleted
index is noticed, indexing and coding runs survive a kill."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from coder_assist import Project
from coder_assist.errors import ProjectError
from coder_assist.store import audit, db, vectors as vectors_mod
from coder_assist.store.db import connect, transaction
from coder_assist.store.vectors import Vectors
from coder_assist.suggest import coding

from .conftest import FIXTURES, ROOT
from .scripted import ScriptedProvider


def _ledger(tmp_path, n: int = 4) -> db.ProjectConnection:
    conn = connect(tmp_path / "p.db")
    conn.anchor_path = tmp_path / "audit.anchor"
    for i in range(n):
        with transaction(conn):
            audit.append(conn, "ann", "test", {"i": i})
    return conn


def _forged_row(conn: sqlite3.Connection) -> tuple:
    """A correctly chained next entry, as someone who read audit.py could compute it."""
    seq, prev = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    at, body = db.utcnow(), '{"forged":true}'
    return seq + 1, at, "mallory", "test", body, prev, audit._digest(seq + 1, at, "mallory", "test", body, prev)


_INSERT = "INSERT INTO events (seq, at, actor, type, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)"


# -- 1. ledger inserts only through the library ---------------------------------------------------
def test_a_plain_sqlite_client_cannot_append_to_the_ledger(tmp_path):
    conn = _ledger(tmp_path)
    plain = sqlite3.connect(tmp_path / "p.db")
    with pytest.raises(sqlite3.DatabaseError, match="ca_ledger_write"):
        plain.execute(_INSERT, _forged_row(conn))
    plain.close()
    with pytest.raises(sqlite3.IntegrityError, match="written only by coder-assist"):
        conn.execute(_INSERT, _forged_row(conn))  # the library's connection, but outside audit.append
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 4
    assert audit.verify(conn, conn.anchor_path) == []


def test_a_forged_entry_after_dropping_the_trigger_is_caught_by_the_anchor(tmp_path):
    conn = _ledger(tmp_path)
    conn.execute("DROP TRIGGER events_guard_insert")
    conn.execute(_INSERT, _forged_row(conn))
    assert audit.verify(conn) == []  # correctly chained: the chain alone cannot see it ...
    breaks = audit.verify(conn, conn.anchor_path)  # ... the anchor can
    assert [b.seq for b in breaks] == [5] and "not recorded in audit.anchor" in breaks[0].reason


# -- 2. the anchor: missing, empty, short, garbage ------------------------------------------------
def test_a_deleted_anchor_is_a_failure(tmp_path):
    conn = _ledger(tmp_path)
    conn.anchor_path.unlink()
    breaks = audit.verify(conn, conn.anchor_path)
    assert len(breaks) == 1 and "audit.anchor is missing" in breaks[0].reason and "4 entries" in breaks[0].reason


def test_no_anchor_is_fine_for_an_empty_ledger(tmp_path):
    conn = connect(tmp_path / "p.db")
    assert audit.verify(conn, tmp_path / "audit.anchor") == []


@pytest.mark.parametrize("keep, first", [(0, 1), (2, 3)])
def test_an_empty_or_truncated_anchor_is_a_failure(tmp_path, monkeypatch, keep, first):
    monkeypatch.setattr(audit, "ANCHOR_RETRIES", 1)
    conn = _ledger(tmp_path)
    lines = conn.anchor_path.read_text().splitlines(keepends=True)
    conn.anchor_path.write_text("".join(lines[:keep]))
    breaks = audit.verify(conn, conn.anchor_path)
    assert [b.seq for b in breaks] == [first]
    assert f"entries {first}-4 are not recorded in audit.anchor" in breaks[0].reason
    assert ("empty" if keep == 0 else "truncated") in breaks[0].reason


@pytest.mark.parametrize("garbage", [
    b"\x00\xff\xfe garbage \x89PNG\r\n\x1a\n",
    b"9" * 5000 + b" " + b"a" * 64 + b"\n",  # past Python's integer-string limit
    "\u00b2 ".encode() + b"a" * 64 + b"\n",  # a digit str.isdigit() accepts and int() refuses
    b"not an anchor\n" * 1000,
])
def test_a_garbage_anchor_is_reported_never_raised(tmp_path, monkeypatch, garbage):
    monkeypatch.setattr(audit, "ANCHOR_RETRIES", 0)
    conn = _ledger(tmp_path)
    with open(conn.anchor_path, "ab") as fh:
        fh.write(garbage)
    breaks = audit.verify(conn, conn.anchor_path)
    assert len(breaks) == 1 and breaks[0].seq == 0 and "is not 'seq hash'" in breaks[0].reason
    conn.anchor_path.write_bytes(garbage)  # garbage only: the entries are not anchored either
    reasons = [b.reason for b in audit.verify(conn, conn.anchor_path)]
    assert any("not 'seq hash'" in r for r in reasons) and any("entries 1-4 are not recorded" in r for r in reasons)


def test_an_anchor_entry_committed_after_the_ledger_was_read_is_not_a_removal(tmp_path):
    conn = _ledger(tmp_path)
    other = connect(tmp_path / "p.db")
    other.anchor_path = conn.anchor_path
    entries = {r[0]: r[1] for r in conn.execute("SELECT seq, hash FROM events")}  # the ledger as read ...
    with transaction(other):  # ... then another process commits and anchors entry 5
        audit.append(other, "bea", "test", {})
    assert audit._check_anchor(conn, conn.anchor_path, entries) == []


# -- 3. a locked database ------------------------------------------------------------------------
def test_a_locked_database_is_one_clear_error_after_retrying(tmp_path, monkeypatch):
    holder = _ledger(tmp_path, 1)
    waiter = connect(tmp_path / "p.db")
    waiter.execute("PRAGMA busy_timeout = 50")
    monkeypatch.setattr(db, "LOCK_WAIT_S", 0.4)
    entered = []
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(ProjectError, match=r"p\.db is locked by another process \(waited \d+ s\); try again"):
            with transaction(waiter):
                entered.append(1)
    finally:
        holder.execute("ROLLBACK")
    assert entered == []
    assert waiter.execute("SELECT count(*) FROM events").fetchone()[0] == 1  # nothing written


def test_a_lock_released_while_waiting_is_taken(tmp_path, monkeypatch):
    _ledger(tmp_path, 1)
    waiter = connect(tmp_path / "p.db")
    waiter.execute("PRAGMA busy_timeout = 20")  # shorter than the hold: the retry loop must wait
    monkeypatch.setattr(db, "LOCK_WAIT_S", 60.0)
    locked = threading.Event()

    def hold() -> None:
        holder = connect(tmp_path / "p.db")
        holder.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(0.3)
        holder.execute("COMMIT")
        holder.close()

    thread = threading.Thread(target=hold)
    thread.start()
    locked.wait(10)
    with transaction(waiter):
        audit.append(waiter, "bea", "test", {})
    thread.join()
    assert waiter.execute("SELECT count(*) FROM events").fetchone()[0] == 2


# -- 4. an empty or damaged project.db -----------------------------------------------------------
def _closed_project(tmp_path) -> Project:
    proj = Project.init(tmp_path / "proj", coder="tester", embedder="hash")
    proj.close()
    return proj


@pytest.mark.sqlite_only
def test_an_empty_project_db_is_refused_and_left_empty(tmp_path):
    root = _closed_project(tmp_path).root
    (root / "project.db").write_bytes(b"")
    with pytest.raises(ProjectError, match="not a coder-assist project database: the file is empty"):
        Project.open(root)
    assert (root / "project.db").read_bytes() == b""


@pytest.mark.sqlite_only
def test_a_database_without_migrations_is_refused(tmp_path):
    root = _closed_project(tmp_path).root
    (root / "project.db").unlink()
    sqlite3.connect(root / "project.db").execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ProjectError, match="it has no migrations table"):
        Project.open(root)


@pytest.mark.sqlite_only
@pytest.mark.parametrize("damage", ["random", "truncated"])
def test_a_damaged_project_db_is_one_clear_error(tmp_path, damage):
    root = _closed_project(tmp_path).root
    path = root / "project.db"
    data = path.read_bytes()
    path.write_bytes(np.random.default_rng(1).bytes(len(data)) if damage == "random" else data[:4096])
    with pytest.raises(ProjectError, match=r"project\.db: not a coder-assist project database: "):
        Project.open(root)
    with pytest.raises(ProjectError, match="not a coder-assist project database"):
        connect(path)  # also where a database may be created


# -- 5. a deleted index/ ---------------------------------------------------------------------------
def _forget_chroma_clients() -> None:
    """What a new process sees: chroma caches one client system per path."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def test_a_deleted_index_is_noticed_by_search_and_status(tmp_path):
    proj = Project.init(tmp_path / "proj", coder="tester", embedder="hash")
    proj.ingest([FIXTURES / "wave1"])
    total = len(proj.segments())
    assert proj.status()["indexed"] == total and proj.search("invoice")
    root = proj.root
    proj.close()
    _forget_chroma_clients()
    shutil.rmtree(root / "index")
    proj = Project.open(root)
    try:
        assert proj.vectors.indexed() == 0 and proj.vectors.recorded() == total
        with pytest.raises(ProjectError, match=f"lacks {total} of {total} indexed segments.*coder-assist reindex"):
            proj.search("invoice")
        assert proj.status()["indexed"] == 0  # the records now say what the index holds
        assert proj.index_pending() == total
        assert proj.search("invoice") and proj.index.count() == total
    finally:
        proj.close()
        _forget_chroma_clients()


# -- 6. indexing killed midway ---------------------------------------------------------------------
class _Dying:
    """The hash embedder, raising (as a kill would stop it) on its ``die_on``-th call."""

    def __init__(self, inner, die_on: int | None) -> None:
        self.inner, self.die_on, self.calls = inner, die_on, 0
        self.name, self.dimension = inner.name, inner.dimension

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.die_on:
            raise KeyboardInterrupt("killed")
        return self.inner.embed(texts)


def _unindexed(project) -> int:
    project.ingest([FIXTURES / "wave1"], index=False)
    return len(project.segments())


def _chroma_ids(project) -> list[str]:
    return project.index.collection.get(include=[])["ids"]


def test_indexing_killed_midway_resumes_where_it_stopped(project, monkeypatch):
    monkeypatch.setattr(vectors_mod, "EMBED_BATCH", 4)
    total = _unindexed(project)
    assert total > 16
    with pytest.raises(KeyboardInterrupt):
        Vectors(project.store, _Dying(project.embedder, die_on=4)).index_pending()
    # Batches 1-3 reached chroma before the fourth embedding died, and all three are recorded.
    assert project.status()["indexed"] == 12 and project.index.count() == 12
    rerun = Vectors(project.store, _Dying(project.embedder, die_on=None))
    assert rerun.index_pending() == total - 12  # continues, does not start over
    ids = _chroma_ids(project)
    assert len(ids) == len(set(ids)) == total == project.status()["indexed"]
    assert rerun.index_pending() == 0


def test_a_batch_in_chroma_but_not_recorded_costs_only_that_batch(project, monkeypatch):
    monkeypatch.setattr(vectors_mod, "EMBED_BATCH", 4)
    total = _unindexed(project)
    real, seen = Vectors._record_indexed, []

    def dies_on_second(self, upsert, batch, embedder, progress):  # killed between chroma's write and ours
        seen.append(1)
        if len(seen) == 2:
            upsert.result()
            raise KeyboardInterrupt("killed")
        return real(self, upsert, batch, embedder, progress)

    monkeypatch.setattr(Vectors, "_record_indexed", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        project.vectors.index_pending()
    monkeypatch.setattr(Vectors, "_record_indexed", real)
    assert project.status()["indexed"] == 4 and project.index.count() >= 8  # chroma is ahead of the records
    assert project.vectors.index_pending() == total - 4  # only the unrecorded ones again, not everything
    ids = _chroma_ids(project)
    assert len(ids) == len(set(ids)) == total == project.status()["indexed"]


# -- 7. killed coding runs -------------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(proc.stdout)


def _run_row(conn, run_id: str, pid: int, host: str, started: str | None) -> None:
    conn.execute(
        "INSERT INTO coding_runs (id, work_key, actor, provider, model, prompt_id, prompt_version, prompt_sha256,"
        " params, redaction, selection, status, started_at, pid, host, process_started)"
        " VALUES (?, 'k', 'ann', 'p', 'm', 'initial-coding', '1', 'sha', '{}', '{}', '{}', 'running', ?, ?, ?, ?)",
        (run_id, db.utcnow(), pid, host, started),
    )


def test_running_rows_whose_process_is_gone_are_marked_interrupted(project):
    conn, me, host = project.conn, os.getpid(), socket.gethostname()
    mine = coding.process_started(me)
    _run_row(conn, "dead", _dead_pid(), host, None)
    _run_row(conn, "alive", me, host, mine)
    _run_row(conn, "reused", me, host, "1" if mine != "1" else "2")  # same pid, another process's start
    _run_row(conn, "elsewhere", _dead_pid(), host + ".other", None)  # another host: cannot tell
    marked = coding.mark_interrupted(conn, "tester")
    expected = ["dead", "reused"] if mine is not None else ["dead"]
    assert sorted(marked) == expected
    status = dict(conn.execute("SELECT id, status FROM coding_runs").fetchall())
    assert sorted(k for k, v in status.items() if v == "interrupted") == expected
    assert status["alive"] == "running" and status["elsewhere"] == "running"
    events = audit.log(conn, type_="coding-run-interrupted")
    assert sorted(e["payload"]["run_id"] for e in events) == expected
    assert coding.mark_interrupted(conn, "tester") == []  # once
    assert audit.verify(conn, project.root / "audit.anchor") == []


def test_a_killed_run_is_interrupted_and_the_rerun_finishes_without_duplicates(tmp_path):
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    p.ingest([FIXTURES / "wave2"])
    default = lambda schema, system, user: {"codes": []}  # noqa: E731
    sp = ScriptedProvider(default=default, remote=False)
    sp.enqueue(*[{"codes": []}] * 5, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        p.code(provider=sp)
    (killed,) = [r[0] for r in p.conn.execute("SELECT id FROM coding_runs")]
    row = p.conn.execute("SELECT pid, host, process_started FROM coding_runs").fetchone()
    assert row["pid"] == os.getpid() and row["host"] == socket.gethostname()
    # As if the process had been killed before it could say so: its row still says running.
    p.conn.execute("UPDATE coding_runs SET status = 'running', finished_at = NULL, pid = ? WHERE id = ?", (_dead_pid(), killed))
    report = p.code(provider=ScriptedProvider(default=default, remote=False))
    assert report.skipped_done == 5 and report.failed == 0
    runs = dict(p.conn.execute("SELECT id, status FROM coding_runs").fetchall())
    assert runs.pop(killed) == "interrupted" and list(runs.values()) == ["finished"]
    per_segment = [r[0] for r in p.conn.execute("SELECT count(*) FROM llm_calls GROUP BY segment_id")]
    assert per_segment and set(per_segment) == {1}
    p.close()


def test_a_run_killed_with_sigkill_is_interrupted_by_the_next_run(tmp_path):
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    p.ingest([FIXTURES / "wave2"])
    script = textwrap.dedent(f"""
        import time
        from coder_assist import Project
        from coder_assist.suggest.providers import CodeProposal, ProviderReply

        class Slow:
            name, model, base_host, remote, prompt_id = "slow", "slow-1", None, False, "initial-coding"

            def params(self):
                return {{}}

            def propose(self, item):
                time.sleep(0.05)
                return ProviderReply(CodeProposal(codes=[]), '{{"codes": []}}')

        Project.open({str(p.root)!r}).code(provider=Slow())
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and p.conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0] < 5:
            assert proc.poll() is None, "the coding subprocess ended early"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (run,) = p.conn.execute("SELECT id, status, pid FROM coding_runs").fetchall()
    assert run["status"] == "running" and run["pid"] == proc.pid  # it never got to say
    assert coding.mark_interrupted(p.conn, "ann") == [run["id"]]
    assert p.conn.execute("SELECT status FROM coding_runs").fetchone()[0] == "interrupted"
    assert audit.verify(p.conn, p.root / "audit.anchor") == []
    p.close()
