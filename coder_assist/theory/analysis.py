"""Case-level analyses, as suggestions: the value-strategy posture of each buyer-supplier dyad,
and internal value perception dissonance (IVPD) across the buyer's role groups.

Both are offline similarity heuristics. Every segment spoken by a case's buyer- or supplier-side
participants is embedded and compared (cosine) with construct texts of a built-in framework
(``ConstructMapper``: name, definition, include cues, examples). A score says how much a side's
or a group's talk *resembles* that text. It does not measure what anybody intends or believes,
and it favours groups that talk more (more chances of a close segment). Every number comes with
the segments behind it, anchored by exact offsets into ``documents.text``. Nothing here is a
finding until a named person confirms it (``coder_assist.review.confirm``).

Rules (the payload of every suggestion repeats the ones it used):

* posture: a side's score for a value strategy is the mean of its top-5 segment similarities;
  the dominant strategy is the highest score; the grid cell is the ``value_strategy`` construct
  whose ``buyer_strategy``/``supplier_strategy`` attributes match the two dominant strategies.
  A competence is "in play" when its best segment similarity (either side) reaches the
  calibrated ``value_strategy`` threshold for the embedder.
* ivpd: a group's score on a dimension is the mean of its top-2 segment similarities; a group
  "addresses" the dimension when that score reaches the calibrated ``ivpd`` threshold.
  Dissonance on a dimension with sub-codes (``expectations``): at least two groups address it and
  their top-2 segments are closest to different sub-codes. On a dimension without sub-codes:
  at least two groups, the highest group score addresses the dimension, and the highest and
  lowest *size-matched* group scores differ by at least ``SPREAD`` (an emphasis gap, not proof of
  conflicting views). The size-matched score is the expected top-2 mean of a random sample of as
  many segments as the smallest group has, so a group does not win just by talking more.
  Alignment on a dimension: at least two groups, and every group's best size-matched score on
  the IVPA strands that ``remedies`` that dimension in the framework reaches the threshold.
  Flags mean only that the numbers meet the rule.
"""

from __future__ import annotations

import json
import math
import sqlite3
import textwrap
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..store import audit
from ..store.db import transaction, utcnow
from ..errors import CoderAssistError
from .calibration import threshold_with_source
from .mapping import ConstructMapper

if TYPE_CHECKING:
    from .frameworks import Construct, Framework
    from ..store.embedders import Embedder

STRATEGIES = ("internal_value_strategy", "exchange_value_strategy", "relational_value_strategy")
SHORT = {"internal_value_strategy": "internal", "exchange_value_strategy": "exchange",
         "relational_value_strategy": "relational"}  # fmt: skip
CELL_LABELS = {"natural": "natural match", "managed": "managed", "non_viable": "non-viable"}
DIMENSIONS = ("locus", "subjectivity", "temporality", "expectations")
SIDES = ("buyer", "supplier")
TOP_K_STRATEGY = 5
EVIDENCE_PER_SIDE = 3
TOP_K_IVPD = 2
MIN_WORDS = 6
WEAK_MARGIN = 0.02
SPREAD = 0.10
NO_ROLE = "unassigned"
WIDTH = 78

POSTURE_METHOD = (
    "Offline similarity heuristic, not a measurement. Each segment spoken by a buyer- or supplier-side "
    "participant of the case (segments under {min_words} words are left out when a side has longer ones) "
    "is embedded with {embedder} and compared by cosine similarity with the text of the three value "
    "strategies in the value_strategy framework (name, definition, include cues, examples). A side's score "
    "for a strategy is the mean of its top-{k} segment similarities; its dominant strategy is the highest "
    "score. The grid cell is the framework construct whose buyer_strategy and supplier_strategy attributes "
    "match the two dominant strategies; 'what each side can do' quotes that cell's and its posture type's "
    "framework text. A dyadic competence is listed as in play when its best segment similarity (either "
    "side) reaches {threshold:.4f} ({threshold_source}). The scores show which framework text the talk "
    "most resembles, not what either firm intends: read the evidence before confirming."
)
IVPD_METHOD = (
    "Offline similarity heuristic, not a measurement. Buyer-side segments of the case are grouped by the "
    "speaker's role_category; each segment (under {min_words} words left out when a group has longer ones) "
    "is embedded with {embedder} and compared by cosine similarity with the ivpd framework's dimension, "
    "sub-code and IVPA-strand texts. Supplier-side segments are scored the same way, pooled, for contrast. "
    "A score is the mean of the top-{k} segment similarities, so groups that talk more have more chances "
    "of a high score. Flags follow the rules below and say only that the numbers fit the rule."
)
IVPD_RULES = {
    "score": "mean of the group's top-{k} segment similarities to the construct",
    "size_matched_score": (
        "expected mean of the top-{k} similarities in a random sample of {m} segments (the smallest buyer "
        "group's count), so that groups with more talk do not score higher only because of it"
    ),
    "addresses": "a group addresses a dimension when its score is at least {threshold:.4f} ({threshold_source})",
    "dissonance_with_subcodes": (
        "dimension with sub-codes: flagged when at least two buyer groups address it and their top-{k} "
        "segments are, on average, closest to different sub-codes"
    ),
    "dissonance_without_subcodes": (
        "dimension without sub-codes: flagged when there are at least two buyer groups, the highest group "
        "score addresses the dimension and the highest and lowest size-matched group scores differ by at "
        "least {spread:.2f}; this is a gap in emphasis, not evidence that the groups' views conflict"
    ),
    "alignment": (
        "flagged when there are at least two buyer groups and every group's best size-matched score on "
        "the IVPA strands that the framework says remedy the dimension is at least {threshold:.4f}; not "
        "assessed when no strand remedies the dimension"
    ),
}


# -- shared helpers -----------------------------------------------------------------------------
def _case_segments(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    """Current segments spoken by buyer- or supplier-side participants, by case, in document order.
    ``quote`` is the exact slice of ``documents.text`` the offsets point to."""
    rows = conn.execute(
        "SELECT s.id, s.text, s.speaker, s.start, s.end, d.name AS source, d.wave, p.side, p.role_category,"
        " p.role_title, COALESCE(p.case_id, d.case_id) AS case_id,"
        " substr(d.text, s.start + 1, s.end - s.start) AS quote"
        " FROM segments s JOIN documents d ON d.id = s.document_id JOIN participants p ON p.speaker = s.speaker"
        " WHERE d.current = 1 AND p.side IN ('buyer', 'supplier') AND COALESCE(p.case_id, d.case_id) IS NOT NULL"
        " ORDER BY case_id, d.name, s.idx"
    ).fetchall()
    cases: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        cases.setdefault(r["case_id"], []).append(dict(r))
    return cases


def _dyads(conn: sqlite3.Connection, case: str | None) -> dict[str, list[dict[str, Any]]]:
    """Cases with talk from both sides (or the one asked for, which must qualify)."""
    cases = _case_segments(conn)
    if case is not None:
        if case not in cases:
            raise CoderAssistError(f"no buyer- or supplier-side talk for case {case!r}")
        cases = {case: cases[case]}
    out = {c: segs for c, segs in cases.items() if {s["side"] for s in segs} >= set(SIDES)}
    if case is not None and not out:
        raise CoderAssistError(f"case {case!r} needs talk from both buyer- and supplier-side participants")
    return out


def _substantive(idx: list[int], segs: list[dict[str, Any]]) -> list[int]:
    """Drop very short segments ("Yes.", "Right.") unless nothing longer is left."""
    long = [i for i in idx if len(segs[i]["text"].split()) >= MIN_WORDS]
    return long or idx


def _top(idx: list[int], col: np.ndarray, k: int) -> list[int]:
    """The ``k`` indices (from ``idx``) with the highest values in ``col``; ties keep document order."""
    return sorted(idx, key=lambda i: (-float(col[i]), i))[:k]


def _top_mean(idx: list[int], col: np.ndarray, k: int) -> float:
    top = _top(idx, col, k)
    return round(float(np.mean([col[i] for i in top])), 4) if top else 0.0


def _matched_mean(values: list[float], m: int, k: int) -> float:
    """Expected mean of the top ``k`` of a random ``m``-sample (without replacement) of ``values``."""
    v, n = sorted(values, reverse=True), len(values)
    k = min(k, m, n)
    if not k:
        return 0.0
    if m >= n:
        return round(float(np.mean(v[:k])), 4)
    total = 0.0
    for j, x in enumerate(v):  # P(v[j] is drawn and fewer than k higher values are drawn with it)
        ways = sum(math.comb(j, t) * math.comb(n - 1 - j, m - 1 - t) for t in range(k))
        total += x * ways / math.comb(n - 1, m - 1) * m / n
    return round(total / k, 4)


def _evidence(seg: dict[str, Any], similarity: float) -> dict[str, Any]:
    """One grounded evidence item: ``documents.text[start:end] == quote``."""
    return {"source": seg["source"], "speaker": seg["speaker"], "wave": seg["wave"], "start": seg["start"],
            "end": seg["end"], "quote": seg["quote"], "segment_id": seg["id"], "side": seg["side"],
            "similarity": round(float(similarity), 4)}  # fmt: skip


def _people(idx: list[int], segs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for i in idx:
        s = segs[i]
        seen.setdefault(s["speaker"], {"speaker": s["speaker"], "role_category": s["role_category"],
                                       "role_title": s["role_title"]})  # fmt: skip
    return sorted(seen.values(), key=lambda p: (p["role_category"] or "", p["speaker"]))


def _store(conn: sqlite3.Connection, kind: str, framework: str, payloads: dict[str, dict[str, Any]], model: str,
           actor: str) -> list[int]:  # fmt: skip
    """Insert one suggestion per case and one ``analysis`` audit event, in one transaction. A case
    whose analysis is the same as one already suggested (same kind, model and payload: the data
    did not change) keeps that suggestion: a re-run adds nothing."""
    run_id, ids, new = uuid.uuid4().hex, [], []
    with transaction(conn):
        for case, payload in payloads.items():
            body = json.dumps(payload, ensure_ascii=False)
            same = conn.execute("SELECT id FROM analysis_suggestions WHERE kind = ? AND case_id = ? AND model = ?"
                                " AND payload = ? ORDER BY id DESC LIMIT 1", (kind, case, model, body)).fetchone()  # fmt: skip
            if same is not None:
                ids.append(int(same[0]))
                continue
            cur = conn.execute(
                "INSERT INTO analysis_suggestions (run_id, kind, case_id, provider, model, payload, created_at)"
                " VALUES (?,?,?,?,?,?,?)",
                (run_id, kind, case, "offline", model, body, utcnow()),
            )
            ids.append(int(cur.lastrowid))  # type: ignore[arg-type]
            new.append(ids[-1])
        if new:
            audit.append(conn, actor, "analysis", {
                "run_id": run_id, "kind": kind, "framework": framework, "cases": list(payloads),
                "suggestion_ids": new, "unchanged_ids": [i for i in ids if i not in new], "provider": "offline",
                "model": model,
            })  # fmt: skip
    return ids


def _caveat_embedder(name: str) -> list[str]:
    if name.startswith("hash"):
        return ["The hash embedder only counts shared words (it is meant for tests): these scores carry no meaning."]
    return []


# -- posture --------------------------------------------------------------------------------------
def grid_cell(framework: Framework, buyer: str, supplier: str) -> Construct:
    """The grid-cell construct for a buyer and a supplier strategy (``internal``/``exchange``/``relational``)."""
    for c in framework.constructs:
        a = c.attributes
        if "cell_type" in a and a.get("buyer_strategy") == buyer and a.get("supplier_strategy") == supplier:
            return c
    raise CoderAssistError(f"framework {framework.id} has no grid cell for buyer {buyer}, supplier {supplier}")


def _side_reading(idx: list[int], segs: list[dict[str, Any]], sims: np.ndarray, cols: dict[str, int]) -> dict[str, Any]:
    """Per-strategy scores, the dominant strategy and its evidence for one side."""
    idx = _substantive(idx, segs)
    scores = {s: _top_mean(idx, sims[:, cols[s]], TOP_K_STRATEGY) for s in STRATEGIES}
    ranked = sorted(STRATEGIES, key=lambda s: -scores[s])  # ties keep the framework's order
    dominant, col = ranked[0], sims[:, cols[ranked[0]]]
    waves = sorted({segs[i]["wave"] for i in idx}, key=lambda w: (w is None, w))
    by_wave = {}
    for w in waves:
        sub = [i for i in idx if segs[i]["wave"] == w]
        ws = {s: _top_mean(sub, sims[:, cols[s]], TOP_K_STRATEGY) for s in STRATEGIES}
        by_wave[str(w)] = {"segments": len(sub), "scores": ws, "strategy": SHORT[max(STRATEGIES, key=lambda s: ws[s])]}
    return {
        "participants": _people(idx, segs), "segments": len(idx), "scores": scores, "dominant": dominant,
        "strategy": SHORT[dominant], "margin": round(scores[ranked[0]] - scores[ranked[1]], 4),
        "evidence": [_evidence(segs[i], col[i]) for i in _top(idx, col, EVIDENCE_PER_SIDE)], "by_wave": by_wave,
    }  # fmt: skip


def _cite(c: Construct, field: str, text: str, framework_id: str) -> dict[str, str]:
    return {"text": " ".join(text.split()), "from": f"{framework_id}.{c.id} ({field})"}


def _guidance(fw: Framework, cell: Construct) -> dict[str, list[dict[str, str]]]:
    """What each side can do, quoted from the framework: the cell's definition and include cues go
    to the side that drives the match (both when none does); the posture type's definition and the
    constructs it is related to go to both."""
    out: dict[str, list[dict[str, str]]] = {"buyer": [], "supplier": [], "both": []}
    driver = cell.attributes.get("driven_by")
    who = driver if driver in SIDES else "both"
    out[who].append(_cite(cell, "definition", cell.definition, fw.id))
    out[who] += [_cite(cell, "include", cue, fw.id) for cue in cell.include]
    posture = fw.construct(cell.parent) if cell.parent else None
    if posture is not None:
        out["both"].append(_cite(posture, "definition", posture.definition, fw.id))
        for rel in posture.relations:
            if rel.type == "related_to" and rel.framework in (None, fw.id):
                target = fw.construct(rel.construct_id)
                out["both"].append(_cite(target, "definition", target.definition, fw.id))
    return out


def _cell_payload(cell: Construct) -> dict[str, Any]:
    a = cell.attributes
    return {"id": cell.id, "name": cell.name, "cell_type": a["cell_type"],
            "cell_type_label": CELL_LABELS.get(a["cell_type"], a["cell_type"]), "managed_type": a.get("managed_type"),
            "driven_by": a.get("driven_by"), "posture_type": cell.parent, "definition": " ".join(cell.definition.split())}  # fmt: skip


def _competences(fw: Framework, mapper: ConstructMapper, sims: np.ndarray, segs: list[dict[str, Any]],
                 threshold: float) -> dict[str, Any]:  # fmt: skip
    """Dyadic competences whose best segment (either side) reaches the threshold, with that segment."""
    checked, in_play = [], []
    idx = _substantive(list(range(len(segs))), segs)
    for c in fw.children("dyadic_competence"):
        col = sims[:, mapper.ids.index(c.id)]
        best = _top(idx, col, 1)[0]
        checked.append({"id": c.id, "name": c.name, "best_similarity": round(float(col[best]), 4)})
        if col[best] >= threshold:
            in_play.append({"id": c.id, "name": c.name, "similarity": round(float(col[best]), 4),
                            "side": segs[best]["side"], "evidence": _evidence(segs[best], col[best])})  # fmt: skip
    in_play.sort(key=lambda c: -c["similarity"])
    return {"threshold": round(threshold, 4), "in_play": in_play, "checked": checked}


def _posture_caveats(sides: dict[str, dict[str, Any]], embedder: str) -> list[str]:
    out = []
    for side, r in sides.items():
        if r["margin"] < WEAK_MARGIN:
            out.append(f"{side}: the two highest strategy scores differ by only {r['margin']:.3f} "
                       f"(< {WEAK_MARGIN}); the dominant strategy is a weak reading.")  # fmt: skip
        if r["segments"] < TOP_K_STRATEGY:
            out.append(f"{side}: only {r['segments']} segment(s) of talk; scores rest on very little.")
        readings = {w: b["strategy"] for w, b in r["by_wave"].items()}
        if len(set(readings.values())) > 1:
            waves = ", ".join(f"wave {w} {v}" for w, v in readings.items())
            out.append(f"{side}: the waves read differently ({waves}); the pooled reading may hide a change "
                       "over time (value_strategy.posture_migration).")  # fmt: skip
    return out + _caveat_embedder(embedder)


def _posture_case(fw: Framework, mapper: ConstructMapper, case: str, segs: list[dict[str, Any]],
                  threshold: tuple[float, str]) -> dict[str, Any]:  # fmt: skip
    sims = mapper.similarities([s["text"] for s in segs])
    cols = {s: mapper.ids.index(s) for s in STRATEGIES}
    sides = {side: _side_reading([i for i, s in enumerate(segs) if s["side"] == side], segs, sims, cols) for side in SIDES}
    cell = grid_cell(fw, sides["buyer"]["strategy"], sides["supplier"]["strategy"])
    name = mapper.embedder.name
    return {
        "kind": "posture", "case": case, "framework": fw.id, "framework_version": fw.version, "embedder": name,
        "method": POSTURE_METHOD.format(min_words=MIN_WORDS, embedder=name, k=TOP_K_STRATEGY,
                                        threshold=threshold[0], threshold_source=threshold[1]),
        "threshold_source": threshold[1], "sides": sides, "cell": _cell_payload(cell),
        "what_each_side_can_do": _guidance(fw, cell),
        "competences": _competences(fw, mapper, sims, segs, threshold[0]),
        "caveats": _posture_caveats(sides, name),
    }  # fmt: skip


def _propose(conn: sqlite3.Connection, embedder: Embedder, kind: str, fw: Framework, case: str | None, actor: str,
             per_case: Callable[..., dict[str, Any]]) -> list[int]:  # fmt: skip
    """Run ``per_case(fw, mapper, case, segments, threshold)`` for every dyad and store the payloads."""
    dyads = _dyads(conn, case)
    if not dyads:
        return []
    mapper = ConstructMapper(fw, embedder)
    threshold = threshold_with_source(fw.id, embedder.name)
    payloads = {c: per_case(fw, mapper, c, segs, threshold) for c, segs in dyads.items()}
    return _store(conn, kind, fw.id, payloads, embedder.name, actor)


def propose_postures(conn: sqlite3.Connection, embedder: Embedder, fw: Framework, actor: str,
                     case: str | None = None) -> list[int]:  # fmt: skip
    """Propose the value-strategy posture (``fw``: value_strategy) of every dyad (or of ``case``);
    returns suggestion ids."""
    return _propose(conn, embedder, "posture", fw, case, actor, _posture_case)


# -- ivpd ---------------------------------------------------------------------------------------------
def _groups(segs: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Buyer-side segment indices by the speaker's role category."""
    out: dict[str, list[int]] = {}
    for i, s in enumerate(segs):
        if s["side"] == "buyer":
            out.setdefault(s["role_category"] or NO_ROLE, []).append(i)
    return dict(sorted(out.items()))


def _closest(top: list[int], sims: np.ndarray, cols: dict[str, int]) -> dict[str, Any]:
    """The construct (of ``cols``) that the given segments are, on average, most similar to."""
    means = {cid: round(float(np.mean([sims[i, c] for i in top])), 4) for cid, c in cols.items()}
    best = max(means, key=lambda cid: means[cid])
    return {"id": best, "similarity": means[best], "all": means}


def _block(idx: list[int], col: np.ndarray, segs: list[dict[str, Any]], sims: np.ndarray,
           children: dict[str, int], threshold: float, m: int) -> dict[str, Any]:  # fmt: skip
    """One group's (or the supplier side's) score on one construct, with its top segments."""
    idx = _substantive(idx, segs)
    top = _top(idx, col, TOP_K_IVPD)
    out = {"score": _top_mean(idx, col, TOP_K_IVPD),
           "size_matched_score": _matched_mean([float(col[i]) for i in idx], m, TOP_K_IVPD), "segments": len(idx),
           "evidence": [_evidence(segs[i], col[i]) for i in top]}  # fmt: skip
    out["addresses_dimension"] = out["score"] >= threshold
    if children and top:
        out["closest_subcode"] = _closest(top, sims, children)
    return out


def _dissonance(groups: dict[str, dict[str, Any]], has_children: bool, threshold: float) -> dict[str, Any]:
    """Apply the documented dissonance rule to the per-group blocks of one dimension."""
    if len(groups) < 2:
        return {"flag": False, "assessable": False, "basis": None, "detail": "only one buyer role group in this case"}
    if has_children:
        speaking = {g: b["closest_subcode"]["id"] for g, b in groups.items() if b["addresses_dimension"]}
        if len(speaking) < 2:
            return {"flag": False, "assessable": False, "basis": "subcode",
                    "detail": f"fewer than two groups reach the threshold {threshold:.2f}"}  # fmt: skip
        flag = len(set(speaking.values())) > 1
        detail = "; ".join(f"{g}: {c}" for g, c in speaking.items())
        return {"flag": flag, "assessable": True, "basis": "subcode", "readings": speaking,
                "detail": ("groups closest to different sub-codes: " if flag else "all groups closest to the same sub-code: ") + detail}  # fmt: skip
    matched = {g: b["size_matched_score"] for g, b in groups.items()}
    hi, lo = max(matched, key=lambda g: matched[g]), min(matched, key=lambda g: matched[g])
    spread = round(matched[hi] - matched[lo], 4)
    top = max(b["score"] for b in groups.values())
    flag = spread >= SPREAD and top >= threshold
    detail = (f"size-matched spread {spread:.3f} between {hi} ({matched[hi]:.3f}) and {lo} ({matched[lo]:.3f}); "
              f"rule: spread >= {SPREAD:.2f} and top score >= {threshold:.2f}; an emphasis gap only")  # fmt: skip
    return {"flag": flag, "assessable": True, "basis": "score spread", "spread": spread, "detail": detail}


def _remedies(fw: Framework, dimension: str) -> list[str]:
    """IVPA strands that the framework says remedy ``dimension``."""
    return [c.id for c in fw.children("ivpa") if any(r.type == "remedies" and r.construct_id == dimension for r in c.relations)]


def _alignment(fw: Framework, dimension: str, groups: dict[str, list[int]], segs: list[dict[str, Any]],
               sims: np.ndarray, ids: list[str], threshold: float, m: int) -> dict[str, Any]:  # fmt: skip
    """Each group's best size-matched score on the remedying IVPA strands, and whether all reach
    the threshold."""
    strands = _remedies(fw, dimension)
    if not strands:
        return {"flag": False, "assessable": False, "strands": [],
                "detail": "no IVPA strand in the framework remedies this dimension"}  # fmt: skip
    per_group = {}
    for g, idx in groups.items():
        idx = _substantive(idx, segs)
        scored = {s: _matched_mean([float(sims[i, ids.index(s)]) for i in idx], m, TOP_K_IVPD) for s in strands}
        best = max(strands, key=lambda s: scored[s])
        col = sims[:, ids.index(best)]
        per_group[g] = {"strand": best, "size_matched_score": scored[best], "score": _top_mean(idx, col, TOP_K_IVPD),
                        "evidence": [_evidence(segs[i], col[i]) for i in _top(idx, col, 1)]}  # fmt: skip
    assessable = len(groups) >= 2
    flag = assessable and all(b["size_matched_score"] >= threshold for b in per_group.values())
    scores = "; ".join(f"{g}: {b['strand']} {b['size_matched_score']:.3f}" for g, b in per_group.items())
    detail = "only one buyer role group in this case" if not assessable else (
        f"{'every' if flag else 'not every'} group's best size-matched strand score reaches {threshold:.2f}: {scores}")  # fmt: skip
    return {"flag": flag, "assessable": assessable, "strands": strands, "groups": per_group, "detail": detail}


def _dimension(fw: Framework, ids: list[str], dim: str, segs: list[dict[str, Any]], sims: np.ndarray,
               groups: dict[str, list[int]], threshold: float, m: int) -> dict[str, Any]:  # fmt: skip
    col = sims[:, ids.index(dim)]
    children = {c.id: ids.index(c.id) for c in fw.children(dim)}
    blocks = {g: _block(idx, col, segs, sims, children, threshold, m) for g, idx in groups.items()}
    supplier = [i for i, s in enumerate(segs) if s["side"] == "supplier"]
    return {
        "name": fw.construct(dim).name, "subcodes": list(children), "groups": blocks,
        "supplier": _block(supplier, col, segs, sims, children, threshold, m),
        "dissonance": _dissonance(blocks, bool(children), threshold),
        "alignment": _alignment(fw, dim, groups, segs, sims, ids, threshold, m),
    }  # fmt: skip


def _ivpd_case(fw: Framework, mapper: ConstructMapper, case: str, segs: list[dict[str, Any]],
               threshold: tuple[float, str]) -> dict[str, Any]:  # fmt: skip
    sims = mapper.similarities([s["text"] for s in segs])
    groups = _groups(segs)
    t, source = threshold
    name = mapper.embedder.name
    m = min(len(_substantive(idx, segs)) for idx in groups.values())
    fmt = {"k": TOP_K_IVPD, "threshold": t, "threshold_source": source, "spread": SPREAD, "m": m}
    return {
        "kind": "ivpd", "case": case, "framework": fw.id, "framework_version": fw.version, "embedder": name,
        "method": IVPD_METHOD.format(min_words=MIN_WORDS, embedder=name, k=TOP_K_IVPD),
        "rules": {k: v.format(**fmt) for k, v in IVPD_RULES.items()},
        "threshold": round(t, 4), "threshold_source": source, "size_match": m,
        "groups": {g: {"participants": _people(idx, segs), "role_titles": sorted({segs[i]["role_title"] or "" for i in idx}),
                       "segments": len(idx)} for g, idx in groups.items()},
        "supplier": {"participants": _people([i for i, s in enumerate(segs) if s["side"] == "supplier"], segs)},
        "dimensions": {d: _dimension(fw, mapper.ids, d, segs, sims, groups, t, m) for d in DIMENSIONS},
        "caveats": ["Raw scores favour groups with more talk (the size-matched score corrects for that); "
                    "compare the evidence, not only the numbers.",
                    *(["Only one buyer role group: dissonance and alignment cannot be assessed."] if len(groups) < 2 else []),
                    *_caveat_embedder(name)],
    }  # fmt: skip


def propose_ivpd(conn: sqlite3.Connection, embedder: Embedder, fw: Framework, actor: str,
                 case: str | None = None) -> list[int]:  # fmt: skip
    """Propose an IVPD reading (``fw``: ivpd) of every case (or of ``case``) with buyer and supplier talk."""
    missing = [d for d in DIMENSIONS if d not in fw.construct_ids] + ([] if "ivpa" in fw.construct_ids else ["ivpa"])
    if missing:
        raise CoderAssistError(f"framework ivpd lacks {', '.join(missing)}")
    return _propose(conn, embedder, "ivpd", fw, case, actor, _ivpd_case)


# -- decisions and reading -------------------------------------------------------------------------
def analysis_rows(conn: sqlite3.Connection, kind: str | None = None, case: str | None = None) -> list[dict[str, Any]]:
    """Analysis suggestions (payload decoded), with the confirmed id when one was accepted."""
    sql = ("SELECT a.*, c.id AS confirmed_id, c.created_by AS confirmed_by FROM analysis_suggestions a"
           " LEFT JOIN confirmed_analyses c ON c.suggestion_id = a.id WHERE 1 = 1")  # fmt: skip
    params: list[Any] = []
    for column, value in (("a.kind", kind), ("a.case_id", case)):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    rows = conn.execute(sql + " ORDER BY a.id", params).fetchall()
    return [{**dict(r), "payload": json.loads(r["payload"])} for r in rows]


# -- rendering ----------------------------------------------------------------------------------------
def _wrap(text: str, indent: str = "  ", first: str | None = None) -> list[str]:
    return textwrap.wrap(" ".join(text.split()), WIDTH, initial_indent=first if first is not None else indent,
                         subsequent_indent=indent) or [indent.rstrip()]  # fmt: skip


def _quote_lines(e: dict[str, Any], indent: str = "    ") -> list[str]:
    head = f"{e['source']}, {e['speaker']}, wave {e['wave']}, chars {e['start']}-{e['end']}, sim {e['similarity']:.3f}"
    quote = textwrap.shorten(e["quote"], 300, placeholder=" [...]")
    return [*_wrap(head, indent + "    ", indent), *_wrap(f'"{quote}"', indent + "  ")]


def _scores(scores: dict[str, float]) -> str:
    return ", ".join(f"{SHORT.get(k, k)} {v:.3f}" for k, v in scores.items())


def render_posture(payload: dict[str, Any]) -> str:
    """Plain-text view of a posture suggestion's payload."""
    cell = payload["cell"]
    lines = [f"Posture suggestion for case {payload['case']}", "(offline similarity heuristic; see Method)", ""]
    for side in SIDES:
        r = payload["sides"][side]
        lines += _wrap(f"{side.capitalize()}: {r['strategy']} value strategy ({_scores(r['scores'])}; "
                       f"margin {r['margin']:.3f}; {r['segments']} segments)", "  ", "")  # fmt: skip
        for wave, w in r.get("by_wave", {}).items():
            lines += _wrap(f"wave {wave}: {w['strategy']} ({_scores(w['scores'])}; {w['segments']} segments)", "      ", "    ")
    extra = f", type {cell['managed_type']}, driven by {cell['driven_by']}" if cell.get("managed_type") else ""
    lines += ["", f"Grid cell: {cell['id']}", *_wrap(f"{cell['name']} [{cell['cell_type_label']}{extra}]"),
              *_wrap(cell["definition"])]
    lines += ["", "What each side can do (framework text):"]
    for who in (*SIDES, "both"):
        for item in payload["what_each_side_can_do"][who]:
            lines += _wrap(f"{who}: {item['text']} <{item['from']}>", "    ", "  - ")
    comp = payload["competences"]
    lines += ["", f"Dyadic competences in play (best similarity >= {comp['threshold']:.3f}):"]
    if not comp["in_play"]:
        lines.append("  none reach the threshold")
    for c in comp["in_play"]:
        lines += [f"  - {c['id']} ({c['side']}, {c['similarity']:.3f})", *_quote_lines(c["evidence"])]
    for side in SIDES:
        r = payload["sides"][side]
        lines += ["", f"Evidence, {side} ({r['strategy']}):"]
        for e in r["evidence"]:
            lines += _quote_lines(e)
    return "\n".join(lines + _tail(payload))


def _tail(payload: dict[str, Any]) -> list[str]:
    lines = []
    if payload.get("caveats"):
        lines += ["", "Caveats:"]
        for c in payload["caveats"]:
            lines += _wrap(c, "    ", "  - ")
    lines += ["", "Method:", *_wrap(payload["method"])]
    for name, rule in payload.get("rules", {}).items():
        lines += _wrap(f"{name}: {rule}", "    ", "  - ")
    return lines


def _flag(d: dict[str, Any], word: str) -> str:
    state = "rule met" if d["flag"] else ("rule not met" if d["assessable"] else "not assessable")
    return f"{word}: {state} ({d['detail']})"


def _dimension_lines(dim: str, d: dict[str, Any], show: Callable[[dict[str, Any]], str]) -> list[str]:
    lines = ["", f"{dim} - {d['name']}"]
    for g, b in d["groups"].items():
        lines += _wrap(f"{g}: {show(b)}", "      ", "  ")
        lines += [q for e in b["evidence"] for q in _quote_lines(e)]
    lines += _wrap(f"supplier side (contrast): {show(d['supplier'])}", "      ", "  ")
    lines += [q for e in d["supplier"]["evidence"] for q in _quote_lines(e)]
    lines += _wrap(_flag(d["dissonance"], "dissonance"), "    ", "  ")
    lines += _wrap(_flag(d["alignment"], "alignment"), "    ", "  ")
    return lines


def render_ivpd(payload: dict[str, Any]) -> str:
    """Plain-text view of an IVPD suggestion's payload."""
    def show(b: dict[str, Any]) -> str:
        sub = f", closest sub-code {b['closest_subcode']['id']}" if "closest_subcode" in b else ""
        matched = f", size-matched {b['size_matched_score']:.3f}" if "size_matched_score" in b else ""
        return f"score {b['score']:.3f}{matched} ({b['segments']} segments{sub})"

    lines = [f"IVPD suggestion for case {payload['case']}", "(offline similarity heuristic; see Method)", "",
             "Buyer role groups:"]  # fmt: skip
    for g, info in payload["groups"].items():
        people = ", ".join(p["speaker"] for p in info["participants"])
        lines += _wrap(f"{g}: {people} - {'; '.join(t for t in info['role_titles'] if t)}", "      ", "  ")
    lines += _wrap("Supplier side: " + ", ".join(p["speaker"] for p in payload["supplier"]["participants"]), "  ", "")
    for dim, d in payload["dimensions"].items():
        lines += _dimension_lines(dim, d, show)
    return "\n".join(lines + _tail(payload))
