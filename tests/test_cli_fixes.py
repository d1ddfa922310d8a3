"""Issue 9, the output a new user sees: ids after decisions, current category names, link targets,
progress bars on stderr, plurals and codings without a wave."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli._common import plural, quoted
from coder_assist.cli.app import app
from coder_assist.theory import queries as theory_queries

from .conftest import FIXTURES
from .test_categorize import two_cluster_project

runner = CliRunner()


def ca(proj, *args, input=None):  # noqa: A002
    return runner.invoke(app, ["-p", str(proj), *args], input=input)


class Recorder:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def begin(self, label: str, total: int) -> None:
        self.calls.append(("begin", label, total))

    def advance(self, n: int = 1) -> None:
        self.calls.append(("advance", n))

    def end(self) -> None:
        self.calls.append(("end",))

    def advanced(self, label: str) -> int:
        """How far the bar ``label`` got, checking it was begun and ended once."""
        i = next(i for i, c in enumerate(self.calls) if c[:2] == ("begin", label))
        j = self.calls.index(("end",), i)
        assert not any(c[0] == "begin" for c in self.calls[i + 1 : j])
        return sum(c[1] for c in self.calls[i + 1 : j])


@pytest.fixture
def coded(tmp_path, monkeypatch):
    """Five hand-applied codes in two clear clusters (invoices, the engineer), one document without a wave."""
    monkeypatch.delenv("CODER_ASSIST_CODER", raising=False)
    p = two_cluster_project(tmp_path)
    yield p
    p.close()


def _second_run_invoice(p: Project) -> dict:
    """Suggestion ids ahead of category ids (two earlier proposals), then the invoice proposal."""
    for n in range(2):  # an earlier run's proposals of other codes (a re-run would not repeat its own)
        p.conn.execute(
            "INSERT INTO category_suggestions (run_id, provider, model, name, definition, properties, member_code_ids,"
            " top_terms, params, created_at) VALUES ('earlier', 'offline', 'x', ?, '', '{}', '[]', '[]', '{}', '2026-12-01')",
            (f"Earlier {n}",),
        )  # fmt: skip
    p.conn.commit()
    run = p.categorize(threshold=0.8).run_id
    return next(c for c in p.category_suggestion_rows() if c["run_id"] == run and "Disputing invoices" in c["properties"]["members"])


# -- 1. ids after a decision --------------------------------------------------------------------------
def test_categories_accept_prints_the_suggestion_and_the_category_id(coded):
    invoice = _second_run_invoice(coded)
    assert invoice["id"] > 1
    r = ca(coded.root, "--coder", "ann", "categories", "accept", str(invoice["id"]))
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == f"suggestion {invoice['id']} confirmed as category 1 '{invoice['name']}'"
    r = ca(coded.root, "--coder", "ann", "categories", "accept", str(invoice["id"] - 1), "--name", "Night rescues")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"suggestion {invoice['id'] - 1} confirmed as category 2 'Night rescues' (proposed as '")


def test_analyses_accept_names_the_suggestion_and_the_confirmed_analysis(tmp_path):
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    p.ingest([FIXTURES / "wave1"], wave=1, attributes=FIXTURES / "participants.csv")
    first = p.propose_postures("halden-it")[0]
    p.decide_analysis(first, "reject")  # so confirmed ids differ from suggestion ids
    assert p.propose_postures("halden-it") == [first]  # unchanged data: not proposed again
    second, third = p.propose_postures("northwind-facilities")[0], p.propose_postures("vela-packaging")[0]
    p.close()
    r = ca(tmp_path / "p", "--coder", "ann", "analyses", "accept", str(second))
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == (f"analysis suggestion {second} confirmed (posture, case northwind-facilities; "
                                "confirmed analysis 1)")  # fmt: skip
    r = ca(tmp_path / "p", "--coder", "ann", "analyses", "reject", str(third))
    assert r.exit_code == 0 and r.stdout.strip() == f"1 analysis suggestion rejected: {third}"


def test_memo_accept_names_the_draft(coded):
    invoice = _second_run_invoice(coded)
    cid = coded.decide_category(invoice["id"], coder="ann")
    draft = coded.draft_memo(category=str(cid))
    r = ca(coded.root, "--coder", "ann", "memo", "accept", str(draft))
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"draft {draft} accepted: memo 'category:{invoice['name']}' version 1 saved (")


# -- 2. the confirmed category under its current name ------------------------------------------------
def test_categories_list_shows_the_confirmed_category_and_its_current_name(coded):
    invoice = _second_run_invoice(coded)
    cid = coded.decide_category(invoice["id"], "edit", name="Contesting the bill", coder="ann")
    rows = {c["id"]: c for c in coded.category_suggestion_rows()}
    assert rows[invoice["id"]]["category_id"] == cid and rows[invoice["id"]]["category_name"] == "Contesting the bill"
    assert rows[invoice["id"]]["name"] == invoice["name"] and rows[invoice["id"]]["category_active"] is True
    assert rows[1]["category_id"] is None and rows[1]["category_name"] is None
    r = ca(coded.root, "categories")
    assert r.exit_code == 0, r.output
    line = next(x for x in r.stdout.splitlines() if x.startswith(f"#{invoice['id']} "))
    assert line.startswith(f"#{invoice['id']} edited    -> category {cid} 'Contesting the bill' "
                           f"(proposed as '{invoice['name']}')  (")  # fmt: skip
    assert r.stdout.splitlines()[0].startswith("#1 proposed  Earlier 0 ")  # an open proposal keeps its proposed name
    listed = json.loads(ca(coded.root, "categories", "--json").stdout)
    assert next(c for c in listed if c["id"] == invoice["id"])["category_name"] == "Contesting the bill"


# -- 3. what a link points at -------------------------------------------------------------------------
def test_link_rows_carry_a_readable_target(coded):
    r = coded.map("ivpd", level="code", threshold=-1.0)
    assert r.linked == 5
    rows = theory_queries.link_suggestion_rows(coded.conn, with_targets=True)
    labels = {c["id"]: c["label"] for c in coded.code_rows()}
    assert {x["target_label"] for x in rows} == set(labels.values())
    assert all(x["target_label"] == labels[int(x["target"])] for x in rows)
    assert "target_label" not in theory_queries.link_suggestion_rows(coded.conn)[0]
    seg = coded.segments()[1]
    label = theory_queries.target_label(coded.conn, "segment", seg["id"])
    assert label.startswith(f"i.txt@{seg['start']}:{seg['end']} Ana Lima: The invoice was disputed") or \
        label.startswith(f"i.txt@{seg['start']}:{seg['end']} The invoice was disputed")
    assert len(label.split(" ", 1)[1]) <= theory_queries.SNIPPET
    invoice = _second_run_invoice(coded)
    cid = coded.decide_category(invoice["id"], "edit", name="Contesting the bill", coder="ann")
    assert theory_queries.target_label(coded.conn, "category", str(cid)) == "Contesting the bill"
    coded.delete_code("Disputing invoices")
    code_id = next(k for k, v in labels.items() if v == "Disputing invoices")
    assert theory_queries.target_label(coded.conn, "code", str(code_id)) == "Disputing invoices (retired)"
    assert theory_queries.target_label(coded.conn, "code", "999") == "(no code 999)"
    assert theory_queries.link_targets(coded.conn, [{"level": "segment", "target": "x"}])[0]["target_label"] == "(no segment x)"


# -- 4. progress on stderr ----------------------------------------------------------------------------
def test_categorize_reports_progress_for_embedding_and_naming(coded):
    rec = Recorder()
    report = coded.categorize(threshold=0.8, progress=rec)
    assert rec.calls[0] == ("begin", "embedding", 5) and rec.advanced("embedding") == 5
    assert ("begin", "naming", report.categories) in rec.calls and rec.advanced("naming") == report.categories
    assert rec.calls.count(("end",)) == 2 and rec.calls[-1] == ("end",)


def test_draft_memo_reports_progress(coded):
    invoice = _second_run_invoice(coded)
    cid = coded.decide_category(invoice["id"], coder="ann")
    rec = Recorder()
    coded.draft_memo(category=str(cid), progress=rec)
    assert rec.calls[0] == ("begin", "drafting", 3) and rec.advanced("drafting") == 3 and rec.calls[-1] == ("end",)


def test_progress_bars_go_to_stderr_only(coded):
    r = ca(coded.root, "--coder", "ann", "categorize", "--threshold", "0.8")
    assert r.exit_code == 0, r.output
    assert "embedding" in r.stderr and "naming" in r.stderr
    assert "embedding" not in r.stdout and "━" not in r.stdout
    assert r.stdout.startswith("5 accepted codes -> ")
    sid = coded.category_suggestion_rows()[0]["id"]
    assert ca(coded.root, "--coder", "ann", "categories", "accept", str(sid)).exit_code == 0
    r = ca(coded.root, "--coder", "ann", "memo", "draft", "--category", "1")
    assert r.exit_code == 0, r.output
    assert "drafting" in r.stderr and "drafting" not in r.stdout and r.stdout.startswith("# Memo: ")
    r = ca(coded.root, "categories", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) and r.stderr == ""


# -- 5. plurals ---------------------------------------------------------------------------------------
def test_plural():
    assert plural(1, "code") == "1 code" and plural(0, "code") == "0 codes" and plural(7, "category") == "7 categories"
    assert plural(2, "analysis") == "2 analyses" and plural(2, "match") == "2 matches" and plural(3, "day") == "3 days"
    assert plural(2, "accepted code") == "2 accepted codes" and plural(2, "person", "people") == "2 people"
    assert plural(1, "person", "people") == "1 person"
    assert quoted("Name") == "'Name'" and quoted('"in vivo"') == '"in vivo"'


def test_counts_are_pluralised(coded):
    r = ca(coded.root, "--coder", "ann", "categorize", "--threshold", "0.8")
    assert "categorys" not in r.stdout and "proposed categor" in r.stdout
    r = ca(coded.root, "categories")
    assert " codes; terms" in r.stdout and "(1 codes" not in r.stdout
    coded.add_code("Solo", coder="ann")
    coded.apply_code("Solo", coded.segments()[1]["id"], coder="ann")
    r = ca(coded.root, "--coder", "ann", "codes", "merge", "Solo", "--into", "Disputing invoices")
    assert r.exit_code == 0 and r.stdout.strip() == "merged 1 code into 'Disputing invoices' (1 coding moved)"
    r = ca(coded.root, "--coder", "ann", "codes", "delete", "Relying on the engineer")
    assert r.stdout.strip() == "retired 'Relying on the engineer' and 1 coding"


# -- 6. codings whose document has no wave ------------------------------------------------------------
def test_codes_list_says_no_wave(coded, tmp_path):
    f = tmp_path / "w3.txt"
    f.write_text("Interviewer: Again?\n\nAna Lima: The invoice was disputed once more in May.\n", encoding="utf-8")
    coded.ingest([f], wave=3)
    coded.apply_code("Disputing invoices", next(s for s in coded.segments() if "May" in s["text"])["id"])
    r = ca(coded.root, "codes")
    assert r.exit_code == 0, r.output
    assert "wnone" not in r.stdout
    line = next(x for x in r.stdout.splitlines() if x.startswith("Disputing invoices  ["))
    assert line.endswith("; w3 1, no wave 1]")
