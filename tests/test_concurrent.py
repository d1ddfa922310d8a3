"""Concurrent coding runs against the stub on loopback: the in-flight window, adaptive back-off on
429, the cost cap, and a SIGKILL in the middle of a concurrent run (nothing lost, nothing twice)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli import app
from coder_assist.suggest.providers.openai_compat import OpenAICompatProvider

from . import stub_server

N = 24  # participant segments


def _transcript(n: int) -> str:
    turns = []
    for i in range(n):
        turns.append(f"Interviewer: Question number {i}?")
        turns.append(f"Priya Natarajan: On site {i} the supplier fixed the dock door number {i} within the hour, "
                     f"and procurement still scored visit {i} as late.")  # fmt: skip
    return "\n\n".join(turns) + "\n"


@pytest.fixture
def proj(tmp_path):
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    (tmp_path / "i.txt").write_text(_transcript(N), encoding="utf-8")
    (tmp_path / "people.csv").write_text("participant_id,speaker,side\nP1,Priya Natarajan,buyer\nR1,Interviewer,researcher\n",
                                         encoding="utf-8")  # fmt: skip
    p.ingest([tmp_path / "i.txt"], attributes=tmp_path / "people.csv", wave=1)
    p.config.coding.context_turns = 0
    yield p
    p.close()


def stub(latency: float = 0.0, fault_every: int = 0):
    server, state = stub_server.start(0, latency=latency, fault_every=fault_every)
    return server, state, f"http://127.0.0.1:{server.server_address[1]}/v1"


def provider(url: str, **kw) -> OpenAICompatProvider:
    kw.setdefault("backoff_base", 0.01)
    return OpenAICompatProvider("stub-model", url, api_key="sk-test", **kw)


def _coded_once(p: Project) -> None:
    rows = p.conn.execute("SELECT segment_id, count(*) FROM llm_calls WHERE status = 'ok' GROUP BY segment_id").fetchall()
    assert len(rows) == N and all(r[1] == 1 for r in rows)
    dup = p.conn.execute("SELECT count(*) FROM (SELECT segment_id, label FROM suggestions GROUP BY segment_id, label"
                         " HAVING count(*) > 1) AS twice").fetchone()[0]  # fmt: skip
    assert dup == 0


def test_calls_run_concurrently_up_to_the_window(proj):
    server, state, url = stub(latency=0.15)
    try:
        report = proj.code(provider=provider(url, concurrency=4))
    finally:
        server.shutdown()
    assert report.coded == N and report.concurrency == 4 and report.throttles == 0
    assert state.peak_in_flight == 4  # never more than the window, and it was used
    _coded_once(proj)
    again = proj.code(provider=provider(url, concurrency=4))
    assert again.selected == 0 and state.chats == N  # an unchanged re-run sends nothing


def test_concurrency_one_is_sequential(proj):
    server, state, url = stub(latency=0.02)
    try:
        report = proj.code(provider=provider(url, concurrency=1), limit=6)
    finally:
        server.shutdown()
    assert report.coded == 6 and state.peak_in_flight == 1


def test_429s_shrink_the_window_and_every_segment_is_still_coded_once(proj):
    server, state, url = stub(latency=0.02, fault_every=4)  # every 4th request: a 429 or a 500
    try:
        report = proj.code(provider=provider(url, concurrency=8))
    finally:
        server.shutdown()
    assert report.coded == N and report.failed == 0
    assert report.throttles >= 1 and report.lowest_window < 8
    assert state.chats > N  # the retries
    _coded_once(proj)
    assert proj.verify_audit() == []


def test_the_cost_cap_stops_the_run_and_a_higher_cap_finishes_it(proj):
    server, _, url = stub()
    proj.config.prices["stub-model"] = (2000.0, 2000.0)  # USD per million tokens: cents per call
    try:
        first = provider(url, concurrency=3)
        first.remote = True  # priced like a hosted model (a loopback endpoint costs nothing)
        capped = proj.code(provider=first, max_cost=0.5)
        assert capped.budget_stopped and capped.left_undone > 0 and capped.coded + capped.left_undone == N
        assert capped.cost_usd is not None and capped.cost_usd <= 0.5
        rest = provider(url, concurrency=3)
        rest.remote = True
        finished = proj.code(provider=rest, max_cost=100.0)
    finally:
        server.shutdown()
    assert not finished.budget_stopped and finished.coded == capped.left_undone
    _coded_once(proj)


def test_a_cost_cap_needs_a_price(proj):
    from coder_assist.errors import CoderAssistError

    p = provider("http://127.0.0.1:9/v1")
    p.remote, p.model = True, "unpriced-model"
    with pytest.raises(CoderAssistError, match="no price known for model 'unpriced-model'"):
        proj.code(provider=p, max_cost=1.0)
    assert proj.conn.execute("SELECT count(*) FROM coding_runs").fetchone()[0] == 0


def test_cli_max_cost_and_dry_run_per_wave(proj, tmp_path):
    (tmp_path / "w2.txt").write_text("Priya Natarajan: In the second wave the scorecard changed again.\n", encoding="utf-8")
    proj.ingest([tmp_path / "w2.txt"], wave=2)
    proj.close()
    r = CliRunner().invoke(app, ["-p", str(tmp_path / "p"), "code", "--provider", "openai", "--model", "gpt-4o-mini",
                                 "--base-url", "https://api.example.invalid/v1", "--dry-run"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "wave 1: 24 segments" in r.stdout and "wave 2: 1 segments" in r.stdout and "nothing was sent" in r.stdout


KILLED = """
import os, signal, sys
from coder_assist import Project
from coder_assist.store import audit
from coder_assist.suggest.providers.openai_compat import OpenAICompatProvider

real, seen = audit.append, []


def append(conn, actor, type_, payload):
    if type_ == "suggestions":
        seen.append(payload["segment_id"])
        if len(seen) == 7:  # inside the seventh stored segment's transaction, with calls in flight
            os.kill(os.getpid(), signal.SIGKILL)
    return real(conn, actor, type_, payload)


audit.append = append
with Project.open(sys.argv[1]) as p:
    p.config.coding.context_turns = 0
    p.code(provider=OpenAICompatProvider("stub-model", sys.argv[2], api_key="k", concurrency=4))
"""


def test_sigkill_during_a_concurrent_run_loses_and_duplicates_nothing(proj):
    server, state, url = stub(latency=0.05)
    root = proj.root
    proj.close()
    try:
        killed = subprocess.run([sys.executable, "-c", KILLED, str(root), url], cwd=Path(__file__).parents[1],
                                capture_output=True, timeout=120)  # fmt: skip
        assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
        assert state.peak_in_flight > 1
        with Project.open(root) as p:
            stored = p.conn.execute("SELECT count(*) FROM llm_calls WHERE status = 'ok'").fetchone()[0]
            assert stored == 6  # the seventh transaction never committed
            p.config.coding.context_turns = 0
            resumed = p.code(provider=provider(url, concurrency=4))
            assert resumed.skipped_done == 6 and resumed.coded == N - 6
            _coded_once(p)
            assert p.verify_audit() == []
    finally:
        server.shutdown()


def test_several_segments_per_call_are_coded_and_stored_segment_by_segment(proj):
    server, state, url = stub(latency=0.02)
    proj.config.coding.segments_per_call = 4
    try:
        report = proj.code(provider=provider(url, concurrency=2))
        assert report.coded == N and state.chats == N // 4  # six requests for 24 segments
        users = [m[-1]["content"] for m in (r["body"]["messages"] for r in state.requests)]
        assert all(u.count("\n[") == 4 and "SEGMENTS (speakers: Priya Natarajan):\n[1] Priya Natarajan: " in u for u in users)
        _coded_once(proj)
        rows = proj.conn.execute(
            "SELECT s.quote, s.status, g.text, g.id FROM suggestions s JOIN segments g ON g.id = s.segment_id").fetchall()
        assert rows and all(r["status"] == "proposed" for r in rows)  # each quote found in its own segment
        # Attributed to the right segment: the segments differ only by their number, which each quote carries.
        bad = [dict(r) for r in rows if " " + re.search("[0-9]+", r["quote"]).group() + " " not in r["text"]]
        assert not bad, bad[:3]
        per_segment = proj.conn.execute("SELECT count(*) FROM suggestions GROUP BY segment_id").fetchall()
        assert len(per_segment) == N  # every segment got its own codes, none lumped on the first
        calls = proj.conn.execute("SELECT sum(prompt_tokens), count(DISTINCT raw_response) FROM llm_calls").fetchone()
        assert calls[1] == N // 4 and calls[0] > 0  # one reply per request, its tokens shared out
        assert proj.code(provider=provider(url, concurrency=2)).selected == 0 and state.chats == N // 4
        proj.config.coding.segments_per_call = 1  # other requests are other work
        assert proj.code(provider=provider(url), dry_run=True).selected == N
        prompts = {r[0] for r in proj.conn.execute("SELECT prompt_id FROM coding_runs")}
        assert prompts == {"initial-coding-passage"}
    finally:
        server.shutdown()
