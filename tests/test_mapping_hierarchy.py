"""Hierarchical construct mapping: roll-up, descent, abstention, fold-only calibration, no re-mapping."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from coder_assist import HashEmbedder, Project
from coder_assist.cli.app import app
from coder_assist.theory import mapping
from coder_assist.theory.calibration import BACKGROUND
from coder_assist.theory.frameworks import builtin_frameworks, parse_framework
from coder_assist.theory.mapping import (
    BACKGROUND_LINK_RATE, MIN_MARGIN, ConstructMapper, Params, evaluate, fit, load_gold, roll_up, top_level_ids, top_level_of,
)

from .conftest import FIXTURES

TREE = """
id: tree
name: Tree
version: "1"
description: Two top-level constructs, one with two children, for tests.
source_note: Invented for the test suite.
constructs:
  - id: billing
    name: Billing
    definition: Invoices and billing between the firms.
    include: [invoice billing]
    exclude: [repairs]
    examples: [invoice billing trouble]
  - id: billing_errors
    name: Billing errors
    parent: billing
    definition: Wrong amounts on invoices, credit notes.
    include: [wrong amount credit note]
    exclude: [late payment]
    examples: [credit note for the wrong amount]
  - id: billing_late
    name: Late payment
    parent: billing
    definition: Invoices paid late, overdue reminders.
    include: [overdue reminder paid late]
    exclude: [wrong amounts]
    examples: [overdue reminder for invoices paid late]
  - id: repairs
    name: Repairs
    definition: Engineers repairing doors and docks.
    include: [engineer repaired dock door]
    exclude: [invoices]
    examples: [engineer repaired the dock door]
"""


@pytest.fixture
def tree():
    return parse_framework(TREE, "tree.yaml")


def test_roll_up_on_the_real_ivpd_framework():
    fw = builtin_frameworks()["ivpd"]
    tops = top_level_ids(fw)
    assert tops == ["ivpd", "locus", "subjectivity", "temporality", "expectations", "ivpd_sources",
                    "ivpd_consequences", "ivpa"]  # fmt: skip
    assert roll_up(fw, "expectation_supplier_set") == "expectations"
    assert roll_up(fw, "csq_blame_shifting") == "ivpd_consequences"
    assert roll_up(fw, "src_benefit_timing") == "ivpd_sources"
    assert roll_up(fw, "ivpa_benefit_normalisation") == "ivpa"
    assert roll_up(fw, "locus") == "locus" and roll_up(fw, "ivpd") == "ivpd" and roll_up(fw, "none") == "none"
    assert all(top_level_of(fw, c.id) in tops for c in fw.constructs)
    vbs = builtin_frameworks()["value_based_selling"]
    assert top_level_ids(vbs) == ["vbs_planning", "vbs_implementation", "vbs_leverage"]
    assert roll_up(vbs, "value_verification") == "vbs_leverage"


def test_a_child_is_chosen_only_when_it_clearly_beats_parent_and_siblings(tree):
    m = ConstructMapper(tree, HashEmbedder(), params=Params(threshold=0.0))
    ids = m.ids  # billing, billing_errors, billing_late, repairs

    def row(parent, errors, late):
        return np.array([parent, errors, late, 0.0])[[ids.index(i) for i in ids]]

    assert m.descend(row(0.40, 0.50, 0.30), "billing", 0.02, 0.02) == "billing_errors"
    assert m.descend(row(0.49, 0.50, 0.30), "billing", 0.02, 0.02) == "billing"  # not clear of the parent
    assert m.descend(row(0.40, 0.50, 0.495), "billing", 0.02, 0.02) == "billing"  # not clear of the sibling
    assert m.descend(row(0.40, 0.50, 0.495), "billing", 0.02, 0.0) == "billing_errors"
    assert m.descend(row(0.40, 0.50, 0.30), "repairs", -1.0, -1.0) == "repairs"  # no children


def test_end_to_end_descent_and_roll_up_with_the_hash_embedder(tree):
    m = ConstructMapper(tree, HashEmbedder(), params=Params(threshold=0.05, child_margin=0.02, sibling_margin=0.02))
    preds = m.predict(["a credit note for the wrong amount on the invoice",
                       "invoice billing between the firms",
                       "the engineer repaired the dock door"])  # fmt: skip
    assert [p.construct for p in preds] == ["billing_errors", "billing", "repairs"]
    assert [p.top for p in preds] == ["billing", "billing", "repairs"]


def test_abstains_on_off_topic_text(tree):
    m = ConstructMapper(tree, HashEmbedder(), params=Params(threshold=0.15, margin=0.02))
    off = ["We went hiking in the mountains last weekend.", "My daughter started school in September.",
           "The weather has been lovely, we ate outside most days."]  # fmt: skip
    assert all(p.construct is None for p in m.predict(off))
    assert m.predict(["the engineer repaired the dock door"])[0].construct == "repairs"


def test_fit_keeps_background_talk_unlinked(tree):
    """Fitted on labelled items, the threshold links at most the allowed share of ordinary talk."""
    m = ConstructMapper(tree, HashEmbedder())
    quotes = ["credit note for the wrong amount", "overdue reminder, paid late", "engineer repaired the dock door",
              "invoice billing trouble", "lunch in the canteen", "I cycle to work"]  # fmt: skip
    gold = ["billing_errors", "billing_late", "repairs", "billing", "none", "none"]
    params = fit(m, m.score(quotes), gold)
    assert params.margin >= MIN_MARGIN  # the floor that keeps unrelated corpora nearly unlinked
    linked = [p.construct for p in m.decide(m.background(), params) if p.construct]
    assert len(linked) <= BACKGROUND_LINK_RATE * len(BACKGROUND)
    preds = [p.construct or "none" for p in m.decide(m.score(quotes), params)]
    assert preds[0] == "billing_errors" and preds[2] == "repairs"  # on-topic items still link


def test_cross_validation_fits_on_training_folds_only(tree, monkeypatch):
    records = [{"quote": q, "framework": "tree", "label": label} for q, label in [
        ("credit note for the wrong amount", "billing_errors"), ("overdue reminder paid late", "billing_late"),
        ("engineer repaired the dock door", "repairs"), ("invoice billing trouble again", "billing"),
        ("wrong amount on the credit note", "billing_errors"), ("reminder: invoices paid late", "billing_late"),
        ("the dock door repaired by an engineer", "repairs"), ("lunch with the mayor", "none"),
        ("billing of the invoice", "billing"), ("we went hiking", "none")]]  # fmt: skip
    seen: list[set[str]] = []
    real_fit = mapping.fit

    def spy(mapper, scored, gold, aggregate=None, min_margin=None):
        seen.append({json.dumps(np.round(r, 6).tolist()) for r in scored.top})
        return real_fit(mapper, scored, gold, aggregate, min_margin)

    monkeypatch.setattr(mapping, "fit", spy)
    m = ConstructMapper(tree, HashEmbedder())
    r = evaluate(tree, HashEmbedder(), records, folds=5, mapper=m)
    all_rows = m.score([x["quote"] for x in records]).top
    assert len(seen) == 5 and len(r.fold_params) == 5
    for f, fitted_on in enumerate(seen):
        test_rows = {json.dumps(np.round(all_rows[i], 6).tolist()) for i in range(f, len(records), 5)}
        assert not fitted_on & test_rows, f"fold {f} was fitted on its own test items"
        assert len(fitted_on) == len(records) - len(test_rows)
    for name in ("rollup_kappa", "cv_rollup_kappa", "baseline_kappa", "cv_kappa"):
        assert -1.0 <= getattr(r, name) <= 1.0


@pytest.mark.slow
def test_cv_on_the_gold_set_with_minilm_uses_fold_calibration():
    from coder_assist import MiniLMEmbedder

    fw = builtin_frameworks()["ivpd"]
    records = [r for r in load_gold(FIXTURES / "gold" / "constructs.jsonl") if r["framework"] == "ivpd"]
    r = evaluate(fw, MiniLMEmbedder(), records)
    assert len(r.fold_params) == 5
    assert len({(p["threshold"], p["margin"], p["child_margin"], p["sibling_margin"]) for p in r.fold_params}) > 1
    assert r.baseline_kappa is not None and 0 < r.cv_linked <= 1
    assert set(r.rollup_labels) <= set(top_level_ids(fw)) | {"none"}


def test_map_re_run_adds_nothing(tmp_path):
    (tmp_path / "p" / "frameworks").mkdir(parents=True)
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    (p.root / "frameworks" / "tree.yaml").write_text(TREE, encoding="utf-8")
    f = tmp_path / "i.txt"
    f.write_text("Interviewer: Go on.\n\nAna Lima: We got a credit note for the wrong amount again.\n\n"
                 "Ana Lima: The engineer repaired the dock door.\n\nAna Lima: We went hiking at the weekend.\n",
                 encoding="utf-8")  # fmt: skip
    p.ingest([f])
    segs = p.segments()
    p.apply_code("Wrong amounts", segs[1]["id"])
    p.apply_code("Door repairs", segs[2]["id"])
    p.apply_code("Hiking", segs[3]["id"])
    first = p.map("tree", level="code", threshold=0.1)
    assert first.items == 3 and first.linked == 2 and first.abstained == 1 and first.skipped == 0
    rows = p.link_suggestion_rows()
    again = p.map("tree", level="code", threshold=0.1)
    assert again.linked == 0 and again.skipped == 2 and again.abstained == 1
    assert len(p.link_suggestion_rows()) == len(rows)
    p.decide_link(rows[0]["id"], "accept")
    p.decide_link(rows[1]["id"], "reject")
    assert p.map("tree", level="code", threshold=0.1).linked == 0
    assert p.map("tree", level="code", threshold=0.05).skipped == 0  # another threshold is another method
    p.close()


def test_map_command_prints_skipped_and_eval_prints_rolled_up_lines(tmp_path):
    runner = CliRunner()
    proj = tmp_path / "p"
    assert runner.invoke(app, ["init", str(proj), "--embedder", "hash"]).exit_code == 0
    r = runner.invoke(app, ["-p", str(proj), "map", "--framework", "ivpd"])
    assert r.exit_code == 0, r.output
    assert "0 skipped" in r.stdout
    gold = FIXTURES / "gold" / "constructs.jsonl"
    r = runner.invoke(app, ["-p", str(proj), "eval", "--gold", str(gold), "--framework", "ivpd"])
    assert r.exit_code == 0, r.output
    assert "rolled up to top-level constructs" in r.stdout
    assert "5-fold cross-validated, rolled up" in r.stdout and "baseline, nearest top-level definition" in r.stdout
    data = json.loads(runner.invoke(app, ["-p", str(proj), "eval", "--gold", str(gold), "--framework", "ivpd",
                                          "--json"]).stdout)  # fmt: skip
    assert {"cv_rollup_kappa", "rollup_kappa", "baseline_kappa", "fold_params"} <= set(data[0])
