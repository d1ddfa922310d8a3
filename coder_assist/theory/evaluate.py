"""Agreement between predicted and gold labels: accuracy, macro-F1, Cohen's kappa, confusion; and
reading a labelled set (JSON lines) so that any bad line is an error naming the file and the line."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..store.files import read_bounded
from ..store.jsonsafe import nesting_depth

GOLD_FIELDS = ("quote", "framework", "label")
MAX_GOLD_BYTES = 50_000_000
"""The largest labelled set read (50 MB)."""
MAX_DEPTH = 16
"""The deepest nesting of arrays and objects accepted in one line (a record needs one level)."""


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


def load_gold(path: str | Path) -> list[dict[str, str]]:
    """Records ``{"quote", "framework", "label"}`` from a UTF-8 JSON-lines file; errors name the line."""
    path = Path(path)
    data = read_bounded(path, MAX_GOLD_BYTES)
    rows = [_gold_record(path, n, line) for n, line in enumerate(data.removeprefix(b"\xef\xbb\xbf").split(b"\n"), 1)
            if line.strip()]  # fmt: skip
    if not rows:
        raise InputError(path, "no records")
    return rows


def _gold_record(path: Path, n: int, raw: bytes) -> dict[str, str]:
    """Line ``n`` as a record, or an InputError saying what is wrong with it."""
    if b"\0" in raw:
        raise InputError(path, f"line {n}: binary data, not a JSON line")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"line {n}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1})") from None
    if nesting_depth(line, MAX_DEPTH) > MAX_DEPTH:
        raise InputError(path, f"line {n}: nested more than {MAX_DEPTH} levels deep")
    try:
        r = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"line {n}: not JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer past Python's digit limit
        raise InputError(path, f"line {n}: not usable JSON ({' '.join(str(exc).split())})") from None
    if not isinstance(r, dict) or not all(isinstance(r.get(k), str) for k in GOLD_FIELDS):
        raise InputError(path, f"line {n}: needs string fields {', '.join(GOLD_FIELDS[:-1])} and {GOLD_FIELDS[-1]}")
    for key in GOLD_FIELDS:
        try:
            r[key].encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = ord(r[key][exc.start])
            raise InputError(path, f"line {n}: {key} holds a lone surrogate (\\u{bad:04x}), not text") from None
    return r
