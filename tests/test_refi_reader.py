"""The REFI-QDA reader: real exports, offset units, hostile archives and XML, and a property test."""

from __future__ import annotations

import io
import os
import resource
import struct
import tempfile
import time
import unicodedata
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coder_assist.errors import InputError
from coder_assist.exchange import archive, offsets, reader
from coder_assist.exchange.model import RefiProject, walk_codes

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CODER_ASSIST_SHARED", ROOT.parent / "shared"))
SAMPLES = SHARED / "refi" / "samples"
CORPUS = Path(__file__).resolve().parent / "refi_corpus"

NS = "urn:QDA-XML:project:1.0"
CODE_A = "AAAAAAAA-0000-4000-8000-000000000001"
CODE_B = "AAAAAAAA-0000-4000-8000-000000000002"
USER = "BBBBBBBB-0000-4000-8000-000000000001"
SOURCE = "CCCCCCCC-0000-4000-8000-000000000001"


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI=true but the REFI samples are missing: {SAMPLES}")
        pytest.skip(f"REFI samples not found at {SAMPLES}")
    return SAMPLES


def zip_bytes(entries: dict[str, bytes | str], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buf.getvalue()


def write_qdpx(
    path: Path, qde: str | bytes, files: dict[str, bytes | str] | None = None, qde_name: str = "project.qde"
) -> Path:
    path.write_bytes(zip_bytes({qde_name: qde, **(files or {})}))
    return path


def project_xml(sources: str = "", origin: str = "TestTool 1.0", extra: str = "", ns: str = NS) -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<Project xmlns="{ns}" name="p" origin="{origin}">'
        f'<Users><User guid="{USER}" name="ann"/></Users>'
        f'<CodeBook><Codes><Code guid="{CODE_A}" name="alpha" isCodable="true">'
        f'<Code guid="{CODE_B}" name="beta" isCodable="true"/></Code></Codes></CodeBook>'
        f"<Sources>{sources}</Sources>{extra}</Project>"
    )


def selection(guid_n: int, start: int, end: int, code: str = CODE_A) -> str:
    return (
        f'<PlainTextSelection guid="DDDDDDDD-0000-4000-8000-{guid_n:012d}" startPosition="{start}" '
        f'endPosition="{end}" creatingUser="{USER}"><Coding guid="EEEEEEEE-0000-4000-8000-{guid_n:012d}" '
        f'creatingUser="{USER}"><CodeRef targetGUID="{code}"/></Coding></PlainTextSelection>'
    )


def text_source(body: str, path: str = f"internal://{SOURCE}.txt", name: str = "doc") -> str:
    return f'<TextSource guid="{SOURCE}" name="{name}" plainTextPath="{path}">{body}</TextSource>'


def check_error(exc: pytest.ExceptionInfo[InputError], path: Path | str, *fragments: str) -> str:
    message = str(exc.value)
    assert type(exc.value) is InputError
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def check_invariants(project: RefiProject) -> None:
    for source in project.sources:
        assert "\r" not in source.text and not source.text.startswith("\ufeff")
        for sel in source.selections:
            assert 0 <= sel.start < sel.end <= len(source.text)


def patch_zip(data: bytes, name: bytes, *, central: dict[int, bytes], local: dict[int, bytes]) -> bytes:
    """Overwrite fields of the local header and central directory record of entry ``name``."""
    out = bytearray(data)
    lh = out.find(b"PK\x03\x04" + b"")
    while lh != -1 and out[lh + 30 : lh + 30 + len(name)] != name:
        lh = out.find(b"PK\x03\x04", lh + 1)
    cd = out.find(b"PK\x01\x02")
    while cd != -1 and out[cd + 46 : cd + 46 + len(name)] != name:
        cd = out.find(b"PK\x01\x02", cd + 1)
    assert lh != -1 and cd != -1
    for offset, value in local.items():
        out[lh + offset : lh + offset + len(value)] = value
    for offset, value in central.items():
        out[cd + offset : cd + offset + len(value)] = value
    return bytes(out)


# --- the real samples -----------------------------------------------------------------------------


def test_atlas_sample(samples: Path) -> None:
    p = reader.read_qdpx(samples / "atlasti-win-23.2_ponte_target-atlas-project.qdpx")
    assert p.origin.startswith("ATLAS.ti") and p.name == "target-atlas-project"
    assert len(p.users) == 2 and {u.name for u in p.users} == {"Enric Llagostera", "ATLAS.ti"}
    assert len(p.codes) == 1 and p.codes[0].name == "Commits" and len(p.codes[0].children) == 2
    assert len(list(walk_codes(p.codes))) == 3
    assert p.sources == [] and p.warnings == []
    assert p.creating_user_guid == "088B08AC-D5CD-4ADB-8B71-B4F3459C177F"  # kept as written (upper case)


def test_nvivo_mac_sample(samples: Path) -> None:
    p = reader.read_qdpx(samples / "nvivo-mac-15.0_qualitative-coding_nvivo_project.qdpx")
    codes = list(walk_codes(p.codes))
    assert len(codes) == 262
    assert max(_depth(c, codes) for c, _ in codes) >= 5
    programming = [(c, parent) for c, parent in codes if c.name == "programming"]
    assert len(programming) == 2
    assert programming[0][1].guid != programming[1][1].guid
    assert programming[0][0].guid != programming[1][0].guid
    assert len(p.sources) == 2
    for s in p.sources:
        assert s.text in ("\n", "") and s.selections == []
    assert p.users[0].id == "CP"


def _depth(code, codes) -> int:
    parents = {id(c): parent for c, parent in codes}
    depth, node = 1, parents[id(code)]
    while node is not None:
        depth, node = depth + 1, parents[id(node)]
    return depth


def test_qc_sample_line_selections(samples: Path) -> None:
    p = reader.read_qdpx(samples / "qc-1.3.2_qualitative-coding_demo.qdpx")
    assert len(list(walk_codes(p.codes))) == 262
    assert [s.name for s in p.sources] == ["board_2017", "admin-1"]  # no name attribute: from the path
    board = p.sources[0]
    assert board.path == "board_2017.txt" and len(board.text) == 52543 and board.offset_unit == "codepoint"
    sels = [s for src in p.sources for s in src.selections]
    assert len(sels) == 158
    assert sum(len(s.codings) for s in sels) == 205
    lines = board.text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    for sel in board.selections:
        n = int(sel.name.removeprefix("line:"))
        # line:N is 0-based and the selection includes the line's trailing newline
        assert (sel.start, sel.end) == (starts[n], starts[n + 1]), sel.name
        assert board.text[sel.start : sel.end] == lines[n]
    known = {c.guid for c, _ in walk_codes(p.codes)}
    assert all(c.code_guid in known for s in sels for c in s.codings)
    assert all(c.user_guid == p.users[0].guid for s in sels for c in s.codings)
    assert p.warnings == []


# --- offsets --------------------------------------------------------------------------------------

LINES = [
    "Interviewer: How was the 🎉 party last night?",
    "Alice: It was 😀 great, really great 👍🏽 and loud.",
    "Bob: I loved the music 🎶 and the food 🍕🍕 too.",
    "Alice: Same 🙂 here, the dancing was wild 💃 honestly.",
    "Interviewer: Anything you 🤔 disliked about it?",
    "Bob: Only the 🚗 parking situation 😤 outside.",
]
TARGETS = [
    (0, "party last night"),
    (1, "really great"),
    (1, "loud"),
    (2, "loved the music"),
    (2, "food"),
    (3, "dancing was wild"),
    (3, "honestly"),
    (4, "disliked"),
    (5, "parking situation"),
    (5, "outside"),
]


def raw_text(crlf: bool = True) -> str:
    return ("\r\n" if crlf else "\n").join(LINES) + ("\r\n" if crlf else "\n")


def target_spans(raw: str) -> list[tuple[int, int, str]]:
    """Code-point spans (in ``raw``) of every target phrase."""
    out, line_starts, pos = [], [], 0
    for line in raw.splitlines(keepends=True):
        line_starts.append(pos)
        pos += len(line)
    for line_no, phrase in TARGETS:
        i = line_starts[line_no] + raw[line_starts[line_no] :].index(phrase)
        out.append((i, i + len(phrase), phrase))
    return out


def count_units(prefix: str, unit: str) -> int:
    """An independent count of ``prefix`` in one reading (for writing test files)."""
    if not unit.endswith("-crlf"):
        prefix = prefix.replace("\r\n", "\n")
    if unit.startswith("utf16"):
        return len(prefix.encode("utf-16-le")) // 2
    return len(prefix)


def synthetic(tmp_path: Path, unit: str, origin: str, *, bom: bool = True, crlf: bool = True) -> Path:
    raw = raw_text(crlf)
    sels = "".join(
        selection(i, count_units(raw[:s], unit), count_units(raw[:e], unit))
        for i, (s, e, _) in enumerate(target_spans(raw))
    )
    data = (b"\xef\xbb\xbf" if bom else b"") + raw.encode("utf-8")
    path = tmp_path / f"{unit}.qdpx"
    return write_qdpx(path, project_xml(text_source(sels), origin), {f"Sources/{SOURCE}.txt": data})


def assert_targets(p: RefiProject) -> None:
    (source,) = p.sources
    assert source.text == raw_text(False)
    got = [source.text[s.start : s.end] for s in source.selections]
    assert got == [phrase for _, phrase in TARGETS]
    check_invariants(p)


def test_nvivo_windows_utf16_crlf(tmp_path: Path) -> None:
    p = reader.read_qdpx(synthetic(tmp_path, "utf16-crlf", "NVivo 12 (Windows)"))
    assert_targets(p)
    assert p.sources[0].offset_unit == "utf16-crlf"
    [line] = [w for w in p.warnings if "positions read as" in w]
    assert "UTF-16 code units with CRLF counted as 2" in line and f"{len(TARGETS)}/{len(TARGETS)}" in line


def test_atlas_codepoints_lf_counting(tmp_path: Path) -> None:
    p = reader.read_qdpx(synthetic(tmp_path, "codepoint", "ATLAS.ti 23"))
    assert_targets(p)
    assert p.sources[0].offset_unit == "codepoint"
    assert not [w for w in p.warnings if "positions read as" in w]


def test_spec_codepoints_crlf_counted(tmp_path: Path) -> None:
    p = reader.read_qdpx(synthetic(tmp_path, "codepoint-crlf", "SpecTool"))
    assert_targets(p)
    assert p.sources[0].offset_unit == "codepoint-crlf"


@pytest.mark.parametrize("unit", offsets.UNITS)
def test_heuristic_decides_without_origin(tmp_path: Path, unit: str) -> None:
    p = reader.read_qdpx(synthetic(tmp_path, unit, "Unknown Tool 0.1"))
    assert_targets(p)
    assert p.sources[0].offset_unit == unit


def test_heuristic_beats_a_misleading_origin(tmp_path: Path) -> None:
    # The origin says NVivo (UTF-16 units) but the positions are code points: the text decides.
    p = reader.read_qdpx(synthetic(tmp_path, "codepoint", "NVivo 14 (Windows)"))
    assert_targets(p)
    assert p.sources[0].offset_unit == "codepoint"


def test_decomposed_text_is_stored_nfc_with_selections_on_the_same_words(tmp_path: Path) -> None:
    # NVivo and others on macOS can write NFD: "é" as "e" + U+0301. The project stores NFC (as
    # ingest does), so quotes and searches match; every selection keeps its words.
    text = "Jose\u0301 said: the re\u0301sume\u0301 of the cafe\u0301 supplier was ignored.\n"
    words = ["Jose\u0301", "re\u0301sume\u0301", "supplier was ignored", "e\u0301"]
    sels = []
    for n, w in enumerate(words):
        i = text.index(w) if w != "e\u0301" else text.index("cafe\u0301") + 3
        sels.append(selection(n + 1, i, i + len(w)))
    path = write_qdpx(tmp_path / "nfd.qdpx", project_xml(text_source("".join(sels))), {f"sources/{SOURCE}.txt": text})
    [source] = reader.read_qdpx(path).sources
    assert source.text == unicodedata.normalize("NFC", text)
    got = [source.text[s.start : s.end] for s in source.selections]
    assert got == ["Jos\u00e9", "r\u00e9sum\u00e9", "supplier was ignored", "\u00e9"]
    # A position between a letter and its accent snaps outward, to the whole character.
    assert offsets.NfcMap(text).span(text.index("Jose") + 4, text.index("Jose") + 5) == (3, 4)
    assert offsets.NfcMap("plain").span(1, 3) == (1, 3)


def test_units_collapse_without_crlf_or_astral(tmp_path: Path) -> None:
    p = reader.read_qdpx(synthetic(tmp_path, "utf16", "NVivo 12 (Windows)", crlf=False, bom=False))
    assert_targets(p)
    assert p.sources[0].offset_unit == "utf16"  # no CRLF: the -crlf name is not reported
    unit, info = offsets.detect_unit("plain ascii\r\ntext", [(0, 5)], "NVivo")
    assert unit == "codepoint-crlf" and set(info["scores"]) == {"codepoint", "codepoint-crlf"}
    assert offsets.detect_unit("plain ascii\ntext", [(0, 5)], "NVivo")[0] == "codepoint"


def test_tie_broken_by_origin_then_spec() -> None:
    raw = "Hello world 😀\r\nbye\r\n"
    spans = [(0, 5), (6, 11)]  # before any CRLF or emoji: every reading agrees
    assert offsets.detect_unit(raw, spans, "NVivo 12")[0] == "utf16-crlf"
    assert offsets.detect_unit(raw, spans, "QualCoder 3.5")[0] == "utf16-crlf"
    assert offsets.detect_unit(raw, spans, "ATLAS.ti 9")[0] == "codepoint"
    unit, info = offsets.detect_unit(raw, spans, None)
    assert unit == "codepoint-crlf" and info["decided_by"] == "spec"


def test_positions_inside_pairs_snap_outward() -> None:
    raw = "a😀b\r\nc"
    pm = offsets.converter(raw, "utf16-crlf")  # units: a=0, 😀=1-2, b=3, CR=4, LF=5, c=6
    assert pm.total == 7
    assert pm.span(2, 3) == (1, 2)  # starts inside the pair: snaps back to the emoji
    assert pm.span(0, 2) == (0, 2)  # ends inside the pair: snaps forward past it
    assert pm.span(5, 7) == (3, 5)  # starts between CR and LF: the line end is included
    assert pm.span(3, 5) == (2, 4)
    assert pm.span(0, 8) is None and pm.span(-1, 2) is None and pm.span(3, 3) is None
    assert offsets.converter(raw, "codepoint").span(0, 5) == (0, 5)  # "a😀b\nc" has 5 code points
    assert offsets.converter(raw, "codepoint").span(0, 6) is None


def test_bad_selections_dropped_with_warnings(tmp_path: Path) -> None:
    raw = "one two three\nfour\n"
    sels = selection(1, 0, 3) + selection(2, 4, 4) + selection(3, 8, 4) + selection(4, 4, 999)
    sels += selection(5, 8, 13, code="FFFFFFFF-0000-4000-8000-000000000009")
    path = write_qdpx(tmp_path / "p.qdpx", project_xml(text_source(sels)), {f"sources/{SOURCE}.txt": raw})
    p = reader.read_qdpx(path)
    (source,) = p.sources
    assert [(s.start, s.end) for s in source.selections] == [(0, 3), (8, 13)]
    assert source.selections[1].codings == []  # unknown CodeRef target
    text = "\n".join(p.warnings)
    assert "zero length" in text and "reversed" in text and "out of range" in text
    assert "DDDDDDDD-0000-4000-8000-000000000002" in text  # the selection is named
    assert "CodeRef points at no code" in text


# --- everything else into the model ---------------------------------------------------------------


def test_full_model(tmp_path: Path) -> None:
    var_age, var_ok, var_score, var_day = (f"99999999-0000-4000-8000-00000000000{i}" for i in range(1, 5))
    note = "12345678-0000-4000-8000-000000000001"
    extra = (
        f'<Notes><Note guid="{note}" name="memo" plainTextPath="internal://{note}.txt"'
        f' creatingUser="{USER.lower()}"/>'
        '<Note guid="12345678-0000-4000-8000-000000000002" name="inline"><PlainTextContent>hi&#13;\nthere'
        "</PlainTextContent></Note></Notes>"
        '<Links><Link guid="22222222-0000-4000-8000-000000000001" name="l" direction="OneWay"'
        f' originGUID="{note}"'
        f' targetGUID="{{{CODE_B.lower()}}}"/></Links>'
        f'<Sets><Set guid="33333333-0000-4000-8000-000000000001" name="S"><Description>d</Description>'
        f'<MemberCode targetGUID="{CODE_A.lower()}"/><MemberSource targetGUID="{SOURCE}"/>'
        f'<MemberNote targetGUID="{note}"/></Set></Sets><Description>Project desc</Description>'
        f'<NoteRef targetGUID="{note}"/>'
    )
    variables = (
        f'<Variables><Variable guid="{var_age}" name="age" typeOfVariable="Integer"/>'
        f'<Variable guid="{var_ok}" name="ok" typeOfVariable="Boolean"/>'
        f'<Variable guid="{var_score}" name="score" typeOfVariable="Float"/>'
        f'<Variable guid="{var_day}" name="day" typeOfVariable="Date"/></Variables>'
        f'<Cases><Case guid="44444444-0000-4000-8000-000000000001" name="Alice"><Description>c</Description>'
        f'<CodeRef targetGUID="{CODE_A}"/><VariableValue><VariableRef targetGUID="{var_age}"/>'
        f'<IntegerValue>42</IntegerValue></VariableValue><VariableValue><VariableRef targetGUID="{var_ok}"/>'
        f'<BooleanValue>true</BooleanValue></VariableValue><SourceRef targetGUID="{SOURCE.lower()}"/>'
        "<SelectionRef targetGUID=\"DDDDDDDD-0000-4000-8000-000000000001\"/></Case></Cases>"
    )
    body = (
        "<Description>src desc</Description>"
        + selection(1, 0, 5).replace(
            "<Coding", '<Description>sel desc</Description><Coding creationDateTime="2024-01-01T00:00:00Z"', 1
        )
        + '<Coding guid="EEEEEEEE-0000-4000-8000-00000000ffff">'
        + f'<CodeRef targetGUID="{{{CODE_B.lower()}}}"/></Coding>'
        + f'<NoteRef targetGUID="{note}"/>'
        + f'<VariableValue><VariableRef targetGUID="{var_score}"/><FloatValue>2.5</FloatValue>'
        + f'</VariableValue><VariableValue><VariableRef targetGUID="{var_day}"/>'
        + "<DateValue>2024-02-03</DateValue></VariableValue>"
    )
    xml = project_xml(text_source(body), extra=extra).replace("<Sources>", "").replace("</Sources>", "")
    xml = xml.replace("</CodeBook>", f"</CodeBook>{variables}<Sources>", 1)
    xml = xml.replace("<Notes>", "</Sources><Notes>", 1)
    xml = xml.replace(
        f'<Code guid="{CODE_B}" name="beta" isCodable="true"/>',
        f'<Code guid="{CODE_B}" name="beta" isCodable="false" color="#a0b"><Description>b</Description>'
        f'<NoteRef targetGUID="{note}"/></Code>',
    )
    files = {f"sources/{SOURCE}.txt": "Hello world\n", f"sources/{note}.txt": b"\xef\xbb\xbfmemo\r\ntext"}
    p = reader.read_qdpx(write_qdpx(tmp_path / "full.qdpx", xml, files))
    beta = p.codes[0].children[0]
    assert (beta.codable, beta.color, beta.description, beta.note_guids) == (False, "#aa00bb", "b", [note])
    assert [(v.name, v.type) for v in p.variables] == [
        ("age", "Integer"), ("ok", "Boolean"), ("score", "Float"), ("day", "Date")
    ]
    (case,) = p.cases
    assert case.name == "Alice" and case.description == "c" and case.code_guids == [CODE_A]
    assert [(v.variable_guid, v.value) for v in case.variables] == [(var_age, 42), (var_ok, True)]
    assert case.source_guids == [SOURCE]  # resolved to the GUID as written on the source
    (source,) = p.sources
    assert source.description == "src desc" and source.note_guids == [note]
    values = [(v.variable_guid, v.value) for v in source.variables]
    assert values == [(var_score, 2.5), (var_day, "2024-02-03")]
    assert [(c.code_guid, c.user_guid) for c in source.codings] == [(CODE_B, None)]
    (sel,) = source.selections
    assert source.text[sel.start : sel.end] == "Hello" and sel.description == "sel desc"
    assert sel.user_guid == USER and sel.codings[0].created == "2024-01-01T00:00:00Z"
    memo, inline = p.notes
    assert (memo.name, memo.text, memo.user_guid) == ("memo", "memo\ntext", USER)
    assert inline.text == "hi\nthere"
    (link,) = p.links
    assert (link.origin_guid, link.target_guid, link.direction) == (note, CODE_B, "OneWay")
    (s,) = p.sets
    assert (s.name, s.description, s.code_guids) == ("S", "d", [CODE_A])
    assert (s.source_guids, s.note_guids) == ([SOURCE], [note])
    assert p.description == "Project desc" and p.note_guids == [note]
    assert any("SelectionRef" in w for w in p.warnings)


def test_guid_duplicates_bad_colours_and_non_text_sources(tmp_path: Path) -> None:
    xml = project_xml(
        '<PDFSource guid="55555555-0000-4000-8000-000000000001" path="internal://x.pdf"/>'
        '<AudioSource guid="55555555-0000-4000-8000-000000000002" path="internal://x.mp3"/>'
    )
    xml = xml.replace(
        "</Codes>",
        f'<Code guid="{{{CODE_A.lower()}}}" name="dup" isCodable="true"/>'
        '<Code guid="AAAAAAAA-0000-4000-8000-000000000003" name="c" isCodable="true" color="red"/>'
        '<Code guid="AAAAAAAA-0000-4000-8000-000000000004" name="d" isCodable="true" color="#12345678"/>'
        "</Codes>",
    )
    p = reader.read_qdpx(write_qdpx(tmp_path / "p.qdpx", xml))
    assert [c.name for c, _ in walk_codes(p.codes)] == ["alpha", "beta", "c", "d"]
    assert all(c.color is None for c in p.codes[1:])
    text = "\n".join(p.warnings)
    assert "duplicate GUID" in text and "colours" in text and "'red'" in text
    assert "2 non-text sources not imported (1 AudioSource, 1 PDFSource)" in text


@pytest.mark.parametrize("ns", ["urn:QDA-XML:project:1.0", "urn:QDA-XML:project:1:0", ""])
def test_namespace_variants(tmp_path: Path, ns: str) -> None:
    xml = project_xml(ns=ns) if ns else project_xml().replace(f' xmlns="{NS}"', "")
    p = reader.read_qdpx(write_qdpx(tmp_path / "p.qdpx", xml, qde_name="Trial.qde"))
    assert [c.name for c, _ in walk_codes(p.codes)] == ["alpha", "beta"] and p.warnings == []


def test_codebook(tmp_path: Path) -> None:
    qdc = (
        '\ufeff<?xml version="1.0" encoding="utf-8"?>'
        '<CodeBook xmlns="urn:QDA-XML:codebook:1:0" origin="NVivo">'
        f'<Codes><Code guid="{CODE_A}" name="a" isCodable="true" color="#ABC"><Code guid="{CODE_B}" name="b" '
        f'isCodable="false"/></Code></Codes><Sets><Set guid="33333333-0000-4000-8000-000000000001" name="S">'
        f'<MemberCode targetGUID="{{{CODE_B.lower()}}}"/><MemberCode targetGUID="{CODE_B[:-1]}9"/>'
        "</Set></Sets>"
        "</CodeBook>"
    )
    path = tmp_path / "my book.qdc"
    path.write_bytes(qdc.encode("utf-8"))
    p = reader.read_qdc(path)
    assert p.name == "my book" and p.origin == "NVivo" and p.sources == []
    assert p.codes[0].color == "#AABBCC" and p.codes[0].children[0].codable is False
    assert p.sets[0].code_guids == [CODE_B]
    assert any("unknown codes" in w for w in p.warnings)
    bare = tmp_path / "bare.qdc"
    bare.write_text(f'<CodeBook><Codes><Code guid="{CODE_A}" name="a" isCodable="true"/></Codes></CodeBook>')
    assert reader.read_qdc(bare).codes[0].name == "a"
    with pytest.raises(InputError) as exc:
        reader.read_qdc(write_qdpx(tmp_path / "x.qdc", project_xml()))
    check_error(exc, tmp_path / "x.qdc", "zip archive")
    (tmp_path / "proj.qdc").write_text(project_xml())
    with pytest.raises(InputError) as exc:
        reader.read_qdc(tmp_path / "proj.qdc")
    check_error(exc, tmp_path / "proj.qdc", "not a REFI-QDA codebook: root is <Project>")


# --- source texts -------------------------------------------------------------------------------


def test_text_decoding_variants(tmp_path: Path) -> None:
    raw = "Ça va 😀\r\nold mac\rend"
    for i, data in enumerate([raw.encode("utf-8"), b"\xef\xbb\xbf" + raw.encode(), raw.encode("utf-16")]):
        xml = project_xml(text_source(selection(1, 0, 2)))
        path = write_qdpx(tmp_path / f"t{i}.qdpx", xml, {f"sources/{SOURCE}.txt": data})
        (source,) = reader.read_qdpx(path).sources
        assert source.text == "Ça va 😀\nold mac\nend"
    inline = text_source("<PlainTextContent>inline text</PlainTextContent>" + selection(1, 7, 11), path="")
    (source,) = reader.read_qdpx(write_qdpx(tmp_path / "i.qdpx", project_xml(inline))).sources
    assert source.text[source.selections[0].start : source.selections[0].end] == "text"


def test_invalid_utf8_source(tmp_path: Path) -> None:
    files = {f"sources/{SOURCE}.txt": b"ok \xff\xfe\xfa x"}
    path = write_qdpx(tmp_path / "bad.qdpx", project_xml(text_source("")), files)
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(path)
    check_error(exc, path, f"sources/{SOURCE}.txt", "not valid UTF-8")


def test_missing_source_entry_is_a_warning(tmp_path: Path) -> None:
    """Decision: a missing entry does not refuse the project; the source comes without text."""
    path = write_qdpx(tmp_path / "m.qdpx", project_xml(text_source(selection(1, 0, 2))))
    p = reader.read_qdpx(path)
    (source,) = p.sources
    assert source.text == "" and source.selections == []
    assert any("missing from the archive" in w and "1 selections dropped" in w for w in p.warnings)


@pytest.mark.parametrize(
    "ref", ["absolute:///etc/passwd", "relative://../../etc/passwd", "file:///etc/passwd"]
)
def test_external_paths_never_read(tmp_path: Path, ref: str) -> None:
    xml = project_xml(text_source(selection(1, 0, 4), path=ref))
    p = reader.read_qdpx(write_qdpx(tmp_path / "e.qdpx", xml))
    (source,) = p.sources
    assert source.text == "" and source.selections == [] and source.path == ref
    assert any("not in the archive" in w for w in p.warnings)


# --- hostile archives ---------------------------------------------------------------------------


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "x.qdpx"
    path.write_bytes(b"this is not a zip at all")
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(path)
    check_error(exc, path, "not a zip archive")
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(tmp_path / "absent.qdpx")
    check_error(exc, tmp_path / "absent.qdpx", "not found")


def test_truncated_zip(tmp_path: Path) -> None:
    data = zip_bytes({"project.qde": project_xml() * 20})
    path = tmp_path / "t.qdpx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(path)
    check_error(exc, path, "truncated")


@pytest.mark.parametrize(
    ("name", "reason"),
    [("../evil.txt", "'..' segment"), ("/abs.txt", "absolute path"), ("a\\b", "backslash"),
     ("sources/../../x.txt", "'..' segment"), ("C:/x.txt", "absolute path")],
)
def test_zip_slip_names_refused(tmp_path: Path, name: str, reason: str) -> None:
    path = write_qdpx(tmp_path / "slip.qdpx", project_xml(), {name: "x"})
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(path)
    check_error(exc, path, "unsafe entry name", reason)


def test_nul_in_entry_name_refused(tmp_path: Path) -> None:
    data = zip_bytes({"project.qde": project_xml(), "evilXname.txt": "x"})
    data = data.replace(b"evilXname.txt", b"evil\x00name.txt")  # zipfile would cut the name at the NUL
    path = tmp_path / "nul.qdpx"
    path.write_bytes(data)
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(path)
    check_error(exc, path, "unsafe entry name", "NUL")


def _measured(call) -> tuple[float, int]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    call()
    elapsed = time.perf_counter() - t0
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    return elapsed, grown_kb * 1024


def test_zip_bomb_by_ratio(tmp_path: Path) -> None:
    path = tmp_path / "bomb.qdpx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("project.qde", project_xml())
        with zf.open("sources/zeros.txt", "w") as out:
            chunk = bytes(1024 * 1024)
            for _ in range(50):
                out.write(chunk)
    assert path.stat().st_size < 200_000
    box: dict[str, InputError] = {}

    def attempt() -> None:
        with pytest.raises(InputError) as exc:
            reader.read_qdpx(path)
        box["exc"] = exc.value

    elapsed, grown = _measured(attempt)
    assert "zip bomb" in str(box["exc"]) and "sources/zeros.txt" in str(box["exc"])
    assert elapsed < 5 and grown < 200 * 1024 * 1024


def test_declared_sizes_over_the_limits(tmp_path: Path) -> None:
    path = write_qdpx(tmp_path / "big.qdpx", project_xml(), {"sources/a.txt": os.urandom(5000)})
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(path, archive.Limits(max_entry_size=4000))
    check_error(exc, path, "too large", "sources/a.txt")
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(path, archive.Limits(max_total_size=5010))
    check_error(exc, path, "too large uncompressed")
    many = write_qdpx(tmp_path / "many.qdpx", project_xml(), {f"sources/{i}.txt": "x" for i in range(20)})
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(many, archive.Limits(max_entries=10))
    check_error(exc, many, "21 entries")


def test_entry_larger_than_declared(tmp_path: Path) -> None:
    """The central directory and local header are patched to declare 100 bytes for a 50,000-byte entry.

    zipfile stops at the declared size, so the CRC no longer matches: refused as corrupt. The
    chunked reader's own check (more bytes than declared) is exercised directly below.
    """
    qde = project_xml(extra="<Description>" + "x" * 50_000 + "</Description>")
    data = zip_bytes({"project.qde": qde})
    size = struct.pack("<I", 100)
    data = patch_zip(data, b"project.qde", central={24: size}, local={22: size})
    path = tmp_path / "liar.qdpx"
    path.write_bytes(data)
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(path)
    check_error(exc, path, "'project.qde'", "corrupt")
    with pytest.raises(InputError) as exc:
        archive.read_bounded(io.BytesIO(bytes(10_000)), "e.txt", 100, 100, 10**9, "a.qdpx", archive.Limits())
    check_error(exc, "a.qdpx", "larger than its declared size")
    limits = archive.Limits(max_entry_size=10**9, max_ratio=10)
    with pytest.raises(InputError) as exc:
        archive.read_bounded(io.BytesIO(bytes(3 * 2**20)), "e.txt", 10**9, 1000, 10**10, "a.qdpx", limits)
    check_error(exc, "a.qdpx", "zip bomb")


def test_encrypted_entry_refused(tmp_path: Path) -> None:
    data = zip_bytes({"project.qde": project_xml()})
    data = patch_zip(data, b"project.qde", central={8: struct.pack("<H", 1)}, local={6: struct.pack("<H", 1)})
    path = tmp_path / "enc.qdpx"
    path.write_bytes(data)
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(path)
    check_error(exc, path, "encrypted")


def test_qde_count(tmp_path: Path) -> None:
    none = tmp_path / "none.qdpx"
    none.write_bytes(zip_bytes({"sources/a.txt": "x", "sub/project.qde": project_xml()}))
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(none)
    check_error(exc, none, "no .qde")
    two = write_qdpx(tmp_path / "two.qdpx", project_xml(), {"other.qde": project_xml()})
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(two)
    check_error(exc, two, "several .qde", "other.qde", "project.qde")


# --- hostile XML ----------------------------------------------------------------------------------

XXE = (
    '<?xml version="1.0"?><!DOCTYPE Project [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    f'<Project xmlns="{NS}" name="&xxe;"><Description>&xxe;</Description></Project>'
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    + f']><Project xmlns="{NS}" name="&lol9;"/>'
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_doctype_xxe_refused(tmp_path: Path, encoding: str) -> None:
    xml = XXE if encoding == "utf-8" else XXE.replace('version="1.0"?>', 'version="1.0" encoding="utf-16"?>')
    path = write_qdpx(tmp_path / "xxe.qdpx", xml.encode(encoding))
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(path)
    message = check_error(exc, path, "DOCTYPE")
    passwd = Path("/etc/passwd")
    if passwd.exists():
        first = passwd.read_text(errors="replace").splitlines()[0]
        assert first not in message and "root:" not in message


def test_doctype_check_after_parse_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # Should a DOCTYPE slip past the prolog scan, the parser loads nothing and the result is refused.
    monkeypatch.setattr(reader, "_refuse_doctype", lambda data, path: None)
    for doc in (XXE, LAUGHS):
        with pytest.raises(InputError) as exc:
            reader.parse_project_xml(doc.encode(), "x.qde", None)
        message = check_error(exc, "x.qde")
        assert "root:" not in message and "lollol" not in message
    monkeypatch.undo()
    with pytest.raises(InputError) as exc:
        reader.parse_project_xml(b"\x00\x00\x00<", "x.qde", None)
    check_error(exc, "x.qde", "UTF-32")


@pytest.mark.parametrize("encoding", ["rot13", "base64", "UTF-7", "idna", "cp037", "bogus"])
def test_odd_xml_encodings_refused(encoding: str) -> None:
    data = f'<?xml version="1.0" encoding="{encoding}"?><Project name="p"/>'.encode()
    with pytest.raises(InputError) as exc:
        reader.parse_project_xml(data, "x.qde", None)
    check_error(exc, "x.qde", "unsupported XML encoding")
    assert reader.parse_project_xml(data.replace(encoding.encode(), b"ISO-8859-1"), "x.qde", None).name == "p"


def test_billion_laughs_refused(tmp_path: Path) -> None:
    path = write_qdpx(tmp_path / "lol.qdpx", LAUGHS)
    box: dict[str, str] = {}

    def attempt() -> None:
        with pytest.raises(InputError) as exc:
            reader.read_qdpx(path)
        box["msg"] = check_error(exc, path, "DOCTYPE")

    elapsed, grown = _measured(attempt)
    assert "lollol" not in box["msg"] and elapsed < 5 and grown < 200 * 1024 * 1024


def test_malformed_and_wrong_root(tmp_path: Path) -> None:
    bad = write_qdpx(tmp_path / "bad.qdpx", f'<Project xmlns="{NS}" name="p">\n<Users></Project>')
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(bad)
    check_error(exc, bad, "malformed XML", "line 2")
    codebook = '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes/></CodeBook>'
    wrong = write_qdpx(tmp_path / "wrong.qdpx", codebook)
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(wrong)
    check_error(exc, wrong, "not a REFI-QDA project: root is <CodeBook>")
    empty = write_qdpx(tmp_path / "empty.qdpx", b"")
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(empty)
    check_error(exc, empty, "malformed XML")


def test_code_nesting_bounded(tmp_path: Path) -> None:
    def nested(depth: int) -> str:
        opening = "".join(
            f'<Code guid="AAAAAAAA-0000-4000-8000-{i:012d}" name="c{i}" isCodable="true">'
            for i in range(depth)
        )
        codes = f"<CodeBook><Codes>{opening}{'</Code>' * depth}</Codes></CodeBook>"
        return f'<Project xmlns="{NS}" name="p">{codes}</Project>'

    ok = reader.read_qdpx(write_qdpx(tmp_path / "ok.qdpx", nested(100)))
    assert len(list(walk_codes(ok.codes))) == 100
    deep = write_qdpx(tmp_path / "deep.qdpx", nested(101))
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(deep)
    check_error(exc, deep, "nested deeper than 100")
    deeper = write_qdpx(tmp_path / "deeper.qdpx", nested(5000))
    with pytest.raises(InputError) as exc:
        reader.read_qdpx(deeper)
    check_error(exc, deeper, "malformed XML")  # libxml2's own depth limit, before ours


# --- property test and corpus replay ------------------------------------------------------------

BASE_TEXT = "Hi 😀 there\r\nsecond line, more 🎶 words\r\nthird"
BASE_XML = project_xml(
    text_source(selection(1, 0, 2) + selection(2, 6, 11) + selection(3, 13, 19) + selection(4, 40, 45))
).encode("utf-8")
TEXTS = {f"sources/{SOURCE}.txt": b"\xef\xbb\xbf" + BASE_TEXT.encode("utf-8")}


def _lookup(files: dict[str, bytes]):
    def lookup(ref: str) -> tuple[str, bytes] | None:
        name = "sources/" + ref.removeprefix("internal://")
        return (name, files[name]) if name in files else None

    return lookup


def _outcome(call) -> None:
    try:
        project = call()
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    check_invariants(project)


_snippets = st.sampled_from(
    ["<", ">", "&", '"', "</Code>", "<Code>", 'guid="x"', 'startPosition="-5"', 'endPosition="99999999999"',
     "<!DOCTYPE x>", "\x00", "😀", "\r\n",
     '<PlainTextSelection guid="g" startPosition="3" endPosition="1"/>',
     '<Coding guid="c"><CodeRef targetGUID="AAAAAAAA-0000-4000-8000-000000000001"/></Coding>', "&amp;", "]]>"]
)


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(BASE_XML)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "digit", "digit", "declaration"]))
        if op == "insert":
            data[pos:pos] = draw(st.one_of(_snippets, st.text(max_size=8))).encode("utf-8", "surrogatepass")
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 40))]
        elif op == "replace":
            data[pos : pos + 1] = draw(st.binary(min_size=1, max_size=3))
        elif op == "declaration":
            names = st.sampled_from(["utf-16", "ascii", "utf-7", "rot13", "latin1"])
            encoding = draw(st.one_of(names, st.text(max_size=6)))
            declaration = f'<?xml version="1.0" encoding="{encoding}"?>'.encode("utf-8", "surrogatepass")
            data[: data.index(b"?>") + 2 if b"?>" in data else 0] = declaration
        else:
            digits = [i for i, b in enumerate(data) if 48 <= b <= 57]
            if digits:
                data[draw(st.sampled_from(digits))] = draw(st.integers(48, 57))
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.binary(max_size=40))
def test_property_mutated_projects(xml: bytes, text_tail: bytes) -> None:
    files = {k: v + text_tail for k, v in TEXTS.items()}
    _outcome(lambda: reader.parse_project_xml(xml, "mem.qdpx", _lookup(files)))


_GUIDS = [CODE_A, CODE_B, USER, SOURCE, "{" + CODE_A.lower() + "}", "", "not-a-guid"]
_values = st.one_of(
    st.sampled_from(_GUIDS),
    st.integers(-3, 60).map(str),
    st.sampled_from(["true", "0", "#abc", "#GGG", f"internal://{SOURCE}.txt", "absolute:///etc/x", "Float"]),
    st.text(max_size=4),
)


def _element(tag: str, attrs: list[str], kids: st.SearchStrategy[list[str]] = st.just([])):
    def build(values: dict[str, str], children: list[str], text: str) -> str:
        attributes = "".join(f" {k}={quoteattr(v)}" for k, v in values.items())
        return f"<{tag}{attributes}>{escape(text)}{''.join(children)}</{tag}>"

    values = st.dictionaries(st.sampled_from(attrs), _values, max_size=len(attrs)) if attrs else st.just({})
    return st.builds(build, values, kids, st.text(max_size=3))


_code_ref = _element("CodeRef", ["targetGUID"])
_coding = _element("Coding", ["guid", "creatingUser"], st.lists(_code_ref, max_size=2))
_value_parts = st.one_of(
    _element("VariableRef", ["targetGUID"]), _element("IntegerValue", []), _element("FloatValue", [])
)
_value = _element("VariableValue", [], st.lists(_value_parts, max_size=2))
_selection = _element(
    "PlainTextSelection",
    ["guid", "startPosition", "endPosition", "creatingUser"],
    st.lists(_coding, max_size=2),
)
_source = _element(
    "TextSource",
    ["guid", "name", "plainTextPath"],
    st.lists(st.one_of(_selection, _coding, _value), max_size=5),
)
_variable = _element("Variable", ["guid", "name", "typeOfVariable"])
_case = _element("Case", ["guid", "name"], st.lists(_value, max_size=2))
_code = st.recursive(
    _element("Code", ["guid", "name", "isCodable", "color"]),
    lambda kids: _element("Code", ["guid", "name", "isCodable", "color"], st.lists(kids, max_size=3)),
    max_leaves=8,
)
_sections = st.lists(
    st.one_of(
        st.lists(_code, max_size=3).map(lambda cs: f"<CodeBook><Codes>{''.join(cs)}</Codes></CodeBook>"),
        st.lists(_source, max_size=2).map(lambda ss: f"<Sources>{''.join(ss)}</Sources>"),
        _element("Users", [], st.lists(_element("User", ["guid", "name"]), max_size=2)),
        _element("Variables", [], st.lists(_variable, max_size=2)),
        _element("Cases", [], st.lists(_case, max_size=2)),
        _element("Sets", [], st.lists(_element("Set", ["guid", "name"], st.lists(
            _element("MemberCode", ["targetGUID"]), max_size=2)), max_size=2)),
        _element("Links", [], st.lists(_element("Link", ["guid", "originGUID", "targetGUID"]), max_size=2)),
    ),
    max_size=6,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_sections, st.sampled_from(["NVivo 12", "ATLAS.ti", "other"]))
def test_property_structured_projects(sections: list[str], origin: str) -> None:
    xml = f'<Project xmlns="{NS}" name="p" origin="{origin}">{"".join(sections)}</Project>'
    _outcome(lambda: reader.parse_project_xml(xml.encode(), "mem.qdpx", _lookup(TEXTS)))


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.binary(max_size=200), mutated().map(lambda x: zip_bytes({"project.qde": x, **TEXTS}))))
def test_property_arbitrary_archives(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.qdpx"
        path.write_bytes(data)
        _outcome(lambda: reader.read_qdpx(path))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-3, 60), st.integers(-3, 60)), max_size=8),
    st.sampled_from(offsets.UNITS),
)
def test_property_offsets(spans: list[tuple[int, int]], unit: str) -> None:
    raw = BASE_TEXT
    norm = offsets.normalize_newlines(raw)
    detected, _ = offsets.detect_unit(raw, spans, "NVivo")
    for pm in (offsets.converter(raw, unit), offsets.converter(raw, detected)):
        for s, e in spans:
            span = pm.span(s, e)
            if span is not None:
                assert 0 <= span[0] < span[1] <= len(norm)


def test_corpus_replay() -> None:
    """Inputs that once broke the reader (or were crafted by hand); ``bad-*`` must be refused."""
    files = sorted(f for f in CORPUS.iterdir() if f.suffix in (".qdpx", ".qde", ".qdc"))
    assert files, f"no corpus files in {CORPUS}"
    for f in files:
        if f.suffix == ".qdpx":
            call = lambda f=f: reader.read_qdpx(f)  # noqa: E731
        elif f.suffix == ".qde":
            call = lambda f=f: reader.parse_project_xml(f.read_bytes(), f, _lookup(TEXTS))  # noqa: E731
        else:
            call = lambda f=f: reader.read_qdc(f)  # noqa: E731
        if f.name.startswith("bad-"):
            with pytest.raises(InputError) as exc:
                call()
            assert "root:" not in check_error(exc, f)
        else:
            _outcome(call)


def test_control_characters_become_spaces_and_positions_stay(tmp_path: Path) -> None:
    text = "Ana: the \x0bsupplier\x07 was late\x1b[31m again.\n"
    i = text.index("was late")
    path = write_qdpx(tmp_path / "ctl.qdpx", project_xml(text_source(selection(1, i, i + len("was late")))),
                      {f"sources/{SOURCE}.txt": text})  # fmt: skip
    p = reader.read_qdpx(path)
    [source] = p.sources
    assert "\x07" not in source.text and "\x1b" not in source.text and len(source.text) == len(text)
    assert [source.text[s.start : s.end] for s in source.selections] == ["was late"]
    assert any("control character" in w for w in p.warnings)
