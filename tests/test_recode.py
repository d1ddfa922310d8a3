"""Re-coding a new wave with the accepted codebook (the codebook-application prompt): replayed
from a cassette recorded against tests/stub_server.py, and live on loopback."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli import app
from coder_assist.errors import CoderAssistError
from coder_assist.suggest.providers.openai_compat import OpenAICompatProvider

from . import stub_server
from .test_coding_llm import recorder  # noqa: F401  (the shared cassette fixture)

BASE_URL = f"http://127.0.0.1:{stub_server.PORT}/v1"

WAVE1 = """Interviewer: How do you judge the supplier?

Priya Natarajan: We check every invoice against the rate card before anything is paid.

Interviewer: And the sites?

Tom Haverley: The sites only care whether the doors are fixed overnight.
"""
WAVE2 = """Interviewer: What changed since last year?

Priya Natarajan: Finance now checks the invoices line by line against the contract.

Interviewer: And on site?

Tom Haverley: An engineer came at two in the morning and the dock was open by six.
"""
PEOPLE = "participant_id,speaker,side\nP1,Priya Natarajan,buyer\nP2,Tom Haverley,buyer\nR1,Interviewer,researcher\n"


@pytest.fixture
def proj(tmp_path):
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    for name, text in (("w1.txt", WAVE1), ("w2.txt", WAVE2)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "people.csv").write_text(PEOPLE, encoding="utf-8")
    p.ingest([tmp_path / "w1.txt"], wave=1, attributes=tmp_path / "people.csv")
    p.ingest([tmp_path / "w2.txt"], wave=2)
    segs = [s for s in p.segments("w1.txt") if s["speaker"] != "Interviewer"]
    code = p.add_code("Checking invoices against the contract", definition="Buyers verify what they pay for, line by line.")
    assert code
    p.apply_code("Checking invoices against the contract", segs[0]["id"], coder="ann")
    p.apply_code("Valuing overnight repairs", segs[1]["id"], coder="ann")
    yield p
    p.close()


def provider(url: str = BASE_URL) -> OpenAICompatProvider:
    return OpenAICompatProvider("stub-model", url, api_key="sk-test-do-not-record", concurrency=1, backoff_base=0.01)


def test_recode_applies_the_codebook_and_an_unchanged_rerun_sends_nothing(proj, recorder):
    with recorder.use_cassette("recode_wave.yaml") as cassette:
        report = proj.recode(2, provider=provider())
        assert report.coded == 2 and report.failed == 0
        sent = [json.loads(r.body) for r in cassette.requests]
        system = sent[0]["messages"][0]["content"]
        # The codebook with definitions and coded examples, not labels only.
        assert "Checking invoices against the contract: Buyers verify what they pay for" in system
        assert 'e.g. "We check every invoice against the rate card before anything is paid."' in system
        assert "Valuing overnight repairs" in system
        assert all("What changed since last year" not in m["content"] for b in sent for m in b["messages"][:1])
        rows = proj.suggestion_rows(run_id=report.run_id)
        code_ids = {r[0] for r in proj.conn.execute("SELECT reused_code_id FROM suggestions WHERE run_id = ?"
                                                     " AND reused_code_id IS NOT NULL", (report.run_id,))}  # fmt: skip
        assert code_ids <= {c["id"] for c in proj.code_rows()} and code_ids
        reused = [r for r in rows if r["reused_label"] is not None]
        assert reused and {r["reused_label"] for r in reused} <= {"Checking invoices against the contract", "Valuing overnight repairs"}
        assert {r["source"] for r in rows} == {"w2.txt"}  # wave 2 only
        again = proj.recode(2, provider=provider())
        assert again.selected == 0 and again.skipped_done == 2 and len(cassette.requests) == 2
    run = proj.conn.execute("SELECT prompt_id FROM coding_runs WHERE id = ?", (report.run_id,)).fetchone()[0]
    assert run == "codebook-application"


def test_a_changed_codebook_recodes_the_wave(proj):
    server, state = stub_server.start(0)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        assert proj.recode(2, provider=provider(url)).coded == 2
        assert proj.recode(2, provider=provider(url), dry_run=True).selected == 0
        proj.add_code("Opening the dock before the shift", coder="ann")
        plan = proj.recode(2, provider=provider(url), dry_run=True)
        assert plan.selected == 2 and plan.prompt_tokens > 0  # says how much before it starts
        assert state.chats == 2
        assert proj.recode(2, provider=provider(url)).coded == 2
        assert state.chats == 4
        # Initial coding is other work: recode does not count as it, nor it as recode.
        assert proj.code(provider=provider(url), wave=2, dry_run=True).selected == 2
    finally:
        server.shutdown()


def test_recode_needs_a_wave_and_a_codebook(proj, tmp_path):
    with pytest.raises(CoderAssistError, match="wave 7 has no documents"):
        proj.recode(7, provider=provider("http://127.0.0.1:9/v1"))
    empty = Project.init(tmp_path / "e", coder="ann", embedder="hash")
    empty.ingest([tmp_path / "w2.txt"], wave=2)
    with pytest.raises(CoderAssistError, match="the codebook is empty"):
        empty.recode(2, provider=provider("http://127.0.0.1:9/v1"))
    assert empty.conn.execute("SELECT count(*) FROM coding_runs").fetchone()[0] == 0
    empty.close()


def test_cli_recode_says_how_much_first(proj):
    root = str(proj.root)
    proj.close()
    server, _ = stub_server.start(0)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        r = CliRunner().invoke(app, ["-p", root, "--coder", "ann", "recode", "--wave", "2", "--provider", "openai",
                                     "--model", "stub-model", "--base-url", url])  # fmt: skip
        assert r.exit_code == 0, r.output
        first = r.stdout.splitlines()[0]
        assert first.startswith("recode wave 2: 2 segments to send (0 already done with this codebook), about ")
        assert "coded 2 segments" in r.stdout
        r = CliRunner().invoke(app, ["-p", root, "recode", "--wave", "2", "--provider", "openai", "--model", "stub-model",
                                     "--base-url", url])  # fmt: skip
        assert r.exit_code == 0 and "0 segments to send (2 already done" in r.stdout and "coded" not in r.stdout
        bad = CliRunner().invoke(app, ["-p", root, "recode", "--wave", "9", "--provider", "offline"])
        assert bad.exit_code == 1 and "wave 9 has no documents" in bad.output
    finally:
        server.shutdown()
