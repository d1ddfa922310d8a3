"""Agreement metrics, checked against scikit-learn as an independent implementation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

from coder_assist.theory.evaluate import confusion_table, score


def test_known_small_case():
    gold = ["locus", "locus", "none", "temporality", "expectations", "none"]
    pred = ["locus", "none", "none", "temporality", "locus", "none"]
    s = score(gold, pred)
    assert s.n == 6 and s.accuracy == 4 / 6
    assert s.confusion["locus"] == {"expectations": 0, "locus": 1, "none": 1, "temporality": 0}
    assert s.per_label["temporality"]["f1"] == 1.0
    table = confusion_table(s)
    assert "L1 = expectations" in table and table.splitlines()[0].startswith("gold\\pred")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from("abcde")), min_size=1, max_size=60))
def test_matches_scikit_learn(pairs):
    gold, pred = [g for g, _ in pairs], [p for _, p in pairs]
    s = score(gold, pred)
    labels = sorted(set(gold) | set(pred))
    assert abs(s.accuracy - accuracy_score(gold, pred)) < 1e-12
    assert abs(s.macro_f1 - f1_score(gold, pred, labels=labels, average="macro", zero_division=0)) < 1e-12
    if len(set(gold) | set(pred)) > 1:
        expected = cohen_kappa_score(gold, pred)
        if expected == expected:  # sklearn gives nan when chance agreement is 1
            assert abs(s.kappa - expected) < 1e-9
