"""Construct mapping: nearest construct with abstention, calibration, links confirmed by a person, eval."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from typer.testing import CliRunner

from coder_assist import HashEmbedder, Project
from coder_assist.cli.app import app
from coder_assist.theory.frameworks import builtin_frameworks, parse_framework
from coder_assist.theory.calibration import hierarchy_with_source
from coder_assist.theory.mapping import AGGREGATES, ConstructMapper, calibrate, calibrated_threshold, evaluate

from .conftest import FIXTURES

TINY = """
id: tiny
name: Tiny
version: "1"
description: Two constructs for tests.
source_note: Invented for the test suite.
constructs:
  - id: invoices
    name: Invoice disputes
    definition: Arguments about invoices, billing errors and credit notes.
    include: [invoice disputes, billing errors]
    exclude: [engineers at night are night_work]
    examples: [The invoice was wrong again, Finance disputed the bill]
  - id: night_work
    name: Night work by engineers
    definition: Engineers fixing doors and docks during the night shift.
    include: [engineer came at night]
    exclude: [billing is invoices]
    examples: [The engineer fixed the dock door at night]
"""


@pytest.fixture
def tiny():
    return parse_framework(TINY, "tiny.yaml")


def test_mapper_picks_the_nearest_construct_and_abstains(tiny):
    m = ConstructMapper(tiny, HashEmbedder(), threshold=0.3)
    preds = m.predict(["the invoice was wrong and finance disputed it", "engineer fixed the dock door at night",
                       "we had lunch with the mayor"])  # fmt: skip
    assert [p.construct for p in preds] == ["invoices", "night_work", None]
    assert preds[2].best in ("invoices", "night_work") and preds[2].confidence < 0.3


def test_calibrate_maximises_macro_f1():
    ids = ["a", "b"]
    sims = np.array([[0.9, 0.1], [0.2, 0.8], [0.35, 0.1], [0.1, 0.3]])
    gold = ["a", "b", "none", "none"]
    t = calibrate(sims, ids, gold)
    assert 0.35 < t <= 0.8  # abstains on the two weak ones, keeps the two strong ones


def test_shipped_calibration_is_read():
    data = json.loads((FIXTURES.parent / "coder_assist" / "theory" / "calibration.json").read_text())
    assert calibrated_threshold("ivpd", "minilm-l6-v2") == data["minilm-l6-v2"]["ivpd"]["threshold"]
    assert calibrated_threshold("ivpd", "no-such-embedder") == 0.35
    for fid, entry in data["minilm-l6-v2"].items():
        shipped, source = hierarchy_with_source(fid, "minilm-l6-v2")
        assert source.startswith("calibrated") and shipped["threshold"] == entry["hierarchical"]["threshold"]
        assert {"margin", "child_margin", "sibling_margin", "aggregate", "n"} <= set(entry["hierarchical"])
        assert entry["hierarchical"]["aggregate"] in AGGREGATES
    assert hierarchy_with_source("ivpd", "no-such-embedder")[1].startswith("fallback")


def test_evaluate_reports_in_sample_and_cross_validated(tiny):
    records = [{"quote": q, "framework": "tiny", "label": label} for q, label in [
        ("the invoice was wrong", "invoices"), ("finance disputed the bill again", "invoices"),
        ("engineer came at night to the dock", "night_work"), ("door fixed at night by the engineer", "night_work"),
        ("lunch with the mayor", "none")]]  # fmt: skip
    r = evaluate(tiny, HashEmbedder(), records, folds=5, threshold=0.25)
    assert r.n == 5 and r.accuracy == 1.0 and r.kappa == 1.0 and 0 <= r.cv_accuracy <= 1
    with pytest.raises(Exception, match="not in framework"):
        evaluate(tiny, HashEmbedder(), [{"quote": "x", "framework": "tiny", "label": "ghost"}])


def test_map_codes_then_confirm_links_and_see_lineage(tmp_path, tiny):
    (tmp_path / "p" / "frameworks").mkdir(parents=True)
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    (p.root / "frameworks" / "tiny.yaml").write_text(TINY, encoding="utf-8")
    f = tmp_path / "i.txt"
    f.write_text("Interviewer: Go on.\n\nAna Lima: The invoice was wrong again and finance disputed the bill.\n\n"
                 "Ana Lima: The engineer fixed the dock door at night.\n", encoding="utf-8")  # fmt: skip
    p.ingest([f])
    segs = p.segments()
    p.apply_code("Disputing invoices", segs[1]["id"])
    p.apply_code("Fixing doors at night", segs[2]["id"])
    report = p.map("tiny", level="code", threshold=0.2)
    assert report.items == 2 and report.linked == 2 and report.abstained == 0
    links = {r["target"]: r for r in p.link_suggestion_rows()}
    code_ids = {c["label"]: str(c["id"]) for c in p.code_rows()}
    assert links[code_ids["Disputing invoices"]]["construct"] == "invoices"
    assert links[code_ids["Fixing doors at night"]]["construct"] == "night_work"
    ev = links[code_ids["Disputing invoices"]]["evidence"][0]
    assert p.document_text(ev["source"])[ev["start"] : ev["end"]] == ev["quote"]  # evidence is anchored
    with pytest.raises(sqlite3.IntegrityError, match="human decision"):
        p.conn.execute("INSERT INTO construct_links (framework, construct, level, target, created_at, created_by)"
                       " VALUES ('tiny', 'x', 'code', '1', 't', 'bot')")  # fmt: skip
    p.decide_link(links[code_ids["Disputing invoices"]]["id"], "accept")
    p.decide_link(links[code_ids["Fixing doors at night"]]["id"], "reject", note="too literal")
    lineage = {r["label"]: r for r in p.lineage()}
    assert lineage["Disputing invoices"]["constructs"] == ["tiny.invoices"]
    assert lineage["Fixing doors at night"]["constructs"] == []
    assert p.map("tiny", level="code", threshold=0.99).abstained == 2
    p.close()


def test_eval_command_on_the_gold_set(tmp_path):
    runner = CliRunner()
    proj = tmp_path / "p"
    assert runner.invoke(app, ["init", str(proj), "--embedder", "hash"]).exit_code == 0
    gold = FIXTURES / "gold" / "constructs.jsonl"
    r = runner.invoke(app, ["-p", str(proj), "eval", "--gold", str(gold), "--framework", "ivpd"])
    assert r.exit_code == 0, r.output
    assert "ivpd (n=257" in r.stdout and "macro-F1" in r.stdout and "kappa" in r.stdout and "gold\\pred" in r.stdout
    data = json.loads(runner.invoke(app, ["-p", str(proj), "eval", "--gold", str(gold), "--json"]).stdout)
    assert {d["framework"] for d in data} == {"ivpd", "value_strategy", "value_based_selling"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"quote": "x", "framework": "ivpd"}\n', encoding="utf-8")
    r = runner.invoke(app, ["-p", str(proj), "eval", "--gold", str(bad)])
    assert r.exit_code == 1 and "bad.jsonl: line 1" in r.stderr
    r = runner.invoke(app, ["-p", str(proj), "frameworks", "validate", str(bad)])
    assert r.exit_code == 1 and "bad.jsonl" in r.stderr


def test_frameworks_commands(tmp_path):
    runner = CliRunner()
    proj = tmp_path / "p"
    runner.invoke(app, ["init", str(proj), "--embedder", "hash"])
    listed = json.loads(runner.invoke(app, ["-p", str(proj), "frameworks", "list", "--json"]).stdout)
    assert {f["id"] for f in listed} == set(builtin_frameworks())
    shown = runner.invoke(app, ["-p", str(proj), "frameworks", "show", "value_strategy"])
    assert shown.exit_code == 0 and "use when:" in shown.stdout and "not when:" in shown.stdout
    assert runner.invoke(app, ["-p", str(proj), "frameworks", "show", "nope"]).exit_code == 1
