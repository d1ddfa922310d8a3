"""REFI-QDA exchange through the project: export, import, round trips, the real samples, the CLI.

The reader and writer are tested on their own in ``test_refi_reader.py`` and ``test_refi_writer.py``;
here a real project (SQLite, the index) goes out to a .qdpx and comes back.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli.app import app
from coder_assist.errors import CoderAssistError, InputError

from .conftest import FIXTURES, ROOT
from .scripted import ScriptedProvider

REFI = Path(os.environ.get("CODER_ASSIST_SHARED", ROOT.parent / "shared")) / "refi"
SAMPLES = REFI / "samples"
SCHEMA = REFI / "schema"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir() and not os.environ.get("CI"), reason="../shared/refi not here")


def _schema(name: str) -> etree.XMLSchema:
    """The schema as shared (not the packaged copy the writer uses), so the check is independent."""
    path = SCHEMA / name if SCHEMA.is_dir() else ROOT / "coder_assist" / "exchange" / "schema" / name
    return etree.XMLSchema(etree.parse(str(path)))


def _qde(path: Path) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read("project.qde")


def _coded(proj: Project) -> Counter:
    """(document, code label, covered text, coder) of every active coding: what a round trip must keep."""
    rows = proj.conn.execute(
        "SELECT d.name, c.label, substr(d.text, g.start + 1, g.end - g.start) AS text, g.created_by FROM codings g"
        " JOIN codes c ON c.id = g.code_id JOIN documents d ON d.id = g.document_id WHERE g.active = 1"
    ).fetchall()
    return Counter(tuple(r) for r in rows)


@pytest.fixture
def coded_project(tmp_path: Path) -> Project:
    """Two fixture interviews with participants, codings from a (scripted) model accepted by two
    coders, a hand-coded span, a code hierarchy, a confirmed category and memos."""
    proj = Project.init(tmp_path / "a", name="B2B study", coder="tester", embedder="hash")
    proj.ingest([FIXTURES / "wave1" / "nw01_natarajan_procurement.md", FIXTURES / "wave1" / "vl02_verbeek_korbel.txt"],
                wave=1, attributes=FIXTURES / "participants.csv")  # fmt: skip
    seg = [s for s in proj.segments() if s.get("role") not in ("interviewer", "moderator")]

    def reply(schema, system, user):  # noqa: ANN001, ANN202 - the scripted provider's callback
        text = user.rsplit("SEGMENT", 1)[-1]
        words = [w for w in text.split() if w.isalpha() and len(w) > 3][:3]
        return {"codes": [{"label": "Weighing the supplier's " + (words[0].lower() if words else "offer"), "in_vivo": False,
                           "quote": " ".join(words[:2]) or "the", "rationale": "scripted", "reused_code": None}]}

    proj.code(provider=ScriptedProvider(default=reply), limit=6)
    ids = [r["id"] for r in proj.suggestion_rows(status="proposed")]
    assert len(ids) >= 4
    proj.accept(ids[:3], coder="ann")
    proj.edit(ids[3], label="Questioning the price", coder="bo")
    proj.add_code("Value talk", definition="Talk about what the relationship is worth.", coder="ann")
    proj.add_code("Price pressure", parent="Value talk", coder="ann")
    proj.apply_code("Price pressure", seg[-1]["id"], coder="bo")
    codes = {c["label"]: c["id"] for c in proj.code_rows()}
    proj.conn.execute(
        "INSERT INTO category_suggestions (run_id, provider, model, name, definition, properties, member_code_ids,"
        " top_terms, params, created_at) VALUES ('r', 'offline', 'x', 'Judging value', 'How value is judged.', '{}', ?,"
        " '[]', '{}', '2026-12-05')", (json.dumps([codes["Price pressure"], codes["Questioning the price"]]),),
    )  # fmt: skip
    proj.decide_category(1, "accept", coder="ann")
    proj.write_memo("category:Judging value", "Value is judged against the price first.\n", coder="ann")
    proj.write_memo("Reflexive notes", "I expected more talk of risk.\n", coder="bo")
    yield proj
    proj.close()


def test_export_validates_and_carries_everything(coded_project: Project, tmp_path: Path) -> None:
    out = tmp_path / "study.qdpx"
    report = coded_project.export_qdpx(out)
    qde = _qde(out)
    _schema("Project.xsd").assertValid(etree.fromstring(qde))
    doc = etree.fromstring(qde)
    ns = {"q": "urn:QDA-XML:project:1.0"}
    assert report.counts["sources"] == 2 and len(doc.findall(".//q:TextSource", ns)) == 2
    assert report.counts["codings"] == len(doc.findall(".//q:Coding", ns)) == sum(_coded(coded_project).values())
    # The hierarchy, the category as a set, the participants as cases with their attributes.
    parent = doc.find(".//q:Code[@name='Value talk']", ns)
    assert parent.find("q:Code", ns).get("name") == "Price pressure"
    assert parent.find("q:Description", ns).text == "Talk about what the relationship is worth."
    s = doc.find(".//q:Sets/q:Set", ns)
    assert s.get("name") == "Judging value" and len(s.findall("q:MemberCode", ns)) == 2
    assert s.find("q:MemberNote", ns) is not None  # the category memo is attached to its set
    sides = {v.text for v in doc.findall(".//q:Case/q:VariableValue/q:TextValue", ns)}
    assert {"buyer", "supplier"} <= sides
    # Provenance where another tool shows it: model, prompt version, decision and coder.
    descs = [d.text for d in doc.findall(".//q:PlainTextSelection/q:Description", ns)]
    assert any("scripted" in d and "prompt initial-coding" in d and "accepted by ann" in d for d in descs), descs[:3]
    assert any("accepted with edits by bo" in d for d in descs)
    assert any("coded by hand by bo" in d for d in descs)
    # Each selection covers, in the exported text file, exactly the words coded in the project.
    with zipfile.ZipFile(out) as z:
        texts = {n.split("/")[1].split(".")[0]: z.read(n).decode() for n in z.namelist() if n.startswith("sources/")}
    covered = Counter()
    for src in doc.findall(".//q:TextSource", ns):
        text = texts[src.get("guid")]
        for sel in src.findall("q:PlainTextSelection", ns):
            covered[text[int(sel.get("startPosition")):int(sel.get("endPosition"))]] += len(sel.findall("q:Coding", ns))
    assert covered == Counter(t for (_, _, t, _), n in _coded(coded_project).items() for _ in range(n))
    users = {u.get("name") for u in doc.findall(".//q:User", ns)}
    assert {"ann", "bo", "tester"} <= users
    audit = coded_project.audit_log(type_="export")
    assert audit and audit[-1]["payload"]["sha256"] == report.sha256


def test_export_says_what_it_leaves_out(coded_project: Project, tmp_path: Path) -> None:
    coded_project.write_memo("Reflexive notes", "Second thoughts: risk came up after all.\n", coder="bo")
    coded_project.conn.execute(
        "INSERT INTO category_suggestions (run_id, provider, model, name, definition, properties, member_code_ids,"
        " top_terms, params, created_at) VALUES ('r2', 'offline', 'x', 'Weighing risk', '', '{}', '[]', '[]', '{}', '2026-12-06')"
    )  # a model's proposal that no one decided
    undecided = 1
    report = coded_project.export_qdpx(tmp_path / "study.qdpx")
    assert "1 earlier memo version(s) are not exported (only the latest version of each memo is)" in report.warnings
    assert f"{undecided} suggestion(s) no one has decided are not exported (only human decisions are)" in report.warnings
    notes = etree.fromstring(_qde(tmp_path / "study.qdpx")).findall(".//{urn:QDA-XML:project:1.0}Note")
    assert len(notes) == 2
    with zipfile.ZipFile(tmp_path / "study.qdpx") as z:
        bodies = {z.read(n).decode() for n in z.namelist() if n.startswith("sources/")}
    assert "Second thoughts: risk came up after all.\n" in bodies and "I expected more talk of risk.\n" not in bodies


def _normalised(qde: bytes) -> bytes:
    """The document without what depends on when and where a project was made, not on its content."""
    doc = etree.fromstring(qde)
    for el in doc.iter():
        for attr in ("creationDateTime",):
            if el.tag.endswith("}Project") or el.tag.endswith("}TextSource"):
                el.attrib.pop(attr, None)
    return etree.tostring(doc)


def test_round_trip_is_lossless_and_stable(coded_project: Project, tmp_path: Path) -> None:
    first = tmp_path / "first.qdpx"
    coded_project.export_qdpx(first)
    with Project.init(tmp_path / "b", name="B2B study", coder="tester", embedder="hash") as b:
        report = b.import_qdpx(first, coder="tester")
        assert report.counts["sources"] == 2 and report.counts["codings"] == sum(_coded(coded_project).values())
        # Same codings on the same words by the same coders; codes, memos, participants, categories, users.
        assert _coded(b) == _coded(coded_project)
        assert {c["label"] for c in b.code_rows()} == {c["label"] for c in coded_project.code_rows()}
        assert {(m["subject"], m["body"]) for m in b.memos()} == {(m["subject"], m["body"]) for m in coded_project.memos()}
        assert {(p["speaker"], p["side"], p["role_category"]) for p in b.participants()} == {
            (p["speaker"], p["side"], p["role_category"]) for p in coded_project.participants()}
        cat = b.conn.execute("SELECT name, definition FROM categories").fetchall()
        assert [tuple(r) for r in cat] == [("Judging value", "How value is judged.")]
        assert b.document_text("nw01_natarajan_procurement.md") == coded_project.document_text("nw01_natarajan_procurement.md")
        # Imported codings are human codings (no suggestion), and carry the provenance from the file.
        assert b.conn.execute("SELECT count(*) FROM codings WHERE suggestion_id IS NOT NULL").fetchone()[0] == 0
        assert b.conn.execute("SELECT count(*) FROM suggestions").fetchone()[0] == 0
        prov = [r[0] for r in b.conn.execute("SELECT description FROM imported_codings")]
        assert any("accepted by ann" in p for p in prov)
        assert b.search("price", k=3)  # imported sources are indexed
        second = tmp_path / "second.qdpx"
        b.export_qdpx(second)
        assert _normalised(_qde(second)) == _normalised(_qde(first))
        ev = b.audit_log(type_="import")[-1]
        assert ev["actor"] == "tester" and ev["payload"]["counts"]["codings"] == report.counts["codings"]
        assert not b.verify_audit()


def test_import_again_or_into_the_source_project_adds_nothing(coded_project: Project, tmp_path: Path) -> None:
    out = tmp_path / "study.qdpx"
    coded_project.export_qdpx(out)
    before = _coded(coded_project)
    n_codes = len(coded_project.code_rows())
    report = coded_project.import_qdpx(out, coder="tester")
    assert report.counts["codings"] == 0 and report.counts["sources"] == 0 and report.counts["codes"] == 0
    assert report.counts["codings_matched"] == sum(before.values())
    assert _coded(coded_project) == before and len(coded_project.code_rows()) == n_codes
    again = coded_project.import_qdpx(out, coder="tester")
    assert again.already and "nothing to do" in again.already


def test_import_needs_a_named_coder_and_bad_files_change_nothing(coded_project: Project, tmp_path: Path) -> None:
    out = tmp_path / "study.qdpx"
    coded_project.export_qdpx(out)
    with Project.init(tmp_path / "c", coder="", embedder="hash") as c:
        with pytest.raises(CoderAssistError, match="coder"):
            c.import_qdpx(out)
        events = len(c.audit_log())
        bad = tmp_path / "bad.qdpx"
        bad.write_bytes(b"PK\x03\x04 not really a zip")
        with pytest.raises(InputError) as exc:
            c.import_qdpx(bad, coder="dee")
        assert str(bad) in str(exc.value) and "\n" not in str(exc.value)
        # A project.qde that references a code the file lacks, and then breaks half way: nothing is kept.
        broken = tmp_path / "broken.qdpx"
        with zipfile.ZipFile(out) as z, zipfile.ZipFile(broken, "w") as w:
            for name in z.namelist():
                data = z.read(name)
                if name == "project.qde":
                    data = data.replace(b"<Cases>", b"<Cases><Case guid='not-a-guid'")  # malformed XML
                w.writestr(name, data)
        with pytest.raises(InputError):
            c.import_qdpx(broken, coder="dee")
        assert len(c.audit_log()) == events
        assert c.conn.execute("SELECT count(*) FROM documents").fetchone()[0] == 0
        assert c.conn.execute("SELECT count(*) FROM codes").fetchone()[0] == 0


def test_codebook_round_trip(coded_project: Project, tmp_path: Path) -> None:
    out = tmp_path / "book.qdc"
    report = coded_project.export_qdc(out)
    _schema("Codebook.xsd").assertValid(etree.parse(str(out)))
    assert report.counts["codes"] == len(coded_project.code_rows())
    with Project.init(tmp_path / "d", coder="tester", embedder="hash") as d:
        got = d.import_qdc(out, coder="dee")
        assert got.counts["codes"] == report.counts["codes"] and got.counts["categories"] == 1
        parents = {c["label"]: c["parent_id"] for c in d.code_rows()}
        ids = {c["label"]: c["id"] for c in d.code_rows()}
        assert parents["Price pressure"] == ids["Value talk"]
        again = d.export_qdc(tmp_path / "again.qdc")
        assert again.counts["codes"] == report.counts["codes"]
        strip = lambda p: etree.tostring(etree.parse(str(p)).getroot())  # noqa: E731
        assert strip(tmp_path / "again.qdc") == strip(out)


# -- the real exports in ../shared/refi/samples --------------------------------------------------
@needs_samples
def test_atlas_sample(project: Project) -> None:
    r = project.import_qdpx(SAMPLES / "atlasti-win-23.2_ponte_target-atlas-project.qdpx", coder="tester")
    assert r.counts["codes"] == 3 and r.counts["sources"] == 0 and r.counts["codings"] == 0
    rows = {c["label"]: c for c in project.code_rows()}
    parent = rows["Commits"]["id"]
    assert {c["label"] for c in project.code_rows() if c["parent_id"] == parent} == {
        "2022-05-10T02:05:59Z 19e4dce", "2022-02-11T10:39:25Z cdbfd92"}


@needs_samples
def test_nvivo_mac_sample_keeps_duplicate_names_apart_and_exports_them_again(project: Project, tmp_path: Path) -> None:
    path = SAMPLES / "nvivo-mac-15.0_qualitative-coding_nvivo_project.qdpx"
    r = project.import_qdpx(path, coder="tester")
    assert r.counts["codes"] == 262 and r.counts["codings"] == 0
    assert r.counts["sources"] == 0 and any("no plain text" in w for w in r.warnings)  # their text is only "\n"
    labels = [c["label"] for c in project.code_rows()]
    assert len(labels) == len(set(labels)) == 262
    assert "programming (cs_as_programming)" in labels
    out = tmp_path / "nvivo-again.qdpx"
    project.export_qdpx(out)
    ns = {"q": "urn:QDA-XML:project:1.0"}
    ours = etree.fromstring(_qde(out))
    with zipfile.ZipFile(path) as z:
        theirs = etree.fromstring(z.read("project.qde"))
    names = lambda doc: Counter((c.get("guid").lower(), c.get("name")) for c in doc.iter("{urn:QDA-XML:project:1.0}Code"))  # noqa: E731
    assert names(ours) == names(theirs)
    parent_of = lambda doc: {c.get("guid").lower(): c.getparent().get("guid") for c in doc.iter("{urn:QDA-XML:project:1.0}Code")}  # noqa: E731
    assert {k: (v or "").lower() for k, v in parent_of(ours).items()} == {k: (v or "").lower() for k, v in parent_of(theirs).items()}
    assert ours.find("q:CodeBook", ns) is not None


@needs_samples
def test_qc_sample_codings_cover_their_lines(project: Project) -> None:
    path = SAMPLES / "qc-1.3.2_qualitative-coding_demo.qdpx"
    r = project.import_qdpx(path, coder="tester")
    assert r.counts["sources"] == 2 and r.counts["codes"] == 262 and r.counts["codings"] == 205
    with zipfile.ZipFile(path) as z:
        doc = etree.fromstring(z.read("project.qde"))
        raw = z.read("sources/board_2017.txt").decode()
    lines = raw.split("\n")
    expected = Counter()
    names = {c.get("guid"): c.get("name") for c in doc.iter("{urn:QDA-XML:project:1.0}Code")}
    for sel in doc.iter("{urn:QDA-XML:project:1.0}PlainTextSelection"):
        n = int(sel.get("name").split(":")[1])
        for ref in sel.iter("{urn:QDA-XML:project:1.0}CodeRef"):
            expected[(names[ref.get("targetGUID")], lines[n].strip())] += 1
    got = Counter()
    for r_ in project.conn.execute(
        "SELECT c.label, substr(d.text, g.start + 1, g.end - g.start) FROM codings g JOIN codes c ON c.id = g.code_id"
        " JOIN documents d ON d.id = g.document_id"
    ):
        got[(r_[0].split(" (")[0], r_[1].strip())] += 1
    assert got == expected
    assert {r[0] for r in project.conn.execute("SELECT DISTINCT created_by FROM codings")} == {"cp"}


def _nvivo_style(tmp_path: Path) -> tuple[Path, list[str]]:
    """A NVivo-for-Windows-like file: BOM, CRLF, emoji; positions in UTF-16 units, CRLF counted as 2."""
    text = "Interviewer: How do you judge them? 🙂\r\n\r\nRespondent: The new CFO 😀 changed how we judge the supplier.\r\n\r\nRespondent: Price 💶 first, then risk.\r\n"
    wanted = ["judge the supplier", "Price", "then risk"]
    def u16(i: int) -> int:
        return len(text[:i].encode("utf-16-le")) // 2
    guid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    sels = []
    for n, w in enumerate(wanted):
        i = text.index(w)
        sels.append(f'<PlainTextSelection guid="1f8fad5b-d9cb-469f-a165-7086772895{n:02d}" startPosition="{u16(i)}" '
                    f'endPosition="{u16(i + len(w))}"><Coding guid="2f8fad5b-d9cb-469f-a165-7086772895{n:02d}" '
                    f'creatingUser="3f8fad5b-d9cb-469f-a165-70867728950e"><CodeRef targetGUID="4f8fad5b-d9cb-469f-a165-70867728950e"/>'
                    "</Coding></PlainTextSelection>")
    qde = ('<?xml version="1.0" encoding="utf-8"?><Project xmlns="urn:QDA-XML:project:1.0" name="nv" origin="NVivo 12.6 (Windows)">'
           '<Users><User guid="3f8fad5b-d9cb-469f-a165-70867728950e" name="Nadia"/></Users>'
           '<CodeBook><Codes><Code guid="4f8fad5b-d9cb-469f-a165-70867728950e" name="Judging value" isCodable="true"/></Codes></CodeBook>'
           f'<Sources><TextSource guid="{guid}" name="Interview 1" plainTextPath="internal://{guid}.txt">{"".join(sels)}</TextSource>'
           "</Sources></Project>")
    path = tmp_path / "nvivo.qdpx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("project.qde", qde)
        z.writestr(f"Sources/{guid}.txt", b"\xef\xbb\xbf" + text.encode("utf-8"))
    return path, wanted


def test_utf16_positions_land_on_the_same_words(project: Project, tmp_path: Path) -> None:
    path, wanted = _nvivo_style(tmp_path)
    r = project.import_qdpx(path, coder="tester")
    assert r.offset_units["Interview 1"] == "utf16-crlf"
    got = sorted(t for (_, _, t, who) in _coded(project) if who == "Nadia")
    assert got == sorted(wanted)
    assert "\r" not in project.document_text("Interview 1")


# -- the CLI ------------------------------------------------------------------------------------------
def test_cli_export_and_import(coded_project: Project, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli.qdpx"
    res = runner.invoke(app, ["-p", str(coded_project.root), "export", "qdpx", str(out)])
    assert res.exit_code == 0, res.output
    assert "valid against the REFI-QDA project schema" in res.output and out.exists()
    Project.init(tmp_path / "e", coder="", embedder="hash").close()
    res = runner.invoke(app, ["-p", str(tmp_path / "e"), "import", "qdpx", str(out)])
    assert res.exit_code == 1 and "coder" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["-p", str(tmp_path / "e"), "--coder", "fay", "import", "qdpx", str(out)])
    assert res.exit_code == 0, res.output
    assert "as decisions of fay" in res.output and "2 sources added" in res.output
    bad = tmp_path / "evil.qdpx"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("project.qde", '<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><Project name="&x;"/>')
    bad.write_bytes(buf.getvalue())
    res = runner.invoke(app, ["-p", str(tmp_path / "e"), "--coder", "fay", "import", "qdpx", str(bad)])
    assert res.exit_code == 1 and str(bad) in res.output and "root:" not in res.output
    assert len([ln for ln in res.output.splitlines() if ln.strip()]) == 1
