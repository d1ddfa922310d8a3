"""Tests for coder_assist.ingest.formats: label shapes, each file format, bad input, the real shared transcripts."""

from __future__ import annotations

import io
import json
import re
import time
from collections import Counter
from itertools import groupby
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coder_assist.errors import InputError
from coder_assist.ingest.formats import SUPPORTED, ParsedTranscript, RawTurn, parse_bytes

from .conftest import SHARED
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared transcripts not found at {SHARED}")


def parse(name: str, text: str) -> ParsedTranscript:
    return parse_bytes(name, text.encode("utf-8"))


def pairs(result: ParsedTranscript) -> list[tuple[str | None, str]]:
    return [(turn.speaker, turn.text) for turn in result.turns]


def reason(name: str, data: bytes) -> str:
    with pytest.raises(InputError) as error:
        parse_bytes(name, data)
    assert str(error.value).startswith(f"{name}: ")
    assert "\n" not in str(error.value)
    return error.value.reason


def shared(relative: str) -> ParsedTranscript:
    path = SHARED / relative
    return parse_bytes(path, path.read_bytes())


# --- plain text label shapes -------------------------------------------------------------------

ALICE_BOB = [("Alice", "hi"), ("Bob", "yo"), ("Alice", "again"), ("Bob", "ok")]


@pytest.mark.parametrize(
    "line",
    [
        "{name}: {text}",
        "**{name}:** {text}",
        "**{name}**: {text}",
        "[00:01:02] {name}: {text}",
        "00:01:02 {name}: {text}",
        "{name} [00:01:02]: {text}",
        "__{name}:__ {text}",
    ],
)
def test_label_shapes(line: str) -> None:
    text = "\n\n".join(line.format(name=name, text=said) for name, said in ALICE_BOB)
    result = parse("t.txt", text)
    assert result.labelled is True
    assert pairs(result) == ALICE_BOB


def test_timestamp_before_or_after_label_is_the_turn_start() -> None:
    result = parse("t.txt", "[00:01:02] Alice: hi\nBob [01:05]: yo\nAlice: [00:02:00.5] again\nBob: ok")
    assert [turn.start for turn in result.turns] == [62.0, 65.0, 120.5, None]
    assert pairs(result) == ALICE_BOB


def test_multi_word_labels() -> None:
    result = parse("t.txt", "B Comm: hi\nDr. Maria da Silva: hello\nB Comm: again\nDr. Maria da Silva: bye")
    assert [turn.speaker for turn in result.turns] == ["B Comm", "Dr. Maria da Silva"] * 2


def test_label_whitespace_is_collapsed() -> None:
    result = parse("t.txt", "Mary   Ann: hi\nMary Ann: again")
    assert {turn.speaker for turn in result.turns} == {"Mary Ann"}


def test_role_labels_count_even_once() -> None:
    result = parse(
        "t.txt",
        "Interviewer: q\nRespondent: a\nModerator: m\nParticipant 3: p\nP1: x\nSpeaker 2: s\nQ: qq\nA: aa",
    )
    assert [(t.speaker, t.role, t.label) for t in result.turns] == [
        ("Interviewer", "interviewer", None),
        ("Respondent", "respondent", None),
        ("Moderator", "moderator", None),
        ("Participant 3", "participant", None),
        ("P1", "participant", None),
        ("Speaker 2", None, None),
        ("Interviewer", "interviewer", "Q"),
        ("Respondent", "respondent", "A"),
    ]


def test_portuguese_and_spanish_roles_are_canonicalised() -> None:
    result = parse(
        "t.txt",
        "Entrevistadora: Olá\nEntrevistado: Bom dia\nPregunta: ¿Qué?\nRespuesta: Sí\nResposta: Não",
    )
    assert [(t.speaker, t.label) for t in result.turns] == [
        ("Interviewer", "Entrevistadora"),
        ("Respondent", "Entrevistado"),
        ("Interviewer", "Pregunta"),
        ("Respondent", "Respuesta"),
        ("Respondent", "Resposta"),
    ]


def test_label_alone_on_its_line() -> None:
    result = parse("t.txt", "Alice:\nhi there\nmore\n\nBob:\nyo\n\nAlice:\nagain\n\nBob:\nok")
    assert pairs(result) == [("Alice", "hi there\nmore"), ("Bob", "yo"), ("Alice", "again"), ("Bob", "ok")]


def test_recurring_all_caps_name_alone_on_its_line() -> None:
    result = parse("t.txt", "JANE DOE\nHello.\n\nINTERVIEWER\nWhy?\n\nJANE DOE\nBecause.")
    assert pairs(result) == [("JANE DOE", "Hello."), ("Interviewer", "Why?"), ("JANE DOE", "Because.")]


def test_follow_on_paragraphs_belong_to_previous_speaker() -> None:
    result = parse("t.txt", "Alice: one\n\ntwo\n\nthree\n\nBob: four\n\nAlice: five\n\nBob: six")
    assert pairs(result)[0] == ("Alice", "one\ntwo\nthree")
    assert len(result.turns) == 4


def test_same_speaker_paragraphs_are_not_merged_in_plain_text() -> None:
    result = parse("t.txt", "Alice: one\n\nAlice: two\n\nBob: three\n\nBob: four")
    assert pairs(result) == [("Alice", "one"), ("Alice", "two"), ("Bob", "three"), ("Bob", "four")]


def test_sentence_with_colon_is_not_a_label() -> None:
    result = parse("t.txt", "The answer is: forty two.\n\nAnother paragraph here.")
    assert result.labelled is False
    assert pairs(result) == [(None, "The answer is: forty two."), (None, "Another paragraph here.")]


def test_single_occurrence_name_is_text_but_recurring_one_is_a_label() -> None:
    result = parse("t.txt", "Alice: hi\nBob: yo\nAlice: again\nBob: ok\nNote: this was recorded.")
    assert [t.speaker for t in result.turns] == ["Alice", "Bob", "Alice", "Bob"]
    assert result.turns[-1].text == "ok\nNote: this was recorded."


def test_sentence_like_label_is_rejected_even_when_it_recurs() -> None:
    result = parse("t.txt", "The answer is: yes.\n\nThe answer is: no.")
    assert result.labelled is False
    assert len(result.turns) == 2


def test_unlabelled_text_is_one_turn_per_paragraph() -> None:
    result = parse("t.txt", "First line\nsame paragraph.\n\n\nSecond paragraph.\n\nThird.")
    assert result.labelled is False
    assert pairs(result) == [
        (None, "First line\nsame paragraph."),
        (None, "Second paragraph."),
        (None, "Third."),
    ]


def test_numbered_question_covers_only_its_own_line() -> None:
    text = "Pergunta 1: Quantos?\nSão 16.\nBeleza.\n\nQuestion 2: And now?\nNone.\n\nQ3: Last?\nYes."
    result = parse("t.txt", text)
    assert [(t.speaker, t.role, t.label, t.text) for t in result.turns] == [
        ("Interviewer", "interviewer", "Pergunta 1", "Quantos?"),
        ("Respondent", "respondent", None, "São 16.\nBeleza."),
        ("Interviewer", "interviewer", "Question 2", "And now?"),
        ("Respondent", "respondent", None, "None."),
        ("Interviewer", "interviewer", "Q3", "Last?"),
        ("Respondent", "respondent", None, "Yes."),
    ]


def test_numbered_question_continues_when_answers_are_labelled() -> None:
    result = parse("t.txt", "Pergunta 1: Primeira parte.\nSegunda parte.\nResposta:\nSim.")
    assert pairs(result) == [("Interviewer", "Primeira parte.\nSegunda parte."), ("Respondent", "Sim.")]


def test_turn_text_keeps_internal_spaces_and_strips_the_ends() -> None:
    result = parse("t.txt", "Alice:    a  b   \nBob: c\nAlice: d\nBob: e")
    assert result.turns[0].text == "a  b"


_NAMES = st.sampled_from(["Alice", "Bob Smith", "Dr. Chen", "María José", "P2", "Kendall"])
_SAID = st.text(alphabet="abcdefghij klmnop,.?!", min_size=1, max_size=30).filter(lambda s: s.strip())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_NAMES, _SAID), min_size=2, max_size=8))
def test_generated_labelled_lines_round_trip(turns: list[tuple[str, str]]) -> None:
    text = "\n".join(f"{name}: {said}" for name, said in turns)
    counts = Counter(name for name, _ in turns)
    accepted = {n for n in counts if counts[n] >= 2 or n == "P2"}
    if accepted:  # a labelled document: one-off multi-word proper names are speakers too
        accepted |= {n for n in counts if n in ("Bob Smith", "Dr. Chen", "María José")}
    expected = [(n, s.strip()) for n, s in turns if n in accepted]
    result = parse("t.txt", text)
    got = [(t.speaker, t.text.split("\n")[0]) for t in result.turns if t.speaker is not None]
    assert got == expected


# --- markdown -----------------------------------------------------------------------------------

MARKDOWN = """# Episode 12

---

**Ann Lee:** \\[04:01\\] Welcome \\[laughs\\] to the show \\[00:04:01.06\\] today.

Second paragraph with \\*stars\\* and snake\\_case [04:30] here.

**Bob:** Thanks, *really*.

**Break**: \\[22:26\\]

**Ann Lee:** Back again.

**Break**: \\[01:02:03.04\\]

**Bob:** Bye.
"""


def test_markdown_labels_escapes_and_timestamps() -> None:
    result = parse("episode.md", MARKDOWN)
    assert result.format == "md"
    assert pairs(result) == [
        ("Ann Lee", "Welcome [laughs] to the show today.\n"
                    "Second paragraph with *stars* and snake_case here."),
        ("Bob", "Thanks, *really*."),
        ("Ann Lee", "Back again."),
        ("Bob", "Bye."),
    ]
    assert result.turns[0].start == 241.0


def test_markdown_headings_and_rules_are_dropped_when_unlabelled() -> None:
    result = parse("notes.markdown", "# Title\n\nSome text.\n\n***\n\nMore text.")
    assert result.format == "md"
    assert pairs(result) == [(None, "Some text."), (None, "More text.")]


# --- WebVTT -------------------------------------------------------------------------------------

VTT = """WEBVTT - interview

NOTE this is a comment
spanning lines

STYLE
::cue { color: red }

1
00:00:01.000 --> 00:00:02.500 align:start
<v Ann Lee:>Hello <i>there</i>,

2
00:00:02.500 --> 00:00:04.000
<v Ann Lee>and welcome &amp; <c.loud>thanks</c>.

intro-3
00:00:04.000 --> 00:00:05.000
<v.loud Bob>Thank <00:00:04.500>you.

00:05.000 --> 00:06.000
Glad to be here.

00:00:06.000 --> 00:00:07.000
<v Ann Lee>Great.</v> <v Bob>Yes.</v>
"""


def test_vtt_voices_merging_and_markup() -> None:
    result = parse("talk.vtt", VTT)
    assert result.format == "vtt"
    assert result.labelled is True
    assert [(t.speaker, t.text, t.start, t.end) for t in result.turns] == [
        ("Ann Lee", "Hello there, and welcome & thanks.", 1.0, 4.0),
        ("Bob", "Thank you. Glad to be here.", 4.0, 6.0),
        ("Ann Lee", "Great.", 6.0, 7.0),
        ("Bob", "Yes.", 6.0, 7.0),
    ]


def test_vtt_without_voices_falls_back_to_name_labels() -> None:
    cues = ["Ann: Hi", "there.", "Bob: Yo", "Ann: Bye", "Bob: Ciao"]
    text = "WEBVTT\n\n" + "\n\n".join(f"00:0{i}.000 --> 00:0{i + 1}.000\n{cue}" for i, cue in enumerate(cues))
    expected = [("Ann", "Hi there."), ("Bob", "Yo"), ("Ann", "Bye"), ("Bob", "Ciao")]
    assert pairs(parse("t.vtt", text)) == expected


def test_vtt_without_any_speaker_is_unlabelled() -> None:
    result = parse("t.vtt", "WEBVTT\n\n00:01.000 --> 00:02.000\nJust words\n\n00:02.000 --> 00:03.000\nmore")
    assert result.labelled is False
    assert pairs(result) == [(None, "Just words more")]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("1\n00:00:01.000 --> 00:00:02.000\n<v A>hi", "missing WEBVTT header"),
        (
            "WEBVTT\n\n00:01.000 --> 00:02.000\nok\n\n2\n00:00:01.000 --> banana\nhi",
            "cue 2 (line 7) has a bad timing",
        ),
        ("WEBVTT\n\n1\nhello without timing", "cue 1 (line 3) has no timing line"),
        ("WEBVTT\n\nNOTE only a note\n", "no cues"),
    ],
)
def test_malformed_vtt(text: str, key: str) -> None:
    message = reason("bad.vtt", text.encode())
    assert message.startswith("malformed WebVTT")
    assert key in message


# --- SubRip -------------------------------------------------------------------------------------

SRT = """1
00:00:01,000 --> 00:00:02,000
<i>Ann:</i> Hello,

2
00:00:02,000 --> 00:00:03,000
how are you?

3
00:00:03,000 --> 00:00:04,000
[Bob] Fine.
[Music]

4
00:00:04,000 --> 00:00:05,000
- Ann: Good.
- Bob: Bye.
"""


def test_srt_speakers_and_merging() -> None:
    result = parse("t.srt", SRT)
    assert result.format == "srt"
    assert [(t.speaker, t.text, t.start, t.end) for t in result.turns] == [
        ("Ann", "Hello, how are you?", 1.0, 3.0),
        ("Bob", "Fine. [Music]", 3.0, 4.0),
        ("Ann", "Good.", 4.0, 5.0),
        ("Bob", "Bye.", 4.0, 5.0),
    ]


def test_malformed_srt_timing_names_the_block() -> None:
    message = reason("bad.srt", b"1\n00:00:01,000 --> 00:00:02,000\nhi\n\n7\n00:00:03 --> 00:00:04,000\nyo\n")
    assert "malformed SRT" in message
    assert "block 7" in message
    missing = reason("bad.srt", b"1\njust text\n")
    assert "block 1 has no timing line" in missing


# --- JSON ---------------------------------------------------------------------------------------


def test_json_list_keys_and_merging() -> None:
    data = [
        {"speaker": "Ann", "text": "Hello", "start": "1.5", "end": 2},
        {"speaker": "Ann", "text": "there.", "start": 2, "end": 3},
        {"name": "Bob", "content": "Hi <vocalsound> <disfmarker> yes.", "start_time": 3, "end_time": 4.25},
        {"speaker": "Ann", "utterance": "Bye.", "begin": "00:05"},
    ]
    result = parse("t.json", json.dumps(data))
    assert [(t.speaker, t.text, t.start, t.end) for t in result.turns] == [
        ("Ann", "Hello there.", 1.5, 3.0),
        ("Bob", "Hi [vocalsound] yes.", 3.0, 4.25),
        ("Ann", "Bye.", 5.0, None),
    ]


@pytest.mark.parametrize("key", ["turns", "utterances", "segments", "dialogue"])
def test_json_object_with_turn_list(key: str) -> None:
    result = parse("t.json", json.dumps({"meta": 1, key: [{"participant": "P1", "transcript": "Yes."}]}))
    assert pairs(result) == [("P1", "Yes.")]


def test_json_role_from_attributes_and_participant_as_speaker() -> None:
    data = [{"speaker": "B", "text": "Okay .", "attributes": {"role": "PM", "participant": "FEE005"}}]
    turn = parse("t.json", json.dumps(data)).turns[0]
    assert (turn.speaker, turn.role) == ("FEE005", "PM")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[{"text": "a"},\n {"text": }]', "malformed JSON at line 2 column"),
        ('{"foo": [1, 2]}', "no list of turns"),
        ('[{"text": "a"}, {"speaker": "B"}]', "index 1 has no text"),
        ('[{"text": "a"}, "just a string"]', "index 1 is not a JSON object"),
        ('[{"text": "a", "start": "soon"}]', "index 0: start time"),
    ],
)
def test_malformed_json(text: str, key: str) -> None:
    assert key in reason("bad.json", text.encode())


def test_json_with_no_text_is_refused() -> None:
    assert "no transcript text" in reason("empty.json", b"[]")


# --- Word ---------------------------------------------------------------------------------------


def _docx_bytes(
    paragraphs: list[list[tuple[str, bool]]], table: list[tuple[str, str]] | None = None
) -> bytes:
    import docx

    document = docx.Document()
    for runs in paragraphs:
        paragraph = document.add_paragraph()
        for text, bold in runs:
            paragraph.add_run(text).bold = bold
    if table:
        grid = document.add_table(rows=0, cols=2)
        for left, right in table:
            cells = grid.add_row().cells
            cells[0].text, cells[1].text = left, right
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_with_bold_labels_and_continuation() -> None:
    data = _docx_bytes(
        [
            [("Interview 4", False)],
            [("Maria:", True), (" Olá, tudo bem?", False)],
            [("João:", True), (" Sim.", False)],
            [("E você?", False)],
            [("Maria:", True), (" Também.", False)],
            [("João:", True), (" Tchau.", False)],
        ]
    )
    result = parse_bytes("interview.DOCX", data)
    assert (result.format, result.encoding, result.labelled) == ("docx", "docx", True)
    assert pairs(result) == [
        (None, "Interview 4"),
        ("Maria", "Olá, tudo bem?"),
        ("João", "Sim.\nE você?"),
        ("Maria", "Também."),
        ("João", "Tchau."),
    ]


def test_docx_speaker_text_table() -> None:
    data = _docx_bytes([], table=[("Speaker", "Text"), ("Ann", "Hi."), ("Bob", "Yo."), ("Ann", "Bye.")])
    assert pairs(parse_bytes("t.docx", data)) == [("Ann", "Hi."), ("Bob", "Yo."), ("Ann", "Bye.")]


def test_docx_time_speaker_text_table_with_single_occurrence_speakers() -> None:
    import docx

    document = docx.Document()
    grid = document.add_table(rows=0, cols=3)
    rows = [("Time", "Speaker", "Text"), ("00:00:05", "Ann", "Hi.\nSecond line."), ("00:01:10", "Bob", "Yo.")]
    for row in rows:
        cells = grid.add_row().cells
        for cell, value in zip(cells, row):
            cell.text = value
    buffer = io.BytesIO()
    document.save(buffer)
    result = parse_bytes("t.docx", buffer.getvalue())
    assert [(t.speaker, t.text, t.start) for t in result.turns] == [
        ("Ann", "Hi.\nSecond line.", 5.0),
        ("Bob", "Yo.", 70.0),
    ]


def test_corrupt_docx_is_refused() -> None:
    assert "not a valid .docx" in reason("broken.docx", bytes(range(256)) * 4)


def test_zip_that_is_not_a_docx_is_refused() -> None:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert "not a valid .docx" in reason("fake.docx", buffer.getvalue())


def test_docx_without_text_is_refused() -> None:
    assert "no transcript text found" in reason("blank.docx", _docx_bytes([[("   ", False)], []]))


# --- dispatch and generic bad input -------------------------------------------------------------


def test_supported_extensions_and_exports() -> None:
    assert SUPPORTED == {".txt", ".md", ".markdown", ".vtt", ".srt", ".docx", ".json"}
    assert RawTurn.__name__ == "RawTurn"
    assert parse("NOTES.TXT", "Hello.").format == "txt"


def test_unknown_extension_is_refused_with_supported_list() -> None:
    message = reason("paper.pdf", b"%PDF-1.4")
    assert message.startswith("unsupported file type '.pdf'")
    assert ".txt" in message and ".docx" in message and ".json" in message
    assert "'(none)'" in reason("README", b"hello")


@pytest.mark.parametrize("name", ["a.txt", "a.md", "a.vtt", "a.srt", "a.json", "a.docx"])
def test_empty_files_are_refused(name: str) -> None:
    assert "empty" in reason(name, b"")
    assert "empty" in reason(name, b" \n\n ")


def test_binary_file_with_text_extension_is_refused() -> None:
    assert "binary" in reason("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")


def test_text_with_only_markup_has_no_transcript_text() -> None:
    assert "no transcript text found" in reason("t.md", b"# Title\n\n---\n")


def test_cp1252_warning_reaches_the_result() -> None:
    result = parse_bytes("old.txt", "Interviewer: Café?\nRespondent: Sí".encode("cp1252"))
    assert result.encoding == "cp1252"
    assert result.warnings and "cp1252" in result.warnings[0]
    assert result.turns[1].text == "Sí"


# --- the real shared transcripts ---------------------------------------------------------------


def _assert_clean(result: ParsedTranscript) -> None:
    for turn in result.turns:
        assert turn.text == turn.text.strip() and turn.text
        for markup in ("**", "\\[", "<v ", "-->", "<disfmarker>"):
            assert markup not in turn.text


@needs_shared
def test_founders_talk() -> None:
    result = shared("changelog/founders-talk-96.md")
    _assert_clean(result)
    speakers = Counter(turn.speaker for turn in result.turns)
    assert set(speakers) == {"Adam Stacoviak", "Michael Grinich"}
    assert speakers == {"Adam Stacoviak": 104, "Michael Grinich": 103}
    assert len(result.turns) == 207  # labelled turns; 298 if the 91 follow-on paragraphs were split off
    assert sum(turn.text.count("\n") for turn in result.turns) == 91
    assert result.turns[6].start == 11 * 60 + 53  # "**Adam Stacoviak:** \[11:53\] Yeah. So Nylas"
    assert any("[laughs]" in turn.text for turn in result.turns)


@needs_shared
def test_changelog_653() -> None:
    result = shared("changelog/the-changelog-653.md")
    _assert_clean(result)
    speakers = Counter(turn.speaker for turn in result.turns)
    assert len(speakers) == 9
    assert {"Nora Jones", "Nabil", "Adam Stacoviak", "Jerod Santo", "Kendall"} <= set(speakers)
    assert len(result.turns) == 247
    first_nora = next(turn for turn in result.turns if turn.speaker == "Nora Jones")
    assert first_nora.text.startswith("Thank you.")


def _voice_runs(path: Path) -> int:
    voices = re.findall(r"<v ([^>]*?):?>", path.read_text(encoding="utf-8"))
    return len([name for name, _ in groupby(voices)])


@needs_shared
@pytest.mark.parametrize(
    ("name", "speakers", "turns"),
    [
        ("cat-allman.vtt", {"Elisabetta Mori", "Cat Allman"}, 27),
        ("larry-augustin.vtt", {"Elisabetta Mori", "Larry Augustin"}, 59),
    ],
)
def test_fossda_vtt(name: str, speakers: set[str], turns: int) -> None:
    result = shared(f"fossda/{name}")
    _assert_clean(result)
    assert {turn.speaker for turn in result.turns} == speakers
    assert len(result.turns) == turns == _voice_runs(SHARED / "fossda" / name)
    assert all(a.speaker != b.speaker for a, b in zip(result.turns, result.turns[1:]))
    assert all(t.start is not None and t.end is not None and t.start < t.end for t in result.turns)


@needs_shared
def test_dialogstudio_ami() -> None:
    path = SHARED / "dialogstudio-ami" / "original_examples.json"
    acts = json.loads(path.read_text(encoding="utf-8"))
    result = shared("dialogstudio-ami/original_examples.json")
    _assert_clean(result)
    assert {turn.speaker for turn in result.turns} == {"FEE005", "MEE006", "MEE007", "MEE008"}
    assert {turn.role for turn in result.turns} == {"PM", "ME", "ID", "UI"}
    runs = len(list(groupby(act["attributes"]["participant"] for act in acts)))
    assert len(result.turns) == runs == 955 < len(acts) == 1362
    assert any("[vocalsound]" in turn.text for turn in result.turns)
    assert not any("<" in turn.text for turn in result.turns)
    assert result.turns[0].start == 2.41


@needs_shared
def test_raise_exp_p3_role_labels() -> None:
    result = shared("raise/Exp_P3.txt")
    _assert_clean(result)
    assert Counter(turn.speaker for turn in result.turns) == {"Interviewer": 14, "Respondent": 14}
    assert [turn.speaker for turn in result.turns] == ["Interviewer", "Respondent"] * 14
    assert result.turns[0].label == "Pergunta 1"
    assert any("ã" in turn.text for turn in result.turns)


@needs_shared
def test_raise_exp_p1_numbered_questions_then_unlabelled_answers() -> None:
    result = shared("raise/Exp_P1.txt")
    _assert_clean(result)
    speakers = Counter(turn.speaker for turn in result.turns)
    assert set(speakers) == {"Interviewer", "Respondent"}
    assert speakers["Interviewer"] == 14
    first, second = result.turns[:2]
    assert first.text == "Quantos pull requests do GitHub estão coletados e disponíveis na ferramenta?"
    assert second.speaker == "Respondent" and second.text.startswith("Depende do repositório")
    assert any("ç" in t.text or "ã" in t.text for t in result.turns if t.speaker == "Respondent")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("long.txt", "Ann" + " " * 50_000 + ": x"),
        ("long.md", "**" + "a " * 20_000 + "x"),
        ("long.md", " " * 50_000 + "[01:00] x"),
        ("long.vtt", "WEBVTT\n\n00:01.000 --> 00:02.000\n<v" + " " * 50_000 + "x"),
        ("long.vtt", "WEBVTT\n\n00:01.000 --> 00:02.000\n" + "<" * 50_000 + "x"),
        ("long.json", '[{"text": "' + " " * 50_000 + "<disfmarker>" + " " * 50_000 + 'x"}]'),
    ],
)
def test_pathological_lines_parse_quickly(name: str, text: str) -> None:
    started = time.perf_counter()
    result = parse(name, text)
    assert result.turns[-1].text.endswith("x")
    assert time.perf_counter() - started < 1.0


_FUZZ_TEXT = st.text(alphabet=st.sampled_from(list("ab :-[]<>*\\\n{}\"0123456789.,WEBVT>v")), max_size=120)


@settings(max_examples=150, deadline=None)
@given(
    suffix=st.sampled_from(sorted(SUPPORTED)),
    data=st.one_of(st.binary(max_size=64), _FUZZ_TEXT.map(str.encode)),
)
def test_any_input_parses_or_raises_input_error(suffix: str, data: bytes) -> None:
    try:
        result = parse_bytes(f"fuzz{suffix}", data)
    except InputError as error:
        assert error.reason and "\n" not in error.reason
    else:
        assert result.turns and all(turn.text == turn.text.strip() != "" for turn in result.turns)


def test_one_off_named_speakers_count_in_a_labelled_document():
    text = (
        "Interviewer: How did it go?\n\nPriya Natarajan: Tense.\n\nInterviewer: And ops?\n\n"
        "**Tom:** Fine.\n\nInterviewer: Anything else?\n\nHonestly: no.\n\nNote: recorder paused.\n"
    )
    parsed = parse_bytes("x.md", text.encode())
    speakers = [t.speaker for t in parsed.turns]
    assert speakers == ["Interviewer", "Priya Natarajan", "Interviewer", "Tom", "Interviewer"]
    assert parsed.turns[-1].text == "Anything else?\nHonestly: no.\nNote: recorder paused."


def test_one_off_name_in_unlabelled_prose_is_text():
    parsed = parse_bytes("x.txt", b"We met the supplier.\n\nTom Berg: he said it was fine.\n\nThen we left.\n")
    assert not parsed.labelled and len(parsed.turns) == 3
