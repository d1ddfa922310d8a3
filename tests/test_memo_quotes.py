"""Memo quotes cannot sidestep verification (issue 12): a passage presented as a participant's
words verifies against a transcript, is refused, or is saved marked ``[unverified quote]``."""

from __future__ import annotations


import pytest

from coder_assist import Project
from coder_assist.errors import CoderAssistError
from coder_assist.exchange.collect import collect
from coder_assist.review import confirm
from coder_assist.suggest import passages
from coder_assist.suggest.passages import UNVERIFIED, checked_body, memo_passages, unverified

from .scripted import ScriptedProvider

INTERVIEW = """Interviewer: Tell me about the contract.

Priya Natarajan: When Graham arrived as CFO he asked for every invoice to be checked against the rate card.
Honestly, the penalties were written before any of us understood the sites.

Interviewer: And the night shift?

Tom Haverley: The engineers came out at two in the morning and fixed dock seven, and we still fined them.
"""
SOURCE = "nw-interview.txt"
INVENTED = "we always inflated the invoices for them"


@pytest.fixture
def proj(tmp_path):
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    src = tmp_path / SOURCE
    src.write_text(INTERVIEW, encoding="utf-8")
    assert p.ingest([src], wave=1).ok
    yield p
    p.close()


def _anchor(p: Project, words: str) -> str:
    start = p.document_text(SOURCE).index(words)
    return f"[{SOURCE}@{start}:{start + len(words)}]"


SIDESTEPS = {
    "no anchor": f"Priya admits «{INVENTED}».",
    "space inside the anchor": f"«{INVENTED}» [{SOURCE}@ 3:40]",
    "ASCII quotes": f'Priya said "{INVENTED}" [{SOURCE}@3:40]',
    "unclosed guillemet": f"Priya: «{INVENTED} [{SOURCE}@3:40]",
    "line break inside": "«we always inflated\nthe invoices for them» [" + SOURCE + "@3:40]",
    "lookalike guillemets": f"≪{INVENTED}≫ [{SOURCE}@3:40]",
    "lookalike at sign": f"«{INVENTED}» [{SOURCE}＠3:40]",
    "curly quotes": f"She told us “{INVENTED}”.",
    "German quotes": f"Sie sagte „{INVENTED}“.",
    "single guillemets": f"‹{INVENTED}›",
    "curly single quotes": f"she said ‘{INVENTED}’ twice",
    "ASCII single quotes": f"she said '{INVENTED}' and left",
    "attributed block quote": f"> {INVENTED}\n— Priya Natarajan",
    "block quote with a reference": f"> {INVENTED} [{SOURCE}]",
    "block quote, invented words after a dash": f"> The engineers came out at two in the morning — {INVENTED}\n— Tom",
    "short quote with a broken anchor": f"«inflated invoices» [{SOURCE}@ 3:40]",
    "a participant's words after 'she called it'": f"She called it “{INVENTED}”.",
    "a term cue with a broken anchor": f"We call this «{INVENTED}» [{SOURCE}@ 3:40]",
}


@pytest.mark.parametrize("case", SIDESTEPS)
def test_invented_passages_are_refused_and_change_nothing(proj, case):
    body = "## Reflexive note\n\n" + SIDESTEPS[case] + "\n"
    events = proj.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    with pytest.raises(CoderAssistError) as err:
        checked_body(proj.conn, body)
    message = str(err.value)
    assert message.startswith("memo not saved: 1 quoted passage(s) are in no transcript; first: “")
    assert "«exact words» [source@start:end]" in message and "\n" not in message
    assert ("inflated" in message) and (case != "unclosed guillemet" or "no closing quotation mark" in message)
    assert case not in ("space inside the anchor", "lookalike at sign") or "which is not an anchor" in message
    assert proj.memos() == [] and proj.conn.execute("SELECT count(*) FROM events").fetchone()[0] == events


def test_the_same_passage_anchored_after_another_quote_is_still_checked(proj):
    real = "the penalties were written before any of us understood the sites"
    body = f"«{real}» and «{INVENTED}» {_anchor(proj, real)}"  # ANCHOR pairs the first quote with the anchor
    assert [p.text for p in unverified(proj.conn, body)] == [INVENTED]


@pytest.mark.parametrize(
    "body",
    [
        'Priya: "When graham arrived as CFO, he asked for every invoice" (normalized match).',
        "«the penalties were written\nbefore any of us understood the sites» across a line break",
        "> The engineers came out at two in the morning\n— Tom Haverley",
        f"> The engineers came out at two in the morning — Tom Haverley (night shift) [{SOURCE}]",
        "I keep reading it as 'value for money' and “trust” (scare quotes, under four words).",
        "> Theory should emerge from the data rather than be forced upon it.\n(Glaser 1978, on method)",
        "The researchers' notes and the coders' notes agree; don't over-read it.",
        'We call this "checking the small print twice" in our codebook.',
        "The so-called “value for money audit trail” is our label, not theirs.",
        "Three passages were coded as «keeping the supplier at arm's length» in wave 2.",
    ],
)
def test_verbatim_short_and_unattributed_passages_are_accepted(proj, body):
    assert checked_body(proj.conn, body) == body


def test_a_quoted_code_name_is_the_researchers_term(proj):
    seg = proj.segments()[0]
    proj.apply_code("Policing the rate card closely", seg["id"])
    assert checked_body(proj.conn, "Is 'Policing the rate card closely' the core category?") is not None


def test_real_anchored_quote_passes_and_a_wrong_offset_is_still_refused(proj):
    real = "he asked for every invoice to be checked against the rate card"
    body = f"> «{real}» — Priya {_anchor(proj, real)}\n"
    assert checked_body(proj.conn, body) == body
    confirm.write_memo(proj.conn, "reflexive:ok", body, "ann")
    with pytest.raises(CoderAssistError, match="do not match"):
        confirm.write_memo(proj.conn, "reflexive:ok", body.replace(f"@{body.split('@')[1].split(':')[0]}:", "@1:"), "ann")


def test_allow_unverified_marks_each_passage_and_exports_carry_the_mark(proj):
    body = f"Priya said “{INVENTED}”, and later «nobody here ever read the original bid».\n"
    marked = checked_body(proj.conn, body, allow_unverified=True)
    assert marked == (f"Priya said “{INVENTED}” {UNVERIFIED}, and later «nobody here ever read the original bid» "
                      f"{UNVERIFIED}.\n")  # fmt: skip
    assert checked_body(proj.conn, marked) == marked  # marked passages are no longer presented as fact
    assert len(unverified(proj.conn, marked)) == 2 and unverified(proj.conn, marked, marked=False) == []
    block = checked_body(proj.conn, f"> {INVENTED}\n— Priya\n", allow_unverified=True)
    assert block == f"> {INVENTED} {UNVERIFIED}\n— Priya\n" and checked_body(proj.conn, block) == block
    confirm.write_memo(proj.conn, "reflexive:doubts", marked, "ann")
    (note,) = collect(proj.conn, "p", "ann").project.notes
    assert note.text.count(UNVERIFIED) == 2


def test_export_marks_an_anchored_quote_that_no_longer_matches(proj, tmp_path):
    real = "The engineers came out at two in the morning"
    body = f"«{real}» {_anchor(proj, real)}\n"
    confirm.write_memo(proj.conn, "reflexive:night", body, "ann")
    (note,) = collect(proj.conn, "p", "ann").project.notes
    assert note.text == body
    changed = tmp_path / SOURCE
    changed.write_text(INTERVIEW.replace("Interviewer: Tell me", "Interviewer: Please tell me"), encoding="utf-8")
    assert proj.ingest([changed], wave=1).ok  # a new current version: the offsets moved
    (note,) = collect(proj.conn, "p", "ann").project.notes
    assert note.text.startswith(body) and f"[unverified quote: {SOURCE}@" in note.text


def test_block_quotes_and_quotes_are_found_once(proj):
    body = "> «a b c d» — P1 [x@1:2]\n\n> plain block with no attribution at all\n\n„eins zwei drei vier“"
    found = memo_passages(body, passages._names(proj.conn))
    assert [p.text for p in found] == ["a b c d", "eins zwei drei vier"]


def test_a_model_draft_marks_passages_it_invented(proj):
    for seg, label in zip(proj.segments(), ("Checking invoices", "Checking invoice lines")):
        proj.apply_code(label, seg["id"])
    proj.categorize(threshold=0.9)
    proj.decide_category(proj.category_suggestion_rows()[0]["id"], "accept")
    name = proj.conn.execute("SELECT name FROM categories").fetchone()[0]
    scripted = ScriptedProvider()
    scripted.enqueue({"definition": f"Participants say “{INVENTED}”.", "properties": [], "comparison": "-",
                      "negative_cases": "-", "citations": [], "open_questions": [], "theoretical_sampling": []})  # fmt: skip
    draft = proj.memo_draft(proj.draft_memo(category=name, provider=scripted))
    assert f"“{INVENTED}” {UNVERIFIED}" in draft["body"] and draft["ungrounded"] == 1
    assert checked_body(proj.conn, draft["body"]) == draft["body"]


def test_project_write_memo_refuses_or_marks(proj):
    body = f"Priya said “{INVENTED}”.\n"
    with pytest.raises(CoderAssistError, match="quoted passage"):
        proj.write_memo("reflexive:x", body)
    assert proj.memos() == []
    proj.write_memo("reflexive:x", body, allow_unverified=True)
    assert proj.memos()[0]["body"] == f"Priya said “{INVENTED}” {UNVERIFIED}.\n"
