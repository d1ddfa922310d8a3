"""The quality benchmark's metric functions (bench/quality.py) on small hand-made inputs.

spaCy's small English model only; no MiniLM (a hash-embedder project where one is needed), no network.
"""

from __future__ import annotations

import importlib.util

import pytest

from coder_assist import Project
from coder_assist.theory.frameworks import find_frameworks

from .conftest import ROOT

pytest.importorskip("spacy")

_spec = importlib.util.spec_from_file_location("bench_quality", ROOT / "bench" / "quality.py")
q = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(q)  # type: ignore[union-attr]


@pytest.fixture(scope="module", autouse=True)
def _spacy_model():
    try:
        q.nlp()
    except OSError:
        pytest.skip(f"spaCy model {q.SPACY_MODEL} not installed")


def test_entity_only_labels_are_counted():
    assert q.is_entity_only("Adam Stacoviak")
    assert q.is_entity_only('"Northwind Logistics"')  # in-vivo quote marks do not matter
    assert q.is_entity_only("Cresta", q.name_words(["Cresta Facilities"]))  # a known organisation
    assert not q.is_entity_only("Pricing strategy")
    assert not q.is_entity_only("Renewing the Cresta contract")
    assert not q.is_entity_only("it")  # no content word at all


def test_known_names_leave_out_generic_roles():
    words = q.name_words(["Interviewer", "Priya Natarajan", "A", None, "Northwind Logistics"])
    assert words == {"priya", "natarajan", "northwind", "logistics"}


def test_filler_labels_are_counted():
    for label in ("Kind of expensive", '"you know, the price"', "Getting the tap thing", "O'clock meetings",
                  "Really liking the supplier", "Doing stuff", "Yeah"):  # fmt: skip
        assert q.has_filler(label), label
    for label in ("Pricing strategy", "Likelihood of renewal", "Realising the savings", "Thinking ahead"):
        assert not q.has_filler(label), label


def test_gerund_process_labels():
    assert q.is_gerund_label("Not understanding accounting")
    assert q.is_gerund_label("Building trust with the buyer")
    assert q.is_gerund_label("Shipping for retail clients")
    assert not q.is_gerund_label("Doubling Adam")  # only a person after the verb
    assert not q.is_gerund_label("Renewing Northwind Logistics")
    assert not q.is_gerund_label("O'clock morning")
    assert not q.is_gerund_label("Pricing")  # nothing beyond the verb
    assert not q.is_gerund_label("Morning meetings")
    assert not q.is_gerund_label("Finance finding")  # the verb is not first


def test_clause_in_quotes():
    assert q.has_clause("we handled a phishing incident last summer")
    assert q.has_clause("It was tense.")
    assert not q.has_clause("the critical stuff")
    assert not q.has_clause("rock solid")


def test_same_span_or_containment():
    assert q.has_same_span([(0, 10, "a b c"), (2, 5, "b")])
    assert q.has_same_span([(3, 8, "x"), (0, 1, "y"), (3, 8, "x")])
    assert not q.has_same_span([(0, 5, "a"), (6, 9, "b")])
    assert q.has_same_span([(None, None, "the renewal terms"), (4, 9, "renewal")])  # ungrounded: by text
    assert not q.has_same_span([(0, 4, "only one")])


def test_reuse_protocol_splits_documents_deterministically():
    names = ["vl01.md", "hd02.txt", "nw01.md", "hd01.json", "nw02.txt"]
    first, second = q.split_documents(names)
    assert first == ["hd01.json", "hd02.txt"] and second == ["nw01.md", "nw02.txt", "vl01.md"]
    assert q.split_documents(reversed(names)) == (first, second)
    assert q.split_units([0, 1, 2, 3, 4, 5, 6]) == ([0, 1, 2], [3, 4, 5, 6])
    assert q.split_units(["only"]) == ([], ["only"])


def test_rolled_up_scoring_maps_children_to_their_top_level_parent(tmp_path):
    fw = find_frameworks(tmp_path)["ivpd"]
    assert q.top_level(fw, "locus") == "ivpd"
    assert q.top_level(fw, "expectation_value_share") == "ivpd"  # grandchild -> expectations -> ivpd
    assert q.top_level(fw, "src_benefit_timing") == "ivpd_sources"
    assert q.top_level(fw, "ivpa") == "ivpa"
    assert q.top_level(fw, "none") == "none"
    gold = ["locus", "csq_blame_shifting", "none", "src_benefit_timing"]
    pred = ["subjectivity", "csq_doomed_trajectory", "none", "ivpa_benefit_normalisation"]
    s = q.rolled_scores(fw, gold, pred)
    assert s.accuracy == pytest.approx(0.75)
    assert set(s.labels) == {"ivpd", "ivpd_consequences", "none", "ivpd_sources", "ivpa"}


def test_host_heuristic():
    turns = [("Adam Stacoviak", "Why?"), ("Michael Grinich", "Because. Is that odd?"), ("Michael Grinich", "No?")]
    assert q.researcher_speakers("founders-talk-96.md", turns) == ({"Adam Stacoviak"}, "known host")
    assert q.researcher_speakers("meeting.json", turns) == ({"Michael Grinich"}, "most questions")
    assert q.researcher_speakers("meeting.json", [("A", "Fine.")]) == (set(), "none")


DOC_A = """Interviewer: How did the renewal go?

Priya Natarajan: Honestly it was tense. The new CFO wanted every invoice checked against the contract. Finance kept finding small discrepancies in the monthly invoices.
"""
DOC_B = """Interviewer: And operations?

Tom Berg: Operations loved the supplier. They fixed the conveyor at two in the morning and checked every invoice against the contract.
"""


def test_tally_and_reuse_protocol_on_a_small_project(tmp_path):
    (tmp_path / "a.txt").write_text(DOC_A, encoding="utf-8")
    (tmp_path / "b.txt").write_text(DOC_B, encoding="utf-8")
    root = tmp_path / "proj"
    proj = Project.init(root, embedder="hash")
    assert proj.ingest([tmp_path / "a.txt", tmp_path / "b.txt"]).ok
    embedder = proj.embedder
    proj.close()
    tally = q.Tally()
    q.run_reuse(root, embedder, tally)
    with Project.open(root, embedder=embedder) as proj:
        runs = proj.conn.execute("SELECT count(*) FROM coding_runs").fetchone()[0]
        first_doc = {r["source"] for r in q._suggestions(proj) if r["id"] == min(x["id"] for x in q._suggestions(proj))}
        rows = q._suggestions(proj)
        researchers = {("a.txt", "Interviewer"), ("b.txt", "Interviewer")}
        t = q.label_tally(proj, rows, researchers, [r[0] for r in proj.conn.execute("SELECT segment_id FROM llm_calls")])
    assert runs == 2 and first_doc == {"a.txt"}  # a.txt (first by name) coded alone, then the rest
    assert tally.c["second_half"] == sum(r["source"] == "b.txt" for r in rows)
    fig = t.figures()
    assert fig["labels"] == len(rows) and fig["researcher_coded"] == 0  # Interviewer talk is not coded
    assert 0 <= (fig["gerund_share"] or 0) <= 1
