"""Map segments, codes or categories to the constructs of a framework (suggestions only).

Offline, each construct is represented by its name, definition, include cues and examples; an
item is linked to the most similar construct when the cosine similarity reaches the framework's
abstain threshold, and otherwise the mapper abstains. Thresholds are calibrated on the project's
own labelled set (``fixtures/gold/constructs.jsonl``) for the default embedder; see
``calibrate`` and ``coder-assist eval``.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
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
from .calibration import calibrated_threshold
from .categorize import code_texts
from .evaluate import score

if TYPE_CHECKING:
    from .frameworks import Framework
    from ..store.context import StoreContext

NONE = "none"


@dataclass
class Prediction:
    construct: str | None
    confidence: float
    best: str
    """The most similar construct even when abstaining."""


class ConstructMapper:
    """Nearest construct by embedding similarity, with an abstain threshold."""

    def __init__(self, framework: Framework, embedder: Embedder, threshold: float | None = None) -> None:
        self.framework = framework
        self.ids = [c.id for c in framework.constructs]
        self.matrix = embedder.embed([framework.text_for_matching(i) for i in self.ids])
        self.embedder = embedder
        self.threshold = calibrated_threshold(framework.id, embedder.name) if threshold is None else threshold

    def similarities(self, texts: list[str]) -> np.ndarray:
        return self.embedder.embed(texts) @ self.matrix.T

    def predict(self, texts: list[str], sims: np.ndarray | None = None) -> list[Prediction]:
        sims = self.similarities(texts) if sims is None else sims
        out = []
        for row in sims:
            k = int(np.argmax(row))
            conf = float(row[k])
            out.append(Prediction(self.ids[k] if conf >= self.threshold else None, round(conf, 4), self.ids[k]))
        return out


def load_gold(path: Any) -> list[dict[str, str]]:
    """Records ``{"quote", "framework", "label"}`` from a JSONL file; errors name the line."""
    from pathlib import Path

    from ..errors import InputError

    path = Path(path)
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"line {n}: not JSON ({exc.msg})") from None
        if not isinstance(r, dict) or not all(isinstance(r.get(k), str) for k in ("quote", "framework", "label")):
            raise InputError(path, f"line {n}: needs string fields quote, framework and label")
        rows.append(r)
    if not rows:
        raise InputError(path, "no records")
    return rows


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


def evaluate_llm(framework: Framework, caller: StructuredCaller, records: list[dict[str, str]]) -> EvalResult:
    """Score an LLM provider's construct choices on gold records (no threshold to calibrate)."""
    mapper = LLMMapper(framework, caller)
    gold = [r["label"] for r in records]
    pred = [p.construct or NONE for p in mapper.predict([r["quote"] for r in records])]
    s = score(gold, pred)
    return EvalResult(framework.id, len(records), 0.0, s.accuracy, s.macro_f1, s.kappa, s.accuracy, s.macro_f1, s.kappa,
                      s.confusion, s.labels)  # fmt: skip


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


def evaluate(framework: Framework, embedder: Embedder, records: list[dict[str, str]], folds: int = 5,
             threshold: float | None = None) -> EvalResult:  # fmt: skip
    """Score the offline mapper on gold records of one framework: with the given (or shipped)
    threshold, and by k-fold cross-validation where each fold's threshold is calibrated on the rest."""
    mapper = ConstructMapper(framework, embedder, threshold)
    quotes, gold = [r["quote"] for r in records], [r["label"] for r in records]
    unknown = sorted({g for g in gold if g != NONE and g not in mapper.ids})
    if unknown:
        raise CoderAssistError(f"gold labels not in framework {framework.id}: {', '.join(unknown)}")
    sims = mapper.similarities(quotes)
    pred = [p.construct or NONE for p in mapper.predict(quotes, sims)]
    s = score(gold, pred)
    cv_pred = [NONE] * len(records)
    order = np.arange(len(records))
    for f in range(min(folds, len(records))):
        test = order[f::folds]
        train = np.setdiff1d(order, test)
        t = calibrate(sims[train], mapper.ids, [gold[i] for i in train])
        for i in test:
            k = int(np.argmax(sims[i]))
            cv_pred[i] = mapper.ids[k] if sims[i][k] >= t else NONE
    cv = score(gold, cv_pred)
    return EvalResult(framework.id, len(records), mapper.threshold, s.accuracy, s.macro_f1, s.kappa,
                      cv.accuracy, cv.macro_f1, cv.kappa, s.confusion, s.labels)  # fmt: skip


@dataclass
class MapReport:
    run_id: str | None
    framework: str
    level: str
    items: int = 0
    linked: int = 0
    abstained: int = 0
    threshold: float = 0.0


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


def map_constructs(store: StoreContext, embedder: Embedder, framework: Framework, actor: str, level: str = "code",
                   threshold: float | None = None, provider: Any = None) -> MapReport:  # fmt: skip
    """Propose construct links for every item at ``level``; abstentions are counted, not stored.
    With an LLM ``provider`` the model chooses; its evidence quote must be found in the item."""
    conn = store.conn
    items = _items(conn, level)
    llm = isinstance(provider, StructuredProvider)
    mapper: Any = (LLMMapper(framework, StructuredCaller(provider, store.config.privacy, queries.participants(conn)))
                   if llm else ConstructMapper(framework, embedder, threshold))  # fmt: skip
    report = MapReport(None, framework.id, level, len(items), threshold=mapper.threshold)
    if not items:
        return report
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
    else:
        preds = mapper.predict([i["text"] for i in items])
        notes = [None] * len(items)
    run_id = uuid.uuid4().hex
    report.run_id = run_id
    with transaction(conn):
        for item, p, note in zip(items, preds, notes):
            if p.construct is None:
                report.abstained += 1
                continue
            c = framework.construct(p.construct)
            if note is None:
                rationale = (f"Offline similarity: closest to '{c.name}' (cosine {p.confidence:.2f} against its definition, "
                             f"cues and examples; threshold {mapper.threshold:.2f}).")  # fmt: skip
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
        })  # fmt: skip
    return report
