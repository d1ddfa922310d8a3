"""Project API end to end on real SQLite and real chroma (hash embedder, so no model load)."""

from __future__ import annotations

import shutil

import pytest

from coder_assist import InputError, Project, ProjectError
from coder_assist.store import audit
from coder_assist.store.config import CONFIG_NAME

from .conftest import FIXTURES, SHARED

INTERVIEW = """Interviewer: How did the renewal go?

Priya Natarajan: Honestly it was tense. The new CFO wanted every invoice checked against the contract.

Finance kept finding small discrepancies.

Interviewer: And operations?

Tom Berg: Operations loved the supplier. They fixed the conveyor at two in the morning.
"""

PARTICIPANTS = """participant_id,speaker,side,role_category,organisation,case,notes
B1,Priya Natarajan,buyer,Fin,Northwind,northwind,joined 2019
B2,Tom Berg,buyer,Del,Northwind,northwind,
R1,Interviewer,researcher,,,,
"""


def snapshot(proj: Project) -> dict:
    """Everything a failed ingest must leave untouched."""
    tables = ["documents", "turns", "segments", "participants", "events", "index_state"]
    return {t: proj.conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables} | {
        "index": proj.index.count()
    }


def test_config_edits_are_recorded_in_the_audit_trail(tmp_path):
    Project.init(tmp_path / "p", coder="ann", embedder="hash").close()
    path = tmp_path / "p" / CONFIG_NAME
    Project.open(tmp_path / "p").close()  # unchanged: nothing recorded
    path.write_text(path.read_text().replace("max_tokens = 64", "max_tokens = 48"), encoding="utf-8")
    p = Project.open(tmp_path / "p")
    events = p.audit_log(type_="config-change")
    assert len(events) == 1 and events[0]["payload"]["changed"] == {"segmentation.max_tokens": [64, 48]}
    p.close()
    assert len(Project.open(tmp_path / "p").audit_log(type_="config-change")) == 1


@pytest.mark.sqlite_only
def test_init_creates_db_index_and_config(tmp_path):
    proj = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    assert (tmp_path / "p" / "project.db").is_file()
    assert (tmp_path / "p" / "index").is_dir()
    assert (tmp_path / "p" / CONFIG_NAME).read_text().count("[embedder]") == 1
    assert proj.status()["events"] == 1
    proj.close()
    with pytest.raises(ProjectError, match="already"):
        Project.init(tmp_path / "p")
    with pytest.raises(ProjectError, match="not a coder-assist project"):
        Project.open(tmp_path / "elsewhere")


def test_ingest_stores_turns_segments_and_offsets(project, write):
    path = write("interview.txt", INTERVIEW)
    report = project.ingest([path], wave=1)
    assert report.ok and report.files[0].status == "added"
    doc = project.documents()[0]
    assert doc["speakers"] == ["Interviewer", "Priya Natarajan", "Tom Berg"]
    assert doc["turns"] == 4 and doc["wave"] == 1
    text = project.document_text("interview.txt")
    for seg in project.segments():
        assert text[seg["start"] : seg["end"]] == seg["text"]
    # A follow-on paragraph without a label belongs to the previous speaker.
    finance = [s for s in project.segments() if "Finance kept" in s["text"]][0]
    assert finance["speaker"] == "Priya Natarajan"
    assert report.indexed == len(project.segments()) == project.index.count()
    assert project.status()["indexed"] == project.status()["segments"]


def test_reingest_identical_content_is_a_noop(project, write):
    path = write("interview.txt", INTERVIEW)
    project.ingest([path])
    before = snapshot(project)
    copy = write("renamed-copy.txt", INTERVIEW)
    report = project.ingest([path, copy])
    assert [f.status for f in report.files] == ["unchanged", "unchanged"]
    assert "already ingested as interview.txt v1" in report.files[1].message
    assert snapshot(project) == before


def test_reingest_with_new_wave_updates_metadata_only(project, write):
    path = write("interview.txt", INTERVIEW)
    project.ingest([path])
    report = project.ingest([path], wave=2)
    assert report.files[0].status == "updated"
    assert project.documents()[0]["wave"] == 2
    assert project.search("invoice", k=3, wave=2)[0].wave == 2  # the index metadata followed
    assert project.search("invoice", k=3, wave=1) == []


def test_changed_file_becomes_new_version_and_old_is_kept(project, write):
    path = write("interview.txt", INTERVIEW)
    project.ingest([path])
    old_ids = {s["id"] for s in project.segments()}
    path.write_text(INTERVIEW.replace("two in the morning", "three in the morning"), encoding="utf-8")
    report = project.ingest([path])
    assert report.files[0].status == "new-version" and report.files[0].version == 2
    docs = project.documents(all_versions=True)
    assert [(d["version"], d["current"]) for d in docs] == [(1, False), (2, True)]
    assert project.conn.execute("SELECT count(*) FROM segments WHERE id IN (%s)" % ",".join("?" * len(old_ids)),
                                tuple(old_ids)).fetchone()[0] == len(old_ids)  # fmt: skip
    new_ids = {s["id"] for s in project.segments()}
    assert new_ids.isdisjoint(old_ids)
    assert project.index.count() == len(new_ids)  # superseded segments left the index
    assert "three in the morning" in project.search("conveyor morning", k=1)[0].text


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\n \n", "empty"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
        ("notes.pdf", b"%PDF-1.4 whatever", "unsupported"),
        ("broken.vtt", b"not a vtt file\n\n00:00 --> nonsense\nhi", "WebVTT"),
        ("broken.json", b'[{"speaker": "A", "text": "hi"', "JSON"),
        ("broken.docx", b"PK\x03\x04 this is not really a zip", "docx"),
    ],
)
def test_bad_input_fails_with_reason_and_leaves_project_unchanged(project, write, name, content, reason):
    project.ingest([write("good.txt", INTERVIEW)])
    before = snapshot(project)
    report = project.ingest([write(name, content)])
    assert not report.ok
    err = report.failures[0]
    assert err.path.endswith(name) and reason.lower() in err.reason.lower()
    assert "\n" not in str(err)
    assert snapshot(project) == before


def test_oversized_file_is_refused(project, write):
    project.config.ingest.max_file_mb = 0.0001
    report = project.ingest([write("big.txt", INTERVIEW * 5)])
    assert "over the" in report.failures[0].reason and project.documents() == []


def test_multi_file_ingest_goes_on_past_bad_files(project, write):
    paths = [write("a.txt", INTERVIEW), write("bad.json", b"{"), write("c.txt", INTERVIEW.replace("tense", "calm")),
             write("empty.md", b"")]  # fmt: skip
    report = project.ingest(paths)
    assert [f.name for f in report.files] == ["a.txt", "c.txt"]
    assert sorted(e.path.rsplit("/", 1)[1] for e in report.failures) == ["bad.json", "empty.md"]


def test_missing_file_is_an_input_error(project, tmp_path):
    report = project.ingest([tmp_path / "nope.txt"])
    assert report.failures[0].reason == "no such file"


def test_encodings_give_identical_documents(project, write):
    base = "Interviewer: Was it fair?\n\nZoë Lindqvist: Naïve pricing – €40k too high.\n"
    variants = {
        "u8.txt": base.encode("utf-8"),
        "bom.txt": b"\xef\xbb\xbf" + base.encode("utf-8"),
        "u16.txt": base.encode("utf-16"),
        "win.txt": base.replace("\n", "\r\n").encode("cp1252"),
    }
    report = project.ingest([write(n, c) for n, c in variants.items()])
    assert report.ok
    texts = {project.document_text(n) for n in variants}
    assert len(texts) == 1 and "Zoë Lindqvist: Naïve pricing – €40k" in texts.pop()
    warned = {f.name for f in report.files if f.warnings}
    assert warned == {"win.txt"}
    encodings = {d["name"]: d["encoding"] for d in project.documents()}
    assert encodings == {"u8.txt": "utf-8", "bom.txt": "utf-8-sig", "u16.txt": "utf-16", "win.txt": "cp1252"}


def test_attributes_join_segments_and_filter_search(project, write):
    project.ingest([write("interview.txt", INTERVIEW)], wave=1, attributes=write("p.csv", PARTICIPANTS))
    hits = project.search("conveyor supplier operations", k=5, side="buyer")
    assert hits and all(h.side == "buyer" for h in hits)
    assert hits[0].speaker == "Tom Berg" and hits[0].role_category == "Del" and hits[0].case == "northwind"
    assert all(h.speaker != "Interviewer" for h in hits)
    assert project.documents()[0]["case"] == "northwind"  # inferred from the participants
    assert project.search("invoice", k=5, speaker="Tom Berg")[0].speaker == "Tom Berg"
    assert project.search("invoice", k=5, wave=2) == []
    extra = {p["id"]: p for p in project.participants()}["B1"]
    assert extra["notes"] == "joined 2019"


def test_attributes_can_be_updated_later_and_reach_the_index(project, write):
    project.ingest([write("interview.txt", INTERVIEW)])
    assert project.search("conveyor", k=3, side="buyer") == []
    project.import_attributes(write("p.csv", PARTICIPANTS))
    assert project.search("conveyor", k=3, side="buyer")[0].speaker == "Tom Berg"
    report = project.import_attributes(write("p2.csv", "participant_id,side\nB2,supplier\n"))
    assert report.updated == ["Tom Berg"] and report.added == []
    tom = {p["id"]: p for p in project.participants()}["B2"]
    assert tom["side"] == "supplier" and tom["organisation"] == "Northwind"  # other columns kept
    assert tom["speaker"] == "Tom Berg"  # no speaker column: the label is not touched
    assert project.search("conveyor", k=3, side="supplier")[0].speaker == "Tom Berg"


@pytest.mark.parametrize(
    "csv_text, reason",
    [
        ("", "empty"),
        ("side,sector\nbuyer,x\n", "participant_id"),
        ("participant_id,speaker\nB1,Ann\nB2,Ann\n", "line 3"),
        ("participant_id,speaker\nB1,Ann,extra\n", "line 2"),
        ("participant_id,speaker\n", "no participant rows"),
    ],
)
def test_bad_attribute_csv_is_refused_without_changes(project, write, csv_text, reason):
    before = snapshot(project)
    with pytest.raises(InputError) as exc:
        project.import_attributes(write("bad.csv", csv_text))
    assert reason in str(exc.value) and "bad.csv" in str(exc.value)
    assert snapshot(project) == before


@pytest.mark.sqlite_only
def test_index_is_rebuilt_from_the_database(project, write):
    project.ingest([write("interview.txt", INTERVIEW)])
    before = project.search("invoice checked against the contract", k=len(project.segments()))
    assert before[0].score > 0.3 and "invoice" in before[0].text
    # A copy of the database and config without index/ (as on a colleague's machine).
    copy = project.root.parent / "copy"
    copy.mkdir()
    project.conn.execute("PRAGMA wal_checkpoint(FULL)")
    for name in ("project.db", CONFIG_NAME):
        shutil.copy(project.root / name, copy / name)
    reopened = Project.open(copy, embedder=project.embedder)
    assert reopened.index.count() == 0
    assert reopened.index_pending() == len(project.segments())  # noticed the missing index
    assert reopened.reindex() == len(project.segments())
    after = reopened.search("invoice checked against the contract", k=len(project.segments()))
    assert after[0].segment_id == before[0].segment_id  # ties at equal scores may come in any order
    assert sorted(h.score for h in after) == sorted(h.score for h in before)
    reopened.close()


def test_interrupted_indexing_resumes_without_duplicates(project, write, monkeypatch):
    project.ingest([write("interview.txt", INTERVIEW)], index=False)
    total = len(project.segments())
    assert project.index.count() == 0 and project.status()["indexed"] == 0
    calls = {"n": 0}
    real = project.index.upsert

    def flaky(ids, vectors, metas):
        calls["n"] += 1
        real(ids[:2], vectors[:2], metas[:2])
        raise KeyboardInterrupt  # the process dies after part of the batch reached chroma

    monkeypatch.setattr(project.index, "upsert", flaky)
    with pytest.raises(KeyboardInterrupt):
        project.index_pending()
    monkeypatch.undo()
    assert project.status()["indexed"] == 0
    assert project.index_pending() == total
    assert project.index.count() == total and project.index_pending() == 0


def test_every_ingest_is_in_the_audit_trail(project, write):
    project.ingest([write("interview.txt", INTERVIEW)], coder="bea")
    rows = project.conn.execute("SELECT actor, type, payload FROM events ORDER BY seq").fetchall()
    assert [r["type"] for r in rows] == ["project-init", "ingest"]
    assert rows[1]["actor"] == "bea" and '"sha256"' in rows[1]["payload"]
    assert audit.verify(project.conn) == []


def test_fixture_set_ingests(project):
    report = project.ingest([FIXTURES / "wave1"], wave=1, attributes=FIXTURES / "participants.csv")
    report2 = project.ingest([FIXTURES / "wave2"], wave=2)
    assert report.ok and report2.ok
    docs = project.documents()
    assert len(docs) >= 9 and {d["wave"] for d in docs} == {1, 2}
    assert len({d["format"] for d in docs}) >= 3
    known = {p["speaker"] for p in project.participants()}
    spoken = {s for d in docs for s in d["speakers"]}
    assert spoken <= known, f"speakers missing from participants.csv: {spoken - known}"
    assert max(len(d["speakers"]) for d in docs) >= 6  # the focus group


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared not present")
def test_all_shared_transcripts_ingest_with_their_speakers(project):
    report = project.ingest([SHARED])
    assert report.ok, [str(e) for e in report.failures]
    speakers = {d["name"]: set(d["speakers"]) for d in project.documents()}
    assert speakers["founders-talk-96.md"] == {"Adam Stacoviak", "Michael Grinich"}
    assert speakers["cat-allman.vtt"] == {"Elisabetta Mori", "Cat Allman"}
    assert speakers["larry-augustin.vtt"] == {"Elisabetta Mori", "Larry Augustin"}
    assert len(speakers["the-changelog-653.md"]) == 9
    assert len(speakers["original_examples.json"]) == 4
    assert speakers["Exp_P1.txt"] == speakers["Exp_P3.txt"] == {"Interviewer", "Respondent"}
    for d in project.documents():
        text = project.document_text(d["name"])
        for seg in project.segments(d["name"]):
            assert text[seg["start"] : seg["end"]] == seg["text"]
