"""The hardening pieces as a user reaches them: through the CLI and the Project.

The pieces themselves are tested where they live (``test_hardening_store``, ``_ingest``, ``_cli``,
``_llm``, ``test_memo_quotes``, ``test_decision_sheet``); here each is driven end to end.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli.app import app
from coder_assist.store import db

from .conftest import FIXTURES
from .scripted import ScriptedProvider

runner = CliRunner()


def _cli(*args: str):  # noqa: ANN202 - click's Result
    return runner.invoke(app, list(args))


def _forget_chroma_clients() -> None:
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def test_status_says_what_the_index_really_holds_and_which_runs_were_interrupted(tmp_path: Path) -> None:
    root = tmp_path / "p"
    with Project.init(root, coder="ann", embedder="hash") as p:
        p.ingest([FIXTURES / "wave1"])
        total = len(p.segments())
        dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                                  text=True, check=True).stdout)  # fmt: skip
        p.conn.execute(
            "INSERT INTO coding_runs (id, work_key, actor, provider, model, prompt_id, prompt_version, prompt_sha256,"
            " params, redaction, selection, status, started_at, pid, host) VALUES ('r1', 'k', 'ann', 'p', 'm',"
            " 'initial-coding', '1', 'sha', '{}', '{}', '{}', 'running', ?, ?, ?)",
            (db.utcnow(), dead, socket.gethostname()),
        )  # a run whose process was killed
        p.conn.commit()
    _forget_chroma_clients()
    shutil.rmtree(root / "index")
    try:
        res = _cli("-p", str(root), "status")
        assert res.exit_code == 0, res.output
        lines = {ln.split(":", 1)[0].strip(): ln.split(":", 1)[1].strip() for ln in res.output.splitlines() if ":" in ln}
        assert lines["indexed"] == "0" and lines["runs"] == "1 interrupted"
        assert f"{total} segments are not indexed yet: run 'coder-assist reindex'" in res.output
        assert _cli("-p", str(root), "audit", "verify").exit_code == 0  # the marking is in the chain
    finally:
        _forget_chroma_clients()


@pytest.mark.sqlite_only
def test_audit_verify_reports_a_deleted_anchor_as_one_line(tmp_path: Path) -> None:
    root = tmp_path / "p"
    with Project.init(root, coder="ann", embedder="hash") as p:
        p.add_code("Trust", coder="ann")
    (root / "audit.anchor").unlink()
    res = _cli("-p", str(root), "audit", "verify")
    assert res.exit_code == 1 and "Traceback" not in res.output
    [line] = [ln for ln in res.output.splitlines() if ln.strip()]
    assert line.startswith("error: anchor: ") and "audit.anchor" in line


def _reply(schema, system, user):  # noqa: ANN001, ANN202 - the scripted provider's callback
    text = user.rsplit("SEGMENT", 1)[-1].split("\n", 1)[-1].strip()
    return {"codes": [{"label": "Judging the supplier", "in_vivo": False, "quote": " ".join(text.split()[:6]),
                       "rationale": "r", "reused_code": None}]}  # fmt: skip


def test_decision_sheet_from_the_cli_and_back(tmp_path: Path) -> None:
    root = tmp_path / "p"
    with Project.init(root, coder="ann", embedder="hash") as p:
        p.ingest([FIXTURES / "wave1" / "nw01_natarajan_procurement.md"])
        p.code(provider=ScriptedProvider(default=_reply), limit=4)
        n_open = len(p.suggestion_rows(status="proposed"))
    sheet = tmp_path / "sheet.csv"
    res = _cli("-p", str(root), "suggestions", "--csv", str(sheet))
    assert res.exit_code == 0, res.output
    assert f"{n_open} suggestion" in res.output and f"review --from {sheet}" in res.output
    rows = list(csv.DictReader(io.StringIO(sheet.read_text(encoding="utf-8-sig"))))
    assert len(rows) == n_open
    rows[0]["action"] = "accept"
    with sheet.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    res = _cli("-p", str(root), "--coder", "bo", "review", "--from", str(sheet))
    assert res.exit_code == 0, res.output
    assert "applied 1 decisions" in res.output
    with Project.open(root) as p:
        assert len(p.suggestion_rows(status="proposed")) == n_open - 1


def test_memo_write_refuses_an_invented_quote_unless_allowed_and_marked(tmp_path: Path) -> None:
    root = tmp_path / "p"
    with Project.init(root, coder="ann", embedder="hash") as p:
        p.ingest([FIXTURES / "wave1" / "nw01_natarajan_procurement.md"])
    memo = tmp_path / "memo.md"
    memo.write_text("Priya told us “we always inflated the invoices for them” and laughed.\n", encoding="utf-8")
    res = _cli("-p", str(root), "--coder", "ann", "memo", "write", "reflexive:w1", "--file", str(memo))
    assert res.exit_code == 1 and "--allow-unverified" in res.output and "Traceback" not in res.output
    res = _cli("-p", str(root), "--coder", "ann", "memo", "write", "reflexive:w1", "--file", str(memo), "--allow-unverified")
    assert res.exit_code == 0, res.output
    with Project.open(root) as p:
        assert p.memos()[-1]["body"] == "Priya told us “we always inflated the invoices for them” [unverified quote] and laughed.\n"


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_ingest_hidden_and_a_link_out_of_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "interviews"
    folder.mkdir()
    shutil.copy(FIXTURES / "wave1" / "nw01_natarajan_procurement.md", folder / "a.md")
    shutil.copy(FIXTURES / "wave1" / "vl02_verbeek_korbel.txt", folder / ".b.txt")
    outside = tmp_path / "secret.txt"
    outside.write_text("Ana: the password is hunter2 and nobody should ever read it.\n", encoding="utf-8")
    (folder / "passwd.txt").symlink_to(outside)
    root = tmp_path / "p"
    Project.init(root, coder="ann", embedder="hash").close()
    res = _cli("-p", str(root), "ingest", str(folder))
    assert res.exit_code == 0, res.output
    assert "passwd.txt" in res.output and "hidden" in res.output
    with Project.open(root) as p:
        assert [d["name"] for d in p.documents()] == ["a.md"]
    res = _cli("-p", str(root), "ingest", str(folder), "--hidden")
    assert res.exit_code == 0, res.output
    with Project.open(root) as p:
        assert sorted(d["name"] for d in p.documents()) == [".b.txt", "a.md"]
        assert "hunter2" not in "".join(p.document_text(d["name"]) for d in p.documents())
