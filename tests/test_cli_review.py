"""The review, decision, codebook and audit commands, as a user runs them."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli.app import app

from .conftest import FIXTURES

runner = CliRunner()


@pytest.fixture
def proj(tmp_path, monkeypatch):
    monkeypatch.delenv("CODER_ASSIST_CODER", raising=False)
    p = Project.init(tmp_path / "p", embedder="hash")
    p.ingest([FIXTURES / "wave2"], wave=2, attributes=FIXTURES / "participants.csv")
    p.code()
    p.close()
    return tmp_path / "p"


def ca(proj, *args, input=None):  # noqa: A002
    return runner.invoke(app, ["-p", str(proj), *args], input=input)


def statuses(proj) -> dict[int, str]:
    with Project.open(proj) as p:
        return {r["id"]: r["status"] for r in p.suggestion_rows()}


def test_interactive_review_with_single_keys(proj):
    with Project.open(proj) as p:
        p.add_code("Existing code", coder="ann")
    keys = "a" + "r" + "too generic\n" + "e" + "Renamed label\n" + "s" + "*\n" + "m" + "1\n" + "d" + "n" + "u" + "q"
    r = ca(proj, "--coder", "ann", "review", input=keys)
    assert r.exit_code == 0, r.output
    assert "[a]ccept [r]eject" in r.stdout and "suggestion #1 · 1/" in r.stdout
    assert "undid decision" in r.stdout and "Review stopped. ann:" in r.stdout
    st = statuses(proj)
    assert [st[i] for i in range(1, 7)] == ["accepted", "rejected", "edited", "edited", "merged", "proposed"]
    with Project.open(proj) as p:
        labels = {c["label"] for c in p.code_rows()}
        assert {"Renamed label", "Existing code"} <= labels
        d = p.conn.execute("SELECT note FROM decisions WHERE action = 'reject'").fetchone()
        assert d["note"] == "too generic"
        assert p.conn.execute("SELECT count(*) FROM decisions WHERE action = 'undo'").fetchone()[0] == 1
        assert p.verify_audit() == []


def test_review_needs_a_coder(proj):
    r = ca(proj, "review", input="a")
    assert r.exit_code == 1 and "named coder" in r.stderr


def test_bulk_accept_asks_first_and_respects_the_answer(proj):
    expr = "side=supplier and in_vivo=true"
    r = ca(proj, "--coder", "ann", "review", "--accept-where", expr, input="n\n")
    assert r.exit_code == 1 and "open suggestions match" in r.stdout and "nothing changed" in r.stdout
    assert set(statuses(proj).values()) == {"proposed"}
    r = ca(proj, "--coder", "ann", "review", "--accept-where", expr, input="y\n")
    assert r.exit_code == 0, r.output
    n = int(r.stdout.split("\n")[-2].split()[0])
    assert n > 0 and list(statuses(proj).values()).count("accepted") == n
    r = ca(proj, "--coder", "bea", "review", "--reject-where", "wave=2 and label~ing", "--yes", "--note", "batch")
    assert r.exit_code == 0 and "rejected" in r.stdout


def test_decisions_from_csv_all_or_nothing(proj, tmp_path):
    good = tmp_path / "d.csv"
    good.write_text("id,action,label,span,into,note\n1,accept,,,,\n2,edit,Better label,*,,\n3,reject,,,,off topic\n"
                    "4,merge,,,Better label,\n", encoding="utf-8")  # fmt: skip
    bad = tmp_path / "bad.csv"
    bad.write_text("id,action\n5,accept\n6,shout\n", encoding="utf-8")
    r = ca(proj, "--coder", "ann", "review", "--from", str(bad))
    assert r.exit_code == 1 and "bad.csv: line 3: unknown action 'shout'" in r.stderr
    conflict = tmp_path / "conflict.csv"
    conflict.write_text("id,action\n5,accept\n5,reject\n", encoding="utf-8")
    r = ca(proj, "--coder", "ann", "review", "--from", str(conflict))
    assert r.exit_code == 1 and "conflict.csv: line 3" in r.stderr and "already accepted" in r.stderr
    assert statuses(proj)[5] == "proposed"  # the first line was rolled back too
    r = ca(proj, "--coder", "ann", "review", "--from", str(good))
    assert r.exit_code == 0, r.output
    st = statuses(proj)
    assert [st[i] for i in (1, 2, 3, 4)] == ["accepted", "edited", "rejected", "merged"]


def test_accept_reject_conflict_and_undo_commands(proj):
    assert ca(proj, "--coder", "ann", "accept", "1", "2").exit_code == 0
    r = ca(proj, "--coder", "bea", "reject", "2", "3")
    assert r.exit_code == 1 and "already accepted by ann" in r.stderr and r.stderr.count("\n") == 1
    assert statuses(proj)[3] == "proposed"  # all or none
    r = ca(proj, "--coder", "ann", "undo")
    assert r.exit_code == 0 and "back to proposed" in r.stdout
    assert statuses(proj)[2] == "proposed"


def test_codes_tree_and_manual_edits(proj):
    with Project.open(proj) as p:
        seg = p.segments()[5]["id"]
    assert ca(proj, "--coder", "ann", "codes", "add", "Trust").exit_code == 0
    assert ca(proj, "--coder", "ann", "codes", "add", "Trusting engineers", "--parent", "Trust").exit_code == 0
    assert ca(proj, "--coder", "ann", "codes", "apply", "Trusting engineers", "--segment", seg).exit_code == 0
    assert ca(proj, "--coder", "ann", "accept", "1").exit_code == 0
    r = ca(proj, "codes")
    lines = r.stdout.splitlines()
    trust = lines.index(next(x for x in lines if x.startswith("Trust  [")))
    assert lines[trust + 1].startswith("  Trusting engineers  [1; ")  # nested under its parent
    rows = json.loads(ca(proj, "codes", "--json").stdout)
    engineers = next(x for x in rows if x["label"] == "Trusting engineers")
    assert engineers["codings"] == 1 and engineers["by_wave"] == {"2": 1} and sum(engineers["by_side"].values()) == 1
    assert ca(proj, "--coder", "ann", "codes", "rename", "Trust", "Relying").exit_code == 0
    r = ca(proj, "--coder", "ann", "codes", "merge", "Trusting engineers", "--into", "Relying")
    assert r.exit_code == 0 and "(1 coding moved)" in r.stdout
    r = ca(proj, "codes", "add", "No coder")
    assert r.exit_code == 1 and "named coder" in r.stderr


@pytest.mark.sqlite_only
def test_audit_verify_log_export_and_tamper(proj, tmp_path):
    assert ca(proj, "--coder", "ann", "accept", "1").exit_code == 0
    r = ca(proj, "audit", "verify")
    assert r.exit_code == 0 and "audit trail intact" in r.stdout
    log = json.loads(ca(proj, "audit", "log", "--type", "decision", "--json").stdout)
    assert len(log) == 1 and log[0]["actor"] == "ann" and log[0]["payload"]["action"] == "accept"
    assert "decision" in ca(proj, "audit", "log", "--by", "ann").stdout
    out = tmp_path / "trail.jsonl"
    r = ca(proj, "--coder", "ann", "audit", "export", str(out))
    assert r.exit_code == 0 and len(out.read_text().splitlines()) == int(r.stdout.split()[1])
    # Tamper with the database directly (triggers dropped first, as someone with the file could).
    db = sqlite3.connect(proj / "project.db")
    db.execute("DROP TRIGGER events_append_only_u")
    seq = log[0]["seq"]
    db.execute("UPDATE events SET actor = 'mallory' WHERE seq = ?", (seq,))
    db.commit()
    db.close()
    r = ca(proj, "audit", "verify")
    assert r.exit_code == 1 and f"error: entry {seq}: entry content does not match its hash" in r.stderr


def test_trace_command(proj):
    r = ca(proj, "--coder", "ann", "accept", "1")
    coding = int(r.stdout.split("coding ")[1].rstrip(")\n"))
    r = ca(proj, "trace", str(coding))
    assert r.exit_code == 0
    assert "decided by ann" in r.stdout and "suggested by offline" in r.stdout and "prompt offline-heuristics" in r.stdout
    t = json.loads(ca(proj, "trace", str(coding), "--json").stdout)
    assert t["suggestion"]["id"] == 1 and t["decision"]["coder"] == "ann"
    assert ca(proj, "trace", "999").exit_code == 1
