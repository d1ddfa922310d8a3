"""``code --batch``: submit, status, collect and cancel through the OpenAI Batch API, against the
stub server: replayed from cassettes (bodies matched, the multipart boundary normalised) and live
on loopback through the real ``openai`` client.

Re-record after changing a prompt, the schema or the request shape:
    VCR_RECORD_MODE=all .venv/bin/python -m pytest tests/test_batch.py
(the fixture then runs tests/stub_server.py on 127.0.0.1:18765).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import vcr
import vcr.matchers
from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli import app
from coder_assist.suggest import batch as batch_mod
from coder_assist.suggest.batch import BatchError, request_body
from coder_assist.suggest.coding import CodingRun, select_segments
from coder_assist.suggest.prompts import load_prompt
from coder_assist.suggest.providers.openai_compat import OpenAICompatProvider

from . import stub_server

CASSETTES = Path(__file__).resolve().parent / "cassettes"
RECORD = os.environ.get("VCR_RECORD_MODE", "none")
BASE_URL = f"http://127.0.0.1:{stub_server.PORT}/v1"
SECRET = "sk-test-do-not-record"

INTERVIEW = """Interviewer: Tell me about the contract.

Priya Natarajan: When Graham arrived as CFO he asked for every invoice from Cresta to be checked against the rate card.

Interviewer: What happened on the night shift?

Tom Haverley: Kenny from Cresta came out at two in the morning and fixed dock seven, and Northwind still fined them.

Interviewer: And the penalties?

Priya Natarajan: Honestly the penalties were written before any of us understood the sites.

Interviewer: ALWAYS-FAILS prompt.

Tom Haverley: ALWAYS-FAILS finance only looks at the invoice disputes, never at the uptime figures.

Interviewer: And the renewal?

Priya Natarajan: We renewed for three years but with a much tighter scope this time.
"""

PARTICIPANTS = """participant_id,speaker,side,role_category,organisation,case
P1,Priya Natarajan,buyer,Comm,Northwind Logistics,nw
P2,Tom Haverley,buyer,Del,Northwind Logistics,nw
R1,Interviewer,researcher,,,
"""
SEGMENTS, FAILING, PER_SEGMENT = 5, 1, 2  # participant segments, of them ALWAYS-FAILS, codes per reply


def _normalised(body: object) -> bytes:
    data = body if isinstance(body, bytes) else str(body or "").encode()
    m = re.match(rb"--([^\r\n]+)\r\n", data)  # multipart: the boundary is random per request
    return data.replace(m.group(1), b"BOUNDARY") if m else data


def body_matcher(r1: object, r2: object) -> None:
    if _normalised(r1.body).startswith(b"--BOUNDARY") or _normalised(r2.body).startswith(b"--BOUNDARY"):  # type: ignore[attr-defined]
        assert _normalised(r1.body) == _normalised(r2.body)  # type: ignore[attr-defined]
    else:
        vcr.matchers.body(r1, r2)


@pytest.fixture
def recorder():
    """A vcr matching bodies; in record mode the stub runs on the fixed port."""
    server = None
    if RECORD != "none":
        server, _ = stub_server.start(stub_server.PORT)
    v = vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode=RECORD,
        match_on=["method", "scheme", "host", "port", "path", "query", "batch_body"],
        filter_headers=["authorization", "cookie", "set-cookie", "openai-organization", "user-agent"],
        decode_compressed_response=True,
    )
    v.register_matcher("batch_body", body_matcher)
    yield v
    if server:
        server.shutdown()
        server.server_close()


@pytest.fixture
def live():
    """The stub on a free loopback port, for the live tests: (base url, state)."""
    server, state = stub_server.start(0)
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    server.shutdown()
    server.server_close()


def _make(tmp_path: Path) -> Project:
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    src = tmp_path / "nw-interview.txt"
    src.write_text(INTERVIEW, encoding="utf-8")
    csv = tmp_path / "participants.csv"
    csv.write_text(PARTICIPANTS, encoding="utf-8")
    assert p.ingest([src], wave=1, attributes=csv).ok
    return p


@pytest.fixture
def proj(tmp_path):
    p = _make(tmp_path)
    yield p
    p.close()


def provider(base_url: str = BASE_URL) -> OpenAICompatProvider:
    return OpenAICompatProvider("stub-model", base_url, api_key=SECRET, max_attempts=1, timeout=30)


def _one(p: Project, sql: str, *args: object) -> object:
    return p.conn.execute(sql, args).fetchone()[0]


def _assert_coded_once(p: Project) -> None:
    assert p.conn.execute("SELECT segment_id FROM llm_calls GROUP BY segment_id, work_key HAVING count(*) > 1").fetchall() == []
    assert _one(p, "SELECT count(*) FROM llm_calls WHERE status = 'ok'") == SEGMENTS - FAILING
    assert _one(p, "SELECT count(*) FROM llm_calls WHERE status = 'failed'") == FAILING
    assert len(p.suggestion_rows()) == (SEGMENTS - FAILING) * PER_SEGMENT
    per_segment = p.conn.execute("SELECT segment_id, count(*) FROM suggestions GROUP BY segment_id").fetchall()
    assert {n for _, n in per_segment} == {PER_SEGMENT}


def _events(p: Project, type_: str) -> list[dict]:
    return [json.loads(r[0]) for r in p.conn.execute("SELECT payload FROM events WHERE type = ? ORDER BY seq", (type_,))]


# -- replayed from cassettes ----------------------------------------------------------------------
def test_submit_status_collect_creates_suggestions_exactly_once(proj, recorder):
    prov = provider()
    with recorder.use_cassette("batch_roundtrip.yaml") as cassette:
        sent = proj.code_batch(provider=prov)
        assert sent.selected == SEGMENTS and sent.status == "validating" and sent.batch_id
        assert [r["status"] for r in proj.batches(provider=prov)] == ["in_progress"]
        (row,) = proj.batches(sent.batch_id, provider=prov)
        assert row["status"] == "completed" and row["output_file_id"] and row["error_file_id"]
        assert row["counts"] == {"total": SEGMENTS, "completed": SEGMENTS - FAILING, "failed": FAILING}
        first = proj.collect_batches(provider=prov)
        again = proj.collect_batches(provider=prov)  # nothing left to collect: no request at all
        explicit = proj.collect_batches(sent.batch_id, provider=prov)  # re-reads the files, stores nothing
    assert RECORD != "none" or cassette.all_played
    assert first.collected == [sent.batch_id] and first.coding.coded == SEGMENTS - FAILING
    assert first.coding.failed == FAILING and first.coding.suggestions == (SEGMENTS - FAILING) * PER_SEGMENT
    assert again.collected == [] and again.pending == []
    assert explicit.skipped_done == SEGMENTS - FAILING and explicit.coding.coded == 0 and explicit.coding.suggestions == 0
    _assert_coded_once(proj)

    # The upload is one request line per segment, custom_id = segment id, the live request body.
    upload = _normalised(cassette.requests[0].body).decode()
    lines = [json.loads(x) for x in re.split(r"\r?\n", upload) if x.startswith("{")]
    assert [x["custom_id"] for x in lines] == row["segment_ids"] and len(lines) == SEGMENTS
    assert {x["url"] for x in lines} == {"/v1/chat/completions"} and {x["method"] for x in lines} == {"POST"}
    body = lines[0]["body"]
    assert body["model"] == "stub-model" and body["temperature"] == 0.0 and body["seed"] == 42
    assert body["response_format"]["type"] == "json_schema" and body["response_format"]["json_schema"]["strict"] is True
    assert "stream" not in body and [m["role"] for m in body["messages"]] == ["system", "user"]
    create = json.loads(cassette.requests[1].body)
    assert create["endpoint"] == "/v1/chat/completions" and create["completion_window"] == "24h"

    failed = proj.failed_calls()
    assert [f["error"] for f in failed] == ["HTTP 503: overloaded"] and "ALWAYS-FAILS" not in failed[0]["error"]
    assert json.loads(failed[0]["raw_response"])["response"]["status_code"] == 503
    s = proj.suggestion_rows()[0]
    p = proj.provenance(s["id"])
    prompt = load_prompt("initial-coding")
    assert p["provider"] == "openai" and p["model"] == "stub-model" and p["prompt_sha256"] == prompt.sha256
    assert p["params"] == {"temperature": 0.0, "seed": 42, "structured_output": "auto"} and p["run_id"] == row["run_id"]
    assert p["prompt_tokens"] > 100 and p["context_ids"] and p["cost_usd"] == 0.0
    assert json.loads(p["raw_response"])["codes"][0]["quote"] == s["quote"]
    assert {x["grounding"] for x in proj.suggestion_rows()} == {"exact", "normalized"}
    run = proj.conn.execute("SELECT status, counts FROM coding_runs WHERE id = ?", (row["run_id"],)).fetchone()
    assert run["status"] == "finished" and json.loads(run["counts"])["coded"] == SEGMENTS - FAILING
    assert [e["batch_id"] for e in _events(proj, "batch-submit")] == [sent.batch_id]
    assert [e["to"] for e in _events(proj, "batch-status")] == ["in_progress", "completed"]
    assert [e["again"] for e in _events(proj, "batch-collect")] == [False, True]
    assert proj.verify_audit() == []


def test_an_error_line_is_a_failed_call_that_the_next_submit_requeues(proj, recorder):
    prov = provider()
    with recorder.use_cassette("batch_requeue.yaml") as cassette:
        first = proj.code_batch(provider=prov)
        waiting = proj.collect_batches(provider=prov)  # validating -> in_progress: nothing to store yet
        held = proj.code_batch(provider=prov)  # every segment is in the pending batch: nothing is sent
        done = proj.collect_batches(provider=prov)
        retry = proj.code_batch(provider=prov)
    assert RECORD != "none" or cassette.all_played
    assert [w["id"] for w in waiting.pending] == [first.batch_id] and waiting.collected == []
    assert held.batch_id is None and held.skipped_pending == SEGMENTS and held.selected == 0
    assert done.collected == [first.batch_id] and done.coding.failed == FAILING
    failed = proj.failed_calls()
    assert len(failed) == FAILING and failed[0]["error"].startswith("HTTP 503")
    assert retry.selected == FAILING and retry.skipped_done == SEGMENTS - FAILING and retry.batch_id != first.batch_id
    (row,) = proj.batches(retry.batch_id, refresh=False)
    assert row["segment_ids"] == [failed[0]["segment_id"]]


def test_a_collect_killed_midway_ends_with_every_segment_coded_once(proj, recorder, monkeypatch):
    prov = provider()
    real = CodingRun._store
    calls = {"n": 0}

    def dies_on_the_third(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real(self, *args, **kwargs)

    with recorder.use_cassette("batch_killed.yaml") as cassette:
        sent = proj.code_batch(provider=prov)
        proj.batches(provider=prov)
        proj.batches(provider=prov)
        monkeypatch.setattr(CodingRun, "_store", dies_on_the_third)
        with pytest.raises(KeyboardInterrupt):
            proj.collect_batches(provider=prov)
        assert _one(proj, "SELECT count(*) FROM llm_calls") == 2  # two segments committed, the third rolled back
        assert proj.batches(sent.batch_id, refresh=False)[0]["collected_at"] is None
        monkeypatch.setattr(CodingRun, "_store", real)
        resumed = proj.collect_batches(provider=prov)
    assert RECORD != "none" or cassette.all_played
    assert resumed.collected == [sent.batch_id] and resumed.skipped_done == 2
    assert resumed.coding.coded + resumed.coding.failed == SEGMENTS - 2
    _assert_coded_once(proj)
    assert proj.verify_audit() == []


def test_status_and_collect_from_a_second_process_use_the_stored_ids(tmp_path, recorder):
    with recorder.use_cassette("batch_reopen.yaml") as cassette:
        with _make(tmp_path) as first:
            sent = first.code_batch(provider=provider())
        with Project.open(tmp_path / "p") as second:  # another process, the next day: only the database
            assert second.batches(refresh=False)[0]["id"] == sent.batch_id
            assert second.batches(provider=provider())[0]["status"] == "in_progress"
            report = second.collect_batches(provider=provider())
            assert report.collected == [sent.batch_id]
            _assert_coded_once(second)
            actors = {r[0] for r in second.conn.execute("SELECT actor FROM events WHERE type LIKE 'batch-%'")}
    assert RECORD != "none" or cassette.all_played
    assert actors == {"ann"}


def test_cancel(proj, recorder):
    prov = provider()
    with recorder.use_cassette("batch_cancel.yaml") as cassette:
        sent = proj.code_batch(provider=prov)
        row = proj.cancel_batch(sent.batch_id, provider=prov)
        assert row["status"] == "cancelling"
        assert proj.batches(provider=prov)[0]["status"] == "cancelled"
        report = proj.collect_batches(provider=prov)  # nothing ran: every segment is a failed call
        retry = proj.code_batch(provider=prov)
    assert RECORD != "none" or cassette.all_played
    with pytest.raises(BatchError, match="only a running batch"):
        proj.cancel_batch(sent.batch_id, provider=prov)
    assert report.collected == [sent.batch_id] and report.coding.failed == SEGMENTS and proj.suggestion_rows() == []
    assert {f["error"] for f in proj.failed_calls()} == {"no result: the batch ended cancelled before this request"}
    assert retry.selected == SEGMENTS and retry.batch_id != sent.batch_id
    assert [e["to"] for e in _events(proj, "batch-cancel")] == ["cancelling"]


def test_cassettes_hold_no_secret():
    for path in CASSETTES.glob("batch_*.yaml"):
        text = path.read_text()
        assert SECRET not in text and "authorization" not in text.lower(), path


# -- errors: one line, nothing written ------------------------------------------------------------
def _state(p: Project) -> tuple:
    tables = ("events", "batches", "coding_runs", "llm_calls", "suggestions")
    return tuple(_one(p, f"SELECT count(*) FROM {t}") for t in tables)


def test_errors_write_nothing(proj):
    before = _state(proj)
    with pytest.raises(BatchError, match="no batch API"):
        proj.code_batch(provider="offline")
    for call in (lambda: proj.batches(provider="offline"), lambda: proj.collect_batches(provider="offline"),
                 lambda: proj.cancel_batch("batch_x", provider="offline")):  # fmt: skip
        with pytest.raises(BatchError, match="no batch API"):
            call()
    unreachable = provider("http://127.0.0.1:9/v1")  # nothing listens: any request would fail differently
    with pytest.raises(BatchError, match="no batches in this project"):
        proj.batches(provider=unreachable)
    with pytest.raises(BatchError, match="no batches in this project"):
        proj.collect_batches(provider=unreachable)
    for call in (lambda: proj.batches("batch_x", provider=unreachable), lambda: proj.collect_batches("batch_x", provider=unreachable),
                 lambda: proj.cancel_batch("batch_x", provider=unreachable)):  # fmt: skip
        with pytest.raises(BatchError, match="no batch 'batch_x'"):
            call()
    with pytest.raises(BatchError, match="uploading the batch input"):
        proj.code_batch(provider=unreachable)  # the API is down: nothing is recorded
    assert _state(proj) == before


# -- live on loopback -----------------------------------------------------------------------------
def test_live_batch_bodies_are_the_live_requests_and_both_paths_share_the_work(proj, live):
    url, state = live
    sent = proj.code_batch(provider=provider(url), limit=1)
    (line,) = [json.loads(x) for x in state.files[sent.input_file_id]["content"].decode().splitlines()]
    assert state.batches[sent.batch_id]["metadata"] == {"coder_assist_work_key": proj.batches(refresh=False)[0]["work_key"]}
    # A live run skips the segment the batch holds, and sends the very body a batch line would carry.
    live = proj.code(provider=provider(url), limit=1)
    live_body = state.requests[-1]["body"]
    (live_segment,) = [r[0] for r in proj.conn.execute("SELECT segment_id FROM llm_calls WHERE run_id = ?", (live.run_id,))]
    assert live_segment != line["custom_id"]
    run = CodingRun(proj.store, proj.vectors, provider(url), "ann")
    seg = next(s for s in select_segments(proj.conn, wave=None, source=None, include_researchers=False)
               if s["id"] == live_segment)  # fmt: skip
    item, _ = run.build_input(seg, run._codebook(), has_codings=False)
    assert live_body == {**request_body(run.provider, item.system, item.user), "stream": False}
    proj.batches(provider=provider(url))
    report = proj.collect_batches(provider=provider(url))
    assert report.coding.coded == 1  # the batch's own segment, once
    rest = proj.code_batch(provider=provider(url))
    assert rest.selected == SEGMENTS - 2 and rest.skipped_done == 2
    assert proj.collect_batches(provider=provider(url)).collected == []  # still in progress
    assert proj.collect_batches(provider=provider(url)).collected == [rest.batch_id]
    _assert_coded_once(proj)
    assert proj.code(provider=provider(url)).selected == FAILING  # live coding retries the failed one


KILLED_COLLECT = """
import os, signal, sys
from coder_assist import Project
from coder_assist.store import audit
from coder_assist.suggest.providers.openai_compat import OpenAICompatProvider

real, seen = audit.append, []


def append(conn, actor, type_, payload):
    if type_ == "suggestions":
        seen.append(payload["segment_id"])
        if len(seen) == 3:  # inside the third segment's transaction: its call and suggestions are written
            os.kill(os.getpid(), signal.SIGKILL)
    return real(conn, actor, type_, payload)


audit.append = append
with Project.open(sys.argv[1]) as p:
    p.collect_batches(provider=OpenAICompatProvider("stub-model", sys.argv[2], api_key="k"))
"""


def test_live_collect_killed_by_sigkill_loses_and_duplicates_nothing(proj, live):
    import signal
    import subprocess
    import sys

    url, _ = live
    sent = proj.code_batch(provider=provider(url))
    proj.batches(provider=provider(url))
    assert proj.batches(provider=provider(url))[0]["status"] == "completed"
    killed = subprocess.run([sys.executable, "-c", KILLED_COLLECT, str(proj.root), url], cwd=Path(__file__).parents[1],
                            capture_output=True, timeout=120)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert _one(proj, "SELECT count(*) FROM llm_calls") == 2  # the third segment's transaction never committed
    assert proj.batches(sent.batch_id, refresh=False)[0]["collected_at"] is None
    resumed = proj.collect_batches(provider=provider(url))
    assert resumed.collected == [sent.batch_id] and resumed.skipped_done == 2
    _assert_coded_once(proj)
    assert proj.verify_audit() == []


def test_live_redacted_batch_is_restored_in_another_process(tmp_path, live):
    url, state = live
    with _make(tmp_path) as p:
        p.config.privacy.redact = "always"  # this process only: the next one does not redact
        p.config.privacy.extra_names = ["Cresta", "Graham", "Kenny"]
        sent = p.code_batch(provider=provider(url), limit=2)
    assert sent.redacted
    uploaded = state.files[sent.input_file_id]["content"].decode()
    assert "Natarajan" not in uploaded and "Cresta" not in uploaded and "[PERSON_" in uploaded
    with Project.open(tmp_path / "p") as q:
        q.batches(provider=provider(url))
        assert q.collect_batches(provider=provider(url)).coding.coded == 2
        first = q.suggestion_rows()[0]
        assert "Graham" in first["quote"] and first["grounding"] == "exact"
        assert q.provenance(first["id"])["redacted"] == 1
        assert json.loads(_one(q, "SELECT redaction FROM coding_runs"))["applied"] is True


def test_unparsable_reply_and_missing_lines_become_failed_calls():
    bad = {"custom_id": "s1", "response": {"status_code": 200, "body": {"choices": [{"message": {
        "role": "assistant", "content": '{"codes": [{"label": "Broken'}}], "usage": {"prompt_tokens": 9}}}, "error": None}  # fmt: skip
    reply = batch_mod.reply_of(bad, "completed")
    assert reply.proposal is None and reply.error.startswith("invalid output") and reply.usage.prompt_tokens == 9
    expired = {"custom_id": "s2", "response": None, "error": {"code": "batch_expired", "message": "This request expired."}}
    assert batch_mod.reply_of(expired, "expired").error == "batch error batch_expired: This request expired."
    assert batch_mod.reply_of(None, "expired").error.startswith("no result: the batch ended expired")


# -- the command line -----------------------------------------------------------------------------
def test_cli_code_batch_status_collect_cancel(proj, live):
    url, _ = live
    root = str(proj.root)
    runner = CliRunner()
    base = ["-p", root, "--coder", "ann"]
    net = ["--provider", "openai", "--base-url", url]
    r = runner.invoke(app, [*base, "code", "--batch", *net])
    assert r.exit_code == 0, r.output
    batch_id = re.search(r"submitted batch (\S+) with 5 segments", r.output).group(1)
    r = runner.invoke(app, [*base, "code", "--batch", *net])
    assert r.exit_code == 0 and "nothing to submit" in r.output and "5 in a pending batch" in r.output
    r = runner.invoke(app, [*base, "batches", "status", *net])
    assert r.exit_code == 0 and batch_id in r.output and "in_progress" in r.output
    r = runner.invoke(app, [*base, "batches", "collect", batch_id, *net])
    assert r.exit_code == 1 and "coded 4 segments, 1 failed" in r.output and "code --batch" in r.output
    r = runner.invoke(app, [*base, "batches", "status", "--json", *net])
    assert r.exit_code == 0 and json.loads(r.output)[0]["collected_at"]
    # Errors: one line on stderr, exit 1, nothing written.
    with Project.open(proj.root) as p:
        before = _state(p)
    for args in (["batches", "collect", "nope", *net], ["batches", "cancel", batch_id, *net],
                 ["code", "--batch", "--provider", "offline"], ["code", "--batch", "--dry-run", *net]):  # fmt: skip
        r = runner.invoke(app, [*base, *args])
        assert r.exit_code == 1, args
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: "), (args, r.stderr)
    with Project.open(proj.root) as p:
        assert _state(p) == before
    r = runner.invoke(app, [*base, "code", "--batch", *net])  # the failed segment goes again
    again = re.search(r"submitted batch (\S+) with 1 segment ", r.output).group(1)
    r = runner.invoke(app, [*base, "batches", "cancel", again, *net])
    assert r.exit_code == 0 and "cancelling" in r.output


def test_live_a_submission_over_a_batchs_limits_is_split_and_every_part_collected(proj, live, monkeypatch):
    from coder_assist.suggest import batch as batch_mod

    url, state = live
    monkeypatch.setattr(batch_mod, "MAX_REQUESTS", 2)
    sent = proj.code_batch(provider=provider(url))
    assert sent.selected == SEGMENTS and len(sent.batch_ids) == 3 and sent.batch_id == sent.batch_ids[0]
    sizes = [len(state.files[state.batches[b]["input_file_id"]]["content"].decode().splitlines()) for b in sent.batch_ids]
    assert sizes == [2, 2, 1]
    rows = proj.batches(refresh=False)
    assert sorted(r["id"] for r in rows) == sorted(sent.batch_ids)
    held = [sid for r in rows for sid in r["segment_ids"]]
    assert len(held) == len(set(held)) == SEGMENTS  # every segment in exactly one batch
    assert len({r["run_id"] for r in rows}) == 3 and len(_events(proj, "batch-submit")) == 3
    proj.batches(provider=provider(url))
    collected = proj.collect_batches(provider=provider(url)).collected
    collected += proj.collect_batches(provider=provider(url)).collected
    assert sorted(collected) == sorted(sent.batch_ids)
    _assert_coded_once(proj)


def test_live_the_byte_limit_splits_too_and_a_failure_part_way_leaves_the_rest_to_the_next_submit(proj, live, monkeypatch):
    from coder_assist.suggest import batch as batch_mod

    url, state = live
    lines = batch_mod._parts([("a", b"x" * 10), ("b", b"y" * 10), ("c", b"z" * 10)])
    assert [len(p) for p in lines] == [3]
    monkeypatch.setattr(batch_mod, "MAX_BYTES", 25)
    assert [[sid for sid, _ in p] for p in batch_mod._parts([("a", b"x" * 10), ("b", b"y" * 10), ("c", b"z" * 10)])] == [["a", "b"], ["c"]]
    with pytest.raises(batch_mod.BatchError, match="over the Batch API"):
        batch_mod._parts([("big", b"x" * 26)])
    monkeypatch.setattr(batch_mod, "MAX_BYTES", 190_000_000)
    monkeypatch.setattr(batch_mod, "MAX_REQUESTS", 2)
    real, calls = batch_mod._send, []

    def fails_second(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the real _send's arguments
        calls.append(1)
        if len(calls) == 2:
            raise batch_mod.BatchError("creating the batch: HTTP 500: the endpoint failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(batch_mod, "_send", fails_second)
    with pytest.raises(batch_mod.BatchError, match="HTTP 500"):
        proj.code_batch(provider=provider(url))
    assert len(proj.batches(refresh=False)) == 1  # the first batch was recorded when it was created
    monkeypatch.setattr(batch_mod, "_send", real)
    again = proj.code_batch(provider=provider(url))
    assert again.skipped_pending == 2 and again.selected == SEGMENTS - 2 and len(again.batch_ids) == 2
