"""The openai provider end to end against the stub server, replayed from cassettes.

Re-record after changing a prompt, the schema or the request shape:
    VCR_RECORD_MODE=all .venv/bin/python -m pytest tests/test_coding_llm.py
(the fixture then runs tests/stub_server.py on 127.0.0.1:18765).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import vcr

from coder_assist import Project
from coder_assist.suggest.prompts import load_prompt
from coder_assist.suggest.providers.openai_compat import OpenAICompatProvider

from . import stub_server

CASSETTES = Path(__file__).resolve().parent / "cassettes"
RECORD = os.environ.get("VCR_RECORD_MODE", "none")
BASE_URL = f"http://127.0.0.1:{stub_server.PORT}/v1"
SECRET = "sk-test-do-not-record"
MARKERS = {"RATE-LIMIT", "SERVER-ERROR", "ALWAYS-FAILS", "MALFORMED-JSON", "SCHEMA-INVALID", "HALLUCINATE"}

INTERVIEW = """Interviewer: Tell me about the contract.

Priya Natarajan: When Graham arrived as CFO he asked for every invoice from Cresta to be checked against the rate card.

Interviewer: What happened on the night shift?

Tom Haverley: Kenny from Cresta came out at two in the morning and fixed dock seven, and Northwind still fined them.

Interviewer: RATE-LIMIT prompt.

Priya Natarajan: RATE-LIMIT honestly the penalties were written before any of us understood the sites.

Interviewer: SERVER-ERROR prompt.

Tom Haverley: SERVER-ERROR the engineers know our buildings better than some of my shift managers.

Interviewer: ALWAYS-FAILS prompt.

Priya Natarajan: ALWAYS-FAILS finance only looks at the invoice disputes, never at the uptime figures.

Interviewer: MALFORMED-JSON prompt.

Tom Haverley: MALFORMED-JSON we renewed for three years but with a much tighter scope this time.

Interviewer: SCHEMA-INVALID prompt.

Priya Natarajan: SCHEMA-INVALID the innovation fund was quietly spent as a discount on the fit-out.

Interviewer: HALLUCINATE prompt.

Tom Haverley: HALLUCINATE nobody on our side had read the original bid since it was signed.
"""

PARTICIPANTS = """participant_id,speaker,side,role_category,organisation,case
P1,Priya Natarajan,buyer,Comm,Northwind Logistics,nw
P2,Tom Haverley,buyer,Del,Northwind Logistics,nw
R1,Interviewer,researcher,,,
"""


@pytest.fixture
def recorder():
    """A vcr configured for body matching; in record mode the stub runs on the fixed port."""
    server = None
    if RECORD != "none":
        server, _ = stub_server.start(stub_server.PORT)
    yield vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode=RECORD,
        match_on=["method", "scheme", "host", "port", "path", "query", "body"],
        filter_headers=["authorization", "cookie", "set-cookie", "openai-organization", "user-agent"],
        decode_compressed_response=True,
    )
    if server:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proj(tmp_path):
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    src = tmp_path / "nw-interview.txt"
    src.write_text(INTERVIEW, encoding="utf-8")
    csv = tmp_path / "participants.csv"
    csv.write_text(PARTICIPANTS, encoding="utf-8")
    assert p.ingest([src], wave=1, attributes=csv).ok
    yield p
    p.close()


def provider(sleeps: list[float] | None = None, **kw) -> OpenAICompatProvider:
    return OpenAICompatProvider("stub-model", BASE_URL, api_key=SECRET, max_attempts=3, timeout=30,
                                sleep=(sleeps.append if sleeps is not None else lambda s: None), **kw)  # fmt: skip


def _by_marker(p: Project) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for s in p.suggestion_rows():
        seg = p.conn.execute("SELECT text FROM segments WHERE id = ?", (s["segment_id"],)).fetchone()[0]
        marker = next((w for w in seg.split() if w in MARKERS), "plain")
        out.setdefault(marker, []).append(s)
    return out


def test_openai_path_with_every_fault(proj, recorder):
    sleeps: list[float] = []
    with recorder.use_cassette("coding_faults.yaml") as cassette:
        report = proj.code(provider=provider(sleeps))
    assert RECORD != "none" or cassette.all_played
    # 8 participant segments; only ALWAYS-FAILS and SCHEMA-INVALID fail.
    assert report.selected == 8 and report.coded == 6 and report.failed == 2
    failed = {f["segment_id"]: f for f in proj.failed_calls()}
    reasons = sorted(f["error"].split(":")[0] for f in failed.values())
    assert reasons == ["HTTP 503", "invalid output after one repair"]
    schema_bad = next(f for f in failed.values() if f["error"].startswith("invalid"))
    assert "Only a label" in schema_bad["raw_response"]  # the raw text is kept
    always = next(f for f in failed.values() if f["error"].startswith("HTTP"))
    assert always["attempts"] == 3

    by = _by_marker(proj)
    # 429: retried after at least the Retry-After seconds; 500: retried with backoff.
    assert len(sleeps) == 2 + 2  # one for 429, one for 500, two for the 503 (3 attempts)
    assert max(sleeps) >= 2.0
    calls = {r["segment_id"]: r for r in proj.conn.execute("SELECT * FROM llm_calls")}
    assert calls[by["RATE-LIMIT"][0]["segment_id"]]["attempts"] == 2
    assert calls[by["SERVER-ERROR"][0]["segment_id"]]["attempts"] == 2
    # Malformed JSON was repaired by a second request; the stored raw text is the one parsed.
    repaired = calls[by["MALFORMED-JSON"][0]["segment_id"]]
    assert repaired["status"] == "ok" and repaired["attempts"] == 2
    assert json.loads(repaired["raw_response"])["codes"]
    # A hallucinated quote is kept but marked ungrounded; its companion code is grounded.
    hall = by["HALLUCINATE"]
    assert sorted(s["status"] for s in hall) == ["proposed", "ungrounded"]
    bad = next(s for s in hall if s["status"] == "ungrounded")
    assert bad["start"] is None and bad["grounding"] == "ungrounded"
    # Grounding: the exact quote and the case/punctuation-changed quote both resolve to offsets.
    plain = [s for s in proj.suggestion_rows() if s["status"] == "proposed"]
    assert {s["grounding"] for s in plain} == {"exact", "normalized"}
    for s in plain:
        doc = proj.document_text(s["source"])
        anchored = doc[s["start"] : s["end"]]
        assert anchored.casefold().replace(",", "").replace(".", "") == s["quote"].casefold() or anchored == s["quote"]
    assert report.grounded == len(plain) and report.ungrounded == 1


def test_provenance_is_complete(proj, recorder):
    with recorder.use_cassette("coding_provenance.yaml"):
        report = proj.code(provider=provider(), source="nw-interview.txt", limit=2)
    assert report.coded == 2 and not report.tokens_estimated
    s = proj.suggestion_rows()[0]
    p = proj.provenance(s["id"])
    prompt = load_prompt("initial-coding")
    assert p["provider"] == "openai" and p["model"] == "stub-model" and p["base_host"] == "127.0.0.1"
    assert p["prompt_id"] == "initial-coding" and p["prompt_version"] == prompt.version
    assert p["prompt_sha256"] == prompt.sha256
    assert p["params"] == {"temperature": 0.0, "seed": 42, "structured_output": "auto"}
    assert p["input_sha256"] and p["prompt_tokens"] > 100 and p["completion_tokens"] > 10
    assert p["latency_ms"] >= 0 and p["cost_usd"] == 0.0  # a loopback server costs nothing
    assert json.loads(p["raw_response"])["codes"][0]["quote"] == s["quote"]
    assert p["context_ids"] and p["actor"] == "ann" and p["run_id"] == report.run_id
    assert p["redacted"] == 0


def test_cassettes_hold_no_secret():
    for path in CASSETTES.glob("*.yaml"):
        text = path.read_text()
        assert SECRET not in text and "authorization" not in text.lower(), path


def test_rerun_skips_done_and_retries_failed(proj, recorder):
    with recorder.use_cassette("coding_rerun.yaml"):
        first = proj.code(provider=provider(), source="nw-interview.txt")
        n_suggestions = len(proj.suggestion_rows())
        second = proj.code(provider=provider(), source="nw-interview.txt")
    assert first.failed == 2 and second.skipped_done == 6 and second.selected == 2
    assert second.failed == 2  # still failing, and recorded again, not duplicated
    assert len(proj.suggestion_rows()) == n_suggestions
    dupes = proj.conn.execute(
        "SELECT segment_id, count(*) FROM llm_calls GROUP BY segment_id, work_key HAVING count(*) > 1").fetchall()
    assert dupes == []


@pytest.mark.parametrize("marker, method", [("NO-JSON-SCHEMA", "function_calling"), ("NO-STRUCTURED", "json_mode")])
def test_fallback_when_the_server_lacks_structured_output(tmp_path, recorder, marker, method):
    p = Project.init(tmp_path / "p", embedder="hash")
    f = tmp_path / "x.txt"
    f.write_text(f"Interviewer: Go on.\n\nAna Lima: {marker} the supplier kept every promise it made.\n", encoding="utf-8")
    p.ingest([f])
    prov = provider()
    with recorder.use_cassette(f"coding_fallback_{method}.yaml") as cassette:
        report = p.code(provider=prov)
    assert report.coded == 1 and prov.method == method
    assert {s["status"] for s in p.suggestion_rows()} == {"proposed"}
    if method == "json_mode":  # the schema travels in the prompt instead
        last = json.loads(cassette.requests[-1].body)
        assert last["response_format"] == {"type": "json_object"} and "JSON schema" in last["messages"][0]["content"]
    p.close()


def test_redaction_before_sending_and_restored_after(proj, recorder):
    proj.config.privacy.redact = "always"
    proj.config.privacy.extra_names = ["Cresta", "Graham", "Kenny"]  # named in the talk, not in the CSV
    with recorder.use_cassette("coding_redacted.yaml") as cassette:
        report = proj.code(provider=provider(), source="nw-interview.txt", limit=2)
    assert report.redacted and report.coded == 2
    bodies = [r.body.decode() if isinstance(r.body, bytes) else r.body for r in cassette.requests]
    assert bodies and all("Natarajan" not in b and "Northwind" not in b and "Cresta" not in b for b in bodies)
    assert any("[PERSON_" in b for b in bodies)
    # The stub quoted the placeholder text it saw; restored, it grounds exactly in the original.
    first = proj.suggestion_rows()[0]
    assert "Graham" in first["quote"] and first["grounding"] == "exact"
    run = proj.conn.execute("SELECT redaction FROM coding_runs").fetchone()[0]
    assert json.loads(run)["applied"] is True
    assert proj.provenance(first["id"])["redacted"] == 1


def test_constant_comparison_offers_and_reuses_accepted_codes(proj, recorder):
    # One code already in the codebook, applied by hand to a segment.
    seg = proj.segments("nw-interview.txt")[1]
    proj.apply_code("Checking invoices", seg["id"], coder="ann")
    with recorder.use_cassette("coding_reuse.yaml") as cassette:
        proj.code(provider=provider(), source="nw-interview.txt", limit=2)
    body = json.loads(cassette.requests[-1].body)
    assert "- Checking invoices" in body["messages"][0]["content"]  # the codebook, in the static prefix
    assert "-> Checking invoices" in body["messages"][1]["content"]  # a similar coded segment
    reused = [s for s in proj.suggestion_rows() if s["reused_label"]]
    assert reused and reused[0]["label"] == "Checking invoices"
    assert proj.conn.execute("SELECT reused_code_id FROM suggestions WHERE id = ?", (reused[0]["id"],)).fetchone()[0] == 1


def test_timeout_is_retried_live(proj):
    # A timeout cannot be replayed from a cassette: this one runs the stub live on loopback.
    server, state = stub_server.start(0)
    try:
        prov = OpenAICompatProvider("stub-model", f"http://127.0.0.1:{server.server_address[1]}/v1", api_key=SECRET,
                                    timeout=0.5, max_attempts=2, sleep=lambda s: None)  # fmt: skip
        f = proj.root.parent / "slow.txt"
        f.write_text("Interviewer: And then?\n\nAna Lima: SLOW-REPLY the reply took ages to arrive.\n", encoding="utf-8")
        proj.ingest([f])
        report = proj.code(provider=prov, source="slow.txt")
    finally:
        server.shutdown()
        server.server_close()
    assert report.coded == 1
    call = proj.conn.execute("SELECT attempts, status FROM llm_calls").fetchone()
    assert tuple(call) == (2, "ok")
    assert [r["n"] for r in state.requests] == [1, 2]


def test_dry_run_estimates_cost_and_sends_nothing(proj):
    prov = OpenAICompatProvider("gpt-4o-mini", "https://api.example.invalid/v1", api_key=SECRET)
    report = proj.code(provider=prov, dry_run=True)  # the network guard would fail any request
    assert report.selected == 8 and report.prompt_tokens > 8 * 300
    assert report.completion_tokens == 8 * proj.config.coding.completion_tokens_estimate
    expected = (report.prompt_tokens * 0.15 + report.completion_tokens * 0.60) / 1e6
    assert report.cost_usd == round(expected, 6)
    assert proj.suggestion_rows() == [] and proj.conn.execute("SELECT count(*) FROM coding_runs").fetchone()[0] == 0


def test_remote_host_without_redaction_warns(proj):
    proj.config.privacy.redact = "never"
    prov = OpenAICompatProvider("gpt-4o-mini", "https://api.example.invalid/v1", api_key=SECRET)
    report = proj.code(provider=prov, dry_run=True)
    assert any("unredacted" in w and "api.example.invalid" in w for w in report.warnings)


def test_deductive_coding_with_the_llm_uses_the_framework_codebook(proj, recorder):
    prov = provider()
    with recorder.use_cassette("coding_deductive.yaml") as cassette:
        prov.prompt_id = "deductive-coding"
        from coder_assist.suggest.coding import run_coding

        report = run_coding(proj.store, proj.vectors, prov, "ann", source="nw-interview.txt", limit=2, framework=proj.framework("ivpd"))
    assert report.coded == 2
    body = json.loads(cassette.requests[0].body)
    system = body["messages"][0]["content"]
    assert "deductive, codebook-driven coding" in system and "Internal value perception dissonance:" in system
    assert "Use when:" in system and "Not when:" in system
    rows = proj.suggestion_rows()
    construct_names = {c.name for c in proj.framework("ivpd").constructs}
    assert rows and rows[0]["label"] in construct_names
    kinds = {r[0] for r in proj.conn.execute("SELECT kind FROM suggestions")}
    assert kinds == {"construct-code"}
    p = proj.provenance(rows[0]["id"])
    assert p["prompt_id"] == "deductive-coding" and p["prompt_sha256"] == load_prompt("deductive-coding").sha256
    proj.accept(rows[0]["id"], coder="ann")
    assert proj.conn.execute("SELECT kind FROM codes").fetchone()[0] == "construct"


def test_llm_names_categories_and_drafts_memos_with_grounded_citations(proj, recorder):
    segs = [x for x in proj.segments("nw-interview.txt") if x["speaker"] != "Interviewer"]
    for seg, label in zip(segs[:4], ["Checking invoices", "Checking invoice lines", "Fining the supplier", "Fining Cresta"]):
        proj.apply_code(label, seg["id"], coder="ann")
    prov = provider()
    with recorder.use_cassette("theory_llm.yaml"):
        report = proj.categorize(threshold=0.9, provider=prov)
        cats = proj.category_suggestion_rows()
        assert report.categories >= 1 and all(c["provider"] == "openai" for c in cats)
        cat = cats[0]
        assert cat["name"].startswith("Living with") and cat["properties"]["dimensions"] == ["from occasional to constant"]
        assert cat["properties"]["prompt_sha256"] == load_prompt("category-naming").sha256 and cat["raw_response"]
        proj.decide_category(cat["id"], "accept", coder="ann")
        draft_id = proj.draft_memo(category=cat["name"], provider=prov)
    d = next(x for x in proj.memo_drafts() if x["id"] == draft_id)
    assert d["provider"] == "openai" and "could not be found in the passages and were left out" in d["body"]
    assert "nobody ever said" not in d["body"] and d["ungrounded"] >= 1
    from coder_assist.theory.memos import ANCHOR

    anchors = list(ANCHOR.finditer(d["body"]))
    assert anchors
    for m in anchors:  # every quote in the memo resolves to its offsets, the lower-cased one included
        assert proj.document_text(m.group("source"))[int(m.group("start")) : int(m.group("end"))] == m.group("quote")
    proj.accept_memo(draft_id, coder="ann")
    assert proj.memos()[0]["version"] == 1


def test_llm_construct_mapping_and_eval(proj, recorder, tmp_path):
    segs = [x for x in proj.segments("nw-interview.txt") if x["speaker"] != "Interviewer"]
    proj.apply_code("Checking invoices against the rate card", segs[0]["id"], coder="ann")
    proj.apply_code("Fining the supplier after a rescue", segs[1]["id"], coder="ann")
    gold = tmp_path / "gold.jsonl"
    records = [r for r in (json.loads(x) for x in (CASSETTES.parent.parent / "fixtures" / "gold" / "constructs.jsonl")
                           .read_text().splitlines()) if r["framework"] == "value_based_selling"
               and not r["source"].startswith("gold:")]  # the fixture records the cassette was recorded with  # fmt: skip
    gold.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    with recorder.use_cassette("theory_mapping.yaml"):
        report = proj.map("ivpd", level="code", provider=provider())
        results = proj.evaluate_gold(gold, "value_based_selling", provider=provider())
    assert report.items == 2 and report.linked + report.abstained == 2
    for link in proj.link_suggestion_rows():
        assert link["provider"] == "openai" and link["construct"] in {c.id for c in proj.framework("ivpd").constructs}
        for e in link["evidence"]:  # the model's evidence quote, re-found in the coded passage
            assert proj.document_text(e["source"])[e["start"] : e["end"]] == e["quote"]
    r = results[0]
    assert r.n == len(records) and 0.0 <= r.accuracy <= 1.0 and sum(sum(v.values()) for v in r.confusion.values()) == r.n


def test_whole_path_on_a_fixture_against_the_stub(tmp_path, recorder):
    """code -> review -> categorize -> map -> memo with the LLM provider, on one fixture interview."""
    from coder_assist.theory.memos import ANCHOR

    from .conftest import FIXTURES

    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    p.ingest([FIXTURES / "wave2" / "nw05_okafor_cfo.md"], wave=2, attributes=FIXTURES / "participants.csv")
    prov = provider()
    with recorder.use_cassette("theory_whole_path.yaml"):
        coded = p.code(provider=prov, limit=12)
        assert coded.coded == 12 and coded.failed == 0 and coded.grounded > 0
        accepted = p.decide_where("grounded=true", "accept")
        assert accepted
        cats = p.categorize(threshold=0.95, provider=prov)
        assert cats.categories >= 1
        first = p.category_suggestion_rows()[0]
        p.decide_category(first["id"], "accept")
        mapped = p.map("ivpd", level="code", provider=prov)
        assert mapped.items >= 1
        draft_id = p.draft_memo(category=first["name"], provider=prov)
    p.accept_memo(draft_id)
    memo = p.memos()[0]
    anchors = list(ANCHOR.finditer(memo["body"]))
    assert anchors and all(
        p.document_text(m.group("source"))[int(m.group("start")) : int(m.group("end"))] == m.group("quote") for m in anchors
    )
    assert {r["name"] for r in p.category_suggestion_rows()} and p.verify_audit() == []
    providers = {e["payload"].get("provider") for e in p.audit_log(type_="coding-run-start")}
    assert providers == {"openai"}
    p.close()
