"""The offline analysis behind memo drafts: sentences, dimensions, negative cases, sampling gaps."""

from __future__ import annotations

import re

import pytest

from coder_assist import Project
from coder_assist.store.embedders import HashEmbedder
from coder_assist.theory import memo_analysis as A
from coder_assist.theory.memo_analysis import Evidence
from coder_assist.theory.memos import ANCHOR, verify_citations

ACME = """Interviewer: How are savings reported here?

Anna Berg: Every quarter we report the savings to the board of the company. The board then asks finance to check the numbers.

Interviewer: And on site?

Ben Cole: On site it is different. We report the savings to the board as well, once a year, in the site review.
"""
ACME_SUPPLIER = """Interviewer: What about your side?

Dana Eze: Honestly, we never report the savings to the board, the savings report is not ours to write.
"""
ZEN = """Interviewer: What about your side?

Carl Diaz: We report the savings to the board every quarter, and the board reads the savings report closely.
"""
PEOPLE = """participant_id,speaker,side,role_category,role_title,sector,organisation,experience,case,notes
R01,Interviewer,researcher,,Interviewer,,Research team,,,
P01,Anna Berg,buyer,Comm,Category manager,Retail,Acme Stores,10-25,acme,
P02,Ben Cole,buyer,Del,Site manager,Retail,Acme Stores,10-25,acme,
P03,Carl Diaz,supplier,Comm,Account director,Services,Zenith Works,10-25,zen,
P04,Dana Eze,supplier,Exec,Managing director,Services,Acme Facilities,>25,acme,
"""


@pytest.fixture
def small(tmp_path, write):
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    p.ingest(write("acme.txt", ACME), wave=1, case="acme", attributes=write("people.csv", PEOPLE))
    p.ingest(write("acme_supplier.txt", ACME_SUPPLIER), wave=2, case="acme")
    p.ingest(write("zen.txt", ZEN), wave=1, case="zen")
    segs = {s["speaker"]: s for s in p.segments() if s["speaker"] != "Interviewer"}
    p.apply_code("Reporting savings", segs["Anna Berg"]["id"], span="report the savings")
    p.apply_code("Reporting savings", segs["Ben Cole"]["id"], span="savings to the board")
    p.apply_code("Reading reports", segs["Carl Diaz"]["id"])
    yield p, segs
    p.close()


def _section(body: str, heading: str) -> str:
    return body.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


# -- sentences -------------------------------------------------------------------------------------
def test_sentence_window_widens_a_fragment_to_its_sentence():
    text = "Right. We report the savings to the board. Then finance checks it, and nobody argues."
    a = text.index("the savings")
    start, end = A.sentence_window(text, a, a + len("the savings"))
    assert text[start:end] == "We report the savings to the board."
    b = text.index("finance")
    start, end = A.sentence_window(text, a, b + 3)  # a span over two sentences keeps both
    assert text[start:end] == "We report the savings to the board. Then finance checks it, and nobody argues."


def test_sentence_window_caps_long_sentences_at_a_word():
    text = "Well. " + " ".join(f"Word{i}" for i in range(100)) + "."
    start, end = A.sentence_window(text, 10, 20, max_words=60)
    assert start == 6 and len(text[start:end].split()) == 60 and text[start:end].startswith("Word0")


def test_sentence_spans_treat_newlines_and_quotes():
    text = 'He said "no." Then left\nand came back. ok then.'
    assert [text[a:b] for a, b in A.sentence_spans(text)] == ['He said "no."', "Then left", "and came back. ok then."]


def test_widen_refuses_what_cannot_be_quoted():
    doc = "Intro. She said «never» to the savings. End."
    a = doc.index("the savings")
    assert A.widen(doc, 0, len(doc), a, a + 11) is None
    assert A.widen(doc, 0, len(doc), doc.index("End"), len(doc)) == (doc.index("End"), len(doc))


# -- words and dimensions --------------------------------------------------------------------------
def test_content_words_drop_names_and_function_words():
    names = A.name_words([{"speaker": "Anna Berg", "organisation": "Acme Stores"}, {"speaker": "Zoë Sørensen"}])
    text = "Anna said the invoices from Acme were late, and Zoltrax quickly agreed. Zoë Sørensen checks the supply."
    assert [lem for lem, _ in A.content_words(text, names)] == ["invoice", "late", "agreed", "check", "supply"]


def _ev(quote: str, side: str, speaker: str, i: int) -> Evidence:
    return Evidence("doc", speaker, side, "Comm", 1, i, i + len(quote), quote, f"s{i}", ["c"])


INVOICES = ["Finance disputed the invoices again, the invoices were late.",
            "The invoices are disputed by finance every month.",
            "Late invoices mean finance disputes everything."]  # fmt: skip
DOORS = ["The doors broke and the engineers fixed the doors overnight.",
         "Engineers keep the doors working, uptime matters on site.",
         "Uptime of the doors depends on the engineers."]  # fmt: skip


def test_poles_are_named_by_what_distinguishes_them_and_say_who_sits_where():
    evidence = [_ev(q, "buyer", f"B{i}", i) for i, q in enumerate(INVOICES)]
    evidence += [_ev(q, "supplier", f"S{i}", 10 + i) for i, q in enumerate(DOORS)]
    found = A.poles(evidence, HashEmbedder().embed, frozenset())
    assert len(found) == 2
    by_term = {p.terms[0]: p for p in found}
    assert {"invoices", "doors"} <= set(by_term) | {t for p in found for t in p.terms}
    inv = next(p for p in found if "invoices" in p.terms)
    assert {e.quote for e in inv.members} == set(INVOICES) and inv.majority_side() == "buyer"
    lines = A.properties(evidence, found, [("Blaming finance", 2)])
    assert lines[0].startswith("- Varies between") and "3 passages; buyer 3" in lines[0] and "3 passages; supplier 3" in lines[0]
    assert any("follows side" in x for x in lines) and "'Blaming finance' (2)" in lines[-1]


def test_too_few_passages_give_no_dimensions():
    evidence = [_ev(q, "buyer", "B", i) for i, q in enumerate(INVOICES[:2])]
    assert A.poles(evidence, HashEmbedder().embed, frozenset()) == []
    assert A.properties(evidence, [], [])[0].startswith("- Too thin to draw dimensions from: only 2 coded passages")


def test_alike_passages_give_no_invented_split():
    evidence = [_ev("We report the savings to the board.", "buyer", f"B{i}", i) for i in range(4)]
    assert A.poles(evidence, HashEmbedder().embed, frozenset()) == []
    assert "No clear variation yet" in A.properties(evidence, [], [])[0]


# -- a whole draft on a small project --------------------------------------------------------------
def test_case_memo_from_a_small_project(small):
    p, segs = small
    body = p.memo_draft(p.draft_memo(case="acme"))["body"]
    assert verify_citations(p.conn, body) == []
    evidence = [m for m in ANCHOR.finditer(_section(body, "Evidence"))]
    anna = segs["Anna Berg"]
    assert [m.group("quote") for m in evidence if int(m.group("start")) >= anna["start"]
            and int(m.group("end")) <= anna["end"]] == ["Every quarter we report the savings to the board of the company."]  # fmt: skip
    assert "Ben Cole" in _section(body, "Evidence") and "We report the savings to the board as well" in body

    props = _section(body, "Properties and dimensions")
    assert "Too thin to draw dimensions from: only 2 coded passages" in props and "Varies" not in props

    negatives = _section(body, "Negative and disconfirming cases")
    carl = next(line for line in negatives.splitlines() if "Carl Diaz" in line)
    assert carl.endswith("— coded otherwise as: Reading reports")
    dana = next(line for line in negatives.splitlines() if "Dana Eze" in line)
    assert "similar talk with a negation or contrast ('never')" in dana and "«Honestly, we never report" in dana

    sampling = _section(body, "Theoretical sampling for the next wave")  # within the case's own people and waves
    assert "No evidence from the supplier side although 1 supplier participant speaks in the transcripts: Dana Eze." in sampling
    assert "No evidence from role category Exec (Dana Eze)." in sampling and "No evidence from wave 2 (1 transcript)" in sampling
    assert "Carl Diaz" not in sampling and "No evidence from case" not in sampling
    assert "buyer side" not in sampling  # the buyer side is heard: no template line for it

    questions = _section(body, "Open questions")
    assert "Only 2 coded passages" in questions and "boundary between 'case acme' and 'Reading reports'" in questions
    assert "All evidence is from wave 1" in questions


def test_uncoded_confirming_talk_is_not_a_negative_case(small, write):
    p, segs = small
    p.ingest(write("more.txt", "Interviewer: Again?\n\nAnna Berg: We report the savings to the board every single quarter.\n"),
             wave=1, case="acme")  # fmt: skip
    body = p.memo_draft(p.draft_memo(case="acme"))["body"]
    negatives = _section(body, "Negative and disconfirming cases")
    head, _, maybe = negatives.partition("### Uncoded passages that may belong here")
    assert "every single quarter" not in head
    assert re.search(r"«We report the savings to the board every single quarter\.».*— uncoded, similar", maybe)


def test_names_the_project_does_not_list_are_not_dimension_words():
    from coder_assist.theory.memo_analysis import content_words, proper_nouns

    texts = ["When Alan brought Cresta in, the pitch was one number to ring.", "Alan knew the sites.",
             "Finance asked, and finance decided.", "The Procurement team and procurement people agreed."]  # fmt: skip
    found = proper_nouns(texts)
    assert {"alan", "cresta"} <= found and "finance" not in found and "procurement" not in found
    words = {w for w, _ in content_words(texts[0], found)}
    assert "alan" not in words and "cresta" not in words and "pitch" in words
