"""The second wave of the fixtures from the command line, live against the stub on loopback:
ingest -> recode (concurrent) and code --batch -> review -> wave report."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli import app

from . import stub_server
from .conftest import FIXTURES


def test_second_wave_add_recode_batch_review_report(tmp_path):
    server, state = stub_server.start(0, latency=0.05)  # replies overlap: calls are concurrent
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    root = str(tmp_path / "p")
    llm = ["--provider", "openai", "--model", "stub-model", "--base-url", url]
    api = ["--provider", "openai", "--base-url", url]  # batches remember their model

    def ca(*args: str) -> str:
        r = CliRunner().invoke(app, ["-p", root, "--coder", "ann", *args])
        assert r.exit_code == 0, (args, r.output)
        return r.stdout

    try:
        ca("init", root, "--embedder", "hash")
        ca("ingest", str(FIXTURES / "wave1"), "--wave", "1", "--attributes", str(FIXTURES / "participants.csv"))
        ca("code", "--provider", "offline", "--source", "nw01_natarajan_procurement.md")
        ca("review", "--accept-where", "grounded=true and in_vivo=false", "--yes")
        ca("ingest", str(FIXTURES / "wave2"), "--wave", "2")
        plan = ca("recode", "--wave", "2", *llm, "--dry-run")
        assert plan.startswith("recode wave 2: ") and "already done with this codebook" in plan
        ca("recode", "--wave", "2", *llm, "--limit", "12")
        assert state.peak_in_flight > 1  # the default concurrency, against the stub
        assert "0 segments to send" not in ca("recode", "--wave", "2", *llm, "--dry-run")  # the rest of the wave
        sent = ca("recode", "--wave", "2", "--batch", *llm, "--limit", "6")  # the next 6 of the wave, through a batch
        assert "submitted batch" in sent and "(12 already done" in sent
        ca("batches", "status", *api)
        ca("batches", "status", *api)  # the stub completes a batch on its second look
        collected = ca("batches", "collect", *api)
        assert "6" in collected
        ca("review", "--accept-where", "wave=2 and grounded=true", "--yes")
        report = json.loads(ca("wave", "report", "2", "--json"))
    finally:
        server.shutdown()
    assert report["coded"] is True and report["wave"] == 2
    assert report["coverage"]["segments_with_suggestions"] == 18  # 12 recoded live + 6 through the batch
    assert report["agreement"]["codebook"]["suggestions"] > 0  # the stub reuses the first codebook code
    assert report["agreement"]["codebook"]["accepted"] == report["agreement"]["codebook"]["suggestions"] - \
        report["agreement"]["codebook"]["pending"] - report["agreement"]["codebook"]["rejected"]  # fmt: skip
    assert report["new_codes"] and report["stopped"]  # wave 2 brought codes, and some wave-1 codes did not appear
    with Project.open(root) as p:
        rows = p.conn.execute("SELECT segment_id, work_key, count(*) FROM llm_calls WHERE status = 'ok'"
                              " GROUP BY segment_id, work_key HAVING count(*) > 1").fetchall()  # fmt: skip
        assert rows == [] and p.verify_audit() == []
        calls = dict(p.conn.execute("SELECT r.prompt_id, count(*) FROM llm_calls c JOIN coding_runs r ON r.work_key = c.work_key"
                                    " AND r.id = c.run_id WHERE c.status = 'ok' AND r.provider = 'openai' GROUP BY r.prompt_id"))  # fmt: skip
        assert calls == {"codebook-application": 18}
        batched = p.conn.execute("SELECT count(*) FROM batches WHERE prompt_id = 'codebook-application'").fetchone()[0]
        assert batched == 1  # six of them went through the Batch API


def test_second_wave_through_the_notebook_api(tmp_path):
    """The same path through ``Project`` (what a notebook calls), against the stub on loopback."""
    server, state = stub_server.start(0, latency=0.02)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    llm = {"provider": "openai", "model": "stub-model", "base_url": url}
    try:
        with Project.init(tmp_path / "p", coder="ann", embedder="hash") as proj:
            proj.ingest([FIXTURES / "wave1" / "nw01_natarajan_procurement.md"], wave=1,
                        attributes=FIXTURES / "participants.csv")  # fmt: skip
            proj.code(provider="offline")
            proj.decide_where("grounded=true and in_vivo=false", "accept")
            proj.ingest([FIXTURES / "wave2" / "nw04_natarajan_procurement_w2.txt"], wave=2)
            plan = proj.recode(2, dry_run=True, **llm)
            live = proj.recode(2, limit=10, **llm)
            assert plan.selected > 10 and live.coded == 10 and state.peak_in_flight > 1
            sent = proj.code_batch(wave=2, apply_codebook=True, **llm)
            assert sent.selected == plan.selected - 10 and sent.skipped_done == 10
            waiting = proj.wave_report(2)
            assert waiting.coverage["segments_in_pending_batches"] == sent.selected
            assert any("wait in a batch not yet collected" in n for n in waiting.notes)
            proj.batches(**llm)
            proj.batches(**llm)
            assert proj.collect_batches(**llm).collected == [sent.batch_id]
            assert proj.recode(2, dry_run=True, **llm).selected == 0  # the whole wave is done, once
            proj.decide_where("wave=2 and grounded=true", "accept")
            report = proj.wave_report(2)
            assert report.coded and report.coverage["segments_with_suggestions"] == plan.selected
            assert report.coverage["segments_in_pending_batches"] == 0
            assert "<h2>New codes</h2>" in report._repr_html_() and str(report).startswith("wave 2")
            assert proj.verify_audit() == []
    finally:
        server.shutdown()
