"""Quote grounding: exact, normalized and fuzzy matches anchor to offsets; the rest is flagged."""

from __future__ import annotations

import string

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from coder_assist.suggest.grounding import locate

TEXT = "Honestly, it was tense. The new CFO wanted every invoice checked against the “rate card” – all of them."


def test_exact_match_gives_absolute_offsets():
    g = locate("The new CFO wanted", TEXT, base=1000)
    assert (g.method, g.score) == ("exact", 1.0)
    assert TEXT[g.start - 1000 : g.end - 1000] == "The new CFO wanted"


def test_surrounding_quote_marks_are_ignored():
    assert locate('"it was tense"', TEXT).method == "exact"


def test_case_punctuation_and_whitespace_differences_are_normalized():
    g = locate('the new cfo wanted  every invoice checked against the "rate card" - all', TEXT)
    assert g.method == "normalized"
    assert TEXT[g.start : g.end] == "The new CFO wanted every invoice checked against the “rate card” – all"


def test_small_wording_differences_are_fuzzy_matched_to_whole_words():
    g = locate("the new CFO wants every invoice checked against a rate card", TEXT)
    assert g.method == "fuzzy" and 0.85 <= g.score < 1
    assert TEXT[g.start : g.end] == "The new CFO wanted every invoice checked against the “rate card"


def test_invented_quotes_are_ungrounded():
    for quote in ("we signed a ten-year exclusive deal", "", "   ", "CFO"[:0]):
        g = locate(quote, TEXT)
        assert not g.grounded and g.start is None and g.end is None


def test_threshold_is_respected():
    quote = "the old CFO refused any invoice"
    assert not locate(quote, TEXT).grounded
    assert locate(quote, TEXT, threshold=0.5).grounded


_alphabet = string.ascii_letters + "  ,.;!?'’éçã"


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=_alphabet, min_size=5, max_size=300), data=st.data())
def test_property_any_substring_grounds_exactly_to_itself(text, data):
    a = data.draw(st.integers(0, len(text) - 1))
    b = data.draw(st.integers(a + 1, len(text)))
    quote = text[a:b]
    assume(quote.strip().strip("\"'“”‘’").strip())
    g = locate(quote, text, base=7)
    assert g.method == "exact"
    assert text[g.start - 7 : g.end - 7] == quote.strip().strip("\"'“”‘’").strip()


@settings(max_examples=150, deadline=None)
@given(words=st.lists(st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=8), min_size=3, max_size=30),
       data=st.data())  # fmt: skip
def test_property_recased_repunctuated_quotes_still_ground(words, data):
    text = ", ".join(w.capitalize() if i % 3 == 0 else w for i, w in enumerate(words)) + "."
    i = data.draw(st.integers(0, len(words) - 2))
    j = data.draw(st.integers(i + 2, len(words)))
    quote = " ".join(words[i:j]).upper()  # case changed, commas dropped
    g = locate(quote, text)
    assert g.grounded and g.method in ("exact", "normalized")
    span = text[g.start : g.end]
    assert span.replace(",", "").casefold() == " ".join(words[i:j]).casefold()
