"""--project/-p and --coder work before or after the command, at any depth; a command's own option
of the same name keeps its own meaning."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli import app
from coder_assist.store.config import CONFIG_NAME, Config

from .test_cli_docs import ALL
from .test_project import INTERVIEW

runner = CliRunner()


@pytest.fixture
def proj(tmp_path, write, monkeypatch):
    monkeypatch.delenv("CODER_ASSIST_CODER", raising=False)
    monkeypatch.chdir(tmp_path)  # so that a forgotten -p cannot find the project by accident
    with Project.init(tmp_path / "p", embedder="hash") as p:
        p.ingest([write("i.txt", INTERVIEW)])
        p.code()
    return str(tmp_path / "p")


def ok(*args: str, input: str | None = None):  # noqa: A002
    r = runner.invoke(app, list(args), input=input)
    assert r.exit_code == 0, r.output
    return r


def deciders(proj: str) -> list[str]:
    with Project.open(proj) as p:
        return [r["actor"] for r in p.audit_log(type_="decision")]


def test_init_with_coder_after_the_directory(tmp_path):
    ok("init", str(tmp_path / "s"), "--coder", "Ana Ruiz", "--embedder", "hash")
    assert Config.load(tmp_path / "s" / CONFIG_NAME).project.coder == "Ana Ruiz"


@pytest.mark.parametrize("flag", [["-p", "{}"], ["--project", "{}"], ["--project={}"]])
def test_project_after_the_command(proj, flag):
    r = ok("status", "--json", *[f.format(proj) for f in flag])
    assert json.loads(r.stdout)["root"] == proj


def test_coder_after_the_command_and_its_arguments(proj):
    r = ok("accept", "1", "--coder", "ann", "-p", proj)
    assert "accepted by ann" in r.stdout
    ok("-p", proj, "reject", "2", "--coder=bea", "--note", "off topic")
    assert deciders(proj) == ["ann", "bea"]


def test_the_later_value_wins(proj, tmp_path):
    ok("--coder", "ann", "-p", str(tmp_path / "nowhere"), "accept", "1", "--coder", "bea", "-p", proj)
    assert deciders(proj) == ["bea"]


def test_after_a_sub_command_and_between_group_and_sub_command(proj, tmp_path):
    ok("codes", "add", "Trust", "--coder", "ann", "-p", proj)
    ok("codes", "--coder", "bea", "-p", proj, "add", "Doubt")
    memo = tmp_path / "m.md"
    memo.write_text("The renewal felt tense.\n", encoding="utf-8")
    ok("memo", "write", "reflexive:week-1", "--file", str(memo), "--coder", "ann", "-p", proj)
    assert "by ann" in ok("memo", "show", "reflexive:week-1", "-p", proj).stdout
    with Project.open(proj) as p:
        actors = {r["payload"].get("label"): r["actor"] for r in p.audit_log(type_="codebook")}
    assert actors.get("Trust") == "ann" and actors.get("Doubt") == "bea"


def test_a_commands_own_coder_option_keeps_its_meaning(proj):
    ok("-p", proj, "--coder", "ann", "accept", "1")
    ok("-p", proj, "--coder", "bea", "reject", "2")
    # audit log --coder (like --by) filters the log; it does not name who is acting.
    only_ann = json.loads(ok("-p", proj, "audit", "log", "--type", "decision", "--coder", "ann", "--json").stdout)
    assert [r["actor"] for r in only_ann] == ["ann"]
    assert json.loads(ok("audit", "log", "--coder", "nobody", "-p", proj, "--json").stdout) == []
    # Before the command, --coder is the global option: no filter.
    both = json.loads(ok("--coder", "ann", "-p", proj, "audit", "log", "--type", "decision", "--json").stdout)
    assert [r["actor"] for r in both] == ["ann", "bea"]


def test_the_global_options_are_not_repeated_in_every_help():
    r = ok("accept", "--help")
    assert "--coder" not in r.stdout and "--project" not in r.stdout
    assert "may also follow the command" in ok("--help").stdout


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_command_takes_the_global_options(name):
    flags = {flag for param in ALL[name].params for flag in param.opts}
    assert {"--coder", "--project", "-p"} <= flags
