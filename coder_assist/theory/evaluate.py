"""Agreement between predicted and gold labels: accuracy, macro-F1, Cohen's kappa, confusion."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Scores:
    n: int
    accuracy: float
    macro_f1: float
    kappa: float
    labels: list[str]
    confusion: dict[str, dict[str, int]]
    """gold label -> predicted label -> count."""
    per_label: dict[str, dict[str, float]] = field(default_factory=dict)


def score(gold: Sequence[str], predicted: Sequence[str]) -> Scores:
    """Scores over the union of labels seen; macro-F1 averages every label present in either list."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    n = len(gold)
    labels = sorted(set(gold) | set(predicted))
    confusion = {g: {p: 0 for p in labels} for g in labels}
    for g, p in zip(gold, predicted):
        confusion[g][p] += 1
    correct = sum(confusion[label][label] for label in labels)
    per_label = {}
    for label in labels:
        tp = confusion[label][label]
        fp = sum(confusion[g][label] for g in labels) - tp
        fn = sum(confusion[label].values()) - tp
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    accuracy = correct / n if n else 0.0
    gold_counts, pred_counts = Counter(gold), Counter(predicted)
    expected = sum(gold_counts[label] * pred_counts[label] for label in labels) / (n * n) if n else 0.0
    kappa = (accuracy - expected) / (1 - expected) if expected < 1 else 1.0
    macro = sum(v["f1"] for v in per_label.values()) / len(labels) if labels else 0.0
    return Scores(n, accuracy, macro, kappa, labels, confusion, per_label)


def confusion_table(s: Scores, width: int = 6) -> str:
    """A plain-text confusion table (rows: gold, columns: predicted), label keys below it."""
    keys = {label: f"L{i + 1}" for i, label in enumerate(s.labels)}
    head = "gold\\pred".ljust(10) + "".join(k.rjust(width) for k in keys.values())
    rows = [head] + [keys[g].ljust(10) + "".join(str(s.confusion[g][p]).rjust(width) for p in s.labels) for g in s.labels]
    legend = [f"  {keys[label]} = {label}" for label in s.labels]
    return "\n".join(rows + legend)
