"""A whole project on the PostgreSQL store (``init --store postgresql://...``), through the CLI.

The same work as on SQLite: ingest, offline coding, decisions, categories, construct links,
memos, the wave report, an export, the audit trail; two folders (two team members) sharing one
database. The server is started by the tests (``tests/pg_server.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli.app import app
from coder_assist.errors import ProjectError

from .conftest import FIXTURES
from .pg_server import PgServer

pytest.importorskip("psycopg")
runner = CliRunner()


def ca(root: Path, *args: str, coder: str = "ann"):  # noqa: ANN201 - click's Result
    res = runner.invoke(app, ["-p", str(root), "--coder", coder, *args])
    assert res.exit_code == 0, f"{args}: {res.output}"
    assert "Traceback" not in res.output
    return res


def test_every_step_of_the_work_on_postgresql(pg_server: PgServer, tmp_path: Path) -> None:
    url, root = pg_server.database(), tmp_path / "study"
    res = runner.invoke(app, ["--coder", "ann", "init", str(root), "--embedder", "hash", "--store", url])
    assert res.exit_code == 0 and f"(store: {url})" in res.output, res.output
    assert not (root / "project.db").exists()
    ca(root, "ingest", str(FIXTURES / "wave1"), "--wave", "1", "--attributes", str(FIXTURES / "participants.csv"))
    ca(root, "ingest", str(FIXTURES / "wave2"), "--wave", "2")
    hits = [ln for ln in ca(root, "search", "price and the contract", "-k", "2").output.splitlines() if ln.strip()]
    assert len(hits) >= 2
    ca(root, "code", "--provider", "offline", "--limit", "60")
    with Project.open(root) as p:
        ids = [r["id"] for r in p.suggestion_rows(status="proposed")][:6]
        assert p.status()["store"] == url and p.status()["documents"] == 15
    ca(root, "accept", *map(str, ids[:4]))
    ca(root, "reject", str(ids[4]), "--note", "too generic")
    ca(root, "review", "--accept-where", "wave=1 and in_vivo=false", "--yes")
    assert "Traceback" not in ca(root, "codes").output
    ca(root, "categorize")
    ca(root, "map", "--framework", "ivpd", "--level", "code")
    memo = tmp_path / "memo.md"
    memo.write_text("Buyers judge value against the price first.\n", encoding="utf-8")
    ca(root, "memo", "write", "reflexive:week-1", "--file", str(memo))
    ca(root, "saturation")
    ca(root, "wave", "report", "1")
    ca(root, "export", "qdpx", str(tmp_path / "study.qdpx"))
    ca(root, "suggestions", "--csv", str(tmp_path / "sheet.csv"))
    out = ca(root, "audit", "verify").output
    assert "hash chain and anchor verified" in out
    with Project.open(root) as p:
        assert len(p.code_rows()) > 3 and p.memos()[-1]["body"].startswith("Buyers judge")
        assert p.conn.execute("SELECT count(*) FROM codings").fetchone()[0] > 3
        before = len(p.link_suggestion_rows())
        codes_before = len(p.code_rows())
    ca(root, "map", "--framework", "ivpd", "--level", "code")  # a re-run on unchanged data adds nothing
    ca(root, "categorize")
    with Project.open(root) as p:
        assert len(p.link_suggestion_rows()) == before and len(p.code_rows()) == codes_before


def test_two_folders_share_one_database_and_a_decision_is_taken_once(pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.database()
    ana, bo = tmp_path / "ana", tmp_path / "bo"
    with Project.init(ana, coder="ana", embedder="hash", store=url) as p:
        p.ingest([FIXTURES / "wave1" / "nw01_natarajan_procurement.md"])
        p.code(provider="offline")
        first = p.suggestion_rows(status="proposed")[0]["id"]
    with pytest.raises(ProjectError, match="already a coder-assist project"):
        Project.init(ana, coder="x", store=url)
    with Project.init(bo, coder="bo", embedder="hash", store=url) as b:  # a second member, the same database
        assert len(b.suggestion_rows(status="proposed")) > 0
        b.accept(first, coder="bo")
    with Project.open(ana) as a:
        from coder_assist.review.decisions import Conflict

        with pytest.raises(Conflict):
            a.accept(first, coder="ana")
        assert a.verify_audit() == []  # ana's anchor holds ana's entries; bo's are in the chain
    with Project.open(bo) as b:
        assert b.verify_audit() == []


def test_a_password_in_the_url_is_refused_and_a_dead_server_is_one_error(pg_server: PgServer, tmp_path: Path) -> None:
    res = runner.invoke(app, ["init", str(tmp_path / "p"), "--store", "postgresql://owner:secret@127.0.0.1:1/x"])
    assert res.exit_code == 1 and "password" in res.output and "secret" not in res.output.replace("owner:secret", "")
    res = runner.invoke(app, ["init", str(tmp_path / "q"), "--store", "postgresql://owner@127.0.0.1:1/nothing"])
    assert res.exit_code == 1 and "cannot connect to the PostgreSQL project database" in res.output
    assert "Traceback" not in res.output


@pytest.mark.sqlite_only  # it needs a project on SQLite beside the server; it runs in the first pass
def test_migrate_store_copies_everything_verifies_and_switches(pg_server: PgServer, tmp_path: Path) -> None:
    root = tmp_path / "local"
    with Project.init(root, coder="ann", embedder="hash") as p:
        p.ingest([FIXTURES / "wave1"], wave=1, attributes=FIXTURES / "participants.csv")
        p.code(provider="offline", limit=40)
        ids = [r["id"] for r in p.suggestion_rows(status="proposed")]
        p.accept(ids[:8], coder="ann")
        p.add_code("Value talk", coder="ann")
        p.write_memo("reflexive:w1", "A first note.\n", coder="ann")
        before = {t: p.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("documents", "segments",
                  "suggestions", "decisions", "codes", "codings", "memos", "events")}  # fmt: skip
        labels = sorted(c["label"] for c in p.code_rows())
    url = pg_server.database()
    res = runner.invoke(app, ["-p", str(root), "--coder", "ann", "migrate-store", "--to", url])
    assert res.exit_code == 0, res.output
    assert "counts and the audit chain verified" in res.output and not (root / "project.db").exists()
    assert any(f.name.startswith("project.db.before-migrate-store-") for f in root.iterdir())
    with Project.open(root) as p:
        assert p.status()["store"] == url
        after = {t: p.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in before}
        # ... plus the migrate-store event, and the config change (store.url) recorded when next opened
        assert after == {**before, "events": before["events"] + 2}
        assert [e["type"] for e in p.audit_log()[-2:]] == ["migrate-store", "config-change"]
        assert sorted(c["label"] for c in p.code_rows()) == labels
        assert p.verify_audit() == [] and p.search("the new CFO", k=2)
        p.accept(ids[8], coder="bo")  # work goes on, on the server; new ids follow the copied ones
        assert p.add_code("Trust talk", coder="bo") > max(c["id"] for c in p.code_rows() if c["label"] != "Trust talk")
    again = runner.invoke(app, ["-p", str(root), "migrate-store", "--to", url])
    assert again.exit_code == 1 and "already" in again.output
    other = tmp_path / "other"
    Project.init(other, coder="ann", embedder="hash").close()
    full = runner.invoke(app, ["-p", str(other), "migrate-store", "--to", url])
    assert full.exit_code == 1 and "already holds a project" in full.output and (other / "project.db").exists()


@pytest.mark.sqlite_only  # it needs a project on SQLite beside the server; it runs in the first pass
def test_grant_coder_from_the_cli_and_a_member_working_as_that_role(pg_server: PgServer, tmp_path: Path) -> None:
    import psycopg

    url = pg_server.database()
    owner = tmp_path / "owner"
    ca_init = runner.invoke(app, ["--coder", "ann", "init", str(owner), "--embedder", "hash", "--store", url])
    assert ca_init.exit_code == 0, ca_init.output
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DROP ROLE IF EXISTS member_bo")
        c.execute("CREATE ROLE member_bo LOGIN")
    res = ca(owner, "grant-coder", "member_bo")
    assert "member_bo may now work on this project" in res.output
    bo = tmp_path / "bo"
    member = runner.invoke(app, ["--coder", "bo", "init", str(bo), "--embedder", "hash", "--store",
                                 url.replace("owner@", "member_bo@")])  # fmt: skip
    assert member.exit_code == 0, member.output
    ca(bo, "ingest", str(FIXTURES / "wave1" / "nw01_natarajan_procurement.md"), coder="bo")
    ca(bo, "code", "--provider", "offline", coder="bo")
    with Project.open(bo) as p:
        first = p.suggestion_rows(status="proposed")[0]["id"]
    ca(bo, "accept", str(first), coder="bo")
    assert "hash chain and anchor verified" in ca(owner, "audit", "verify").output
    local = tmp_path / "sqlite"
    Project.init(local, embedder="hash").close()
    res = runner.invoke(app, ["-p", str(local), "grant-coder", "x"])
    assert res.exit_code == 1 and "for a project on PostgreSQL" in res.output
