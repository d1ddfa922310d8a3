"""Meaning-based constant comparison: whether a new process label is the same code as an existing one.

The offline provider first compares labels lexically (``providers.offline.close``: same polarity,
same verb stem, objects alike). When that finds nothing, ``MeaningIndex.best`` compares the
candidate with every existing label by the cosine similarity of their embeddings (the project's
MiniLM embedder, label against label), and reuses the most similar one whose similarity is at
least ``THRESHOLD``.

Three guards come first and always block reuse, whatever the similarity: a different polarity
("Trusting the supplier" is not "Not trusting the supplier", "Visiting the site" is not "Having to
visit the site"), verbs that are opposites ("Trusting"/"Distrusting", "Raising"/"Lowering",
"Winning"/"Losing": a negating prefix, or the two sides of one of ``_OPPOSITES``), and one label
acting on the other's action ("Threatening to switch suppliers" / "Switching suppliers"). Embeddings
put such pairs very close (0.8 to 0.95), so no threshold could keep them apart. A fourth guard:
two different verbs, one of them light ("having", "getting", "bringing", ``lexicon.LIGHT_VERBS``
and a few more), never match by meaning: the label's embedding is then mostly its object's.

``THRESHOLD`` was fitted on ``fixtures/gold/code_pairs.jsonl`` (162 labelled pairs of B2B
buyer-supplier codes, ``same`` as a careful researcher would merge them, 83 of them the same code)
by ``fit_threshold``: the lowest similarity whose precision on the pairs, guards applied, is at
least ``TRAIN_PRECISION`` (0.9, a margin above the 0.8 target). ``cross_validate`` checks the
recipe by repeated stratified 5-fold cross-validation (threshold fitted on four folds, decided on
the fifth): precision 0.833, recall 0.072, F1 0.133 (5 x 5 folds; 0.872, 0.099, 0.177 without
the light-verb guard, which costs recall on the gold pairs but removed most wrong reuses on real
transcripts). Two alternatives measured the same way did worse and were dropped: "label: quote"
texts (precision 0.2, recall 0.002), and a logistic model of the whole-label, verb and object
cosines (precision 0.818, recall 0.087, measured with the first two guards only).
Refit and print the figures with ``python bench/calibrate_reuse.py``. The threshold is valid only
for the embedder named ``EMBEDDER``: with any other embedder, reuse stays lexical.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import lexicon

#: The embedder the constants were fitted for (``MiniLMEmbedder.name``).
EMBEDDER = "minilm-l6-v2"
#: Cosine similarity of two labels' embeddings from which they are the same code: fitted by
#: ``fit_threshold`` on fixtures/gold/code_pairs.jsonl (bench/calibrate_reuse.py refits it).
THRESHOLD = 0.8525
#: The precision the threshold must reach on the pairs it is fitted on (the target is 0.8 held out).
TRAIN_PRECISION = 0.9
GOLD = Path(__file__).resolve().parents[2] / "fixtures" / "gold" / "code_pairs.jsonl"

_PREFIXES = (("not",), ("never",), ("being", "unable", "to"), ("having", "to"))
_POLARITY = {"not": "not", "never": "not", "being": "unable", "having": "obliged"}
_NEGATING = ("dis", "un", "mis", "de", "non", "in")
#: Opposite verbs, as stems (general English, not tied to any project).
_OPPOSITES = [
    {"rais", "increas", "grow", "extend", "expand", "boost"}, {"lower", "cut", "reduc", "decreas", "drop", "shrink"},
    {"win", "gain", "keep", "secur"}, {"los"},
    {"accept", "approv", "agre", "welcom", "support", "embrac"}, {"reject", "refus", "declin", "block", "oppos", "resist", "veto"},
    {"lik", "lov", "prais", "trust", "valu"}, {"dislik", "hat", "blam", "criticis", "criticiz", "distrust", "mistrust"},
    {"meet", "hit", "achiev", "mak"}, {"miss", "fail"},
    {"shar", "report", "reveal", "disclos", "show"}, {"hid", "conceal", "withhold", "keep"},
    {"start", "begin", "build", "open", "launch", "extend"}, {"stop", "end", "terminat", "clos", "cancel", "break", "finish"},
    {"includ", "involv", "consult"}, {"exclud", "ignor", "bypass"},
    {"buy", "purchas"}, {"sell"},
    {"ask", "request", "demand"}, {"offer", "giv", "grant"},
    {"overpay", "overcharg", "overestimat"}, {"underpay", "undercharg", "underestimat"},
    {"simplify"}, {"complicat"},
    {"choos", "select", "pick", "prefer"}, {"avoid", "reject", "drop"},
    {"centralis", "centraliz"}, {"decentralis", "decentraliz"},
]
#: Verbs that only carry another word's action ("Putting the contract out to tender", "Getting approval").
_SUPPORT_VERBS = frozenset("putting getting taking making doing having giving going bringing".split())
_OPPOSITE_PAIRS = [(_OPPOSITES[i], _OPPOSITES[i + 1]) for i in range(0, len(_OPPOSITES), 2)]


#: Light verbs, as stems: a label with one says little beyond its object.
_LIGHT = frozenset(lexicon.stem(v) for v in lexicon.LIGHT_VERBS | {"bring", "take", "make", "give", "put", "keep", "base", "call"})

@dataclass(frozen=True)
class Parts:
    """A process label as polarity, verb and object ("Not trusting the supplier" -> not, trusting, the supplier)."""

    polarity: str
    verb: str
    object: str


def parts(label: str) -> Parts | None:
    """The parts of a process label (``None`` for an in-vivo label or one with no words)."""
    if label.startswith(('"', "“")):
        return None
    words = label.lower().split()
    polarity = "plain"
    for _ in range(2):  # "Not having to chase ..." is a negation of "Having to chase ..."
        for prefix in _PREFIXES:
            if tuple(words[: len(prefix)]) == prefix and len(words) > len(prefix):
                polarity = _POLARITY[prefix[0]] if polarity == "plain" else f"{polarity}+{_POLARITY[prefix[0]]}"
                words = words[len(prefix) :]
                break
    if not words:
        return None
    return Parts(polarity, words[0], " ".join(words[1:]) or words[0])


def opposite_verbs(a: str, b: str) -> bool:
    """Whether two verbs mean opposite things: one is the other with a negating prefix ("trusting" /
    "distrusting"), or they belong to the two sides of one of ``_OPPOSITES``."""
    sa, sb = lexicon.stem(a), lexicon.stem(b)
    if sa == sb:
        return False
    for x, y in ((sa, sb), (sb, sa)):
        if any(x == p + y for p in _NEGATING if len(y) >= 3):
            return True
        if x.startswith("over") and y.startswith("under") and x[4:] == y[5:]:
            return True
    return any((sa in one and sb in other) or (sb in one and sa in other) for one, other in _OPPOSITE_PAIRS)


def acting_on(a: Parts, b: Parts) -> bool:
    """Whether one label is another process applied to the other's action: "Threatening to switch
    suppliers" / "Switching suppliers", "Losing the southern cleaning" / "Cleaning in the south"
    (the verb of one is a word of the other's object, and the other's verb is not a support verb
    such as "putting" in "Putting the contract out to tender")."""
    va, vb = lexicon.stem(a.verb), lexicon.stem(b.verb)
    if va == vb:
        return False
    for x, y in ((a, b), (b, a)):
        if lexicon.stem(x.verb) in {lexicon.stem(w) for w in y.object.split()} and y.verb not in _SUPPORT_VERBS:
            return True
    return False


def blocked(a: Parts | None, b: Parts | None) -> str | None:
    """Why two labels can never be the same code ("polarity", "opposite verbs", "acting on the
    other's action", "a light verb"), or ``None``. A light verb ("Having", "Getting", "Bringing")
    says so little that the embedding is mostly the object's: "Bringing the t-shirt" and "Having
    the t-shirt" come out at 0.88, so two different verbs, one of them light, never match by meaning."""
    if a is None or b is None:
        return "not a process label"
    if a.polarity != b.polarity:
        return "polarity"
    if opposite_verbs(a.verb, b.verb):
        return "opposite verbs"
    if acting_on(a, b):
        return "acting on the other's action"
    if lexicon.stem(a.verb) != lexicon.stem(b.verb) and (lexicon.stem(a.verb) in _LIGHT or lexicon.stem(b.verb) in _LIGHT):
        return "a light verb"
    return None


@dataclass(frozen=True)
class Match:
    """The existing label a candidate reuses and their cosine similarity."""

    label: str
    similarity: float


class MeaningIndex:
    """Label embeddings, each distinct label embedded once and in batches.

    ``embed`` is the embedder's ``embed`` (unit-normalised rows). ``prepare`` embeds, in a single
    call, every label not seen yet; a label list that only grows (the codebook, the labels proposed
    so far in a run) is stacked into a matrix once and then extended."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray], name: str = EMBEDDER) -> None:
        self.embed = embed
        self.name = name
        self._vec: dict[str, np.ndarray] = {}
        self._parts: dict[str, Parts | None] = {}
        self._stacks: dict[int, tuple[list[str], list[str], np.ndarray]] = {}

    def identity(self) -> str:
        """What the decisions depend on beyond the source: the embedder and the threshold."""
        return f"{self.name}@{THRESHOLD}"

    def _p(self, label: str) -> Parts | None:
        if label not in self._parts:
            self._parts[label] = parts(label)
        return self._parts[label]

    def prepare(self, labels: Sequence[str]) -> None:
        """Embed, in one batch, every process label of ``labels`` not embedded yet."""
        todo = list(dict.fromkeys(l for l in labels if l not in self._vec and self._p(l) is not None))
        if todo:
            for label, v in zip(todo, self.embed(todo)):
                self._vec[label] = np.asarray(v, dtype=np.float32)

    def vector(self, label: str) -> np.ndarray | None:
        self.prepare([label])
        return self._vec.get(label)

    def _stack(self, labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
        seen, kept, matrix = self._stacks.get(id(labels), ([], [], np.zeros((0, 0), dtype=np.float32)))
        if len(seen) > len(labels) or list(labels[: len(seen)]) != seen:
            seen, kept, matrix = [], [], np.zeros((0, 0), dtype=np.float32)  # not the list it was: restack
        new = list(labels[len(seen) :])
        if new or not seen:
            self.prepare(new)
            add = [l for l in new if l in self._vec]
            if add:
                rows = np.stack([self._vec[l] for l in add])
                matrix = rows if matrix.size == 0 else np.vstack([matrix, rows])
                kept = kept + add
            seen = seen + new
            self._stacks[id(labels)] = (seen, kept, matrix)
        return kept, matrix

    def similarities(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Cosine similarity of each label pair (0 for an in-vivo label)."""
        self.prepare([x for pair in pairs for x in pair])
        return np.array([float(self._vec[a] @ self._vec[b]) if a in self._vec and b in self._vec else 0.0
                         for a, b in pairs])  # fmt: skip

    def best(self, candidate: str, labels: Sequence[str]) -> Match | None:
        """The label of ``labels`` most similar to ``candidate``, if its similarity reaches
        ``THRESHOLD`` and no guard blocks the pair; else ``None``."""
        pc = self._p(candidate)
        if pc is None or not labels:
            return None
        kept, matrix = self._stack(labels)
        v = self.vector(candidate)
        if not kept or v is None:
            return None
        sims = matrix @ v
        for j in np.argsort(-sims, kind="stable"):
            if sims[j] < THRESHOLD:
                break
            if kept[j] != candidate and blocked(pc, self._p(kept[j])) is None:
                return Match(kept[j], float(sims[j]))
        return None


# -- calibration --------------------------------------------------------------------------------
def load_pairs(path: Path = GOLD) -> list[dict[str, Any]]:
    """The labelled pairs: ``a``, ``b`` (labels), ``quote_a``, ``quote_b``, ``same``, ``kind``."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def fit_threshold(s: np.ndarray, y: np.ndarray, ok: np.ndarray, target: float = TRAIN_PRECISION) -> float:
    """The lowest similarity whose precision (guards applied) on these pairs is at least ``target``,
    scanning down from the top until the precision falls below it (with at least 5 reuses)."""
    best = 1.0
    for t in sorted(set(np.round(s, 4).tolist()), reverse=True):
        pred = (s >= t) & ok
        n = int(pred.sum())
        if n and int((pred & y).sum()) / n >= target:
            best = float(t)
        elif n >= 5:
            break
    return best


def figures(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    tp, fp, fn = int((pred & y).sum()), int((pred & ~y).sum()), int((~pred & y).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 3),
            "tp": tp, "fp": fp, "fn": fn}  # fmt: skip


def calibration_data(embed: Callable[[list[str]], np.ndarray], pairs: list[dict[str, Any]] | None = None,
                     with_quotes: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:  # fmt: skip
    """Similarities, labels and guard verdicts (True: not blocked) of the gold pairs; with
    ``with_quotes``, the similarity of "label: quote" texts instead of the labels."""
    pairs = pairs if pairs is not None else load_pairs()
    if with_quotes:
        s = (embed([f"{p['a']}: {p['quote_a']}" for p in pairs]) * embed([f"{p['b']}: {p['quote_b']}" for p in pairs])).sum(1)
    else:
        s = MeaningIndex(embed).similarities([(p["a"], p["b"]) for p in pairs])
    y = np.array([bool(p["same"]) for p in pairs])
    ok = np.array([blocked(parts(p["a"]), parts(p["b"])) is None for p in pairs])
    return np.asarray(s, dtype=np.float64), y, ok, pairs


def cross_validate(embed: Callable[[list[str]], np.ndarray], pairs: list[dict[str, Any]] | None = None,
                   folds: int = 5, repeats: int = 5, target: float = TRAIN_PRECISION,
                   with_quotes: bool = False) -> dict[str, Any]:  # fmt: skip
    """Repeated stratified k-fold: the threshold fitted on k-1 folds decides the held-out fold
    (guards applied); ``cv`` pools every held-out decision. Also the threshold fitted on all pairs,
    and the figures of the stored ``THRESHOLD`` on all pairs (optimistic: fitted on them)."""
    from sklearn.model_selection import StratifiedKFold

    s, y, ok, pairs = calibration_data(embed, pairs, with_quotes)
    preds, ys, thresholds = [], [], []
    for seed in range(repeats):
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(s, y):
            t = fit_threshold(s[train], y[train], ok[train], target)
            thresholds.append(t)
            preds.append((s[test] >= t) & ok[test])
            ys.append(y[test])
    return {
        "cv": figures(np.concatenate(preds), np.concatenate(ys)), "folds": folds, "repeats": repeats,
        "train_precision": target, "fold_thresholds": [min(thresholds), float(np.median(thresholds)), max(thresholds)],
        "threshold_all_pairs": fit_threshold(s, y, ok, target), "stored": THRESHOLD,
        "stored_on_all_pairs": figures((s >= THRESHOLD) & ok, y),
        "pairs": len(pairs), "same": int(y.sum()), "blocked_by_guards": int((~ok).sum()),
        "same_blocked_by_guards": int((~ok & y).sum()),
    }  # fmt: skip
