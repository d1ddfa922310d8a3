"""Theory memos: drafted from coded data, every quote anchored and verified, versioned by people."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli.app import app
from coder_assist.errors import CoderAssistError
from coder_assist.theory.memos import ANCHOR, verify_citations

from .conftest import FIXTURES


@pytest.fixture(scope="module")
def proj(tmp_path_factory):
    root = tmp_path_factory.mktemp("memo") / "p"
    p = Project.init(root, coder="ann", embedder="hash")
    p.ingest([FIXTURES / "wave1", FIXTURES / "wave2"], attributes=FIXTURES / "participants.csv")
    p.code()
    p.decide_where("label~saving", "accept")
    p.decide_where("label~invoic", "accept")
    p.categorize(threshold=0.8)
    cat = next(c for c in p.category_suggestion_rows() if any("sav" in m.lower() for m in c["properties"]["members"]))
    p.decide_category(cat["id"], "edit", name="Sharing savings")
    yield p
    p.close()


def _all_anchors_resolve(p: Project, body: str) -> int:
    n = 0
    for m in ANCHOR.finditer(body):
        text = p.document_text(m.group("source"))
        assert text[int(m.group("start")) : int(m.group("end"))] == m.group("quote")
        n += 1
    return n


def test_category_draft_has_every_section_and_verified_quotes(proj):
    draft_id = proj.draft_memo(category="Sharing savings")
    d = next(x for x in proj.memo_drafts() if x["id"] == draft_id)
    for section in ("## Definition", "## Properties and dimensions", "## Evidence", "## Comparison across groups",
                    "## Negative and disconfirming cases", "## Links to constructs", "## Open questions",
                    "## Theoretical sampling for the next wave"):  # fmt: skip
        assert section in d["body"]
    assert "assembled offline" in d["body"] and d["ungrounded"] == 0
    assert _all_anchors_resolve(proj, d["body"]) == len(d["citations"]) >= 3
    assert "By side:" in d["body"] and "wave" in d["body"]
    assert proj.memos("category:Sharing savings") == []  # a draft is not a memo


def test_accept_edit_and_refuse_unverifiable_quotes(proj):
    draft_id = proj.draft_memo(category="Sharing savings")
    body = next(x for x in proj.memo_drafts() if x["id"] == draft_id)["body"]
    m = next(ANCHOR.finditer(body))
    forged = body.replace(f"«{m.group('quote')}»", "«words nobody said»", 1)
    with pytest.raises(CoderAssistError, match="memo not saved: 1 quote"):
        proj.accept_memo(draft_id, body=forged)
    v1 = proj.accept_memo(draft_id)
    edited = body.replace("## Open questions", "## Open questions\n- My own question about trust.")
    proj.write_memo("category:Sharing savings", edited, kind="theory")
    versions = proj.memos("category:Sharing savings")
    assert [v["version"] for v in versions] == [1, 2] and versions[0]["id"] == v1
    event = [e for e in proj.audit_log(type_="memo-version") if e["payload"]["version"] == 2][0]
    assert "+- My own question about trust." in event["payload"]["diff"]
    for memo in proj.memos():
        assert verify_citations(proj.conn, memo["body"]) == []
        _all_anchors_resolve(proj, memo["body"])


def test_reflexive_memo_and_guards(proj):
    seg = next(s for s in proj.segments() if s["side"] == "buyer")
    quote = seg["text"][:40].rstrip()
    body = f"I noticed my own bias.\n> «{quote}» [{seg['source']}@{seg['start']}:{seg['start'] + len(quote)}]\n"
    proj.write_memo("reflexive:bias", body)
    assert proj.memos("reflexive:bias")[0]["kind"] == "reflexive"
    with pytest.raises(CoderAssistError, match="do not match"):
        proj.write_memo("reflexive:bias", body.replace(str(seg["start"]), str(seg["start"] + 1), 1))
    with pytest.raises(sqlite3.IntegrityError, match="human decision"):
        proj.conn.execute("INSERT INTO memos (subject, version, kind, body, created_at, created_by) VALUES ('x', 1, 'theory', 'b', 't', 'bot')")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        proj.conn.execute("UPDATE memos SET body = 'changed'")


def test_construct_and_case_memos(proj):
    report = proj.map("ivpd", level="code", threshold=0.0)
    assert report.linked > 0
    link = proj.link_suggestion_rows(framework="ivpd")[0]
    proj.decide_link(link["id"], "accept")
    draft_id = proj.draft_memo(construct=f"ivpd.{link['construct']}")
    d = next(x for x in proj.memo_drafts() if x["id"] == draft_id)
    assert d["subject"] == f"construct:ivpd.{link['construct']}" and "Use when:" in d["body"]
    _all_anchors_resolve(proj, d["body"])
    case_id = proj.draft_memo(case="northwind-facilities")
    case = next(x for x in proj.memo_drafts() if x["id"] == case_id)
    assert "Participants:" in case["body"] and "northwind" in case["body"]
    _all_anchors_resolve(proj, case["body"])
    with pytest.raises(CoderAssistError, match="exactly one"):
        proj.draft_memo()


def test_memo_cli(proj, tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["-p", str(proj.root), "--coder", "bea", "memo", "draft", "--category", "Sharing savings"])
    assert r.exit_code == 0 and "## Evidence" in r.stdout and "memo accept" in r.stdout
    draft = int(r.stdout.rsplit("draft ", 1)[1].split()[0])
    r = runner.invoke(app, ["-p", str(proj.root), "--coder", "bea", "memo", "accept", str(draft)])
    assert r.exit_code == 0 and "verified quotes" in r.stdout
    r = runner.invoke(app, ["-p", str(proj.root), "memo", "show", "category:Sharing savings"])
    assert r.exit_code == 0 and "by bea" in r.stdout
    r = runner.invoke(app, ["-p", str(proj.root), "--coder", "bea", "memo", "export", str(tmp_path / "memos")])
    assert r.exit_code == 0 and (tmp_path / "memos" / "category_Sharing_savings.md").exists()
    assert json.loads(runner.invoke(app, ["-p", str(proj.root), "memo", "drafts", "--json"]).stdout)


def _section(body: str, heading: str) -> str:
    return body.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def _segment_at(p: Project, source: str, start: int) -> dict:
    return next(s for s in p.segments(source) if s["start"] <= start < s["end"])


def test_offline_properties_are_dimensions_drawn_from_the_data(proj):
    body = proj.memo_draft(proj.draft_memo(category="Sharing savings"))["body"]
    props = _section(body, "Properties and dimensions")
    assert "Member code:" not in body
    assert re.search(r"^- Varies (between|across)", props, re.M), props
    pole_counts = [int(n) for n in re.findall(r"\((\d+) passages?;", props)]
    side_counts = [int(n) for n in re.findall(r"\b(\d+)\b", _section(body, "Comparison across groups").split("\n")[0])]
    assert len(pole_counts) >= 2 and sum(pole_counts) == sum(side_counts) >= 3  # every passage sits in one pole
    assert "Gathers" in props and "member codes" in props


def test_offline_evidence_quotes_are_whole_sentences(proj):
    body = proj.memo_draft(proj.draft_memo(category="Sharing savings"))["body"]
    assert verify_citations(proj.conn, body) == []
    anchors = list(ANCHOR.finditer(_section(body, "Evidence")))
    assert len(anchors) >= 3
    for m in anchors:
        start, end, quote = int(m.group("start")), int(m.group("end")), m.group("quote")
        seg = _segment_at(proj, m.group("source"), start)
        before = proj.document_text(m.group("source"))[seg["start"] : start].rstrip()
        assert before == "" or before[-1] in ".!?…\"'”’)]", (before[-30:], quote)  # starts a sentence
        assert quote[-1] in ".!?…\"'”’)" or len(quote.split()) == 60, quote  # ends one (or is capped)
        assert end <= seg["end"]


def test_offline_negative_cases_say_why_they_are_offered(proj):
    body = proj.memo_draft(proj.draft_memo(category="Sharing savings"))["body"]
    head, _, maybe = _section(body, "Negative and disconfirming cases").partition("### Uncoded passages that may belong here")
    reasons = ("— coded otherwise as: ", "— similar talk with a negation or contrast ('", "— uncoded, similar, from the other side (")
    lines = [x for x in head.splitlines() if x.startswith("> «")]
    assert lines and all(any(r in x for r in reasons) for x in lines), lines
    assert all(x.endswith("— uncoded, similar") for x in maybe.splitlines() if x.startswith("> «"))
    assert "not coded" not in body


def test_offline_sampling_names_this_projects_missing_groups(proj):
    body = proj.memo_draft(proj.draft_memo(category="Sharing savings"))["body"]
    sampling = _section(body, "Theoretical sampling for the next wave")
    heard = {r[0] for r in proj.conn.execute(
        "SELECT DISTINCT p.role_category FROM codings g JOIN segments s ON s.id = g.segment_id"
        " JOIN participants p ON p.speaker = s.speaker JOIN category_members m ON m.code_id = g.code_id AND m.active = 1"
        " JOIN categories c ON c.id = m.category_id WHERE c.name = 'Sharing savings' AND g.active = 1")}  # fmt: skip
    speaking = {p["speaker"] for p in proj.segments()}
    missing: dict[str, list[str]] = {}
    for person in proj.participants():
        if person["side"] != "researcher" and person["role_category"] not in heard and person["speaker"] in speaking:
            missing.setdefault(person["role_category"], []).append(person["speaker"])
    assert missing  # the fixtures leave some role categories unheard on savings
    for role, people in missing.items():
        assert f"No evidence from role category {role} (" in sampling
        assert all(name in sampling for name in people[:5])
    assert "Ask buyer-side participants directly" not in body and "Ask supplier-side participants directly" not in body


def test_offline_boundary_cases_and_conditions_come_from_other_codes(proj):
    """Runs last: it codes two more segments."""
    seg = next(s for s in proj.segments("nw01_natarajan_procurement.md") if "savings commitment is the headline" in s["text"])
    proj.apply_code("Carrying the blame", seg["id"])
    evidence_segment = proj.memo_draft(proj.draft_memo(category="Sharing savings"))["citations"][0]["segment_id"]
    proj.apply_code("Reporting upward", evidence_segment)
    body = proj.memo_draft(proj.draft_memo(category="Sharing savings"))["body"]
    assert "- Conditions coded on the same segments: 'Reporting upward' (1)." in _section(body, "Properties and dimensions")
    assert "'Reporting upward' is coded on 1 segment of the evidence" in _section(body, "Open questions")
    negatives = _section(body, "Negative and disconfirming cases")
    line = next(x for x in negatives.splitlines() if f"[{seg['source']}@" in x and "Carrying the blame" in x)
    m = ANCHOR.search(line)
    assert seg["start"] <= int(m.group("start")) < int(m.group("end")) <= seg["end"]
    assert line.endswith("— coded otherwise as: Carrying the blame")
    assert "where is the boundary between 'Sharing savings' and 'Carrying the blame'?" in _section(body, "Open questions")
