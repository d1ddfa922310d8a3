"""Offline codebook application: propose accepted codes for new segments from the human codings.

A nearest-centroid classifier over the project's embeddings: each code applied by people to at
least :data:`MIN_CODINGS` segments is the mean vector of those segments. A new segment gets the
code whose centroid is most similar when it is clearly more similar than the next code's: the
margin (best minus second-best similarity) must reach a threshold calibrated by leave-one-out
cross-validation on the human codings themselves (each coded segment predicted from centroids
built without it), the lowest margin at which the predictions kept reach
:data:`TARGET_PRECISION` (the one-sided 95% lower bound of their precision, so that a handful of
lucky predictions does not count). A margin, not a raw similarity: talk about something else is about as
close to every code, whatever the embedder. The segments people left uncoded in the documents
they coded count as negatives: any code proposed for one of them is a false positive. When no threshold does (codes applied once each, or codes that overlap
in meaning), there is no classifier and nothing is proposed: it abstains rather than guess.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..store import queries

MIN_CODINGS = 3
"""A code needs this many human codings (distinct segments) to be a class."""
TARGET_PRECISION = 0.8
NEGATIVES = 400
"""At most this many uncoded segments of coded documents are used as negatives."""
MIN_PREDICTIONS = 10
"""At least this many cross-validated predictions above the threshold, so the precision means something."""


@dataclass
class CodebookClassifier:
    labels: list[str]
    centroids: np.ndarray
    threshold: float
    precision: float
    """Cross-validated precision at ``threshold``."""
    recall: float
    """Share of the human codings the classifier would have re-proposed at ``threshold``."""
    codings: int

    def predict(self, vectors: np.ndarray) -> list[tuple[str, float] | None]:
        """The code and its margin over the next code for each vector, or None below the threshold."""
        if not len(vectors):
            return []
        sims = vectors @ self.centroids.T
        out: list[tuple[str, float] | None] = []
        for row in sims:
            k, margin = _best(row)
            out.append((self.labels[k], margin) if margin >= self.threshold else None)
        return out

    def describe(self) -> str:
        return (f"{len(self.labels)} codes from {self.codings} human codings; margin threshold {self.threshold:.2f}, "
                f"cross-validated precision {self.precision:.2f}, recall {self.recall:.2f}")  # fmt: skip


def _best(sims: np.ndarray) -> tuple[int, float]:
    """The best class and its margin over the second (finite similarities only)."""
    order = np.argsort(-sims)
    k = int(order[0])
    second = sims[order[1]] if len(order) > 1 and np.isfinite(sims[order[1]]) else -1.0
    return k, float(sims[k] - second)


def _wilson_lower(right: np.ndarray, n: np.ndarray, z: float = 1.645) -> np.ndarray:
    """One-sided 95% lower bound of a proportion (Wilson): a precision met on few predictions is
    not taken at face value."""
    p = right / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def calibrate(vectors: np.ndarray, labels: list[str], negatives: np.ndarray | None = None) -> tuple[float, float, float] | None:
    """(threshold, precision, recall) by leave-one-out over labelled vectors (and ``negatives``,
    vectors no code applies to), or None when no threshold keeps ``MIN_PREDICTIONS`` predictions
    at ``TARGET_PRECISION``."""
    classes = sorted(set(labels))
    if len(classes) < 2:
        return None
    y = np.array([classes.index(x) for x in labels])
    sums = np.stack([vectors[y == k].sum(axis=0) for k in range(len(classes))])
    counts = np.bincount(y, minlength=len(classes)).astype(float)
    preds, scores = [], []
    for i, v in enumerate(vectors):
        own = y[i]
        cents = sums.copy()
        cents[own] -= v
        n = counts.copy()
        n[own] -= 1
        usable = n > 0
        sims = _unit(cents / np.maximum(n, 1)[:, None]) @ v
        sims[~usable] = -np.inf
        k, margin = _best(sims)
        preds.append(k == own)
        scores.append(margin)
    if negatives is not None and len(negatives):
        full = _unit(sums / np.maximum(counts, 1)[:, None])
        for row in negatives @ full.T:
            preds.append(False)
            scores.append(_best(row)[1])
    order = np.argsort(scores)[::-1]
    right = np.cumsum(np.array(preds)[order])
    kept = np.arange(1, len(order) + 1)
    precision = right / kept
    lower = _wilson_lower(right, kept)
    ok = [i for i in range(len(order)) if kept[i] >= MIN_PREDICTIONS and lower[i] >= TARGET_PRECISION]
    if not ok:
        return None
    i = max(ok)  # the lowest threshold that still meets the target
    return float(np.array(scores)[order][i]), float(precision[i]), float(right[i] / len(labels))


def train(conn: sqlite3.Connection, embed: Callable[[list[str]], np.ndarray]) -> CodebookClassifier | None:
    """The classifier from the project's human codings of initial codes, or None when they do not
    support one (see the module docstring)."""
    rows = conn.execute(
        "SELECT DISTINCT c.label, s.id, s.text FROM codings g JOIN codes c ON c.id = g.code_id JOIN segments s"
        " ON s.id = g.segment_id WHERE g.active = 1 AND c.active = 1 AND c.kind = 'initial' ORDER BY c.label, s.id"
    ).fetchall()  # fmt: skip
    by_code: dict[str, list[str]] = {}
    for r in rows:
        by_code.setdefault(r["label"], []).append(r["text"])
    kept = {k: v for k, v in by_code.items() if len(v) >= MIN_CODINGS}
    if len(kept) < 2:
        return None
    labels = [k for k, v in kept.items() for _ in v]
    vectors = _unit(np.asarray(embed([t for v in kept.values() for t in v]), dtype=float))
    uncoded = [r[0] for r in conn.execute(
        "SELECT s.text FROM segments s JOIN turns t ON t.id = s.turn_id LEFT JOIN participants p ON p.speaker = s.speaker"
        f" WHERE {queries.PARTICIPANT_TALK} AND s.document_id IN (SELECT DISTINCT document_id FROM codings WHERE active = 1)"
        " AND s.id NOT IN (SELECT segment_id FROM codings WHERE active = 1) ORDER BY s.id LIMIT ?", (NEGATIVES,))]  # fmt: skip
    negatives = _unit(np.asarray(embed(uncoded), dtype=float)) if uncoded else None
    fitted = calibrate(vectors, labels, negatives)
    if fitted is None:
        return None
    names = sorted(kept)
    y = np.array([names.index(x) for x in labels])
    centroids = _unit(np.stack([vectors[y == k].mean(axis=0) for k in range(len(names))]))
    return CodebookClassifier(names, centroids, *fitted, codings=len(labels))
