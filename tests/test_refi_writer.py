"""The REFI-QDA writer: schema-valid .qdpx/.qdc, element order, code-point positions, atomic writes."""

from __future__ import annotations

import uuid
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from coder_assist.errors import CoderAssistError
from coder_assist.exchange.model import (
    Case,
    Code,
    Coding,
    Link,
    Note,
    RefiProject,
    Selection,
    Set,
    Source,
    User,
    Variable,
    VariableValue,
)
from coder_assist.exchange.writer import (
    ExportError,
    codebook_xml,
    project_xml,
    validate,
    write_qdc,
    write_qdpx,
)

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "coder_assist" / "exchange" / "schema"
NS = {"q": "urn:QDA-XML:project:1.0", "c": "urn:QDA-XML:codebook:1.0"}
_NAMESPACE = uuid.UUID("6f0c4f0e-3f55-4d8e-9a43-0d6b3f0b7a11")


def G(name: str) -> str:
    """A stable GUID per test object name (upper case, as ATLAS.ti and MAXQDA write them)."""
    return str(uuid.uuid5(_NAMESPACE, name)).upper()


def schema(kind: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / f"{kind}.xsd")))


def assert_valid(xml: bytes, kind: str) -> etree._Element:
    doc = etree.fromstring(xml)
    s = schema(kind)
    assert s.validate(doc), s.error_log
    return doc


def local(e: etree._Element) -> str:
    return etree.QName(e).localname


def child_names(e: etree._Element) -> list[str]:
    return [local(c) for c in e if isinstance(c.tag, str)]


TEXT_A = "Café naïve — 日本語のテキスト 🎉🎉 first line.\nThen she said: I felt 🙂 so welcome, résumé in hand.\n"
TEXT_B = "Plain second interview.\nNothing special here.\n"


def span(text: str, words: str) -> tuple[int, int]:
    start = text.index(words)
    return start, start + len(words)


def full_project() -> RefiProject:
    alice, bob = User(G("alice"), "Alice", "A"), User(G("bob"), "Bob")
    leaf = Code(G("code-leaf"), "belonging", color="#00AA11", description="Feeling part of it",
                note_guids=[G("note-code")])
    mid = Code(G("code-mid"), "welcome", color="#123456", children=[leaf])
    top = Code(G("code-top"), "Social", codable=False, description="category", children=[mid])
    other = Code(G("code-other"), "stress", color="#ff0000")
    variables = [
        Variable(G("v-text"), "role", "Text", description="job role"),
        Variable(G("v-bool"), "consented", "Boolean"),
        Variable(G("v-int"), "age", "Integer"),
        Variable(G("v-float"), "score", "Float"),
        Variable(G("v-date"), "interviewed", "Date"),
        Variable(G("v-dt"), "recorded", "DateTime"),
    ]
    values = [
        VariableValue(G("v-text"), "nurse"),
        VariableValue(G("v-bool"), True),
        VariableValue(G("v-int"), 42),
        VariableValue(G("v-float"), 1e-7),
        VariableValue(G("v-date"), "2026-03-01"),
        VariableValue(G("v-dt"), "2026-03-01T10:30:00Z"),
    ]
    s1, e1 = span(TEXT_A, "日本語のテキスト 🎉🎉")
    s2, e2 = span(TEXT_A, "I felt 🙂 so welcome")
    s3, e3 = span(TEXT_A, "résumé")
    src_a = Source(
        G("src-a"), "Interview Ä 日本", TEXT_A, description="first interview",
        selections=[
            Selection(G("sel-1"), s1, e1, name="cjk", user_guid=G("alice"), created="2026-12-05T09:00:00Z",
                      codings=[Coding(G("cod-1"), G("code-leaf"), G("alice"), "2026-12-05T09:00:00Z")]),
            Selection(G("sel-2"), s2, e2, description="suggested by model x, confirmed by Alice",
                      user_guid=G("bob"), created="2026-12-05T09:01:00Z",
                      codings=[Coding(G("cod-2"), G("code-mid"), G("alice"), "2026-12-05T09:02:00Z"),
                               Coding(G("cod-3"), G("code-other"), G("bob"), "2026-12-05T09:03:00Z",
                                      note_guids=[G("note-sel")])],
                      note_guids=[G("note-sel")]),
            Selection(G("sel-3"), s3, e3, codings=[Coding(G("cod-4"), G("code-leaf"))]),
        ],
        codings=[Coding(G("cod-whole"), G("code-other"), G("bob"), "2026-12-06T08:00:00Z")],
        variables=[VariableValue(G("v-text"), "source-level"), VariableValue(G("v-int"), None)],
        note_guids=[G("note-project")],
        user_guid=G("alice"), created="2026-12-01T00:00:00Z",
    )
    src_b = Source(G("src-b"), "Interview B", TEXT_B)
    return RefiProject(
        name="Study ü",
        origin="coder-assist 0.1.0",
        users=[alice, bob],
        codes=[top, other],
        variables=variables,
        cases=[
            Case(G("case-1"), "P01", description="participant one", variables=values,
                 source_guids=[G("src-a")], code_guids=[G("code-mid")]),
            Case(G("case-2"), "P02", source_guids=[G("src-b")]),
        ],
        sources=[src_a, src_b],
        notes=[
            Note(G("note-code"), "Code memo", "Memo about belonging ✓\nline two", user_guid=G("alice"),
                 created="2026-12-05T10:00:00Z"),
            Note(G("note-sel"), "Selection memo", "Why I coded this 🙂", description="annotation"),
            Note(G("note-project"), None, "Project journal"),
        ],
        links=[Link(G("link-1"), G("code-leaf"), G("code-other"), name="tension", direction="OneWay")],
        sets=[Set(G("set-1"), "Feelings", description="emotions",
                  code_guids=[G("code-leaf"), G("code-other")],
                  source_guids=[G("src-b")], note_guids=[G("note-sel")])],
        description="A test project",
        note_guids=[G("note-project")],
        creating_user_guid=G("alice"),
        created="2026-12-01T00:00:00Z",
    )


Written = tuple[Path, list[str]]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    path = tmp_path_factory.mktemp("qdpx") / "study.qdpx"
    warnings = write_qdpx(full_project(), path)
    return path, warnings


@pytest.fixture(scope="module")
def qde(written: Written) -> etree._Element:
    with zipfile.ZipFile(written[0]) as z:
        return assert_valid(z.read("project.qde"), "Project")


def test_full_project_validates_and_has_no_warnings(written: Written, qde: etree._Element) -> None:
    path, warnings = written
    assert warnings == []
    assert local(qde) == "Project"
    assert qde.get("name") == "Study ü"
    assert qde.get("origin") == "coder-assist 0.1.0"
    assert qde.get("creatingUserGUID") == G("alice")
    assert qde.get("creationDateTime") == "2026-12-01T00:00:00Z"
    with zipfile.ZipFile(path) as z:
        assert z.read("project.qde").startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


def test_zip_layout_and_texts(written: Written) -> None:
    path, _ = written
    p = full_project()
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        expected_files = [f"sources/{g}.txt" for g in (G("src-a"), G("src-b"), G("note-code"), G("note-sel"),
                                                        G("note-project"))]
        assert names == ["project.qde", "sources/", *expected_files]
        for info in z.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            if not info.is_dir():
                assert info.compress_type == zipfile.ZIP_DEFLATED
        raw_a = z.read(f"sources/{G('src-a')}.txt")
        assert not raw_a.startswith(b"\xef\xbb\xbf")
        assert b"\r" not in raw_a
        assert raw_a.decode("utf-8") == TEXT_A
        assert z.read(f"sources/{G('src-b')}.txt").decode("utf-8") == TEXT_B
        assert z.read(f"sources/{G('note-code')}.txt").decode("utf-8") == p.notes[0].text
        assert z.read(f"sources/{G('note-sel')}.txt").decode("utf-8") == "Why I coded this 🙂"


def test_positions_are_code_points_into_the_written_text(written: Written, qde: etree._Element) -> None:
    with zipfile.ZipFile(written[0]) as z:
        text = z.read(f"sources/{G('src-a')}.txt").decode("utf-8")
    want = {G("sel-1"): "日本語のテキスト 🎉🎉", G("sel-2"): "I felt 🙂 so welcome", G("sel-3"): "résumé"}
    sels = qde.xpath("//q:TextSource[@guid=$g]/q:PlainTextSelection", namespaces=NS, g=G("src-a"))
    assert [s.get("guid") for s in sels] == list(want)
    for sel in sels:
        start, end = int(sel.get("startPosition")), int(sel.get("endPosition"))
        assert text[start:end] == want[sel.get("guid")]
    # the emoji before sel-2 make UTF-16 units differ from code points: the writer must not count them twice
    start2 = int(sels[1].get("startPosition"))
    assert start2 == TEXT_A.index("I felt")
    assert len(TEXT_A[:start2].encode("utf-16-le")) // 2 != start2


def test_project_element_order(qde: etree._Element) -> None:
    assert child_names(qde) == [
        "Users", "CodeBook", "Variables", "Cases", "Sources", "Notes", "Links", "Sets",
        "Description", "NoteRef",
    ]
    assert qde.xpath("q:NoteRef/@targetGUID", namespaces=NS) == [G("note-project")]
    assert qde.xpath("q:Description/text()", namespaces=NS) == ["A test project"]
    assert [u.get("name") for u in qde.xpath("q:Users/q:User", namespaces=NS)] == ["Alice", "Bob"]
    assert qde.xpath("q:Users/q:User[1]/@id", namespaces=NS) == ["A"]


def test_codes_nested_with_colours_descriptions_and_notes(qde: etree._Element) -> None:
    codes = qde.xpath("q:CodeBook/q:Codes/q:Code", namespaces=NS)
    assert [c.get("name") for c in codes] == ["Social", "stress"]
    top = codes[0]
    assert top.get("isCodable") == "false" and top.get("color") is None
    assert codes[1].get("isCodable") == "true" and codes[1].get("color") == "#ff0000"
    leaf = qde.xpath("q:CodeBook/q:Codes/q:Code/q:Code/q:Code", namespaces=NS)
    assert len(leaf) == 1 and leaf[0].get("name") == "belonging" and leaf[0].get("color") == "#00AA11"
    assert leaf[0].getparent().get("name") == "welcome"
    assert child_names(leaf[0]) == ["Description", "NoteRef"]
    assert leaf[0].xpath("q:NoteRef/@targetGUID", namespaces=NS) == [G("note-code")]
    assert child_names(top) == ["Description", "Code"]


def test_sources_selections_codings(qde: etree._Element) -> None:
    src = qde.xpath("q:Sources/q:TextSource[@guid=$g]", namespaces=NS, g=G("src-a"))[0]
    assert src.get("plainTextPath") == f"internal://{G('src-a')}.txt"
    assert src.get("richTextPath") is None
    assert src.get("creatingUser") == G("alice")
    assert child_names(src) == [
        "Description", *["PlainTextSelection"] * 3, "Coding", "NoteRef", "VariableValue"
    ]
    # the None-valued variable is left out; the text one is typed
    assert src.xpath("q:VariableValue/q:VariableRef/@targetGUID", namespaces=NS) == [G("v-text")]
    assert src.xpath("q:VariableValue/q:TextValue/text()", namespaces=NS) == ["source-level"]
    whole = src.xpath("q:Coding", namespaces=NS)[0]
    assert whole.get("guid") == G("cod-whole") and whole.get("creatingUser") == G("bob")
    assert whole.xpath("q:CodeRef/@targetGUID", namespaces=NS) == [G("code-other")]
    sel2 = src.xpath("q:PlainTextSelection[@guid=$g]", namespaces=NS, g=G("sel-2"))[0]
    assert child_names(sel2) == ["Description", "Coding", "Coding", "NoteRef"]
    assert sel2.xpath("q:Description/text()", namespaces=NS) == ["suggested by model x, confirmed by Alice"]
    codings = sel2.xpath("q:Coding", namespaces=NS)
    assert [c.get("creatingUser") for c in codings] == [G("alice"), G("bob")]
    assert [c.get("creationDateTime") for c in codings] == ["2026-12-05T09:02:00Z", "2026-12-05T09:03:00Z"]
    assert child_names(codings[1]) == ["CodeRef", "NoteRef"]
    assert sel2.xpath("q:NoteRef/@targetGUID", namespaces=NS) == [G("note-sel")]
    src_b = qde.xpath("q:Sources/q:TextSource[@guid=$g]", namespaces=NS, g=G("src-b"))[0]
    assert child_names(src_b) == []


def test_variables_cases_notes_links_sets(qde: etree._Element) -> None:
    types = qde.xpath("q:Variables/q:Variable/@typeOfVariable", namespaces=NS)
    assert types == ["Text", "Boolean", "Integer", "Float", "Date", "DateTime"]
    case = qde.xpath("q:Cases/q:Case[@name='P01']", namespaces=NS)[0]
    assert child_names(case) == ["Description", "CodeRef"] + ["VariableValue"] * 6 + ["SourceRef"]
    got = {local(v[1]): v[1].text for v in case.xpath("q:VariableValue", namespaces=NS)}
    assert got == {
        "TextValue": "nurse", "BooleanValue": "true", "IntegerValue": "42", "FloatValue": "0.0000001",
        "DateValue": "2026-03-01", "DateTimeValue": "2026-03-01T10:30:00Z",
    }
    assert case.xpath("q:SourceRef/@targetGUID", namespaces=NS) == [G("src-a")]
    notes = qde.xpath("q:Notes/q:Note", namespaces=NS)
    paths = [f"internal://{n.guid}.txt" for n in full_project().notes]
    assert [n.get("plainTextPath") for n in notes] == paths
    assert notes[2].get("name") is None
    link = qde.xpath("q:Links/q:Link", namespaces=NS)[0]
    assert (link.get("originGUID"), link.get("targetGUID"), link.get("direction")) == (
        G("code-leaf"), G("code-other"), "OneWay")
    st = qde.xpath("q:Sets/q:Set", namespaces=NS)[0]
    assert child_names(st) == ["Description", "MemberCode", "MemberCode", "MemberSource", "MemberNote"]
    assert st.xpath("q:MemberNote/@targetGUID", namespaces=NS) == [G("note-sel")]


def test_codebook_validates_with_member_codes_only() -> None:
    p = full_project()
    xml = codebook_xml(p)
    doc = assert_valid(xml, "Codebook")
    assert etree.QName(doc).namespace == NS["c"] and doc.get("origin") == "coder-assist 0.1.0"
    assert child_names(doc) == ["Codes", "Sets"]
    assert len(doc.xpath("//c:Code", namespaces=NS)) == 4
    assert doc.xpath("//c:NoteRef", namespaces=NS) == []
    st = doc.xpath("c:Sets/c:Set", namespaces=NS)[0]
    assert child_names(st) == ["Description", "MemberCode", "MemberCode"]
    assert st.xpath("c:MemberCode/@guid", namespaces=NS) == [G("code-leaf"), G("code-other")]


def test_write_qdc_without_sets_has_no_sets(tmp_path: Path) -> None:
    p = RefiProject(name="cb", codes=[Code(G("a"), "A", children=[Code(G("b"), "B", color="#abcdef")])])
    path = tmp_path / "book.qdc"
    assert write_qdc(p, path) == []
    doc = assert_valid(path.read_bytes(), "Codebook")
    assert child_names(doc) == ["Codes"]
    assert doc.get("origin") == "coder-assist"


def test_write_qdc_reports_what_it_leaves_out(tmp_path: Path) -> None:
    p = full_project()
    p.sets.append(Set(G("set-src"), "Only sources", source_guids=[G("src-a")]))
    path = tmp_path / "book.qdc"
    warnings = write_qdc(p, path)
    doc = assert_valid(path.read_bytes(), "Codebook")
    assert [s.get("name") for s in doc.xpath("c:Sets/c:Set", namespaces=NS)] == ["Feelings"]
    assert any("'Only sources'" in w and "no member codes" in w for w in warnings)
    assert any("'Feelings'" in w and "source/note member" in w for w in warnings)
    assert any("'belonging'" in w and "note reference" in w for w in warnings)


def test_codebook_needs_a_code(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="at least one code"):
        write_qdc(RefiProject(name="empty"), tmp_path / "x.qdc")
    assert not (tmp_path / "x.qdc").exists()


def test_output_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.qdpx", tmp_path / "b.qdpx"
    write_qdpx(full_project(), a)
    write_qdpx(full_project(), b)
    assert a.read_bytes() == b.read_bytes()
    assert project_xml(full_project()) == project_xml(full_project())
    c, d = tmp_path / "a.qdc", tmp_path / "b.qdc"
    write_qdc(full_project(), c)
    write_qdc(full_project(), d)
    assert c.read_bytes() == d.read_bytes()


def _bad_guid(p: RefiProject) -> None:
    p.codes[1].guid = "not-a-guid"


def _bad_colour(p: RefiProject) -> None:
    p.codes[1].color = "red"


def _bad_value(p: RefiProject) -> None:
    p.cases[0].variables[2] = VariableValue(G("v-int"), "forty-two")


def _float_for_integer(p: RefiProject) -> None:
    p.cases[0].variables[2] = VariableValue(G("v-int"), 4.5)


def _duplicate_guid(p: RefiProject) -> None:
    p.sources[1].guid = G("src-a").lower()


def _selection_out_of_range(p: RefiProject) -> None:
    p.sources[1].selections.append(Selection(G("sel-x"), 5, len(TEXT_B) + 1))


def _unknown_code(p: RefiProject) -> None:
    p.sources[1].codings.append(Coding(G("cod-x"), G("no-such-code")))


def _unknown_note(p: RefiProject) -> None:
    p.codes[1].note_guids.append(G("no-such-note"))


def _bad_date(p: RefiProject) -> None:
    p.sources[0].selections[0].codings[0].created = "yesterday"


def _bad_direction(p: RefiProject) -> None:
    p.links[0].direction = "Sideways"


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_bad_guid, r"code 'stress': guid 'not-a-guid' is not a GUID"),
        (_bad_colour, r"code 'stress': color 'red' is not #RRGGBB"),
        (_bad_value, r"case 'P01': value 'forty-two' of variable 'age' is not a Integer value"),
        (_float_for_integer, r"value 4\.5 of variable 'age'"),
        (_duplicate_guid, r"source 'Interview B': guid .* is already used by source 'Interview Ä 日本'"),
        (_selection_out_of_range, r"selection .* do not fit the text"),
        (_unknown_code, r"refers to code .*not in the project"),
        (_unknown_note, r"code 'stress': refers to note"),
        (_bad_date, r"'yesterday' is not an xsd:dateTime"),
        (_bad_direction, r"direction 'Sideways'"),
    ],
)
def test_invalid_models_are_refused_without_touching_files(tmp_path: Path, spoil, message: str) -> None:
    p = full_project()
    spoil(p)
    new = tmp_path / "new.qdpx"
    with pytest.raises(ExportError, match=message):
        write_qdpx(p, new)
    assert not new.exists()
    existing = tmp_path / "existing.qdpx"
    existing.write_bytes(b"previous export")
    with pytest.raises(ExportError):
        write_qdpx(p, existing)
    assert existing.read_bytes() == b"previous export"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["existing.qdpx"]  # no temp file left behind


def test_invalid_codebook_leaves_existing_file(tmp_path: Path) -> None:
    p = full_project()
    p.codes[0].children[0].color = "#12345"
    path = tmp_path / "book.qdc"
    path.write_bytes(b"old")
    with pytest.raises(ExportError, match="code 'welcome': color '#12345'"):
        write_qdc(p, path)
    assert path.read_bytes() == b"old"
    assert [f.name for f in tmp_path.iterdir()] == ["book.qdc"]


def test_export_error_is_a_coder_assist_error() -> None:
    assert issubclass(ExportError, CoderAssistError)


def test_os_failure_is_export_error_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "folder.qdpx"
    target.mkdir()
    with pytest.raises(ExportError, match="cannot write"):
        write_qdpx(full_project(), target)
    assert target.is_dir()
    assert [f.name for f in tmp_path.iterdir()] == ["folder.qdpx"]
    with pytest.raises(ExportError, match="cannot write"):
        write_qdpx(full_project(), tmp_path / "missing" / "x.qdpx")


def test_control_characters_are_replaced_and_reported(tmp_path: Path) -> None:
    p = full_project()
    p.codes[1].name = "str\x01ess"
    p.codes[1].description = "line\x0bbreak and \ud800 and \uffff, tab\tkept"
    p.sources[1].text = "ok \ud83d text"  # lone surrogate in a text file
    path = tmp_path / "ctl.qdpx"
    warnings = write_qdpx(p, path)
    with zipfile.ZipFile(path) as z:
        doc = assert_valid(z.read("project.qde"), "Project")
        text_b = z.read(f"sources/{G('src-b')}.txt").decode("utf-8")
    code = doc.xpath("//q:Code[@guid=$g]", namespaces=NS, g=G("code-other"))[0]
    assert code.get("name") == "str\ufffdess"
    description = code.xpath("q:Description/text()", namespaces=NS)
    assert description == ["line\ufffdbreak and \ufffd and \ufffd, tab\tkept"]
    assert text_b == "ok \ufffd text" and len(text_b) == len(p.sources[1].text)
    assert any("name" in w and "U+0001" in w for w in warnings)
    assert any("description" in w and "3 character(s)" in w and "(U+000B, U+D800, U+FFFF)" in w
               for w in warnings)
    assert any("'Interview B'" in w and "lone surrogate" in w for w in warnings)
    assert len(warnings) == 3


def test_control_characters_in_qdc(tmp_path: Path) -> None:
    p = RefiProject(name="cb", codes=[Code(G("a"), "A\x1fB", description="\x00")])
    path = tmp_path / "c.qdc"
    warnings = write_qdc(p, path)
    doc = assert_valid(path.read_bytes(), "Codebook")
    assert doc.xpath("//c:Code/@name", namespaces=NS) == ["A\ufffdB"]
    assert len(warnings) == 2


def test_empty_project_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "empty.qdpx"
    assert write_qdpx(RefiProject(name="Empty"), path) == []
    with zipfile.ZipFile(path) as z:
        assert z.namelist() == ["project.qde", "sources/"]
        doc = assert_valid(z.read("project.qde"), "Project")
    assert child_names(doc) == []
    assert doc.get("origin") == "coder-assist"


def test_project_with_sources_but_no_codes_omits_codebook(tmp_path: Path) -> None:
    p = RefiProject(name="nocodes", sources=[Source(G("s"), "S", "text")], sets=[Set(G("st"), "empty set")])
    path = tmp_path / "n.qdpx"
    write_qdpx(p, path)
    with zipfile.ZipFile(path) as z:
        doc = assert_valid(z.read("project.qde"), "Project")
    assert child_names(doc) == ["Sources", "Sets"]


def test_link_to_unknown_object_is_left_out_with_warning(tmp_path: Path) -> None:
    p = full_project()
    p.links.append(Link(G("link-2"), G("code-leaf"), G("graph-vertex")))
    warnings = write_qdpx(p, tmp_path / "l.qdpx")
    with zipfile.ZipFile(tmp_path / "l.qdpx") as z:
        doc = assert_valid(z.read("project.qde"), "Project")
    assert doc.xpath("q:Links/q:Link/@guid", namespaces=NS) == [G("link-1")]
    assert warnings == [
        f"link {G('link-2')}: left out, it points at {G('graph-vertex')}, which is not in the project"
    ]


def test_value_forms() -> None:
    p = RefiProject(name="v", variables=[Variable(G("f"), "f", "Float"), Variable(G("b"), "b", "Boolean"),
                                         Variable(G("i"), "i", "Integer")])
    vals = [VariableValue(G("f"), 12345678901234567890.0), VariableValue(G("b"), "0"),
            VariableValue(G("i"), "-7")]
    p.cases = [Case(G("c"), variables=vals)]
    doc = assert_valid(project_xml(p), "Project")
    assert doc.xpath("//q:FloatValue/text()", namespaces=NS) == ["12345678901234567000"]
    assert doc.xpath("//q:BooleanValue/text()", namespaces=NS) == ["false"]
    assert doc.xpath("//q:IntegerValue/text()", namespaces=NS) == ["-7"]
    p.cases[0].variables = [VariableValue(G("f"), float("nan"))]
    with pytest.raises(ExportError, match="nan"):
        project_xml(p)


def test_short_colour_is_expanded() -> None:
    p = RefiProject(name="c", codes=[Code(G("a"), "A", color="#aB0")])
    doc = assert_valid(project_xml(p), "Project")
    assert doc.xpath("//q:Code/@color", namespaces=NS) == ["#aaBB00"]


def test_validate_is_the_final_gate() -> None:
    good = project_xml(full_project())
    validate(good, "project")
    bad = good.replace(b' isCodable="false"', b"", 1)
    with pytest.raises(ExportError, match=r"line \d+ \(Code name='Social'.*isCodable"):
        validate(bad, "project")
    with pytest.raises(ExportError, match="not well-formed"):
        validate(b"<Project", "project")
    with pytest.raises(ExportError, match="Codebook.xsd"):
        validate(good, "codebook")
