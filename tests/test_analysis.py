"""Case-level analyses: value-strategy postures and IVPD, stored as suggestions and confirmed by a person."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from coder_assist import Project
from coder_assist.theory.analysis import (
    DIMENSIONS, STRATEGIES, _matched_mean, grid_cell, render_ivpd, render_posture,
)
from coder_assist.review.decisions import Conflict
from coder_assist.errors import CoderAssistError

from .conftest import FIXTURES

CASES = ("halden-it", "northwind-facilities", "vela-packaging")


def _participants() -> dict[str, dict[str, str]]:
    with open(FIXTURES / "participants.csv", encoding="utf-8") as fh:
        return {r["speaker"]: r for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory):
    """The fixture study (both waves) with one posture and one IVPD run."""
    p = Project.init(tmp_path_factory.mktemp("analysis") / "p", coder="ann", embedder="hash")
    assert p.ingest([FIXTURES / "wave1"], wave=1, attributes=FIXTURES / "participants.csv", index=False).ok
    assert p.ingest([FIXTURES / "wave2"], wave=2, index=False).ok
    posture_ids = p.propose_postures(coder="ann")
    ivpd_ids = p.propose_ivpd(coder="ann")
    yield p, posture_ids, ivpd_ids
    p.close()


def _document_text(p: Project, source: str) -> str:
    return p.conn.execute("SELECT text FROM documents WHERE name = ? AND current = 1", (source,)).fetchone()[0]


def _check_evidence(p: Project, items: list[dict], sides: set[str]) -> None:
    people = _participants()
    assert items
    for e in items:
        assert _document_text(p, e["source"])[e["start"] : e["end"]] == e["quote"]
        assert e["wave"] in (1, 2)
        assert people[e["speaker"]]["side"] in sides, e


def _expected_cell_type(buyer: str, supplier: str) -> str:
    if buyer == supplier:
        return "natural"
    if {buyer, supplier} == {"internal", "relational"}:
        return "non_viable"
    return "managed"


def test_one_posture_per_case_with_a_consistent_grid_cell(study):
    p, ids, _ = study
    rows = p.analyses(kind="posture")
    assert len(ids) == 3 and sorted(r["id"] for r in rows) == sorted(ids)
    assert sorted(r["case_id"] for r in rows) == list(CASES)
    fw = p.framework("value_strategy")
    for r in rows:
        assert (r["provider"], r["model"], r["status"]) == ("offline", p.embedder.name, "proposed")
        pay = r["payload"]
        assert pay["case"] == r["case_id"] and "offline similarity heuristic" in pay["method"].lower()
        buyer, supplier = pay["sides"]["buyer"], pay["sides"]["supplier"]
        for side in (buyer, supplier):
            assert set(side["scores"]) == set(STRATEGIES)
            assert side["dominant"] == max(STRATEGIES, key=lambda s: side["scores"][s])
            assert 1 <= len(side["evidence"]) <= 3
        cell = fw.construct(pay["cell"]["id"])
        assert cell.attributes["buyer_strategy"] == buyer["strategy"]
        assert cell.attributes["supplier_strategy"] == supplier["strategy"]
        assert pay["cell"]["cell_type"] == cell.attributes["cell_type"] == _expected_cell_type(buyer["strategy"], supplier["strategy"])
        assert pay["cell"]["definition"] and pay["what_each_side_can_do"]["both"]
        for items in pay["what_each_side_can_do"].values():
            assert all(i["from"].startswith("value_strategy.") for i in items)


def test_every_grid_cell_type_follows_the_two_strategies():
    from coder_assist.theory.frameworks import builtin_frameworks

    fw = builtin_frameworks()["value_strategy"]
    short = ("internal", "exchange", "relational")
    for b in short:
        for s in short:
            assert grid_cell(fw, b, s).attributes["cell_type"] == _expected_cell_type(b, s)


def test_posture_evidence_slices_the_documents_and_comes_from_the_claimed_side(study):
    p, _, _ = study
    for r in p.analyses(kind="posture"):
        pay = r["payload"]
        for side in ("buyer", "supplier"):
            _check_evidence(p, pay["sides"][side]["evidence"], {side})
        comp = pay["competences"]
        assert {c["id"] for c in comp["checked"]} == {c.id for c in p.framework("value_strategy").children("dyadic_competence")}
        for c in comp["in_play"]:
            assert c["similarity"] >= comp["threshold"]
            _check_evidence(p, [c["evidence"]], {c["side"]})


def test_ivpd_payload_has_dimensions_groups_and_supplier_contrast(study):
    p, _, ids = study
    rows = p.analyses(kind="ivpd")
    assert len(ids) == 3 and sorted(r["case_id"] for r in rows) == list(CASES)
    people = _participants().values()
    for r in rows:
        pay = r["payload"]
        expected = {x["role_category"] for x in people if x["case"] == r["case_id"] and x["side"] == "buyer"}
        assert set(pay["groups"]) == expected
        assert set(pay["dimensions"]) == set(DIMENSIONS)
        assert pay["rules"]["dissonance_without_subcodes"] and pay["method"]
        for dim in pay["dimensions"].values():
            assert set(dim["groups"]) == expected
            for g, block in dim["groups"].items():
                assert len(block["evidence"]) <= 2 and block["score"] >= block["evidence"][-1]["similarity"] - 1e-9
                _check_evidence(p, block["evidence"], {"buyer"})
                assert {e["speaker"] for e in block["evidence"]} <= {x["speaker"] for x in people if x["role_category"] == g}
            _check_evidence(p, dim["supplier"]["evidence"], {"supplier"})
            assert isinstance(dim["dissonance"]["flag"], bool) and dim["dissonance"]["detail"]
            if len(expected) < 2:
                assert not dim["dissonance"]["assessable"] and not dim["alignment"]["assessable"]
        assert pay["dimensions"]["expectations"]["subcodes"]  # the one dimension with sub-codes
        assert not pay["dimensions"]["temporality"]["alignment"]["strands"]  # no IVPA strand remedies it


def test_size_matched_mean_is_the_expected_top_k_of_a_sample():
    import itertools

    values = [0.9, 0.1, 0.5, 0.7, 0.3]
    brute = [sum(sorted(c, reverse=True)[:2]) / 2 for c in itertools.combinations(values, 3)]
    assert _matched_mean(values, 3, 2) == pytest.approx(sum(brute) / len(brute), abs=1e-4)
    assert _matched_mean(values, 9, 2) == pytest.approx(0.8)


def test_render_shows_case_cell_dimensions_and_evidence(study):
    p, _, _ = study
    for r in p.analyses():
        text = render_posture(r["payload"]) if r["kind"] == "posture" else render_ivpd(r["payload"])
        assert r["case_id"] in text
        if r["kind"] == "posture":
            assert r["payload"]["cell"]["id"] in text and r["payload"]["cell"]["cell_type_label"] in text
            e = r["payload"]["sides"]["buyer"]["evidence"][0]
        else:
            assert all(d in text for d in DIMENSIONS)
            e = r["payload"]["dimensions"]["locus"]["supplier"]["evidence"][0]
        assert f"{e['start']}-{e['end']}" in text and e["source"] in text and e["speaker"] in text
        assert max(len(line) for line in text.splitlines()) <= 80


def test_confirm_reject_conflict_and_guard(study):
    p, posture_ids, ivpd_ids = study
    confirmed = p.decide_analysis(posture_ids[0], "accept", coder="ann", note="matches my reading")
    row = p.conn.execute("SELECT * FROM confirmed_analyses WHERE id = ?", (confirmed,)).fetchone()
    assert row["created_by"] == "ann" and row["suggestion_id"] == posture_ids[0] and row["kind"] == "posture"
    assert p.decide_analysis(ivpd_ids[0], "reject", coder="bob") is None
    status = {r["id"]: r["status"] for r in p.analyses()}
    assert status[posture_ids[0]] == "accepted" and status[ivpd_ids[0]] == "rejected"
    with pytest.raises(Conflict, match="accepted"):
        p.decide_analysis(posture_ids[0], "reject", coder="bob")
    with pytest.raises(Conflict, match="rejected"):
        p.decide_analysis(ivpd_ids[0], "accept", coder="ann")
    with pytest.raises(CoderAssistError, match="named coder"):
        p.decide_analysis(posture_ids[1], "accept", coder="  ")
    decisions = p.conn.execute("SELECT * FROM decisions WHERE action LIKE 'analysis:%' ORDER BY id").fetchall()
    assert [(d["action"], d["target"], d["coder"], d["from_status"], d["to_status"]) for d in decisions] == [
        ("analysis:accept", f"analysis_suggestion:{posture_ids[0]}", "ann", "proposed", "accepted"),
        ("analysis:reject", f"analysis_suggestion:{ivpd_ids[0]}", "bob", "proposed", "rejected"),
    ]
    assert decisions[0]["note"] == "matches my reading"
    with pytest.raises(sqlite3.IntegrityError, match="human decision"):
        p.conn.execute("INSERT INTO confirmed_analyses (suggestion_id, kind, case_id, payload, created_at, created_by)"
                       " VALUES (?, 'posture', 'x', '{}', 't', 'mallory')", (posture_ids[1],))  # fmt: skip
    with pytest.raises(sqlite3.IntegrityError, match="human decision"):
        p.conn.execute("UPDATE analysis_suggestions SET status = 'accepted' WHERE id = ?", (posture_ids[1],))
    assert p.analyses(kind="posture", case=p.analyses(kind="posture")[0]["case_id"])[0]["confirmed_id"] == confirmed


def test_audit_events_for_runs_and_decisions(study):
    p, posture_ids, ivpd_ids = study
    runs = {e["payload"]["kind"]: e for e in p.audit_log(type_="analysis") if e["payload"]["suggestion_ids"] in (posture_ids, ivpd_ids)}
    assert runs["posture"]["payload"]["suggestion_ids"] == posture_ids and runs["posture"]["actor"] == "ann"
    assert runs["ivpd"]["payload"]["suggestion_ids"] == ivpd_ids and runs["ivpd"]["payload"]["cases"] == list(CASES)
    p.decide_analysis(posture_ids[2], "reject", coder="cat", note="not convinced")
    [decision] = [e for e in p.audit_log(type_="decision") if e["payload"]["target"] == f"analysis_suggestion:{posture_ids[2]}"]
    assert decision["actor"] == "cat" and decision["payload"]["action"] == "reject"
    assert p.verify_audit() == []


def test_one_case_only_and_unknown_case(study):
    p, _, _ = study
    [sid] = p.propose_postures(case="vela-packaging")
    assert p.analyses(kind="posture", case="vela-packaging")[-1]["id"] == sid
    with pytest.raises(CoderAssistError, match="no-such-case"):
        p.propose_ivpd(case="no-such-case")


BUYER_TALK = [
    "Our only goal is to cut our own costs. We want the lowest market price and a standard service.",
    "Price is everything. We benchmark the price every year and we keep suppliers competing to get it down.",
    "Cost cutting, price reductions and leverage in the negotiation: that is what the programme is for.",
    "We do not want a partnership. We want the cheapest price and lower costs for our processes.",
    "If the price is not at the market level we will tender it and use the leverage we have.",
]
SUPPLIER_TALK = [
    "We want a development partnership with them, joint product development and a shared roadmap.",
    "Our engineers sit in their plant so we can develop the next product together, as one shared team.",
    "Joint development is the point: value that neither firm could create alone, only together.",
    "We propose co-location and shared teams for joint process development with them.",
    "A close, committed partnership where we develop the process jointly and share what we learn.",
]


def _tiny_project(tmp_path: Path, embedder: str) -> Project:
    lines = []
    for b, s in zip(BUYER_TALK, SUPPLIER_TALK):
        lines += ["Interviewer: What do you want from the relationship?", f"Bea Buyer: {b}", f"Sam Supplier: {s}"]
    src = tmp_path / "dyad.txt"
    src.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    people = tmp_path / "people.csv"
    people.write_text("participant_id,speaker,side,role_category,role_title,case\n"
                      "R1,Interviewer,researcher,,Interviewer,\n"
                      "B1,Bea Buyer,buyer,Comm,Category Manager,tiny\n"
                      "S1,Sam Supplier,supplier,Comm,Account Manager,tiny\n", encoding="utf-8")  # fmt: skip
    p = Project.init(tmp_path / f"tiny-{embedder}", coder="ann", embedder=embedder)
    assert p.ingest([src], wave=1, attributes=people, index=False).ok
    return p


def _assert_expected_direction(p: Project) -> None:
    [sid] = p.propose_postures(case="tiny")
    pay = p.analyses(kind="posture")[0]["payload"]
    assert p.analyses()[0]["id"] == sid
    buyer, supplier = pay["sides"]["buyer"]["scores"], pay["sides"]["supplier"]["scores"]
    # Price and cost-cutting talk reads as internal (or at least not relational) value strategy ...
    assert max(buyer["internal_value_strategy"], buyer["exchange_value_strategy"]) > buyer["relational_value_strategy"]
    assert buyer["internal_value_strategy"] > buyer["relational_value_strategy"]
    # ... and joint-development talk as relational, well above the buyer's relational score.
    assert supplier["relational_value_strategy"] > max(supplier["internal_value_strategy"], supplier["exchange_value_strategy"])
    assert supplier["relational_value_strategy"] > buyer["relational_value_strategy"]
    assert pay["cell"]["id"] == "non_viable_buyer_internal_supplier_relational"


def test_relative_strategy_scores_go_the_expected_way_hash(tmp_path):
    p = _tiny_project(tmp_path, "hash")
    try:
        _assert_expected_direction(p)
    finally:
        p.close()


@pytest.mark.slow
def test_relative_strategy_scores_go_the_expected_way_minilm(tmp_path):
    p = _tiny_project(tmp_path, "minilm")
    try:
        _assert_expected_direction(p)
    finally:
        p.close()


def test_a_re_run_on_unchanged_data_adds_nothing(study):
    p, ids, _ = study
    events = len(p.audit_log(type_="analysis"))
    again = p.propose_postures()
    assert sorted(again) == sorted(ids) and len(p.analyses(kind="posture")) == 3  # the same suggestions
    assert len(p.audit_log(type_="analysis")) == events  # and no new event
    ivpd = p.propose_ivpd()
    assert sorted(p.propose_ivpd()) == sorted(ivpd) and len(p.analyses(kind="ivpd")) == len(ivpd)
