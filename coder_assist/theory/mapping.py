"""Map segments, codes or categories to the constructs of a framework (suggestions only).

Offline mapping is hierarchical:

1. Each construct is represented by the separate parts of its text (definition, each include
   cue, each example), and an item's score for a construct is the mean of its two best part
   similarities, so one long concatenated text does not blur a construct's several senses.
2. The item first chooses a *top-level* construct (:func:`top_level_ids`). A top-level
   construct's score aggregates its own score and its descendants' (``aggregate``: mean of the
   best two by default; ``max`` and ``own`` are the alternatives measured by
   ``bench/calibrate_mapping.py``). The mapper abstains unless the best top-level score, minus
   that construct's mean score over ordinary work talk (``calibration.BACKGROUND``), reaches the
   calibrated ``threshold`` *and* beats the second-best top-level construct by ``margin``.
3. It then descends to a child only when the child beats its parent by ``child_margin`` and its
   next sibling by ``sibling_margin``; otherwise it stays at the parent.

The parameters are calibrated on the project's labelled set (``fixtures/gold/constructs.jsonl``)
for the default embedder; see :func:`fit` and ``coder-assist eval``. ``similarities`` keeps the
older flat score (cosine against the whole ``text_for_matching``) that the per-case analyses use.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from ..store import audit, queries
from ..store.db import transaction, utcnow
from ..store.embedders import Embedder
from ..errors import CoderAssistError
from ..suggest.grounding import locate
from ..suggest.llm import StructuredCaller
from ..suggest.providers import StructuredProvider
from ..suggest.providers.schemas import LinkProposal
from .calibration import BACKGROUND, calibrated_threshold, hierarchy_with_source
from .categorize import code_texts
from .evaluate import Scores, load_gold, score

if TYPE_CHECKING:
    from ..progress import Progress
    from .frameworks import Framework
    from ..store.context import StoreContext

NONE = "none"
METHOD = "hierarchical-v1"
AGGREGATES = ("top2", "max", "own")
#: Grids searched by :func:`fit`. The smallest top-level margin, 0.04, is a floor set on an
#: off-topic development corpus (The Changelog podcast episode 653, coded offline, mapped at code
#: level to ivpd): with margins below it, 9 to 29 of every 100 unrelated codes got a link, because
#: talk that fits no construct is about as similar to all top-level constructs as a B2B quote is
#: to its best one; the gap to the runner-up is what tells them apart.
#: ``bench/calibrate_mapping.py --min-margin 0`` fits without the floor (higher kappa on the gold
#: set, many more links on unrelated talk).
MIN_MARGIN = 0.04
MARGINS = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08)
CHILD_MARGINS = (-0.03, 0.0, 0.02, 0.04, 0.07, 0.1, 1.0)
SIBLING_MARGINS = (0.0, 0.01, 0.02, 0.04, 0.07, 1.0)
#: At most this share of the background sentences may be linked at the fitted threshold.
BACKGROUND_LINK_RATE = 0.02


def _bare(framework: Framework, ref: str | None) -> str | None:
    if ref is None:
        return None
    fw_id, _, cid = ref.rpartition(".")
    return cid if fw_id in ("", framework.id) else None


def top_level_of(framework: Framework, construct_id: str) -> str:
    """The top-level construct above ``construct_id`` (itself when it is top-level).

    A construct is top-level when it has no parent in the framework, or when its parent is the
    framework's central category (the construct whose id is the framework id, as ``ivpd`` in
    ``ivpd``): the central category's dimensions are distinct constructs, not sub-types of it. So
    ``ivpd`` has eight top-level constructs (``ivpd``, its four dimensions, ``ivpd_sources``,
    ``ivpd_consequences``, ``ivpa``) and ``expectation_supplier_set`` rolls up to ``expectations``.
    """
    c = framework.construct(construct_id)
    seen = {c.id}
    while True:
        parent = _bare(framework, c.parent)
        if parent is None or parent == framework.id or parent in seen:
            return c.id
        seen.add(parent)
        c = framework.construct(parent)


def top_level_ids(framework: Framework) -> list[str]:
    """The framework's top-level constructs, in file order."""
    return [c.id for c in framework.constructs if top_level_of(framework, c.id) == c.id]


def roll_up(framework: Framework, label: str) -> str:
    """A label mapped to its top-level construct (``none`` stays ``none``)."""
    return label if label == NONE else top_level_of(framework, label)


def construct_parts(framework: Framework, construct_id: str) -> list[str]:
    """The separately embedded parts of a construct's text: definition, include cues, examples."""
    c = framework.construct(construct_id)
    return [c.definition, *c.include, *c.examples]


@dataclass(frozen=True)
class Params:
    """The hierarchical mapper's decision parameters (see the module docstring)."""

    threshold: float
    margin: float = 0.0
    child_margin: float = 0.02
    sibling_margin: float = 0.02
    aggregate: str = "top2"

    def key(self) -> str:
        """Identifies the method and its parameters (a re-run with the same key adds nothing)."""
        return (f"{METHOD}:{self.aggregate}:t{self.threshold:.4f}:m{self.margin:.4f}:c{self.child_margin:.4f}"
                f":s{self.sibling_margin:.4f}")  # fmt: skip


@dataclass
class Prediction:
    construct: str | None
    confidence: float
    best: str
    """The most similar construct even when abstaining."""
    top: str = ""
    """The chosen top-level construct (even when abstaining)."""
    relative: float = 0.0
    """The top-level score minus its mean over the background sentences."""
    margin: float = 0.0
    """Best minus second-best top-level score."""


@dataclass
class Scored:
    """Everything the decision needs for a batch of items, computed once."""

    scores: np.ndarray
    """items x constructs: mean of the two best part similarities."""
    top: np.ndarray
    """items x top-level constructs: aggregated scores."""
    relative: np.ndarray
    """``top`` minus each top-level construct's mean over the background sentences."""


class ConstructMapper:
    """Hierarchical construct mapping by embedding similarity, with calibrated abstention."""

    def __init__(self, framework: Framework, embedder: Embedder, threshold: float | None = None,
                 params: Params | None = None, aggregate: str | None = None) -> None:  # fmt: skip
        self.framework = framework
        self.ids = [c.id for c in framework.constructs]
        self.embedder = embedder
        self.matrix = embedder.embed([framework.text_for_matching(i) for i in self.ids])
        self.tops = top_level_ids(framework)
        self.top_index = {cid: self.tops.index(top_level_of(framework, cid)) for cid in self.ids}
        if params is None:
            shipped, self.calibration_source = hierarchy_with_source(framework.id, embedder.name)
            fields = ("threshold", "margin", "child_margin", "sibling_margin", "aggregate")
            params = Params(**{k: shipped[k] for k in fields})
        else:
            self.calibration_source = "given"
        if aggregate is not None:
            params = replace(params, aggregate=aggregate)
        if threshold is not None:
            params = replace(params, threshold=threshold)
        if params.aggregate not in AGGREGATES:
            raise CoderAssistError(f"unknown aggregate {params.aggregate!r} ({', '.join(AGGREGATES)})")
        self.params = params
        self.threshold = params.threshold
        self._kids = {cid: [self.ids.index(c.id) for c in framework.children(cid) if c.id not in self.tops]
                      for cid in self.ids}  # fmt: skip

    # ------------------------------------------------------------------ flat similarity (analysis)

    def similarities(self, texts: list[str]) -> np.ndarray:
        """Cosine similarity of each text with each construct's whole ``text_for_matching``."""
        return self.embedder.embed(texts) @ self.matrix.T

    # ------------------------------------------------------------------ hierarchical scores

    @cached_property
    def _parts(self) -> tuple[np.ndarray, list[np.ndarray]]:
        texts, owner = [], []
        for j, cid in enumerate(self.ids):
            for t in construct_parts(self.framework, cid):
                texts.append(t)
                owner.append(j)
        owners = np.array(owner)
        return self.embedder.embed(texts), [np.flatnonzero(owners == j) for j in range(len(self.ids))]

    def _construct_scores(self, vectors: np.ndarray) -> np.ndarray:
        matrix, cols = self._parts
        sims = vectors @ matrix.T
        out = np.empty((len(vectors), len(self.ids)))
        for j, c in enumerate(cols):
            part = np.sort(sims[:, c], axis=1)
            out[:, j] = part[:, -2:].mean(axis=1)
        return out

    def _top_scores(self, scores: np.ndarray, aggregate: str) -> np.ndarray:
        out = np.empty((len(scores), len(self.tops)))
        for k, t in enumerate(self.tops):
            if aggregate == "own":
                out[:, k] = scores[:, self.ids.index(t)]
                continue
            family = [j for j, cid in enumerate(self.ids) if self.top_index[cid] == k]
            fam = np.sort(scores[:, family], axis=1)
            out[:, k] = fam[:, -1] if aggregate == "max" else fam[:, -2:].mean(axis=1)
        return out

    @cached_property
    def _background_scores(self) -> np.ndarray:
        return self._construct_scores(self.embedder.embed(list(BACKGROUND)))

    def background_mean(self, aggregate: str | None = None) -> np.ndarray:
        """Each top-level construct's mean score over the background sentences."""
        return self._top_scores(self._background_scores, aggregate or self.params.aggregate).mean(axis=0)

    def score_vectors(self, vectors: np.ndarray, aggregate: str | None = None) -> Scored:
        aggregate = aggregate or self.params.aggregate
        scores = self._construct_scores(vectors)
        top = self._top_scores(scores, aggregate)
        return Scored(scores, top, top - self.background_mean(aggregate))

    def score(self, texts: list[str], aggregate: str | None = None) -> Scored:
        return self.score_vectors(self.embedder.embed(texts) if texts else np.zeros((0, self.matrix.shape[1])), aggregate)

    def background(self, aggregate: str | None = None) -> Scored:
        """The background sentences, scored like items (for the link-rate constraint)."""
        aggregate = aggregate or self.params.aggregate
        top = self._top_scores(self._background_scores, aggregate)
        return Scored(self._background_scores, top, top - self.background_mean(aggregate))

    def descend(self, row: np.ndarray, start: str, child_margin: float, sibling_margin: float) -> str:
        """From ``start`` down to the child that clearly beats its parent and siblings, repeatedly."""
        node = start
        while kids := self._kids[node]:
            ranked = sorted(kids, key=lambda j: -row[j])
            best = ranked[0]
            second = row[ranked[1]] if len(ranked) > 1 else -np.inf
            if row[best] - row[self.ids.index(node)] >= child_margin and row[best] - second >= sibling_margin:
                node = self.ids[best]
            else:
                break
        return node

    def decide(self, scored: Scored, params: Params | None = None) -> list[Prediction]:
        p = params or self.params
        out = []
        for scores, top, rel in zip(scored.scores, scored.top, scored.relative):
            order = np.argsort(-top)
            k = int(order[0])
            margin = float(top[k] - top[order[1]]) if len(order) > 1 else float(top[k])
            fits = rel[k] >= p.threshold and margin >= p.margin
            chosen = self.descend(scores, self.tops[k], p.child_margin, p.sibling_margin) if fits else None
            best = self.ids[int(np.argmax(scores))]
            out.append(Prediction(chosen, round(float(top[k]), 4), best, self.tops[k], round(float(rel[k]), 4),
                                  round(margin, 4)))  # fmt: skip
        return out

    def predict(self, texts: list[str], scored: Scored | None = None) -> list[Prediction]:
        return self.decide(self.score(texts) if scored is None else scored)

    def nearest_top(self, vectors: np.ndarray) -> list[str]:
        """Baseline: the top-level construct with the most similar whole text, never abstaining."""
        cols = [self.ids.index(t) for t in self.tops]
        return [self.tops[int(k)] for k in np.argmax(vectors @ self.matrix[cols].T, axis=1)]


def calibrate(sims: np.ndarray, ids: list[str], gold: list[str]) -> float:
    """The threshold that maximises macro-F1 (with abstentions scored as ``none``)."""
    best_k = [ids[int(np.argmax(r))] for r in sims]
    top = [float(np.max(r)) for r in sims]
    candidates = sorted(set(top)) + [max(top) + 1e-6]
    scored = []
    for t in candidates:
        pred = [b if s >= t else NONE for b, s in zip(best_k, top)]
        scored.append((score(gold, pred).macro_f1, -t, t))
    return max(scored)[2]


def _take(scored: Scored, idx: Any) -> Scored:
    return Scored(scored.scores[idx], scored.top[idx], scored.relative[idx])


def _agreement(gold: np.ndarray, pred: np.ndarray, size: int) -> tuple[float, float]:
    """(kappa, macro-F1) of integer-coded labels; the same figures as ``evaluate.score``, fast."""
    n = len(gold)
    if not n:
        return 0.0, 0.0
    conf = np.bincount(gold * size + pred, minlength=size * size).reshape(size, size)
    present = (conf.sum(0) + conf.sum(1)) > 0
    tp = np.diag(conf)
    accuracy = tp.sum() / n
    expected = float((conf.sum(1) * conf.sum(0)).sum()) / (n * n)
    kappa = (accuracy - expected) / (1 - expected) if expected < 1 else 1.0
    f1 = np.divide(2 * tp, conf.sum(0) + conf.sum(1), out=np.zeros(size), where=present)
    return float(kappa), float(f1[present].mean())


def fit(mapper: ConstructMapper, scored: Scored, gold: list[str], aggregate: str | None = None,
        min_margin: float | None = None) -> Params:
    """Fit the hierarchical parameters on labelled items (``scored`` computed with ``aggregate``).

    First the top-level decision: the ``threshold`` and ``margin`` that maximise Cohen's kappa of
    the rolled-up labels (abstentions scored as ``none``), among thresholds at which at most
    :data:`BACKGROUND_LINK_RATE` of the background sentences would be linked, and margins of at
    least ``min_margin`` (default :data:`MIN_MARGIN`). Then the descent: the ``child_margin`` and ``sibling_margin`` that maximise the strict kappa. Ties go to the more
    conservative setting (higher threshold, larger margins).
    """
    aggregate = aggregate or mapper.params.aggregate
    fw = mapper.framework
    rolled = [roll_up(fw, g) for g in gold]
    n = len(gold)
    rows = np.arange(n)
    order = np.argsort(-scored.top, axis=1)
    k = order[:, 0]
    rel = scored.relative[rows, k]
    margin = scored.top[rows, k] - (scored.top[rows, order[:, 1]] if scored.top.shape[1] > 1 else 0.0)
    bg = mapper.background(aggregate)
    bg_order = np.argsort(-bg.top, axis=1)
    bg_rows = np.arange(len(bg.top))
    bg_rel = bg.relative[bg_rows, bg_order[:, 0]]
    bg_margin = bg.top[bg_rows, bg_order[:, 0]] - (bg.top[bg_rows, bg_order[:, 1]] if bg.top.shape[1] > 1 else 0.0)
    allowed = int(BACKGROUND_LINK_RATE * len(bg_rel))
    codes = {label: i for i, label in enumerate([NONE, *mapper.ids])}
    size = len(codes)
    g_roll = np.array([codes.get(x, 0) for x in rolled])
    g_strict = np.array([codes.get(x, 0) for x in gold])
    top_codes = np.array([codes[mapper.tops[j]] for j in k], dtype=int)
    best: tuple[Any, ...] = ()
    floor_margin = MIN_MARGIN if min_margin is None else min_margin
    for mu in [m for m in MARGINS if m >= floor_margin] or [floor_margin]:
        passing = np.sort(bg_rel[bg_margin >= mu])
        floor = float(passing[-(allowed + 1)]) + 1e-6 if len(passing) > allowed else -np.inf
        candidates = sorted({float(t) for t in rel if t >= floor} | ({floor} if np.isfinite(floor) else set()))
        candidates.append(float(rel.max()) + 1e-6 if n else 1.0)
        for t in candidates:
            linked = (rel >= t) & (margin >= mu)
            kappa, f1 = _agreement(g_roll, np.where(linked, top_codes, 0), size)
            cand = (round(kappa, 9), round(f1, 9), t, mu)
            if not best or cand > best:
                best = cand
    threshold, mu = float(best[2]), float(best[3])
    linked = (rel >= threshold) & (margin >= mu)
    best_descent: tuple[Any, ...] = ()
    for cm in CHILD_MARGINS:
        for sm in SIBLING_MARGINS:
            pred = np.array([codes[mapper.descend(scored.scores[i], mapper.tops[k[i]], cm, sm)] if linked[i] else 0
                             for i in range(n)], dtype=int)  # fmt: skip
            kappa, f1 = _agreement(g_strict, pred, size)
            cand = (round(kappa, 9), round(f1, 9), cm, sm)
            if not best_descent or cand > best_descent:
                best_descent = cand
    return Params(round(threshold, 4), mu, float(best_descent[2]), float(best_descent[3]), aggregate)


@dataclass
class EvalResult:
    framework: str
    n: int
    threshold: float
    accuracy: float
    macro_f1: float
    kappa: float
    cv_accuracy: float
    cv_macro_f1: float
    cv_kappa: float
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    # rolled up: gold labels and predictions mapped to their top-level construct
    rollup_accuracy: float = 0.0
    rollup_macro_f1: float = 0.0
    rollup_kappa: float = 0.0
    cv_rollup_accuracy: float = 0.0
    cv_rollup_macro_f1: float = 0.0
    cv_rollup_kappa: float = 0.0
    # baseline: nearest top-level construct by its whole text, never abstaining (rolled up)
    baseline_accuracy: float | None = None
    baseline_macro_f1: float | None = None
    baseline_kappa: float | None = None
    method: str = METHOD
    params: dict[str, Any] = field(default_factory=dict)
    fold_params: list[dict[str, Any]] = field(default_factory=list)
    """The parameters fitted on each fold's training part."""
    linked: float = 0.0
    """Share of items linked (not abstained), with ``params``."""
    cv_linked: float = 0.0
    rollup_confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    rollup_labels: list[str] = field(default_factory=list)


def _rolled(framework: Framework, labels: list[str]) -> list[str]:
    return [roll_up(framework, x) if x == NONE or x in framework.construct_ids else x for x in labels]


def evaluate_llm(framework: Framework, caller: StructuredCaller, records: list[dict[str, str]]) -> EvalResult:
    """Score an LLM provider's construct choices on gold records (no threshold to calibrate)."""
    mapper = LLMMapper(framework, caller)
    gold = [r["label"] for r in records]
    pred = [p.construct or NONE for p in mapper.predict([r["quote"] for r in records])]
    s = score(gold, pred)
    r = score(_rolled(framework, gold), _rolled(framework, pred))
    linked = sum(p != NONE for p in pred) / len(pred) if pred else 0.0
    return EvalResult(framework.id, len(records), 0.0, s.accuracy, s.macro_f1, s.kappa, s.accuracy, s.macro_f1, s.kappa,
                      s.confusion, s.labels, r.accuracy, r.macro_f1, r.kappa, r.accuracy, r.macro_f1, r.kappa,
                      method="llm", linked=linked, cv_linked=linked, rollup_confusion=r.confusion,
                      rollup_labels=r.labels)  # fmt: skip


def evaluate_gold(records: list[dict[str, str]], frameworks: dict[str, Framework], embedder: Embedder,
                  caller: StructuredCaller | None = None, framework: str | None = None) -> list[EvalResult]:  # fmt: skip
    """Score construct mapping per framework of the gold ``records`` (or ``framework`` only): the
    offline mapper, or an LLM provider through ``caller``."""
    out = []
    for fid in sorted({r["framework"] for r in records}) if framework is None else [framework]:
        if fid not in frameworks:
            raise CoderAssistError(f"unknown framework {fid!r} (known: {', '.join(sorted(frameworks))})")
        subset = [r for r in records if r["framework"] == fid]
        fw = frameworks[fid]
        out.append(evaluate_llm(fw, caller, subset) if caller is not None else evaluate(fw, embedder, subset))
    return out


def folds_of(n: int, folds: int) -> list[np.ndarray]:
    """The test indices of each fold (every ``folds``-th record, so folds are deterministic)."""
    order = np.arange(n)
    return [order[f::folds] for f in range(min(folds, n))]


def evaluate(framework: Framework, embedder: Embedder, records: list[dict[str, str]], folds: int = 5,
             threshold: float | None = None, params: Params | None = None, aggregate: str | None = None,
             mapper: ConstructMapper | None = None, min_margin: float | None = None) -> EvalResult:  # fmt: skip
    """Score the offline mapper on gold records of one framework, strict and rolled up to the
    top-level constructs: with the given (or shipped) parameters, and by k-fold cross-validation
    where each fold's parameters are fitted on the other folds only. The baseline is the nearest
    top-level construct by whole text, with no abstention."""
    mapper = mapper or ConstructMapper(framework, embedder, threshold, params, aggregate)
    quotes, gold = [r["quote"] for r in records], [r["label"] for r in records]
    unknown = sorted({g for g in gold if g != NONE and g not in mapper.ids})
    if unknown:
        raise CoderAssistError(f"gold labels not in framework {framework.id}: {', '.join(unknown)}")
    vectors = embedder.embed(quotes)
    agg = mapper.params.aggregate
    scored = mapper.score_vectors(vectors, agg)
    pred = [p.construct or NONE for p in mapper.decide(scored)]
    rolled = [roll_up(framework, g) for g in gold]
    s = score(gold, pred)
    r = score(rolled, [roll_up(framework, p) for p in pred])
    cv_pred = [NONE] * len(records)
    fold_params = []
    for test in folds_of(len(records), folds):
        train = np.setdiff1d(np.arange(len(records)), test)
        if not len(train):
            continue
        fitted = fit(mapper, _take(scored, train), [gold[i] for i in train], agg, min_margin)
        fold_params.append(asdict(fitted))
        for i, p in zip(test, mapper.decide(_take(scored, test), fitted)):
            cv_pred[i] = p.construct or NONE
    cv = score(gold, cv_pred)
    cvr = score(rolled, [roll_up(framework, p) for p in cv_pred])
    base = score(rolled, mapper.nearest_top(vectors))
    return EvalResult(framework.id, len(records), mapper.threshold, s.accuracy, s.macro_f1, s.kappa,
                      cv.accuracy, cv.macro_f1, cv.kappa, s.confusion, s.labels,
                      r.accuracy, r.macro_f1, r.kappa, cvr.accuracy, cvr.macro_f1, cvr.kappa,
                      base.accuracy, base.macro_f1, base.kappa, METHOD, asdict(mapper.params), fold_params,
                      sum(p != NONE for p in pred) / len(pred), sum(p != NONE for p in cv_pred) / len(cv_pred),
                      r.confusion, r.labels)  # fmt: skip


def rollup_scores(result: EvalResult) -> Scores:
    """The rolled-up in-sample scores of a result, for ``confusion_table``."""
    return Scores(result.n, result.rollup_accuracy, result.rollup_macro_f1, result.rollup_kappa,
                  result.rollup_labels, result.rollup_confusion)  # fmt: skip


@dataclass
class MapReport:
    run_id: str | None
    framework: str
    level: str
    items: int = 0
    linked: int = 0
    abstained: int = 0
    threshold: float = 0.0
    skipped: int = 0
    """Items that already have a proposed, accepted or rejected link from the same method."""
    method: str = ""


def _items(conn: sqlite3.Connection, level: str) -> list[dict[str, Any]]:
    if level == "segment":
        rows = conn.execute(
            "SELECT s.id, s.text, s.start, s.end, d.name AS source FROM segments s JOIN documents d ON d.id = s.document_id"
            " JOIN turns t ON t.id = s.turn_id LEFT JOIN participants p ON p.speaker = s.speaker"
            f" WHERE d.current = 1 AND {queries.PARTICIPANT_TALK} ORDER BY d.name, s.idx"
        ).fetchall()
        return [{"target": r["id"], "text": r["text"],
                 "evidence": [{"source": r["source"], "start": r["start"], "end": r["end"], "quote": r["text"]}]} for r in rows]  # fmt: skip
    if level == "code":
        out = []
        for c in code_texts(conn):
            ev = conn.execute(
                "SELECT d.name AS source, g.start, g.end, substr(d.text, g.start + 1, g.end - g.start) AS quote"
                " FROM codings g JOIN documents d ON d.id = g.document_id WHERE g.code_id = ? AND g.active = 1 LIMIT 3",
                (c["id"],),
            ).fetchall()
            out.append({"target": str(c["id"]), "text": c["label"] + ". " + " ".join(c["passages"][:3]), "evidence": [dict(e) for e in ev]})
        return out
    if level == "category":
        rows = conn.execute("SELECT id, name, definition FROM categories WHERE active = 1").fetchall()
        out = []
        for r in rows:
            members = [m[0] for m in conn.execute(
                "SELECT c.label FROM category_members m JOIN codes c ON c.id = m.code_id WHERE m.category_id = ? AND m.active = 1",
                (r["id"],))]  # fmt: skip
            out.append({"target": str(r["id"]), "text": f"{r['name']}. {r['definition'] or ''} {'; '.join(members)}", "evidence": []})
        return out
    raise CoderAssistError(f"unknown level {level!r} (segment, code or category)")


class LLMMapper:
    """Construct mapping through an LLM provider's structured call (``construct-mapping`` prompt)."""

    def __init__(self, framework: Framework, caller: StructuredCaller) -> None:
        self.framework, self.caller = framework, caller
        self.ids = [c.id for c in framework.constructs]
        self.constructs = "\n".join(
            f"- {c.id}: {c.name}. {c.definition} Use when: {' '.join(c.include)} Not when: {' '.join(c.exclude)}"
            for c in framework.constructs
        )
        self.threshold = 0.0
        self.failures = 0

    def predict_one(self, text: str) -> tuple[Prediction, str, str]:
        """(prediction, rationale, evidence quote); a failed call or an unknown id abstains."""
        result = self.caller.call("construct-mapping", LinkProposal, constructs=self.constructs, item=text)
        if result.fields is None:
            self.failures += 1
            return Prediction(None, 0.0, ""), result.error, ""
        p = LinkProposal.model_validate(result.fields)
        known = p.construct_id if p.construct_id in self.ids else None
        return Prediction(known, round(float(p.confidence), 4), known or ""), p.rationale, p.evidence_quote

    def predict(self, texts: list[str]) -> list[Prediction]:
        return [self.predict_one(t)[0] for t in texts]


def _already_mapped(conn: sqlite3.Connection, framework: str, level: str, method: str) -> set[str]:
    """Targets with a proposed, accepted or rejected link suggestion from a run of this method."""
    runs = [r[0] for r in conn.execute(
        "SELECT json_extract(payload, '$.run_id') FROM events WHERE type = 'map'"
        " AND json_extract(payload, '$.framework') = ? AND json_extract(payload, '$.level') = ?"
        " AND json_extract(payload, '$.method') = ?", (framework, level, method))]  # fmt: skip
    if not runs:
        return set()
    marks = ",".join("?" * len(runs))
    return {r[0] for r in conn.execute(
        f"SELECT DISTINCT target FROM link_suggestions WHERE framework = ? AND level = ? AND run_id IN ({marks})"
        " AND status IN ('proposed', 'accepted', 'rejected')", (framework, level, *runs))}  # fmt: skip


MAP_BATCH = 32  #: items scored per progress step (offline)


def map_constructs(store: StoreContext, embedder: Embedder, framework: Framework, actor: str, level: str = "code",
                   threshold: float | None = None, provider: Any = None,
                   progress: Progress | None = None) -> MapReport:  # fmt: skip
    """Propose construct links for every item at ``level``; abstentions are counted, not stored.
    With an LLM ``provider`` the model chooses; its evidence quote must be found in the item.
    Items that already carry a proposed, accepted or rejected suggestion from the same method
    (provider, model and parameters) are skipped, so a re-run adds nothing. ``progress`` advances
    per item (per batch of items offline)."""
    from ..progress import NoProgress

    progress = progress or NoProgress()
    conn = store.conn
    items = _items(conn, level)
    llm = isinstance(provider, StructuredProvider)
    mapper: Any = (LLMMapper(framework, StructuredCaller(provider, store.config.privacy, queries.participants(conn)))
                   if llm else ConstructMapper(framework, embedder, threshold))  # fmt: skip
    method = f"llm:{provider.name}:{provider.model}" if llm else f"offline:{embedder.name}:{mapper.params.key()}"
    report = MapReport(None, framework.id, level, len(items), threshold=mapper.threshold, method=method)
    done = _already_mapped(conn, framework.id, level, method)
    items = [i for i in items if i["target"] not in done]
    report.skipped = report.items - len(items)
    if not items:
        return report
    progress.begin("mapping", len(items))
    try:
        if llm:
            preds, notes = [], []
            for item in items:
                pred, rationale, quote = mapper.predict_one(item["text"])
                grounded = [dict(e, quote=e["quote"][g.start - e["start"] : g.end - e["start"]], start=g.start, end=g.end)
                            for e in item["evidence"] if (g := locate(quote, e["quote"], base=e["start"], threshold=1.01)).grounded]  # fmt: skip
                if pred.construct and item["evidence"] and not grounded:
                    pred = Prediction(None, pred.confidence, pred.best)  # evidence not in the data: not offered
                preds.append(pred)
                notes.append((rationale, grounded))
                progress.advance()
        else:
            preds = []
            for i in range(0, len(items), MAP_BATCH):  # each item is scored on its own, so batches change nothing
                batch = items[i : i + MAP_BATCH]
                preds += mapper.predict([x["text"] for x in batch])
                progress.advance(len(batch))
            notes = [None] * len(items)
    finally:
        progress.end()
    run_id = uuid.uuid4().hex
    report.run_id = run_id
    with transaction(conn):
        for item, p, note in zip(items, preds, notes):
            if p.construct is None:
                report.abstained += 1
                continue
            c = framework.construct(p.construct)
            if note is None:
                top = framework.construct(p.top)
                where = (f"'{c.name}' under top-level '{top.name}'" if c.id != top.id else f"top-level '{c.name}'")
                rationale = (f"Offline hierarchical similarity: {where} (score {p.confidence:.2f}, "
                             f"{p.relative:+.2f} over ordinary work talk, threshold {mapper.threshold:.2f}; "
                             f"{p.margin:.2f} ahead of the next top-level construct).")  # fmt: skip
                evidence, who, model = item["evidence"], "offline", embedder.name
            else:
                rationale, evidence, who, model = note[0], note[1], provider.name, provider.model
            conn.execute(
                "INSERT INTO link_suggestions (run_id, provider, model, framework, construct, level, target, confidence,"
                " rationale, evidence, abstained, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,0,?)",
                (run_id, who, model, framework.id, p.construct, level, item["target"], p.confidence,
                 rationale, json.dumps(evidence, ensure_ascii=False), utcnow()),
            )  # fmt: skip
            report.linked += 1
        audit.append(conn, actor, "map", {
            "run_id": run_id, "framework": framework.id, "level": level, "items": report.items,
            "linked": report.linked, "abstained": report.abstained, "threshold": mapper.threshold,
            "method": method, "skipped": report.skipped,
        })  # fmt: skip
    return report
