"""Property-based fuzzing of every ingest parser (issue 12): txt/md labels, VTT, SRT, JSON turns and
docx XML. Arbitrary bytes and near-valid structured inputs give either a transcript whose offsets
hold (every turn and segment ``text == normalized[start:end]``, ordered, in range) or an
``InputError``; never another exception. Inputs that once failed are kept in
``tests/fuzz_corpus/ingest/`` and replayed."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coder_assist.errors import InputError
from coder_assist.ingest.formats import SUPPORTED, parse_bytes
from coder_assist.ingest.formats.jsonturns import END_KEYS, LIST_KEYS, SPEAKER_KEYS, START_KEYS, TEXT_KEYS
from coder_assist.ingest.segment import segment_turns
from coder_assist.ingest.transcript import render
from coder_assist.store.tokens import default_counter

CORPUS = Path(__file__).parent / "fuzz_corpus" / "ingest"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(name: str, data: bytes) -> None:
    """The property: an ``InputError`` on one line, or turns and segments whose offsets hold."""
    try:
        parsed = parse_bytes(name, data)
    except InputError as error:
        assert error.reason and "\n" not in str(error)
        return
    text, spans = render(parsed)
    assert spans, "a parsed transcript has at least one turn"
    assert not _FORBIDDEN.search(text), "control characters and surrogates never reach the stored text"
    text.encode("utf-8")
    end = 0
    for span in spans:
        assert end <= span.start < span.end <= len(text)
        assert text[span.start : span.end] == text[span.start : span.end].strip() != ""
        end = span.end
    segments = segment_turns(text, spans, "sha", max_tokens=24, counter=default_counter())
    end = 0
    for segment in segments:
        turn = spans[segment.turn_idx]
        assert segment.text == text[segment.start : segment.end]
        assert turn.start <= segment.start < segment.end <= turn.end and segment.start >= end
        end = segment.end


# --- strategies ------------------------------------------------------------------------------------

_NASTY = st.sampled_from(["\x00", "\x07", "\x1b[31m", "\x0c", "\x85", "\u2028", "\ufeff", "\u0301", "é", "\t", "\r",
                          "\r\n", "**", "__", "\\[", "[", "]", "<", ">", ":", "：", "-->", "&amp;", "&#0;", "<v Ann>",
                          "{\\an8}", "\"", "\\", "\\u0000", "\\ud800"])  # fmt: skip
_WORDS = st.sampled_from(["Ann", "Bob", "Interviewer", "INTERVIEWER", "Q", "A", "P1", "Speaker 2", "the", "price",
                          "was", "fair", "yes", "WEBVTT", "NOTE", "00:01", "[00:00:05]", "(01:02)", "1", "é"])  # fmt: skip
_CHUNK = st.one_of(_WORDS, _NASTY, st.text(max_size=6))
_LINE = st.lists(_CHUNK, max_size=8).map(" ".join)
_LABELLED = st.tuples(st.sampled_from(["", "**", "[00:00:01] ", "- "]), _WORDS, st.sampled_from([":", ":**", "**:", " :", ""]),
                      _LINE).map(lambda t: f"{t[0]}{t[1]}{t[2]} {t[3]}")  # fmt: skip
_TEXT_LINES = st.lists(st.one_of(_LABELLED, _LINE, st.just("")), min_size=1, max_size=14).map("\n".join)
_TIME = st.one_of(
    st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99), st.integers(0, 9999)).map(
        lambda t: f"{t[0]:02d}:{t[1]:02d}:{t[2]:02d}.{t[3]:03d}"
    ),
    st.sampled_from(["00:01.000", "1:02:03,5", "99999999999999999999:00:00.000", "00:00", "x"]),
)
_CUE = st.tuples(st.sampled_from(["", "7\n", "id\n"]), _TIME, st.sampled_from([" --> ", "-->", " --> "]), _TIME,
                 st.lists(st.one_of(_LABELLED, _LINE), min_size=0, max_size=3))  # fmt: skip
_VTT = st.tuples(st.sampled_from(["WEBVTT", "WEBVTT - x", "\ufeffWEBVTT", "webvtt", "WEBVTT\nNOTE x"]),
                 st.lists(_CUE, max_size=6)).map(
    lambda t: t[0] + "\n\n" + "\n\n".join(f"{c[0]}{c[1]}{c[2]}{c[3]}\n" + "\n".join(c[4]) for c in t[1])
)  # fmt: skip
_SRT = st.lists(st.tuples(st.integers(-2, 30), _TIME, _TIME, st.lists(st.one_of(_LABELLED, _LINE), max_size=3)),
                min_size=1, max_size=6).map(
    lambda blocks: "\n\n".join(f"{n}\n{a} --> {b}\n" + "\n".join(lines) for n, a, b, lines in blocks)
)  # fmt: skip

_JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                         st.text(st.characters(whitelist_categories=("Cs", "Cc")), max_size=3),
                         _TIME, st.sampled_from(["NaN", "inf", "", "  "]))  # fmt: skip
_JSON_VALUE = st.recursive(_JSON_SCALAR, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)  # fmt: skip
_KEYS = st.sampled_from([*SPEAKER_KEYS, *TEXT_KEYS, *START_KEYS, *END_KEYS, "attributes", "x"])
_ITEM = st.one_of(
    st.dictionaries(_KEYS, st.one_of(_JSON_VALUE, _LINE), max_size=5),
    st.fixed_dictionaries({"speaker": st.one_of(_WORDS, _JSON_VALUE), "text": st.one_of(_LINE, _JSON_VALUE)},
                          optional={"start": _JSON_SCALAR, "end": _JSON_SCALAR,
                                    "attributes": st.dictionaries(st.sampled_from(["role", "participant"]),
                                                                  _JSON_VALUE, max_size=2)}),
    _JSON_VALUE,
)  # fmt: skip
_JSON_DOC = st.one_of(
    st.one_of(
        st.lists(_ITEM, max_size=6),
        st.builds(lambda key, items: {key: items}, st.sampled_from(LIST_KEYS), st.lists(_ITEM, max_size=6)),
        _JSON_VALUE,
    ).map(lambda doc: json.dumps(doc, allow_nan=True)),
    st.tuples(st.integers(0, 3_000), st.sampled_from(["[", '{"a":', '[{"text":'])).map(
        lambda t: t[1] * t[0] + "1" + "}]"[t[1] == "["] * t[0]
    ),
    st.integers(0, 6_000).map(lambda n: '[{"text": "a", "start": ' + "9" * n + "}]"),
)


@st.composite
def _mutated(draw: st.DrawFn, source: st.SearchStrategy[str]) -> bytes:
    """A near-valid input: generated text, sometimes cut, spliced with junk, or in another encoding."""
    text = draw(source)
    if draw(st.booleans()) and text:
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["", "\x00", "[[[[", "\\", '"', "\ud800", "}"])) + text[cut:]
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    return text.encode(encoding, "surrogatepass" if encoding.startswith("utf") else "replace")


# --- docx -----------------------------------------------------------------------------------------

_TEMPLATE: list[bytes] = []


def docx_with_body(body: bytes) -> bytes:
    """A .docx made from python-docx's own template, with ``body`` as ``word/document.xml``."""
    if not _TEMPLATE:
        import docx

        buffer = io.BytesIO()
        docx.Document().save(buffer)
        _TEMPLATE.append(buffer.getvalue())
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_TEMPLATE[0])) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, body if info.filename == "word/document.xml" else src.read(info))
    return out.getvalue()


def _xml_text(text: str) -> str:
    return escape(re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]", "", text))


_RUN = st.one_of(
    _LINE.map(lambda t: f"<w:r><w:t xml:space=\"preserve\">{_xml_text(t)}</w:t></w:r>"),
    st.sampled_from(["<w:r><w:tab/></w:r>", "<w:r><w:br/></w:r>", "<w:r><w:b/><w:t>Ann:</w:t></w:r>", "<w:r/>"]),
)
_PARAGRAPH = st.lists(_RUN, max_size=4).map(lambda runs: "<w:p>" + "".join(runs) + "</w:p>")
_CELL = _PARAGRAPH.map(lambda p: f"<w:tc>{p}</w:tc>")
_TABLE = st.lists(st.lists(_CELL, min_size=1, max_size=3).map(lambda cells: "<w:tr>" + "".join(cells) + "</w:tr>"),
                  min_size=1, max_size=4).map(lambda rows: "<w:tbl>" + "".join(rows) + "</w:tbl>")  # fmt: skip
_BODY = st.lists(st.one_of(_PARAGRAPH, _LABELLED.map(lambda t: f"<w:p><w:r><w:t>{_xml_text(t)}</w:t></w:r></w:p>"),
                           _TABLE), max_size=8).map("".join)  # fmt: skip


def _document(body: str) -> bytes:
    return f'<w:document xmlns:w="{W_NS}"><w:body>{body}</w:body></w:document>'.encode()


# --- properties ---------------------------------------------------------------------------------------


@FUZZ
@given(suffix=st.sampled_from(sorted(SUPPORTED)), data=st.binary(max_size=300))
def test_arbitrary_bytes(suffix: str, data: bytes) -> None:
    check(f"fuzz{suffix}", data)


@FUZZ
@given(suffix=st.sampled_from([".txt", ".md"]), data=_mutated(_TEXT_LINES))
def test_plain_and_markdown_labels(suffix: str, data: bytes) -> None:
    check(f"fuzz{suffix}", data)


@FUZZ
@given(data=_mutated(_VTT))
def test_vtt(data: bytes) -> None:
    check("fuzz.vtt", data)


@FUZZ
@given(data=_mutated(_SRT))
def test_srt(data: bytes) -> None:
    check("fuzz.srt", data)


@FUZZ
@given(data=_mutated(_JSON_DOC))
def test_json_turns(data: bytes) -> None:
    check("fuzz.json", data)


@FUZZ
@given(body=_BODY)
def test_docx_paragraph_xml(body: str) -> None:
    check("fuzz.docx", docx_with_body(_document(body)))


@settings(max_examples=25, deadline=None)
@given(body=st.one_of(st.binary(max_size=200), _BODY.map(lambda b: _document(b)[: len(_document(b)) // 2])))
def test_docx_broken_xml(body: bytes) -> None:
    check("fuzz.docx", docx_with_body(body))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_docx_damaged_zip(data: st.DataObject) -> None:
    valid = bytearray(docx_with_body(_document("<w:p><w:r><w:t>Ann: yes</w:t></w:r></w:p>")))
    at = data.draw(st.integers(0, len(valid) - 1))
    valid[at : at + 8] = data.draw(st.binary(min_size=1, max_size=8))
    check("fuzz.docx", bytes(valid))


def _corpus() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.name != "README.md")


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_corpus_case_replays(path: Path) -> None:
    check(path.name, path.read_bytes())


def test_every_corpus_case_is_described() -> None:
    described = (CORPUS / "README.md").read_text(encoding="utf-8")
    assert [p.name for p in _corpus() if f"`{p.name}`" not in described] == []
