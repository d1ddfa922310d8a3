"""Focused coding: cluster accepted initial codes into candidate categories (suggestions only).

By default what is clustered is the content of the coded passages, not the names in them. Each code is
embedded as its label plus the passages it was applied to, with names masked first: the mentions
the project knows (participants' names -> "someone", their organisations -> "the supplier", "the
buyer", "the research team", from :func:`~coder_assist.suggest.lexicon.entity_abstractions`) and
the names spaCy's pipeline recognises (``PERSON`` -> "someone", ``ORG`` -> "an organisation", ...;
capitalised proper nouns inside a sentence -> "something"). Two codes that only share "Kenny" or
"Cresta" no longer look alike; two that describe the same action with different names do.

Agglomerative clustering groups them; how many groups is chosen from the data
(:func:`choose_cut`) unless a cosine distance threshold is given. The number of categories should
be one a researcher can read: ``k`` from ``round(sqrt(n) / 2)`` to ``round(sqrt(n))`` clusters for
``n`` codes (at least 2, at most 30). The codes are clustered with Ward linkage (balanced groups;
average linkage cut that coarsely leaves one giant cluster), every ``k`` in that range is tried,
and the one with the best mean silhouette (cosine distance) is kept, the smaller on a tie. A code
no closer on average to its own cluster than to another (a silhouette of zero or less) is then left
out, and codes left alone are reported as unclustered. A threshold given (``--threshold``) instead
merges, with average linkage on the same masked text, clusters closer than that cosine distance.
Deterministic: the same codes give the same categories.

The offline provider names a category by the process its members share: the gerund most member
labels use and the object head most of them are about ("Chasing the supplier" for "Chasing the
supplier for answers", "Ringing the supplier", "Chasing the account director"), falling back to the
most central member's process label when nothing is shared; in-vivo labels never name a category.
The definition is a draft made from the members (count, participants, sides, waves, typical
actions and objects), marked as an offline draft to rewrite. An LLM provider names and defines
them instead. Categories are confirmed, renamed or rejected by a person like any other suggestion.

A re-run goes on from what people decided: codes that already belong to a confirmed category are
left out (add a code to a category by hand), and a cluster whose codes are exactly those of a
category already proposed and still open, or rejected, is not proposed again; so a re-run on
unchanged data adds nothing. The naming (an LLM call when a provider is given) happens before
the write transaction, which only stores the proposals.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CoderAssistError
from ..store import audit
from ..store import queries
from ..store.db import transaction, utcnow
from ..suggest import lexicon
from ..suggest.llm import StructuredCaller
from ..suggest.providers import StructuredProvider
from ..suggest.providers.schemas import CategoryProposal

if TYPE_CHECKING:
    from ..progress import Progress
    from ..store.context import StoreContext
    from ..store.embedders import Embedder

#: ``None``: the cut is chosen from the data (:func:`choose_cut`); a number fixes it.
DISTANCE_THRESHOLD: float | None = None
MAX_CATEGORIES = 30
EMBED_BATCH = 32  #: codes embedded per progress step
PASSAGES_EMBEDDED = 3  #: coded passages embedded with each label
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_TOKEN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)
_STOP = frozenset(
    "the and that this with was were for you but not have had has are they them their there what when "
    "which who would could should about into from then than just really very like know think said says "
    "yeah well okay our out all any can did get got one also been being because some more most much".split()
)
_SIDES = {"the supplier", "the buyer", "the research team"}
#: The words masking puts in: never a shared object or a distinctive term by themselves.
_NEUTRAL = frozenset({"someone", "something", "organisation", "place", "site", "group", "event", "rule"})
#: Object heads that say nothing about what a category is about.
_WEAK_HEADS = _NEUTRAL | frozenset(
    "it them that this these those him her us me you one ones thing things stuff way ways up out off lot bit".split()
)
_PREPS = frozenset("about for with to from in on at into by over through after before as against without of".split())
_DETERMINERS = frozenset("the a an my our your their his her its this that these those every each some any no all".split())
_PREFIXES = (("not",), ("never",), ("being", "unable", "to")) + tuple(
    tuple(v.split()) for v in sorted(set(lexicon.CHAIN_VERBS.values()))
)
_LIGHT_GERUNDS = frozenset(lexicon.gerund(v) for v in lexicon.LIGHT_VERBS)


@dataclass
class CategorizeReport:
    run_id: str | None
    codes: int = 0
    categories: int = 0
    unclustered: list[str] = field(default_factory=list)
    threshold: float | None = DISTANCE_THRESHOLD
    in_categories: int = 0
    """Accepted codes left out because they already belong to a confirmed category."""
    already_proposed: int = 0
    """Clusters not proposed again: the same codes are already proposed, or were rejected."""


def code_texts(conn: sqlite3.Connection, wave: int | None = None) -> list[dict[str, Any]]:
    """Accepted initial codes with the passages coded with them (optionally one wave only)."""
    rows = conn.execute(
        "SELECT c.id, c.label, substr(d.text, g.start + 1, g.end - g.start) AS passage, d.wave, p.side, s.speaker"
        " FROM codes c JOIN codings g ON g.code_id = c.id AND g.active = 1 JOIN documents d ON d.id = g.document_id"
        " JOIN segments s ON s.id = g.segment_id LEFT JOIN participants p ON p.speaker = s.speaker"
        " WHERE c.active = 1 AND c.kind = 'initial'" + (" AND d.wave = ?" if wave is not None else "") + " ORDER BY c.id, g.id",
        (wave,) if wave is not None else (),
    ).fetchall()
    codes: dict[int, dict[str, Any]] = {}
    for r in rows:
        c = codes.setdefault(r["id"], {"id": r["id"], "label": r["label"], "passages": [], "sides": Counter(),
                                       "waves": Counter(), "speakers": Counter()})  # fmt: skip
        c["passages"].append(r["passage"])
        c["sides"][r["side"] or "unknown"] += 1
        c["waves"][str(r["wave"])] += 1
        c["speakers"][r["speaker"] or "unknown"] += 1
    return list(codes.values())


# -- masking -----------------------------------------------------------------------------------------
class Masker:
    """Replace names with neutral words: the project's known mentions, then spaCy's entities."""

    def __init__(self, participants: list[dict[str, Any]], use_ner: bool = True) -> None:
        known = {k: (v if v in _SIDES else "someone") for k, v in lexicon.entity_abstractions(participants).items()}
        self.known = known
        keys = sorted(known, key=lambda k: (-len(k), k))
        self._known = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, keys)) + r")(?:['’]s)?(?!\w)", re.I) if keys else None
        self.nlp = None
        if use_ner:
            try:
                from ..suggest import nlp

                self.nlp = nlp.load_pipeline()
            except (CoderAssistError, ImportError, OSError):  # no pipeline: the known names are still masked
                self.nlp = None

    def _mask_known(self, text: str) -> str:
        if self._known is None:
            return text
        return self._known.sub(lambda m: self.known[m.group(1).lower()], text)

    def mask(self, texts: list[str]) -> list[str]:
        """Each text with its names masked (in order; repeated texts are parsed once)."""
        first = [self._mask_known(t) for t in texts]
        if self.nlp is None:
            return first
        unique = sorted(set(first))
        done = dict(zip(unique, (self._mask_doc(d) for d in self.nlp.pipe(unique, disable=["parser", "lemmatizer"]))))
        return [done[t] for t in first]

    @staticmethod
    def _mask_doc(doc: Any) -> str:
        out: list[str] = []
        i = 0
        while i < len(doc):
            t = doc[i]
            if t.ent_iob_ == "B" and t.ent_type_ in lexicon.NER_ABSTRACTIONS:
                end = i + 1
                while end < len(doc) and doc[end].ent_iob_ == "I":
                    end += 1
                span = doc[i:end]
                acronym = end == i + 1 and t.text.isupper() and len(t.text) <= 5  # "CPET", "NHS": a term
                if acronym or span.text.lower() in _SIDES or span.text.lower() in _NEUTRAL:
                    out.append(span.text_with_ws)
                else:
                    word = lexicon.NER_ABSTRACTIONS[t.ent_type_]
                    if i > 0 and doc[i - 1].lower_ in _DETERMINERS:  # "the Cresta contract" -> "the organisation contract"
                        word = word.split(" ", 1)[-1]
                    out.append(word + doc[end - 1].whitespace_)
                i = end
                continue
            inside = i > 0 and doc[i - 1].text not in (".", "!", "?", ":", "\n", '"', "“")
            acronym = t.text.isupper() and len(t.text) <= 5
            if t.pos_ == "PROPN" and inside and t.text[:1].isupper() and not acronym and t.ent_type_ == "":
                out.append("something" + t.whitespace_)
            else:
                out.append(t.text_with_ws)
            i += 1
        return "".join(out)


# -- clustering --------------------------------------------------------------------------------------
def _linkage(vectors: np.ndarray) -> np.ndarray:
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist

    dist = np.nan_to_num(pdist(vectors.astype(np.float64), "cosine"), nan=1.0)  # an empty vector is far from all
    return linkage(np.clip(dist, 0.0, 2.0), method="average")


def _cut(tree: np.ndarray, n: int, threshold: float) -> list[int]:
    """Cluster labels (numbered by first member) merging everything closer than ``threshold``."""
    from scipy.cluster.hierarchy import fcluster

    raw = fcluster(tree, threshold - 1e-9, criterion="distance")
    seen: dict[int, int] = {}
    return [seen.setdefault(int(x), len(seen)) for x in raw[:n]]


def cluster(vectors: np.ndarray, threshold: float = 0.6) -> list[int]:
    """Cluster labels for unit vectors at a cosine distance threshold; one code alone is its own cluster."""
    if len(vectors) < 2:
        return [0] * len(vectors)
    return _cut(_linkage(vectors), len(vectors), threshold)


def target_range(n: int) -> tuple[int, int]:
    """How many categories ``n`` codes should give: ``round(sqrt(n)/2)`` to ``round(sqrt(n))``, at
    least 2 and at most :data:`MAX_CATEGORIES`."""
    hi = max(2, min(MAX_CATEGORIES, round(math.sqrt(n))))
    return min(hi, max(2, round(math.sqrt(n) / 2))), hi


def _silhouettes(dist: np.ndarray, labels: list[int]) -> np.ndarray:
    """Silhouette of each code under cosine distances; a code alone scores 0."""
    ids = sorted(set(labels))
    if len(ids) < 2:
        return np.zeros(len(labels))
    pos = {x: j for j, x in enumerate(ids)}
    own = np.array([pos[x] for x in labels])
    onehot = np.zeros((len(labels), len(ids)))
    onehot[np.arange(len(labels)), own] = 1.0
    sums = dist @ onehot  # each code's summed distance to every cluster
    counts = onehot.sum(axis=0)
    rows = np.arange(len(labels))
    own_n = counts[own]
    a = np.where(own_n > 1, sums[rows, own] / np.maximum(own_n - 1, 1), 0.0)
    mean = sums / counts[None, :]
    mean[rows, own] = np.inf
    b = mean.min(axis=1)
    return np.where(own_n > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)


def choose_cut(vectors: np.ndarray) -> tuple[float, list[int], dict[str, Any]]:
    """The partition chosen from the data: (Ward height of the cut, labels, how it was chosen).

    Ward linkage on the unit vectors (balanced clusters; average linkage cut at 10 to 30 clusters
    leaves one giant cluster and many pairs). Every number of clusters ``k`` in
    :func:`target_range` is tried and the one with the best mean silhouette (cosine distance) kept,
    the smaller ``k`` on a tie. Then a code no closer on average to its own cluster than to another
    (a silhouette of zero or less) is taken out and stays unclustered, as does a cluster left with one code."""
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(vectors)
    lo, hi = target_range(n)
    tree = linkage(vectors, method="ward")
    dist = np.clip(1.0 - vectors @ vectors.T, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    best: tuple[float, int, list[int], np.ndarray] | None = None
    for k in range(lo, min(hi, n - 1) + 1):
        raw = fcluster(tree, k, criterion="maxclust")
        seen: dict[int, int] = {}
        labels = [seen.setdefault(int(x), len(seen)) for x in raw]
        sil = np.round(_silhouettes(dist, labels), 9)  # rounded: equal distances give exactly 0
        score = round(float(sil.mean()), 6)
        if best is None or score > best[0]:
            best = (score, k, labels, sil)
    if best is None:  # two or three codes: one cluster, or none
        labels = cluster(vectors, 0.6)
        return 0.6, labels, {"rule": "too few codes: average linkage at 0.6", "target_range": [lo, hi]}
    score, k, labels, sil = best
    height = float(tree[n - k - 1, 2]) if n - k - 1 >= 0 else 0.0
    out = [label if s > 0 else -1 - i for i, (label, s) in enumerate(zip(labels, sil))]
    return round(height, 3), out, {"rule": "ward, best silhouette in the target range, silhouettes <= 0 left out",
                                   "target_range": [lo, hi], "k": k, "silhouette": score,
                                   "left_out": int((sil <= 0).sum())}  # fmt: skip


# -- naming ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Process:
    """A process label read apart: "Having to ring someone about the shutters" -> prefix "having to",
    gerund "ringing" (what is counted), verb "ring" (as written), object "someone", head "someone"."""

    prefix: str
    gerund: str
    obj: str
    head: str
    verb: str


def process(label: str) -> Process | None:
    """The parts of a process label; ``None`` for an in-vivo label or one that is not a gerund phrase."""
    if label.strip()[:1] in "\"“'‘":
        return None
    words = _TOKEN.findall(label)
    low = [w.lower() for w in words]
    prefix: tuple[str, ...] = ()
    for p in sorted(_PREFIXES, key=len, reverse=True):
        if tuple(low[: len(p)]) == p:
            prefix = p
            break
    rest, low = words[len(prefix) :], low[len(prefix) :]
    after_to = bool(prefix) and prefix[-1] == "to"  # "Having to ring ...": a bare verb follows
    if not rest or not (after_to or (low[0].endswith("ing") and len(low[0]) >= 5)):
        return None
    gerund = lexicon.gerund(low[0]) if after_to else low[0]
    obj_words, obj_low = rest[1:], low[1:]
    start = 1 if obj_low and obj_low[0] in _PREPS else 0
    end = next((i for i in range(start, len(obj_low)) if obj_low[i] in _PREPS), len(obj_low))
    phrase = obj_words[:end]
    content = [w for w in phrase[start:] if w.lower() not in _DETERMINERS and w.lower() not in lexicon.FILLER_WORDS]
    head = content[-1].lower() if content else ""
    head = head[:-2] if head.endswith(("'s", "’s")) else head
    return Process(" ".join(prefix), gerund, " ".join(phrase), head, low[0])


def _render(prefix: str, gerund: str, obj: str) -> str:
    text = " ".join(x for x in (prefix, gerund, obj) if x)
    return text[:1].upper() + text[1:]


def name_category(labels: list[str], order: list[int], terms: list[str]) -> tuple[str, dict[str, Any]]:
    """The offline name of a category from its members' (masked) labels, ``order`` listing them
    most central first, and what the members share (gerunds and object heads used by two or more).

    Each member with a process label scores how many other members share its gerund (a light verb
    such as "having" or "saying" counts nothing) plus how many share its object head (a pronoun or
    a masked name counts nothing); the best one (then one without a light verb, then one with an
    object, then the most central) gives the name: its
    gerund and object, so the name is a process that occurs in the data ("Chasing the supplier").
    With nothing shared, the most central process label; in-vivo labels never name a category."""
    parsed = [process(label) for label in labels]
    procs = [p for p in parsed if p is not None]
    verbs = Counter(p.gerund for p in procs)
    heads = Counter(p.head for p in procs if p.head and p.head not in _WEAK_HEADS)
    shared = {"shared_verbs": [k for k in sorted(verbs, key=lambda k: (-verbs[k], k)) if verbs[k] > 1],
              "shared_objects": [k for k in sorted(heads, key=lambda k: (-heads[k], k)) if heads[k] > 1]}  # fmt: skip
    central = [parsed[i] for i in order if parsed[i] is not None]

    def score(p: Process) -> int:
        return (0 if p.gerund in _LIGHT_GERUNDS else verbs[p.gerund] - 1) + (heads[p.head] - 1 if p.head in heads else 0)

    if central:
        # max keeps the first (most central) of equals; a light verb or an empty object loses a tie
        best = max(central, key=lambda p: (score(p), p.gerund not in _LIGHT_GERUNDS, p.head not in _WEAK_HEADS))
        how = "shared process and object" if score(best) > 0 else "most central process label"
        return _render(best.prefix, best.verb, best.obj), shared | {"named_by": how}
    term = next((t for t in terms if t not in _NEUTRAL), terms[0] if terms else "this")
    return f"Talking about {term}", shared | {"named_by": "distinctive term (no process label among the members)"}


def _counts(counter: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items(), key=lambda x: (-x[1], x[0])))


def draft_definition(name: str, members: list[dict[str, Any]], shared: dict[str, Any], labels: list[str]) -> str:
    """One or two sentences from the members, marked as an offline draft."""
    sides = sum((m["sides"] for m in members), Counter())
    waves = sum((m["waves"] for m in members), Counter())
    speakers = {s for m in members for s in m["speakers"] if s != "unknown"}
    parsed = [p for p in (process(label) for label in labels) if p is not None]
    verbs = shared["shared_verbs"] or [k for k, _ in Counter(p.gerund for p in parsed).most_common(3)]
    heads = Counter(p.head for p in parsed if p.head and p.head not in _WEAK_HEADS)
    objects = shared["shared_objects"] or [k for k, _ in heads.most_common(3)]
    known = sorted((w for w in waves if w != "None"), key=lambda w: (len(w), w))
    wave_text = (f" across {'wave' if len(known) == 1 else 'waves'} {' and '.join(known)}" if known else "")
    who = f"{len(speakers)} participant{'s' if len(speakers) != 1 else ''}"
    text = (f"Offline draft (no model), rewrite in your own words: participants describe "
            f"{name[:1].lower() + name[1:]}: {len(members)} codes from {who}, {sum(sides.values())} codings "
            f"({_counts(sides)}){wave_text}.")  # fmt: skip
    extra = []
    if verbs:
        extra.append("typical actions: " + ", ".join(verbs[:4]))
    if objects:
        extra.append("typically about: " + ", ".join(objects[:4]))
    if not extra:
        return text
    rest = "; ".join(extra)
    return f"{text} {rest[:1].upper()}{rest[1:]}."


def _terms(words_of: list[set[str]], member_idx: list[int], k: int = 5) -> list[str]:
    """Words used by many of this cluster's codes and few others: the share of members using a
    word minus the share of the other codes using it."""
    inside = Counter(w for i in member_idx for w in words_of[i])
    total = Counter(w for ws in words_of for w in ws)
    others = max(1, len(words_of) - len(member_idx))
    contrast = {w: inside[w] / len(member_idx) - (total[w] - inside[w]) / others for w in inside}
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
               threshold: float | None = DISTANCE_THRESHOLD, provider: Any = None,
               progress: Progress | None = None) -> CategorizeReport:  # fmt: skip
    """Propose categories from the accepted codes; returns what was proposed. ``threshold`` fixes
    the cut (cosine distance); without it the cut is chosen from the data. With an LLM
    ``provider`` (one that has ``structured``), the model names and defines each cluster.
    ``progress`` is told about the embedding (per batch of codes) and the naming (per cluster)."""
    from ..progress import NoProgress

    progress = progress or NoProgress()
    conn = store.conn
    codes = code_texts(conn, wave)
    placed = _in_confirmed_categories(conn)
    report = CategorizeReport(None, codes=len(codes), threshold=threshold,
                              in_categories=sum(c["id"] in placed for c in codes))  # fmt: skip
    codes = [c for c in codes if c["id"] not in placed]
    if len(codes) < 2:
        return report
    participants = queries.participants(conn)
    # Names are masked in every run; a given threshold cuts the average-linkage tree at that cosine
    # distance, the default chooses the cut from the data (see choose_cut).
    masker = Masker(participants)
    masked_labels = masker.mask([c["label"] for c in codes])
    masked_passages = masker.mask([p for c in codes for p in c["passages"][:PASSAGES_EMBEDDED]])
    texts, at = [], 0
    for c, label in zip(codes, masked_labels):
        k = len(c["passages"][:PASSAGES_EMBEDDED])
        texts.append(label + ". " + " ".join(masked_passages[at : at + k]))
        at += k
    progress.begin("embedding", len(texts))
    try:
        parts = []
        for i in range(0, len(texts), EMBED_BATCH):
            parts.append(embedder.embed(texts[i : i + EMBED_BATCH]))
            progress.advance(len(texts[i : i + EMBED_BATCH]))
    finally:
        progress.end()
    vectors = np.vstack(parts).astype(np.float64)
    vectors /= np.where((norms := np.linalg.norm(vectors, axis=1, keepdims=True)) == 0, 1.0, norms)
    if threshold is None:
        threshold, labels, chosen = choose_cut(vectors)
    else:
        labels, chosen = cluster(vectors, threshold), {"rule": "given"}
    report.threshold = threshold
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    run_id = uuid.uuid4().hex
    report.run_id = run_id
    masking = "participants" + ("+spacy-ner" if masker.nlp is not None else "")
    params = {"method": "agglomerative", "linkage": "average" if chosen["rule"] == "given" else "ward", "metric": "cosine",
              "distance_threshold": threshold,
              "threshold_rule": chosen, "masking": masking,
              "embedder": embedder.name, "wave": wave}  # fmt: skip
    caller = StructuredCaller(provider, store.config.privacy, participants) \
        if isinstance(provider, StructuredProvider) else None
    words_of = [{w.lower() for w in _WORD.findall(t) if w.lower() not in _STOP and w.lower() not in _NEUTRAL} for t in texts]
    ordered = sorted(groups.values(), key=lambda g: (-len(g), g[0]))
    seen = _proposed_or_rejected(conn)
    fresh = []
    for idx in ordered:
        if len(idx) < 2:
            report.unclustered.append(codes[idx[0]]["label"])
        elif tuple(sorted(codes[i]["id"] for i in idx)) in seen:
            report.already_proposed += 1
        else:
            fresh.append(idx)
    rows = []
    progress.begin("naming", len(fresh))
    with ExitStack() as naming:
        naming.callback(progress.end)
        for idx in fresh:
            members = [codes[i] for i in idx]
            sims = vectors[idx] @ vectors[idx].T
            centrality = sims.mean(axis=1)
            order = sorted(range(len(idx)), key=lambda j: (-round(float(centrality[j]), 9), j))
            medoid = members[order[0]]
            terms = _terms(words_of, idx)
            member_labels = [masked_labels[i] for i in idx]
            name, shared = name_category(member_labels, order, terms)
            definition = draft_definition(name, members, shared, member_labels)
            sides = sum((m["sides"] for m in members), Counter())
            waves = sum((m["waves"] for m in members), Counter())
            properties = {"members": [m["label"] for m in members], "codings_by_side": dict(sides),
                          "codings_by_wave": dict(waves), "cohesion": round(float(sims.mean()), 3),
                          "participants": len({s for m in members for s in m["speakers"] if s != "unknown"}),
                          **shared}  # fmt: skip
            who, model, raw = "offline", "agglomerative+shared-process", None
            if caller is not None:
                fields, raw, error = _llm_name(caller, members)
                if fields:
                    name, definition = fields["name"], fields["definition"]
                    properties |= {"properties": fields["properties"], "dimensions": fields["dimensions"],
                                   "prompt_sha256": fields["prompt_sha256"]}  # fmt: skip
                    who, model = provider.name, provider.model
                else:
                    properties["llm_error"] = error  # named offline instead, and the failure is kept
            rows.append((run_id, who, model, name, definition, json.dumps(properties, ensure_ascii=False),
                         json.dumps([m["id"] for m in members]), medoid["id"], json.dumps(terms), json.dumps(params), raw,
                         utcnow()))  # fmt: skip
            progress.advance()
    with transaction(conn):
        conn.executemany(
            "INSERT INTO category_suggestions (run_id, provider, model, name, definition, properties, member_code_ids,"
            " medoid_code_id, top_terms, params, raw_response, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows,
        )  # fmt: skip
        report.categories = len(rows)
        audit.append(conn, actor, "categorize", {
            "run_id": run_id, "codes": len(codes), "categories": report.categories,
            "unclustered": len(report.unclustered), "in_categories": report.in_categories,
            "already_proposed": report.already_proposed, "params": params,
        })  # fmt: skip
    return report


def _in_confirmed_categories(conn: sqlite3.Connection) -> set[int]:
    """Codes that belong to an active confirmed category."""
    return {r[0] for r in conn.execute(
        "SELECT m.code_id FROM category_members m JOIN categories c ON c.id = m.category_id"
        " WHERE m.active = 1 AND c.active = 1")}  # fmt: skip


def _proposed_or_rejected(conn: sqlite3.Connection) -> set[tuple[int, ...]]:
    """Member sets of category suggestions still open or rejected: not to be proposed again."""
    return {tuple(sorted(json.loads(r[0]))) for r in conn.execute(
        "SELECT member_code_ids FROM category_suggestions WHERE status IN ('proposed', 'rejected')")}  # fmt: skip
