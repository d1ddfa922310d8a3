"""Every command meets bad input with one error line and no traceback: the error boundary, terminal-safe
printing, config validation, the filter language, labelled sets and framework files (issue 12)."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import sqlite3
import tomllib
from enum import Enum
from pathlib import Path
from typing import get_args, get_origin

import pytest
import tomli_w
import typer
from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli import _common
from coder_assist.cli.app import app
from coder_assist.errors import CoderAssistError, InputError
from coder_assist.review.where import FROM, MAX_LENGTH, compile_where
from coder_assist.store.config import CONFIG_NAME
from coder_assist.theory.evaluate import load_gold
from coder_assist.theory.frameworks import load_framework, parse_framework

from .conftest import FIXTURES
from .test_cli_docs import ALL

runner = CliRunner()
NEEDS_NO_INPUT = {"plugins"}
"""Commands that read neither a project nor a file: nothing they are given can be bad."""


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
    """A project with suggestions (wave-2 fixtures, offline coding); copied by tests that change it."""
    root = tmp_path_factory.mktemp("coded") / "p"
    with Project.init(root, embedder="hash", coder="ann") as p:
        p.ingest([FIXTURES / "wave2"], wave=2, attributes=FIXTURES / "participants.csv")
        p.code()
    return root


@pytest.fixture
def empty(tmp_path, monkeypatch):
    monkeypatch.delenv("CODER_ASSIST_CODER", raising=False)
    monkeypatch.delenv("CODER_ASSIST_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    with Project.init(tmp_path / "p", embedder="hash", coder="ann"):
        pass
    return tmp_path / "p"


def ca(*args: str, env: dict[str, str] | None = None, input: str | None = None):  # noqa: A002
    return runner.invoke(app, [str(a) for a in args], env=env, input=input)


def one_error_line(r, code: int = 1) -> str:
    """The result failed with ``code``, no traceback, and stderr is exactly one ``error:`` line."""
    assert r.exit_code == code, (r.exit_code, r.output, r.exception)
    assert "Traceback" not in r.output
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def snapshot(root: Path) -> dict[str, int]:
    """Row counts of the tables a refused input must leave alone, and the audit chain's length."""
    con = sqlite3.connect(root / "project.db")
    try:
        tables = ("documents", "segments", "suggestions", "decisions", "codes", "codings", "events", "participants")
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        con.close()


# ------------------------------------------------------------------------------- every command


def bad_arguments(name: str, tmp_path: Path) -> list[str]:
    """The command's required arguments and options, each given a value that names nothing."""
    args = name.split()
    for param in ALL[name].params:
        if not param.required:
            continue
        kind = param.type_descriptor.annotation
        kind = get_args(kind)[0] if get_origin(kind) is list else kind
        value = {int: "999999", float: "1.5", Path: str(tmp_path / "no-such-file.txt")}.get(kind, "no-such-thing")
        if isinstance(kind, type) and issubclass(kind, Enum):
            value = str(next(iter(kind)).value)
        args += [value] if param.param_type_name == "argument" else [param.opts[0], value]
    return args


COMMANDS = sorted(n for n, c in ALL.items() if n not in NEEDS_NO_INPUT and getattr(c, "invoke_without_command", True))
"""Every command, and every group that does something of its own (``speakers``, ``codes`` ...)."""


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_without_a_project_is_one_error_line(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = bad_arguments(name, tmp_path)
    if name == "init":
        (tmp_path / "a-file").write_text("x")
        args = ["init", str(tmp_path / "a-file" / "proj")]  # under a file: the operating system refuses
    r = ca("-p", tmp_path / "missing", *args)
    line = one_error_line(r)
    assert "unexpected" not in line


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_with_bad_arguments_in_a_project_fails_cleanly(name, coded, tmp_path, monkeypatch):
    """Ids that do not exist, files that are missing, names of nothing: an error line (or, for a
    listing, nothing to list), never an unexpected error, and the project unchanged."""
    monkeypatch.delenv("CODER_ASSIST_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "p"
    shutil.copytree(coded, root)
    before = snapshot(root)
    args = bad_arguments(name, tmp_path)
    if name == "init":
        args = ["init", str(root)]  # already a project
    r = ca("-p", root, "--coder", "ann", *args, input="q\n")
    assert "Traceback" not in r.output, r.output
    assert r.exit_code in (0, 1), (r.exit_code, r.output, r.exception)
    if r.exit_code:
        one_error_line(r)
        assert snapshot(root) == before


def test_plugins_needs_no_input():
    r = ca("plugins")
    assert r.exit_code == 0 and "embedders" in r.stdout


def test_a_group_with_an_unknown_command_is_a_usage_error():
    for name, command in ALL.items():
        if isinstance(command, typer.core.TyperGroup):
            r = ca(*name.split(), "no-such-command")
            assert r.exit_code == 2 and "Traceback" not in r.output
            assert "No such command 'no-such-command'" in r.output


# ------------------------------------------------------------------------------- the error boundary


def test_an_unexpected_error_is_one_line_naming_the_command(empty, monkeypatch):
    def deep(self):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(Project, "status", deep)
    line = one_error_line(ca("-p", empty, "status"), code=2)
    assert line == ("error: unexpected RecursionError while running 'status': maximum recursion depth exceeded "
                    "(run with --debug or CODER_ASSIST_DEBUG=1 for the traceback)")  # fmt: skip
    for r in (ca("-p", empty, "--debug", "status"), ca("-p", empty, "status", "--debug"),
              ca("-p", empty, "status", env={"CODER_ASSIST_DEBUG": "1"})):  # fmt: skip
        assert isinstance(r.exception, RecursionError), r.output


def test_a_sub_command_is_named_and_a_long_reason_cut(empty, monkeypatch):
    def boom(self, *a, **k):
        raise ValueError("x" * 1000 + "\nsecond line")

    monkeypatch.setattr(Project, "frameworks", boom)
    line = one_error_line(ca("-p", empty, "frameworks", "list"), code=2)
    assert "while running 'frameworks list': xxx" in line and "second line" not in line and len(line) < 500


def test_ctrl_c_is_one_line_and_status_130(empty, monkeypatch):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Project, "status", interrupted)
    r = ca("-p", empty, "status")
    assert r.exit_code == 130 and r.stderr == "interrupted\n"


def test_a_locked_database_names_the_project_database(empty, monkeypatch):
    def locked(self):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(Project, "status", locked)
    line = one_error_line(ca("-p", empty, "status"))
    assert f"{empty / 'project.db'}: the project database is locked by another process" in line


def test_an_error_in_the_middle_of_a_write_leaves_nothing_behind(coded, tmp_path, monkeypatch):
    """The boundary commits nothing: the decision rows written before the failure are rolled back."""
    from coder_assist.store import audit

    root = tmp_path / "p"
    shutil.copytree(coded, root)
    before = snapshot(root)
    real = audit.append

    def fail_after_write(*args, **kwargs):
        real(*args, **kwargs)
        raise OSError(28, "No space left on device", str(root / "project.db"))

    monkeypatch.setattr(audit, "append", fail_after_write)
    line = one_error_line(ca("-p", root, "--coder", "ann", "accept", "1"))
    assert line == f"error: {root / 'project.db'}: No space left on device"
    assert snapshot(root) == before
    with Project.open(root) as p:
        assert p.verify_audit() == []


def test_init_into_an_unwritable_place_is_path_and_reason(tmp_path):
    (tmp_path / "a-file").write_text("x")
    line = one_error_line(ca("init", tmp_path / "a-file" / "proj"))
    assert str(tmp_path / "a-file") in line and "unexpected" not in line


# ------------------------------------------------------------------------------- terminal-safe printing


@pytest.mark.parametrize("text, shown", [
    ("a\x1b[31mred", "a\\x1b[31mred"), ("line\nerror: forged", "line\\nerror: forged"), ("over\rwrite", "over\\rwrite"),
    ("bell\x07\x85", "bell\\x07\\x85"), ("evil\u202etxt.exe", "evil\\u202etxt.exe"), ("bad\udcff.txt", "bad\\xff.txt"),
    ("lone \ud800", "lone \\ud800"), ("plain [red]x[/red] café", "plain [red]x[/red] café"),
])  # fmt: skip
def test_messages_show_unsafe_characters_escaped(text, shown, capsys):
    _common.fail(text)
    _common.warn(text)
    _common.say(text)
    out, err = capsys.readouterr()
    assert err == f"error: {shown}\nwarning: {shown}\n" and out == f"{shown}\n"


def test_a_block_keeps_its_line_breaks_and_nothing_else(capsys):
    _common.say("report\n  row 1\x1b[2J\n  row 2\r", block=True)
    assert capsys.readouterr().out == "report\n  row 1\\x1b[2J\n  row 2\\r\n"


def test_json_output_stays_json(capsys):
    _common.print_json({"name": "a\x1b[2J\u202e\udcff\x85"})
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    assert json.loads(out) == {"name": "a\x1b[2J\u202e\udcff\x85"}


def test_file_names_cannot_forge_or_colour_lines(empty, tmp_path):
    name = "evil\x1b[31m\rerror: forged\n.txt"
    path = tmp_path / name
    path.write_text("Interviewer: How do you buy?\nAnn: We compare three offers.\n", encoding="utf-8")
    r = ca("-p", empty, "--coder", "ann", "ingest", path)
    assert r.exit_code == 0 and "\x1b" not in r.output and "evil\\x1b[31m\\rerror: forged\\n.txt: " in r.stdout
    r = ca("-p", empty, "sources")
    assert r.exit_code == 0 and "\x1b" not in r.output and "\r" not in r.output
    assert not any(line.startswith("error: forged") for line in r.output.splitlines())
    assert "evil\\x1b[31m\\rerror: forged\\n.txt" in r.stdout
    r = ca("-p", empty, "speakers")
    assert r.exit_code == 0 and "\x1b" not in r.output and "evil\\x1b" in r.stdout


def test_a_file_name_that_is_not_utf8_is_printed(empty, tmp_path):
    path = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"bad\xff.txt")))
    for args in (["frameworks", "validate", path], ["eval", "--gold", path]):  # missing: the error line names it
        assert one_error_line(ca("-p", empty, *args)).startswith(f"error: {tmp_path}/bad\\xff.txt: ")


# ------------------------------------------------------------------------------- config


def write_config(root: Path, text: str) -> None:
    """Append raw TOML text to the project's config."""
    cfg = root / CONFIG_NAME
    cfg.write_text(cfg.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


def set_config(root: Path, key: str, value: object) -> Path:
    """Set ``section.key`` (``prices.NAME``, ``privacy.patterns``) in the project's config file."""
    cfg = root / CONFIG_NAME
    data = tomllib.loads(cfg.read_text(encoding="utf-8"))
    section, name = key.split(".")
    data.setdefault(section, {})[name] = value
    cfg.write_text(tomli_w.dumps(data), encoding="utf-8")
    return cfg


@pytest.mark.parametrize("key, value, where", [
    ("privacy.patterns", {"ID": "EMP-(\\d+"}, "privacy.patterns"),
    ("privacy.patterns", {"id": "EMP-\\d+"}, "privacy.patterns"),
    ("privacy.patterns", {"ID": "x*"}, "privacy.patterns"),
    ("ingest.max_file_mb", math.inf, "ingest.max_file_mb"),
    ("ingest.max_file_mb", -1, "ingest.max_file_mb"),
    ("ingest.max_file_mb", math.nan, "ingest.max_file_mb"),
    ("provider.timeout", math.inf, "provider.timeout"),
    ("budget.max_cost_usd", math.nan, "budget.max_cost_usd"),
    ("prices.x", [1.0, math.inf], "prices.x.1"),
    ("prices.x", [-1.0, 1.0], "prices.x.0"),
    ("coding.context_turns", "two", "coding.context_turns"),
    ("provider.concurrency", [4], "provider.concurrency"),
    ("index.url", "localhost", "index.url"),
    ("index.url", "http://localhost:99999", "index.url"),
])  # fmt: skip
def test_a_bad_config_value_is_refused_when_the_project_opens(empty, key, value, where):
    cfg = set_config(empty, key, value)
    with pytest.raises(InputError) as info:
        Project.open(empty)
    assert str(info.value).startswith(f"{cfg}: invalid config at {where}: ") and "\n" not in str(info.value)
    assert one_error_line(ca("-p", empty, "status")).startswith(f"error: {cfg}: invalid config at {where}: ")


@pytest.mark.parametrize("text", ["x = 1" + "0" * 5000, "x = " + "[" * 5000 + "]" * 5000])
def test_toml_that_python_cannot_hold_is_an_input_error(empty, text):
    write_config(empty, text)
    with pytest.raises(InputError, match="invalid TOML"):
        Project.open(empty)


def test_a_chroma_server_that_is_not_running_is_one_line(empty):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    set_config(empty, "index.url", f"http://127.0.0.1:{port}")
    line = one_error_line(ca("-p", empty, "search", "offers"))
    assert line.startswith(f"error: chroma server at http://127.0.0.1:{port} is not reachable: ")
    r = ca("-p", empty, "--coder", "ann", "ingest", "--json", FIXTURES / "wave2")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"chroma server at http://127.0.0.1:{port} is not reachable" in one_error_line(r)


# ------------------------------------------------------------------------------- filters


def matching(root: Path, expr: str) -> int:
    cond, params = compile_where(expr)
    with Project.open(root) as p:
        return p.conn.execute(f"SELECT count(*) {FROM} WHERE {cond}", params).fetchone()[0]


def test_like_wildcards_match_themselves(coded):
    assert matching(coded, "label~%") == matching(coded, "label~_") == 0
    assert matching(coded, "label~a") > 0
    with Project.open(coded) as p:
        label = p.conn.execute("SELECT label FROM suggestions LIMIT 1").fetchone()[0]
    assert matching(coded, f"label~'{label}'") >= 1
    assert matching(coded, f"label!~%") == matching(coded, "status!=no-such")


def test_accept_where_percent_accepts_nothing(coded, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(coded, root)
    r = ca("-p", root, "--coder", "ann", "review", "--yes", "--accept-where", "label~%")
    assert r.exit_code == 0 and "0 open suggestions match" in r.stdout
    assert snapshot(root) == snapshot(coded)


def test_a_long_filter_is_refused_and_one_under_the_limit_runs(coded):
    with pytest.raises(CoderAssistError, match=f"over the {MAX_LENGTH} limit"):
        compile_where("label~" + "a%" * 300)
    assert matching(coded, "label~" + "%_" * ((MAX_LENGTH - 6) // 2)) == 0
    line = one_error_line(ca("-p", coded, "--coder", "ann", "review", "--yes", "--accept-where", "label~" + "x" * 5000))
    assert "over the 500 limit" in line


@pytest.mark.parametrize("option", ["--accept-where", "--reject-where", "--defer-where", "--where"])
@pytest.mark.parametrize("expr", ["", "   "])
def test_an_empty_filter_is_an_error_not_interactive_review(coded, option, expr):
    before = snapshot(coded)
    line = one_error_line(ca("-p", coded, "--coder", "ann", "review", option, expr, input="a" * 20))
    assert f"{option}: empty filter expression" in line
    assert snapshot(coded) == before


@pytest.mark.parametrize("expr", ["wave=99999999999999999999", "score>inf", "score<nan", "wave=" + "9" * 400])
def test_numbers_sqlite_cannot_bind_are_refused(expr):
    with pytest.raises(CoderAssistError, match="takes a"):
        compile_where(expr)


# ------------------------------------------------------------------------------- eval --gold


@pytest.mark.parametrize("content, reason", [
    ('{"quote": "ok", "framework": "ivpd", "label": "locus"}\n{"quote": "caf\xe9", "framework": "ivpd", "label": "x"}\n'
     .encode("latin-1"), "line 2: not UTF-8 text (byte 0xe9"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00", "line 1: binary data"),
    (("[" * 100_000 + "]" * 100_000 + "\n").encode(), "line 1: nested more than 16 levels deep"),
    (b'\n{"quote": "\\ud800", "framework": "ivpd", "label": "x"}\n', "line 2: quote holds a lone surrogate (\\ud800)"),
    (b'{"quote": "a", "framework": "ivpd", "label": "x", "n": 1' + b"0" * 5000 + b"}", "line 1: not usable JSON"),
    (b'{"quote": "a [{ [", "framework": "ivpd", "label": 3}', "line 1: needs string fields"),
])  # fmt: skip
def test_a_bad_gold_file_names_the_file_and_line(tmp_path, empty, content, reason):
    gold = tmp_path / "gold.jsonl"
    gold.write_bytes(content)
    with pytest.raises(InputError) as info:
        load_gold(gold)
    assert str(info.value).startswith(f"{gold}: {reason}")
    assert one_error_line(ca("-p", empty, "eval", "--gold", gold)).startswith(f"error: {gold}: {reason}")


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"quote": "[" * 50 + "{" * 50, "framework": "ivpd", "label": "locus"}) + "\r\n")
    assert load_gold(gold)[0]["quote"] == "[" * 50 + "{" * 50


# ------------------------------------------------------------------------------- framework files


@pytest.mark.parametrize("text, reason", [
    ("constructs: " + "[" * 100_000 + "]" * 100_000, "nested more than 32 levels deep"),
    ("constructs:\n" + "".join("  " * i + "- \n" for i in range(100)), "nested more than 32 levels deep"),
    ("a: &x [1, 2]\nb: [*x, *x]\n", "aliases (*name) are not supported"),
    ("? [a, b]\n: 1\n", "unhashable key"),
])  # fmt: skip
def test_a_hostile_framework_file_is_an_input_error(tmp_path, text, reason):
    path = tmp_path / "fw.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=reason.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        load_framework(path)
    line = one_error_line(ca("frameworks", "validate", path))
    assert line.startswith(f"error: {path}: not valid YAML")


def test_a_framework_file_over_the_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * 2_000_000)
    with pytest.raises(InputError, match="over 2 MB"):
        load_framework(path)
    with pytest.raises(InputError, match="over 2 MB"):
        parse_framework("#" * 2_000_001, "inline")


def test_the_builtin_frameworks_still_load():
    from coder_assist.theory.frameworks import builtin_frameworks

    assert {"ivpd", "value_strategy"} <= set(builtin_frameworks())


def test_non_finite_numbers_are_all_refused():
    from coder_assist.store.config import Config

    for section, key in (("provider", "timeout"), ("provider", "temperature"), ("ingest", "max_file_mb")):
        for bad in (math.inf, -math.inf, math.nan):
            with pytest.raises(Exception, match="finite"):
                Config.model_validate({section: {key: bad}})
