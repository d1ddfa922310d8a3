"""Focused coding: cluster accepted initial codes into candidate categories (suggestions only).

Each code is embedded as its label plus the passages it was applied to. Agglomerative clustering
(average linkage, cosine distance, a distance threshold) groups them: deterministic, and fine for
the tens to hundreds of codes a study has (HDBSCAN marks most of a small set as noise).
The offline provider names a cluster by its medoid code and its most distinctive terms; the
categories are confirmed, renamed or rejected by a person like any other suggestion.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..store import audit
from ..store import queries
from ..store.db import transaction, utcnow
from ..suggest.llm import StructuredCaller
from ..suggest.providers import StructuredProvider
from ..suggest.providers.schemas import CategoryProposal

if TYPE_CHECKING:
    from ..progress import Progress
    from ..store.context import StoreContext
    from ..store.embedders import Embedder

DISTANCE_THRESHOLD = 0.6
EMBED_BATCH = 32  #: codes embedded per progress step
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_STOP = frozenset(
    "the and that this with was were for you but not have had has are they them their there what when "
    "which who would could should about into from then than just really very like know think said says "
    "yeah well okay our out all any can did get got one also been being because some more most much".split()
)


@dataclass
class CategorizeReport:
    run_id: str | None
    codes: int = 0
    categories: int = 0
    unclustered: list[str] = field(default_factory=list)
    threshold: float = DISTANCE_THRESHOLD


def code_texts(conn: sqlite3.Connection, wave: int | None = None) -> list[dict[str, Any]]:
    """Accepted initial codes with the passages coded with them (optionally one wave only)."""
    rows = conn.execute(
        "SELECT c.id, c.label, substr(d.text, g.start + 1, g.end - g.start) AS passage, d.wave, p.side"
        " FROM codes c JOIN codings g ON g.code_id = c.id AND g.active = 1 JOIN documents d ON d.id = g.document_id"
        " JOIN segments s ON s.id = g.segment_id LEFT JOIN participants p ON p.speaker = s.speaker"
        " WHERE c.active = 1 AND c.kind = 'initial'" + (" AND d.wave = ?" if wave is not None else "") + " ORDER BY c.id, g.id",
        (wave,) if wave is not None else (),
    ).fetchall()
    codes: dict[int, dict[str, Any]] = {}
    for r in rows:
        c = codes.setdefault(r["id"], {"id": r["id"], "label": r["label"], "passages": [], "sides": Counter(), "waves": Counter()})
        c["passages"].append(r["passage"])
        c["sides"][r["side"] or "unknown"] += 1
        c["waves"][str(r["wave"])] += 1
    return list(codes.values())


def cluster(vectors: np.ndarray, threshold: float = DISTANCE_THRESHOLD) -> list[int]:
    """Cluster labels for unit vectors; one code alone is its own cluster."""
    if len(vectors) < 2:
        return [0] * len(vectors)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average", distance_threshold=threshold)
    return [int(x) for x in model.fit_predict(vectors)]


def _terms(members: list[dict[str, Any]], everyone: list[dict[str, Any]], k: int = 5) -> list[str]:
    """Words used by many of this cluster's codes and few others: the share of members using a
    word minus the share of the other codes using it."""
    def words(c: dict[str, Any]) -> set[str]:
        text = c["label"] + " " + " ".join(c["passages"])
        return {w.lower() for w in _WORD.findall(text) if w.lower() not in _STOP}

    inside = Counter(w for c in members for w in words(c))
    total = Counter(w for c in everyone for w in words(c))
    others = max(1, len(everyone) - len(members))
    contrast = {w: inside[w] / len(members) - (total[w] - inside[w]) / others for w in inside}
    return sorted(contrast, key=lambda w: (-contrast[w], -inside[w], w))[:k]


def _llm_name(caller: StructuredCaller, members: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str, str]:
    """Ask an LLM provider to name and define a cluster. Returns (fields or None, raw, error)."""
    codes = "\n".join(f"- {m['label']} ({len(m['passages'])})" for m in members)
    passages = "\n".join(f"- {p}" for m in members for p in m["passages"][:2])
    result = caller.call("category-naming", CategoryProposal, codes=codes, passages=passages)
    if result.fields is None:
        return None, result.raw, result.error
    return result.fields | {"prompt_sha256": result.prompt.sha256}, result.raw, ""


def categorize(store: StoreContext, embedder: Embedder, actor: str, *, wave: int | None = None,
               threshold: float = DISTANCE_THRESHOLD, provider: Any = None,
               progress: Progress | None = None) -> CategorizeReport:  # fmt: skip
    """Propose categories from the accepted codes; returns what was proposed. With an LLM
    ``provider`` (one that has ``structured``), the model names and defines each cluster.
    ``progress`` is told about the embedding (per batch of codes) and the naming (per cluster)."""
    from ..progress import NoProgress

    progress = progress or NoProgress()
    conn = store.conn
    codes = code_texts(conn, wave)
    report = CategorizeReport(None, codes=len(codes), threshold=threshold)
    if len(codes) < 2:
        return report
    texts = [c["label"] + ". " + " ".join(c["passages"][:3]) for c in codes]
    progress.begin("embedding", len(texts))
    try:
        parts = []
        for i in range(0, len(texts), EMBED_BATCH):
            parts.append(embedder.embed(texts[i : i + EMBED_BATCH]))
            progress.advance(len(texts[i : i + EMBED_BATCH]))
    finally:
        progress.end()
    vectors = np.vstack(parts)
    labels = cluster(vectors, threshold)
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    run_id = uuid.uuid4().hex
    report.run_id = run_id
    params = {"method": "agglomerative", "linkage": "average", "metric": "cosine", "distance_threshold": threshold,
              "embedder": embedder.name, "wave": wave}  # fmt: skip
    caller = StructuredCaller(provider, store.config.privacy, queries.participants(conn)) \
        if isinstance(provider, StructuredProvider) else None
    ordered = sorted(groups.values(), key=lambda g: (-len(g), g[0]))
    progress.begin("naming", sum(len(g) > 1 for g in ordered))
    with transaction(conn), ExitStack() as naming:
        naming.callback(progress.end)
        for idx in ordered:
            if len(idx) < 2:
                report.unclustered.append(codes[idx[0]]["label"])
                continue
            members = [codes[i] for i in idx]
            sims = vectors[idx] @ vectors[idx].T
            medoid = members[int(np.argmax(sims.mean(axis=1)))]
            terms = _terms(members, codes)
            sides = sum((m["sides"] for m in members), Counter())
            waves = sum((m["waves"] for m in members), Counter())
            name = medoid["label"]
            definition = (f"Offline draft (no model): groups {len(members)} initial codes around '{medoid['label']}'; "
                          f"distinctive terms: {', '.join(terms)}. Write the definition in your own words when you confirm it.")  # fmt: skip
            properties = {"members": [m["label"] for m in members], "codings_by_side": dict(sides),
                          "codings_by_wave": dict(waves), "cohesion": round(float(sims.mean()), 3)}  # fmt: skip
            who, model, raw = "offline", "agglomerative+medoid", None
            if caller is not None:
                fields, raw, error = _llm_name(caller, members)
                if fields:
                    name, definition = fields["name"], fields["definition"]
                    properties |= {"properties": fields["properties"], "dimensions": fields["dimensions"],
                                   "prompt_sha256": fields["prompt_sha256"]}  # fmt: skip
                    who, model = provider.name, provider.model
                else:
                    properties["llm_error"] = error  # named offline instead, and the failure is kept
            conn.execute(
                "INSERT INTO category_suggestions (run_id, provider, model, name, definition, properties, member_code_ids,"
                " medoid_code_id, top_terms, params, raw_response, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, who, model, name, definition, json.dumps(properties, ensure_ascii=False),
                 json.dumps([m["id"] for m in members]), medoid["id"], json.dumps(terms), json.dumps(params), raw, utcnow()),
            )  # fmt: skip
            report.categories += 1
            progress.advance()
        audit.append(conn, actor, "categorize", {
            "run_id": run_id, "codes": len(codes), "categories": report.categories,
            "unclustered": len(report.unclustered), "params": params,
        })  # fmt: skip
    return report
