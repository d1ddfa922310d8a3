"""The command line: exit codes, one-line errors, JSON output, project selection."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from coder_assist.cli.app import app
from coder_assist.store.config import CONFIG_NAME, Config

from .test_project import INTERVIEW, PARTICIPANTS

runner = CliRunner()


def _init(tmp_path):
    proj = tmp_path / "proj"
    result = runner.invoke(app, ["--coder", "ann", "init", str(proj), "--embedder", "hash"])
    assert result.exit_code == 0, result.output
    return proj


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("init", "ingest", "search", "reindex", "sources", "segments", "attributes", "status"):
        assert cmd in result.output


def test_init_ingest_search_json(tmp_path, write):
    proj = _init(tmp_path)
    assert Config.load(proj / CONFIG_NAME).project.coder == "ann"
    csv = write("p.csv", PARTICIPANTS)
    r = runner.invoke(app, ["-p", str(proj), "ingest", str(write("i.txt", INTERVIEW)), "--wave", "1",
                            "--attributes", str(csv)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "1 ingested, 0 unchanged, 0 failed" in r.output
    r = runner.invoke(app, ["-p", str(proj), "search", "conveyor operations", "-k", "2", "--side", "buyer", "--json"])
    hits = json.loads(r.stdout)
    assert r.exit_code == 0 and hits[0]["speaker"] == "Tom Berg" and hits[0]["side"] == "buyer"
    assert {"segment_id", "score", "source", "start", "end", "wave", "case"} <= set(hits[0])
    r = runner.invoke(app, ["-p", str(proj), "sources", "--json"])
    docs = json.loads(r.stdout)
    assert docs[0]["name"] == "i.txt" and docs[0]["wave"] == 1 and docs[0]["case"] == "northwind"
    r = runner.invoke(app, ["-p", str(proj), "segments", "--json", "--limit", "2"])
    assert len(json.loads(r.stdout)) == 2
    r = runner.invoke(app, ["-p", str(proj), "status", "--json"])
    info = json.loads(r.stdout)
    assert info["documents"] == 1 and info["indexed"] == info["segments"] > 0
    r = runner.invoke(app, ["-p", str(proj), "participants", "--json"])
    assert {p["speaker"] for p in json.loads(r.stdout)} == {"Priya Natarajan", "Tom Berg", "Interviewer"}


def test_project_from_environment(tmp_path, write, monkeypatch):
    proj = _init(tmp_path)
    monkeypatch.setenv("CODER_ASSIST_PROJECT", str(proj))
    r = runner.invoke(app, ["ingest", str(write("i.txt", INTERVIEW))])
    assert r.exit_code == 0, r.output
    monkeypatch.chdir(proj)
    monkeypatch.delenv("CODER_ASSIST_PROJECT")
    r = runner.invoke(app, ["status", "--json"])  # the current directory is the default
    assert json.loads(r.stdout)["documents"] == 1


def test_bad_file_gives_one_line_error_and_nonzero_exit(tmp_path, write):
    proj = _init(tmp_path)
    good, bad = write("good.txt", INTERVIEW), write("bad.vtt", "WEBVTT\n\n1\nbroken timing\n<v A>hi\n")
    r = runner.invoke(app, ["-p", str(proj), "ingest", str(bad), str(good)])
    assert r.exit_code == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "bad.vtt" in errors[0]
    assert "1 ingested" in r.stdout  # the good file still went in


def test_not_a_project_is_a_one_line_error(tmp_path):
    r = runner.invoke(app, ["-p", str(tmp_path), "search", "anything"])
    assert r.exit_code == 1
    assert r.stderr.strip().count("\n") == 0 and "not a coder-assist project" in r.stderr


def test_bad_config_names_the_file(tmp_path):
    proj = _init(tmp_path)
    (proj / CONFIG_NAME).write_text("[segmentation]\nmax_tokens = 'many'\n")
    r = runner.invoke(app, ["-p", str(proj), "status"])
    assert r.exit_code == 1 and CONFIG_NAME in r.stderr and "segmentation.max_tokens" in r.stderr


def test_bad_attributes_csv_exit_code(tmp_path, write):
    proj = _init(tmp_path)
    r = runner.invoke(app, ["-p", str(proj), "attributes", str(write("x.csv", "foo,bar\n1,2\n"))])
    assert r.exit_code == 1 and "x.csv" in r.stderr


def test_plugins_lists_builtin_embedders():
    r = runner.invoke(app, ["plugins", "--json"])
    info = json.loads(r.stdout)
    assert {"minilm", "openai", "hash"} <= set(info["embedders"]) and {"offline", "openai"} <= set(info["providers"])
