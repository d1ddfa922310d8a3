"""Segmentation: offsets always slice the stored text; sentences are kept whole where they fit."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from coder_assist.ingest.formats.model import ParsedTranscript, RawTurn
from coder_assist.ingest.segment import segment_id, segment_turns, sentence_spans
from coder_assist.store.tokens import RegexCounter, default_counter
from coder_assist.ingest.transcript import render


def _doc(turns: list[tuple[str | None, str]], labelled: bool = True):
    parsed = ParsedTranscript([RawTurn(s, t) for s, t in turns], "txt", "utf-8", labelled)
    return render(parsed)


def test_render_places_turn_text_after_label():
    text, spans = _doc([("Ana", "Hello there."), ("Ben", "Hi.\nSecond paragraph.")])
    assert text == "Ana: Hello there.\n\nBen: Hi.\nSecond paragraph."
    assert [text[s.start : s.end] for s in spans] == ["Hello there.", "Hi.\nSecond paragraph."]


def test_render_normalises_to_nfc_and_lf():
    text, spans = _doc([("Zoe\u0308", "cafe\u0301\r\nok")])
    assert text == "Zoë: café\nok"
    assert spans[0].speaker == "Zoë"


def test_unlabelled_render_has_no_labels():
    text, _ = _doc([(None, "One."), (None, "Two.")], labelled=False)
    assert text == "One.\n\nTwo."


def test_sentences_respect_abbreviations_and_lowercase_continuations():
    t = "Well, Mr. Smith said it. I disagree... and so does J. Doe! Really? Yes."
    spans = sentence_spans(t, 0, len(t))[0]
    assert [t[a:b] for a, b in spans] == [
        "Well, Mr. Smith said it.", "I disagree... and so does J. Doe!", "Really?", "Yes.",
    ]  # fmt: skip


def test_segments_pack_sentences_without_crossing_turns_or_paragraphs():
    text, spans = _doc([
        ("Ana", "We renewed. The CFO was new. She asked for numbers.\nThen the audit came."),
        ("Ben", "I see."),
    ])  # fmt: skip
    segs = segment_turns(text, spans, "sha", max_tokens=64)
    assert [s.text for s in segs] == ["We renewed. The CFO was new. She asked for numbers.", "Then the audit came.", "I see."]
    assert [s.speaker for s in segs] == ["Ana", "Ana", "Ben"]
    assert [s.idx for s in segs] == [0, 1, 2]


def test_small_limit_splits_at_sentences_then_inside_long_sentences():
    long = "Procurement " + "procurement " * 40 + "wanted savings, operations wanted reliability and nobody agreed."
    text, spans = _doc([("Ana", f"Short one. {long}")])
    counter = default_counter()
    segs = segment_turns(text, spans, "sha", max_tokens=16, counter=counter)
    assert segs[0].text == "Short one."
    assert len(segs) > 3
    assert all(counter.count_many([s.text])[0] <= 16 for s in segs)


def test_segment_ids_are_stable_and_depend_on_source_and_offsets():
    assert segment_id("abc", 0, 10) == segment_id("abc", 0, 10)
    assert segment_id("abc", 0, 10) != segment_id("abd", 0, 10)
    assert segment_id("abc", 0, 10) != segment_id("abc", 0, 11)


_words = st.text(alphabet=string.ascii_letters + "éãçøß", min_size=1, max_size=12)
_punct = st.sampled_from([" ", " ", " ", ". ", "! ", "? ", ", ", "... ", "\n", " Mr. ", " – ", "  "])
_turn_text = st.lists(st.tuples(_words, _punct), min_size=1, max_size=60).map(
    lambda pairs: "".join(w + p for w, p in pairs)
)


@settings(max_examples=150, deadline=None)
@given(
    turns=st.lists(st.tuples(st.sampled_from(["Ana", "Ben", "Zoë Lind"]), _turn_text), min_size=1, max_size=6),
    max_tokens=st.integers(min_value=8, max_value=80),
)
def test_property_offsets_slice_the_text_and_cover_every_word(turns, max_tokens):
    text, spans = _doc(turns)
    counter = RegexCounter()
    segs = segment_turns(text, spans, "sha", max_tokens=max_tokens, counter=counter)
    covered = [False] * len(text)
    for seg in segs:
        assert seg.text == text[seg.start : seg.end]
        assert seg.text == seg.text.strip() and seg.text
        turn = spans[seg.turn_idx]
        assert turn.start <= seg.start < seg.end <= turn.end
        assert "\n" not in seg.text  # never crosses a paragraph
        if " " in seg.text:  # a single word may exceed the limit; nothing else may
            assert seg.n_tokens <= max_tokens
        for i in range(seg.start, seg.end):
            assert not covered[i]
            covered[i] = True
    for turn in spans:  # every visible character of every turn is in exactly one segment
        for i in range(turn.start, turn.end):
            assert covered[i] or text[i].isspace()
    assert len({s.id for s in segs}) == len(segs)
