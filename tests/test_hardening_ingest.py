"""Hardening of ingest inputs (issue 12): strict JSON and CSV models, the one character rule, timing
warnings, docx resource limits measured in a child process, folder walks that stay in the folder,
and multi-file ingests where every file gets its own outcome."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from coder_assist.errors import InputError
from coder_assist.ingest import limits, pipeline
from coder_assist.ingest.decode import clean_text, decode_bytes
from coder_assist.ingest.formats import parse_bytes
from coder_assist.ingest.formats.docx import check_directory
from coder_assist.store.csvsafe import csv_safe

INTERVIEW = "Interviewer: How was the tender?\n\nAnn: Tense. The price was too high.\n"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def refused(name: str, data: bytes | str) -> InputError:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with pytest.raises(InputError) as error:
        parse_bytes(name, raw)
    message = str(error.value)
    assert message.startswith(f"{name}: ") and "\n" not in message
    return error.value


def documents(project) -> int:  # noqa: ANN001 - the conftest fixture
    return project.store.conn.execute("SELECT count(*) FROM documents").fetchone()[0]


def test_every_limit_has_a_docstring() -> None:
    names = [name for name in vars(limits) if name.isupper() and name != "MB"]
    listed = {name: (value, doc) for name, value, doc in limits.documented()}
    assert sorted(listed) == sorted(names)
    assert listed["MAX_JSON_DEPTH"][0] == limits.MAX_JSON_DEPTH
    assert all(len(doc) > 20 for _, doc in listed.values())


# --- JSON: strict model -------------------------------------------------------------------------


def test_json_lone_surrogate_is_an_input_error() -> None:
    error = refused("s.json", '[{"speaker": "Ann", "text": "broken \\ud800 here"}]')
    assert "lone surrogate U+D800" in error.reason


def test_json_surrogate_pair_escape_is_fine() -> None:
    turn = parse_bytes("ok.json", b'[{"speaker": "Ann", "text": "smile \\ud83d\\ude00"}]').turns[0]
    assert turn.text == "smile \U0001F600"


def test_json_number_with_5000_digits_is_refused() -> None:
    error = refused("n.json", '[{"text": "a", "start": ' + "9" * 5000 + "}]")
    assert "5,000 characters" in error.reason


@pytest.mark.parametrize("opener, closer", [("[", "]"), ('{"a":', "}")])
def test_json_nested_100000_deep_is_refused_before_parsing(opener: str, closer: str) -> None:
    error = refused("deep.json", opener * 100_000 + "1" + closer * 100_000)
    assert f"deeper than {limits.MAX_JSON_DEPTH} levels" in error.reason


def test_json_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps([{"speaker": "Ann", "text": "[" * 5_000 + ' "quoted" {' + "}" * 10}])
    assert parse_bytes("b.json", text.encode()).turns[0].text.startswith("[[[")


@pytest.mark.parametrize(
    ("speaker", "kind"), [([1, 2], "a list"), ({"name": "x"}, "an object"), (True, "true/false")]
)
def test_json_speaker_that_is_not_a_scalar_is_refused(speaker: object, kind: str) -> None:
    error = refused("sp.json", json.dumps([{"text": "ok"}, {"speaker": speaker, "text": "Hi."}]))
    assert error.reason == f"item at index 1: speaker is {kind}, not a string"


def test_json_numeric_speaker_is_kept_as_its_text() -> None:
    assert parse_bytes("n.json", b'[{"speaker": 7, "text": "Hi."}]').turns[0].speaker == "7"


@pytest.mark.parametrize(
    ("start", "reason"),
    [
        ("NaN", "malformed JSON: NaN is not a JSON number"),
        ("Infinity", "malformed JSON: Infinity is not a JSON number"),
        ("-Infinity", "malformed JSON: -Infinity is not a JSON number"),
        ("1e999", "malformed JSON: number 1e999 is out of range"),
        ('"NaN"', "item at index 0: start time 'NaN' is not a finite number of seconds"),
        ('"-inf"', "item at index 0: start time '-inf' is not a finite number of seconds"),
        ("[1]", "item at index 0: start time is a list, not a number"),
    ],
)
def test_json_non_finite_or_odd_start_times_are_refused(start: str, reason: str) -> None:
    assert refused("t.json", f'[{{"speaker": "Ann", "text": "Hi.", "start": {start}}}]').reason == reason


def test_json_text_over_the_turn_limit_is_refused() -> None:
    error = refused("long.json", json.dumps([{"text": "a" * (limits.MAX_TURN_CHARS + 1)}]))
    assert "index 0: text" in error.reason


def test_refused_json_leaves_the_project_unchanged(project, write) -> None:
    bad = write("deep.json", "[" * 100_000)
    report = project.ingest([bad])
    assert [e.path for e in report.failures] == [str(bad)]
    assert documents(project) == 0
    assert project.verify_audit() == []


# --- decode: the one character rule -------------------------------------------------------------


def test_control_characters_are_replaced_with_a_warning() -> None:
    data = "Ann: one\x07two\x1b[0m\x0cthree\x85four, a line long enough not to look binary".encode()
    text, _, warnings = decode_bytes(data, "c.txt")
    assert text == "Ann: one two [0m\nthree\nfour, a line long enough not to look binary"
    assert warnings == ["replaced 2 control characters (U+0007, U+001B) by spaces"]


def test_control_characters_in_json_strings_go_through_the_same_rule() -> None:
    result = parse_bytes("c.json", b'[{"speaker": "Ann\\u0000", "text": "a\\u0007b"}]')
    assert (result.turns[0].speaker, result.turns[0].text) == ("Ann", "a b")
    assert any("control character" in w for w in result.warnings)


def test_clean_text_refuses_lone_surrogates_and_keeps_tabs() -> None:
    assert clean_text("a\tb\nc", "x.txt") == ("a\tb\nc", [])
    with pytest.raises(InputError, match=re.escape("x.txt: text holds a lone surrogate U+DC80")):
        clean_text("a\udc80", "x.txt")


# --- VTT and SRT timing warnings -----------------------------------------------------------------

VTT_BACKWARDS = "WEBVTT\n\n00:05.000 --> 00:04.000\n<v Ann>Hello.\n\n00:06.000 --> 00:07.000\n<v Bob>Hi.\n"
SRT_SHUFFLED = (
    "1\n00:00:01,000 --> 00:00:02,000\nAnn: One.\n\n"
    "3\n00:00:09,000 --> 00:00:10,000\nBob: Three.\n\n"
    "2\n00:00:03,000 --> 00:00:04,000\nAnn: Two.\n\n"
    "4\n00:00:11,000 --> 00:00:12,000\nBob: Four.\n"
)


def test_vtt_cue_ending_before_it_starts_is_a_warning() -> None:
    result = parse_bytes("c.vtt", VTT_BACKWARDS.encode())
    assert [t.speaker for t in result.turns] == ["Ann", "Bob"]
    assert result.warnings == ["cue 1 (line 3) ends before it starts (5s --> 4s)"]


def test_srt_blocks_out_of_order_are_a_warning() -> None:
    result = parse_bytes("s.srt", SRT_SHUFFLED.encode())
    assert [t.text for t in result.turns] == ["One.", "Three.", "Two.", "Four."]
    assert result.warnings == [
        "SRT blocks out of order: block 2 follows block 3; kept in file order",
        "block 2 starts at 3s, before the one before it (9s): out of order",
    ]


def test_timing_warnings_reach_the_ingest_report(project, write) -> None:
    report = project.ingest([write("c.vtt", VTT_BACKWARDS), write("s.srt", SRT_SHUFFLED)])
    assert report.ok
    warned = {f.name: f.warnings for f in report.files}
    assert "ends before it starts" in warned["c.vtt"][0]
    assert "out of order" in warned["s.srt"][0]


# --- participants CSV ----------------------------------------------------------------------------


def test_duplicate_participant_id_is_refused_naming_both_lines(project, write) -> None:
    path = write("p.csv", "participant_id,speaker,side\nP1,Ann,buyer\nP2,Bob,supplier\nP1,Cid,buyer\n")
    with pytest.raises(InputError) as error:
        project.import_attributes(path)
    assert error.value.reason == "lines 2 and 4: duplicate participant id 'P1'"
    assert project.participants() == []


def test_formula_cells_are_kept_as_the_participants_values(project, write) -> None:
    path = write("p.csv", "participant_id,speaker,organisation,notes\nP1,Ann,=HYPERLINK(1),@SUM(2)\n")
    project.import_attributes(path)
    row = project.participants()[0]
    assert row["organisation"] == "=HYPERLINK(1)"
    assert "@SUM(2)" in json.dumps(row)


@pytest.mark.parametrize(
    "body, reason",
    [
        ("id,speaker,notes\nP1,Ann," + "x" * (limits.MAX_CSV_CELL_CHARS + 1) + "\n", "column 'notes'"),
        ('id,speaker\nP1,"' + "x" * 200_000 + '"\n', "malformed CSV"),
        (",".join(f"c{i}" for i in range(limits.MAX_CSV_COLUMNS + 1)) + ",id\nP1\n", "columns (limit"),
    ],
)
def test_oversized_csv_is_refused(project, write, body: str, reason: str) -> None:
    with pytest.raises(InputError, match=re.escape(reason)):
        project.import_attributes(write("p.csv", body))
    assert project.participants() == []


@pytest.mark.parametrize(
    ("value", "safe"),
    [("=1+1", "'=1+1"), ("+31 6", "'+31 6"), ("-5", "'-5"), ("@cmd", "'@cmd"), ("\tx", "'\tx"), ("\rx", "'\rx"),
     ("Ann", "Ann"), ("", ""), ("a=b", "a=b"), (-5, -5), (None, None)],
)
def test_csv_safe_prefixes_formula_starts(value: object, safe: object) -> None:
    assert csv_safe(value) == safe


# --- docx resource limits --------------------------------------------------------------------------


def _template() -> bytes:
    import docx

    buffer = io.BytesIO()
    docx.Document().save(buffer)
    return buffer.getvalue()


def write_docx(path: Path, body_chunks, compression: int = zipfile.ZIP_DEFLATED) -> Path:  # noqa: ANN001
    """A real .docx whose ``word/document.xml`` body is streamed from ``body_chunks`` (bytes)."""
    with zipfile.ZipFile(io.BytesIO(_template())) as src, zipfile.ZipFile(path, "w", compression) as dst:
        for info in src.infolist():
            if info.filename != "word/document.xml":
                dst.writestr(info.filename, src.read(info))
                continue
            with dst.open("word/document.xml", "w", force_zip64=True) as out:
                out.write(f'<w:document xmlns:w="{W_NS}"><w:body>'.encode())
                for chunk in body_chunks:
                    out.write(chunk)
                out.write(b"</w:body></w:document>")
    return path


_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    from coder_assist import Project
    def peak_mb():
        # VmHWM is this process's own peak; ru_maxrss would include the parent's peak, which Linux
        # carries over an exec (so a big pytest process would count against the child).
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    project = Project.init(Path(sys.argv[1]), coder="t", embedder="hash")
    started = time.perf_counter()
    report = project.ingest([Path(sys.argv[2])])
    print(json.dumps({
        "seconds": time.perf_counter() - started,
        "rss_mb": peak_mb(),
        "failures": [e.reason for e in report.failures],
        "documents": len(project.documents()),
    }))
    """
)


def ingest_in_child(tmp_path: Path, file: Path) -> dict:
    """Ingest ``file`` into a fresh project in a child process limited to 1.5 GB of address space."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1_500 * 2**20, 1_500 * 2**20))

    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "proj"), str(file)], capture_output=True, text=True,
        timeout=120, preexec_fn=limit, env={**os.environ, "CODER_ASSIST_NO_PLUGINS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_docx_zip_bomb_is_refused_from_the_directory_quickly_and_small(tmp_path: Path) -> None:
    paragraph = b"<w:p><w:r><w:t>Ann: the same words again and again</w:t></w:r></w:p>"
    chunk = paragraph * 16_384  # ~1 MB
    bomb = write_docx(tmp_path / "bomb.docx", (chunk for _ in range(600)))  # ~600 MB of XML
    assert bomb.stat().st_size < 3_000_000
    outcome = ingest_in_child(tmp_path, bomb)
    assert len(outcome["failures"]) == 1 and "looks like a zip bomb" in outcome["failures"][0]
    assert outcome["documents"] == 0
    assert outcome["seconds"] < 20 and outcome["rss_mb"] < 500


def test_docx_with_too_many_paragraphs_is_refused_quickly_and_small(tmp_path: Path) -> None:
    # Distinct short paragraphs compress only ~10:1, so the ratio check passes; the paragraph count does not.
    count = limits.MAX_DOCX_PARAGRAPHS * 3
    chunks = (f"<w:p><w:r><w:t>{n:x}</w:t></w:r></w:p>".encode() for n in range(count))
    many = write_docx(tmp_path / "many.docx", chunks)
    with zipfile.ZipFile(many) as archive:
        check_directory(archive.infolist(), many)  # passes: the count is what refuses it
    outcome = ingest_in_child(tmp_path, many)
    assert outcome["failures"] == [f".docx has over {limits.MAX_DOCX_PARAGRAPHS:,} paragraphs (limit per file)"]
    assert outcome["seconds"] < 20 and outcome["rss_mb"] < 500


def test_docx_over_the_xml_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    chunk = os.urandom(1_000_000).hex().encode()  # 2 MB of incompressible text, ratio ~2:1
    path = write_docx(tmp_path / "big.docx", (b"<w:p><w:r><w:t>" + chunk + b"</w:t></w:r></w:p>" for _ in range(25)))
    assert "MB of XML (limit 40 MB)" in refused("big.docx", path.read_bytes()).reason


def test_small_docx_still_parses(tmp_path: Path) -> None:
    lines = ["Interviewer: Why?", "Ann: Price.", "Interviewer: And?", "Ann: Time."]
    path = write_docx(tmp_path / "ok.docx", [f"<w:p><w:r><w:t>{line}</w:t></w:r></w:p>".encode() for line in lines])
    assert [f"{t.speaker}: {t.text}" for t in parse_bytes("ok.docx", path.read_bytes()).turns] == lines


# --- folder ingest -------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder with a transcript, a link out of it, a link inside it, a FIFO, hidden and unsupported files."""
    root = tmp_path / "interviews"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text(INTERVIEW)
    (root / "sub" / "b.md").write_text(INTERVIEW.replace("Tense", "Calm"))
    outside = tmp_path / "secret.txt"
    outside.write_text("Root: x:0:0:root\n\nRoot: secret\n")
    (root / "passwd.txt").symlink_to(outside)
    (root / "again.txt").symlink_to(root / "a.txt")
    (root / "loop").symlink_to(root)
    os.mkfifo(root / "pipe.txt")
    (root / ".hidden.txt").write_text(INTERVIEW)
    (root / ".git").mkdir()
    (root / ".git" / "c.txt").write_text(INTERVIEW)
    (root / "audio.mp3").write_bytes(b"ID3")
    return root


def test_folder_walk_never_leaves_the_folder(folder: Path) -> None:
    found = pipeline.expand([folder])
    assert [p.relative_to(folder).as_posix() for p in found.files] == ["a.txt", "again.txt", "sub/b.md"]
    notices = "\n".join(found.notices)
    assert "passwd.txt: skipped, a symbolic link to" in notices and "outside the folder" in notices
    assert "loop: skipped, a symbolic link to a folder or special file" in notices
    assert "pipe.txt: skipped, a FIFO" in notices
    assert "skipped 1 file(s) of unsupported type: audio.mp3" in notices
    assert f"{folder}: skipped 2 hidden file(s) or folder(s) (names starting with '.')" in found.notices


def test_hidden_entries_are_taken_only_when_asked(folder: Path) -> None:
    found = pipeline.expand([folder], include_hidden=True)
    assert {".hidden.txt", "c.txt"} <= {p.name for p in found.files}
    assert not any("names starting with '.'" in n for n in found.notices)


def test_folder_ingest_reports_what_it_skipped_and_stores_nothing_from_outside(project, folder: Path) -> None:
    report = project.ingest([folder], index=False)
    assert report.ok
    assert sorted(Path(f.path).name for f in report.files) == ["a.txt", "again.txt", "b.md"]
    texts = [project.document_text(f.name) for f in report.files if f.status != "unchanged"]
    assert not any("secret" in t for t in texts)
    assert any("passwd.txt: skipped" in w for w in report.warnings)


def test_a_link_named_by_the_user_is_followed_with_a_notice(project, folder: Path) -> None:
    report = project.ingest([folder / "passwd.txt"], index=False)
    assert [f.name for f in report.files] == ["passwd.txt"]
    assert any("symbolic link named on the command line, followed to" in w for w in report.warnings)


def test_folders_nested_too_deep_are_skipped_with_a_warning(tmp_path: Path) -> None:
    deep = tmp_path / "root"
    leaf = deep.joinpath(*["d"] * (limits.MAX_FOLDER_DEPTH + 2))
    leaf.mkdir(parents=True)
    (leaf / "x.txt").write_text(INTERVIEW)
    (deep / "top.txt").write_text(INTERVIEW)
    found = pipeline.expand([deep])
    assert [p.name for p in found.files] == ["top.txt"]
    assert any(f"over {limits.MAX_FOLDER_DEPTH} folder levels deep" in n for n in found.notices)


def test_files_per_call_are_capped_before_anything_is_ingested(project, folder: Path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "MAX_FILES_PER_CALL", 2)
    with pytest.raises(InputError, match="more than 2 files in one ingest"):
        project.ingest([folder])
    assert documents(project) == 0


def test_file_name_with_invalid_utf8_is_refused_in_one_printable_line(project, tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/bad\xff.txt"
    with open(raw, "w", encoding="utf-8") as handle:
        handle.write(INTERVIEW)
    report = project.ingest([Path(os.fsdecode(raw))])
    assert len(report.failures) == 1 and "not valid UTF-8" in report.failures[0].reason
    str(report.failures[0]).encode("utf-8")  # printable: no lone surrogate left
    assert documents(project) == 0


# --- multi-file ingest: every file its own outcome ---------------------------------------------------


def test_an_unexpected_error_in_one_file_does_not_stop_the_batch(project, write, monkeypatch) -> None:
    real = pipeline.parse_bytes

    def faulty(path, data):  # noqa: ANN001, ANN202 - a parser with a bug for one file
        if Path(path).name == "b.txt":
            raise RuntimeError("parser bug\nsecond line")
        return real(path, data)

    monkeypatch.setattr(pipeline, "parse_bytes", faulty)
    paths = [write("a.txt", INTERVIEW), write("b.txt", INTERVIEW + "x"), write("c.txt", INTERVIEW.replace("Tense", "Calm"))]
    report = project.ingest(paths)
    assert [f.name for f in report.files] == ["a.txt", "c.txt"]
    assert [(e.path, e.reason) for e in report.failures] == [
        (str(paths[1]), "unexpected error (RuntimeError: parser bug second line)")
    ]
    assert not report.ok
    indexed = project.store.conn.execute(
        "SELECT d.name, count(*) FROM index_state i JOIN segments s ON s.id = i.segment_id"
        " JOIN documents d ON d.id = s.document_id GROUP BY d.name ORDER BY d.name"
    ).fetchall()
    assert [row[0] for row in indexed] == ["a.txt", "c.txt"] and report.indexed > 0
