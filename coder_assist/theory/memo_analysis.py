"""Offline analysis behind a memo draft: sentence-level evidence, dimensions drawn from the data,
real negative cases, and gaps among this project's own participants.

Everything here is deterministic: numpy and the project's embedder (unit vectors), a regex
sentence splitter, and word counts. No model is asked anything and nothing random is drawn.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..store import queries
from ..store.tokens import default_counter
from ..suggest import lexicon

if TYPE_CHECKING:
    from ..store.vectors import Vectors

MAX_QUOTE_WORDS = 60
MIN_DIMENSION_PASSAGES = 3


@dataclass
class Evidence:
    """One anchored passage: ``quote`` is the document text at ``start:end``."""

    source: str
    speaker: str | None
    side: str | None
    role: str | None
    wave: int | None
    start: int
    end: int
    quote: str
    segment_id: str
    codes: list[str]

    def line(self) -> str:
        who = ", ".join(x for x in (self.side, self.role) if x)
        speaker = self.speaker or "unlabelled"
        wave = self.wave if self.wave is not None else "-"
        return f"> «{self.quote}» — {speaker}{f' ({who})' if who else ''}, wave {wave} [{self.source}@{self.start}:{self.end}]"


def quotable(text: str) -> bool:
    """A passage can be quoted verbatim on one anchored line."""
    return bool(text.strip()) and not any(ch in text for ch in "«»\n")


# -- sentences ------------------------------------------------------------------------------------
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*\s+(?=[^\sa-z])|\s*\n\s*")
_TOKEN = re.compile(r"\S+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text`` (offsets into it, whitespace trimmed)."""
    spans, start = [], 0
    for m in _BOUNDARY.finditer(text):
        spans.append((start, m.start() + len(m.group().rstrip())))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        piece = text[a:b]
        if piece.strip():
            out.append((a + len(piece) - len(piece.lstrip()), b - (len(piece) - len(piece.rstrip()))))
    return out


def _cap_words(text: str, a: int, b: int, max_words: int) -> int:
    """The end of ``text[a:b]`` cut after ``max_words`` words."""
    words = list(_TOKEN.finditer(text, a, b))
    return b if len(words) <= max_words else words[max_words - 1].end()


def sentence_window(text: str, a: int, b: int, max_words: int = MAX_QUOTE_WORDS) -> tuple[int, int]:
    """The whole sentence(s) of ``text`` that carry ``text[a:b]``, capped near ``max_words``: it
    starts at the start of the first sentence touched and ends at a sentence end where possible."""
    spans = sentence_spans(text)
    if not spans:
        return a, b
    hit = [s for s in spans if s[1] > a and s[0] < b] or [min(spans, key=lambda s: abs(s[0] - a))]
    first, last = hit[0][0], hit[0][1]
    for s in hit[1:]:
        if len(_TOKEN.findall(text, first, s[1])) > max_words:
            break
        last = s[1]
    return first, _cap_words(text, first, last, max_words)


def widen(doc: str, seg_start: int, seg_end: int, start: int, end: int) -> tuple[int, int] | None:
    """Document offsets of the sentence(s) of a segment carrying a coded span, or ``None`` when
    they cannot be quoted on one line (the coded span is then used as it is)."""
    seg = doc[seg_start:seg_end]
    a, b = sentence_window(seg, max(start - seg_start, 0), min(end - seg_start, len(seg)))
    a, b = seg_start + a, seg_start + b
    return (a, b) if quotable(doc[a:b]) else None


# -- words ----------------------------------------------------------------------------------------
_WORD = re.compile(r"[^\W\d_][\w'’-]*[^\W\d_]")
#: Words ending in -ly that are not adverbs (the others are dropped as hedges and manner words).
NOT_ADVERBS = frozenset("supply apply reply rely family assembly monopoly ally anomaly july italy".split())
FUNCTION_WORDS = frozenset("""
a an the and or but if then than that this these those there here what which who whom whose when where why how
i me my mine we us our ours you your yours he him his she her hers it its they them their theirs myself
is am are was were be been being have has had having do does did doing done will would shall should can could
may might must ought not no nor never yes yeah okay ok oh of in on at by for with about against between into
through during before after above below to from up down out off over under again further once all any both
each few more most other some such only own same so too very just also still even ever now because as until
while although though whether either neither one two three four five lot lots thing things way really quite
mean know think say said says saying get got gets going gone go goes went come came make made take took see
saw look let tell told want like well right actually basically kind sort bit something anything nothing
everything someone anyone everyone somebody nobody every much many back around because that's it's i'm i've
i'd we're we've they're they've don't didn't doesn't isn't wasn't can't cannot won't wouldn't couldn't
there's what's you're he's she's let's yes um uh erm mm hmm pause laughs laughter inaudible crosstalk
""".split())  # fmt: skip


_SKIP = FUNCTION_WORDS | lexicon.FILLER_WORDS | lexicon.BACKCHANNEL


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


def lemma(word: str) -> str:
    """A cheap lemma: lower case, possessive and plural endings removed."""
    w = word.lower().replace("’", "'")
    w = re.sub(r"'s$", "", w)
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith("sses"):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def name_words(participants: list[dict[str, Any]]) -> frozenset[str]:
    """Lower-cased words of participants' names and organisations, and the mentions the project
    knows (never offered as the name of a dimension)."""
    words: set[str] = set()
    for p in participants:
        for key in ("speaker", "organisation"):
            words |= {lemma(w) for w in _WORD.findall(p.get(key) or "")}
    for mention in lexicon.entity_abstractions(participants):
        words |= {lemma(w) for w in _WORD.findall(mention)}
    return frozenset(words - {lemma(w) for w in ("the", "and", "of")})


def proper_nouns(texts: list[str]) -> frozenset[str]:
    """Lemmas written capitalised inside a sentence and never in lower case in ``texts``: the
    names of people, firms and places the project does not list ("Alan", "Cresta"), which the
    tokenizer's vocabulary may still know as words."""
    upper, lower = set(), set()
    for text in texts:
        for m in _WORD.finditer(text):
            w = m.group()
            starts = m.start() == 0 or text[: m.start()].rstrip()[-1:] in ".!?…\"“"
            if w[0].isupper() and not w.isupper() and not starts:
                upper.add(lemma(w))
            elif w[0].islower():
                lower.add(lemma(w))
    return frozenset(upper - lower)


def content_words(text: str, names: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """``(lemma, surface)`` of the content words of ``text``: no function or filler words, no
    names the project knows, no capitalised word that is not a common vocabulary word."""
    counter = default_counter()
    out = []
    for m in _WORD.finditer(text):
        surface = m.group()
        lem = lemma(surface)
        if len(lem) < 3 or (lem.endswith("ly") and lem not in NOT_ADVERBS) or lem in _SKIP or lem in names:
            continue
        capitalised = surface[0].isupper() and not surface.isupper()
        starts = m.start() == 0 or text[: m.start()].rstrip()[-1:] in ".!?…\"“"
        if capitalised and not starts and not counter.is_vocabulary_word(surface.lower()):
            continue  # likely a name the project does not know
        out.append((lem, surface.lower()))
    return out


def distinctive_terms(groups: list[list[str]], names: frozenset[str], top: int = 3) -> list[list[str]]:
    """For each group of passages, the words most typical of it against the other groups
    (document frequency share in the group minus share elsewhere); the most frequent words when
    nothing stands out."""
    docs = [[{lem for lem, _ in content_words(t, names)} for t in g] for g in groups]
    surfaces: dict[str, Counter[str]] = {}
    for g in groups:
        for t in g:
            for lem, s in content_words(t, names):
                surfaces.setdefault(lem, Counter())[s] += 1
    out = []
    for i, g in enumerate(docs):
        inside = Counter(w for d in g for w in d)
        rest = [d for j, other in enumerate(docs) if j != i for d in other]
        outside = Counter(w for d in rest for w in d)
        need = min(2, len(g))

        def score(w: str) -> float:
            return inside[w] / len(g) - (outside[w] / len(rest) if rest else 0.0)

        ranked = sorted((w for w in inside if inside[w] >= need and score(w) > 0), key=lambda w: (-score(w), -inside[w], w))
        if not ranked:
            ranked = sorted(inside, key=lambda w: (-inside[w], w))
        out.append([surfaces[w].most_common(1)[0][0] for w in ranked[:top]])
    return out


# -- dimensions -----------------------------------------------------------------------------------
def _refine(vectors: np.ndarray, c: np.ndarray, iterations: int = 25) -> np.ndarray:
    """Spherical k-means from the centres ``c``; returns a label per row."""
    labels = np.full(len(vectors), -1)
    for _ in range(iterations):
        new = np.argmax(vectors @ c.T, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(len(c)):
            if np.any(labels == j):
                m = vectors[labels == j].mean(axis=0)
                c[j] = m / (np.linalg.norm(m) or 1.0)
    return labels


def _centres(vectors: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    return _unit(np.stack([vectors[labels == j].mean(axis=0) for j in range(k)]))


def kmeans(vectors: np.ndarray, k: int) -> list[np.ndarray]:
    """Spherical k-means from two deterministic starts: farthest points from the passage most
    like the mean, and k equal slices along the first principal axis. Returns both labellings."""
    mean = vectors.mean(axis=0)
    centers = [int(np.argmax(vectors @ mean))]
    while len(centers) < k:
        centers.append(int(np.argmin(np.max(vectors @ vectors[centers].T, axis=1))))
    out = [_refine(vectors, vectors[centers].copy())]
    _, _, vt = np.linalg.svd(vectors - mean, full_matrices=False)
    axis = vt[0] * (1.0 if vt[0][np.argmax(np.abs(vt[0]))] >= 0 else -1.0)
    order = np.argsort(vectors @ axis, kind="stable")
    sliced = np.zeros(len(vectors), dtype=int)
    for j, chunk in enumerate(np.array_split(order, k)):
        sliced[chunk] = j
    out.append(_refine(vectors, _centres(vectors, sliced, k)))
    return out


def features(texts: list[str], embed: Any, names: frozenset[str]) -> np.ndarray:
    """Unit rows joining the embedding and the tf-idf of the content words, half weight each, so
    groups follow meaning and the words that name them."""
    emb = np.asarray(embed(texts), dtype=np.float64)
    docs = [sorted({lem for lem, _ in content_words(t, names)}) for t in texts]
    vocab = sorted({w for d in docs for w in d})
    tfidf = np.zeros((len(texts), max(len(vocab), 1)))
    if vocab:
        where = {w: i for i, w in enumerate(vocab)}
        df = Counter(w for d in docs for w in d)
        for i, d in enumerate(docs):
            for w in d:
                tfidf[i, where[w]] = np.log((1 + len(texts)) / (1 + df[w])) + 1.0
        tfidf = _unit(tfidf)
    joined = np.hstack([emb, tfidf]) * np.sqrt(0.5)
    return _unit(joined)


def silhouette(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette with cosine distance (0 when a group is empty or every group is a singleton)."""
    groups = sorted(set(labels.tolist()))
    if len(groups) < 2:
        return 0.0
    dist = 1.0 - vectors @ vectors.T
    scores = []
    for i, g in enumerate(labels):
        same = (labels == g) & (np.arange(len(labels)) != i)
        if not same.any():
            scores.append(0.0)
            continue
        a = dist[i, same].mean()
        b = min(dist[i, labels == h].mean() for h in groups if h != g)
        scores.append((b - a) / max(a, b, 1e-9))
    return float(np.mean(scores))


def split(vectors: np.ndarray, max_k: int = 4) -> np.ndarray | None:
    """The best 2–4-way grouping of the passages by silhouette (smaller k on near ties), or
    ``None`` when no grouping separates them. From six passages on, a group of one (an outlier,
    not a pole) is not accepted."""
    best: tuple[float, np.ndarray | None] = (0.0, None)
    smallest = 2 if len(vectors) >= 6 else 1
    for k in range(2, min(max_k, len(vectors) - 1) + 1):
        for labels in kmeans(vectors, k):
            if np.bincount(labels, minlength=k).min() < smallest:
                continue
            s = silhouette(vectors, labels)
            if s > best[0] + 0.01:
                best = (s, labels)
    return best[1]


@dataclass
class Pole:
    """One sub-group of the evidence: its distinctive words and who speaks in it."""

    terms: list[str]
    members: list[Evidence]

    @property
    def name(self) -> str:
        """The terms in italics, not in quotation marks: a list of words is not a quote (``suggest.passages.unverified``)."""
        return "*" + ", ".join(self.terms) + "*"

    def who(self) -> str:
        """``5 passages; buyer 4, supplier 1; Comm 3, Del 2; wave 1; 3 speakers``."""
        n = len(self.members)
        parts = [_plural(n, "passage")]
        for key in ("side", "role"):
            counts = Counter(getattr(e, key) for e in self.members if getattr(e, key))
            if counts:
                parts.append(", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))))
        waves = sorted({e.wave for e in self.members if e.wave is not None})
        if waves:
            parts.append("wave " + ", ".join(map(str, waves)))
        speakers = sorted({e.speaker or "unlabelled" for e in self.members})
        parts.append(_plural(len(speakers), "speaker") if len(speakers) > 1 else speakers[0])
        return "; ".join(parts)

    @property
    def thin(self) -> bool:
        """One passage, or one voice."""
        return len(self.members) == 1 or len({e.speaker for e in self.members}) == 1

    def majority_side(self) -> str | None:
        """The side of at least 60% of two or more passages."""
        counts = Counter(e.side for e in self.members if e.side)
        if not counts or len(self.members) < 2:
            return None
        side, n = counts.most_common(1)[0]
        return side if n / len(self.members) >= 0.6 else None


def poles(evidence: list[Evidence], embed: Any, names: frozenset[str]) -> list[Pole]:
    """The evidence split into 2–4 poles named by their distinctive words (empty when there are
    fewer than :data:`MIN_DIMENSION_PASSAGES` passages or no split separates them)."""
    if len(evidence) < MIN_DIMENSION_PASSAGES:
        return []
    labels = split(features([e.quote for e in evidence], embed, names))
    if labels is None:
        return []
    order = sorted(set(labels.tolist()), key=lambda g: (-int(np.sum(labels == g)), int(np.argmax(labels == g))))
    groups = [[e for e, lab in zip(evidence, labels) if lab == g] for g in order]
    terms = distinctive_terms([[e.quote for e in g] for g in groups], names)
    return [Pole(t, g) for t, g in zip(terms, groups)]


def properties(evidence: list[Evidence], found: list[Pole], cooccurring: list[tuple[str, int]]) -> list[str]:
    """The lines of "Properties and dimensions" drawn from the data."""
    n = len(evidence)
    if n < MIN_DIMENSION_PASSAGES:
        lines = [f"- Too thin to draw dimensions from: only {_plural(n, 'coded passage')}. Code more talk like it first."]
    elif not found:
        lines = [f"- No clear variation yet: the {n} coded passages read alike (no grouping separates them)."]
    elif len(found) == 2:
        a, b = found
        lines = [f"- Varies between {a.name} ({a.who()}) ↔ {b.name} ({b.who()})."]
    else:
        groups = " · ".join(f"{p.name} ({p.who()})" for p in found)
        lines = [f"- Varies across {len(found)} groups of passages: {groups}."]
    sides = [(p, p.majority_side()) for p in found]
    if len({s for _, s in sides if s}) > 1:
        lines.append("- The split follows side: " + "; ".join(f"{p.name} mostly {s}" for p, s in sides if s) + ".")
    if cooccurring:
        codes = ", ".join(f"'{label}' ({k})" for label, k in cooccurring)
        lines.append(f"- Conditions coded on the same segments: {codes}.")
    return lines


def cooccurring_codes(conn: sqlite3.Connection, evidence: list[Evidence], member_labels: set[str],
                      top: int = 5) -> list[tuple[str, int]]:  # fmt: skip
    """Other codes on the evidence's segments, with the number of segments each is on."""
    segments = sorted({e.segment_id for e in evidence})
    if not segments:
        return []
    rows = conn.execute(
        "SELECT c.label, count(DISTINCT g.segment_id) AS n FROM codings g JOIN codes c ON c.id = g.code_id"
        f" WHERE g.active = 1 AND g.segment_id IN ({','.join('?' * len(segments))}) GROUP BY c.label",
        segments,
    ).fetchall()
    found = [(r["label"], int(r["n"])) for r in rows if r["label"] not in member_labels]
    return sorted(found, key=lambda x: (-x[1], x[0]))[:top]


# -- negative cases -------------------------------------------------------------------------------
_CUE = re.compile(
    r"\b(not|never|no longer|no one|nobody|none|nothing|neither|nor|without|instead|rather than|however|although|"
    r"though|but|actually|hardly|\w+n['’]t|cannot)\b",
    re.I,
)


@dataclass
class Negatives:
    """Passages offered for comparison, each with the reason it is offered."""

    boundary: list[tuple[Evidence, str]] = field(default_factory=list)
    contradicting: list[tuple[Evidence, str]] = field(default_factory=list)
    maybe_belongs: list[tuple[Evidence, str]] = field(default_factory=list)

    @property
    def all(self) -> list[Evidence]:
        return [e for e, _ in self.boundary + self.contradicting + self.maybe_belongs]


def cached(embed: Any) -> Any:
    """``embed`` remembering each text's vector, so the same passage is embedded once per draft."""
    memo: dict[str, np.ndarray] = {}

    def run(texts: list[str]) -> np.ndarray:
        todo = sorted({t for t in texts if t not in memo})
        if todo:
            memo.update(zip(todo, np.asarray(embed(todo), dtype=np.float64)))
        return np.stack([memo[t] for t in texts]) if texts else np.zeros((0, 0))

    return run


def _candidates(vectors: Vectors, vecs: np.ndarray, seen: set[str], per: int = 12, pool: int = 40) -> list[str]:
    """Ids of the ``pool`` segments most like the evidence (its centroid or any of its first 24
    passages), best first; ``seen`` segments left out."""
    centroid = vecs.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    best: dict[str, float] = {}
    for v in [centroid, *vecs[:24]]:
        for sid, score in vectors.index.query(v, per):
            best[sid] = max(best.get(sid, -1.0), float(score))
    ranked = sorted(((s, v) for s, v in best.items() if s not in seen), key=lambda x: (-x[1], x[0]))
    return [s for s, _ in ranked[:pool]]


def _segment(conn: sqlite3.Connection, sid: str) -> dict[str, Any] | None:
    """A current segment of participant talk: its document text, speaker and active codes."""
    row = conn.execute(
        "SELECT s.id, s.start, s.end, s.speaker, substr(d.text, s.start + 1, s.end - s.start) AS text, d.name, d.wave,"
        " p.side, p.role_category, t.role FROM segments s JOIN documents d ON d.id = s.document_id"
        " JOIN turns t ON t.id = s.turn_id LEFT JOIN participants p ON p.speaker = s.speaker"
        " WHERE s.id = ? AND d.current = 1",
        (sid,),
    ).fetchone()
    if row is None or not queries.is_participant_talk(row["role"], row["side"], row["speaker"]):
        return None
    return dict(row) | {"codes": queries.codes_of_segment(conn, sid)}


def _has_cue(sentence: str, terms: set[str], names: frozenset[str]) -> bool:
    """A negation or contrast in a sentence that shares a content word with the evidence."""
    return bool(_CUE.search(sentence)) and bool(terms & {lem for lem, _ in content_words(sentence, names)})


def _pick(text: str, sims: np.ndarray, spans: list[tuple[int, int]], cues: list[bool]) -> tuple[int, int, str]:
    """The sentence most like the evidence, one with a cue if there is one: ``(start, end, cue)``."""
    order = [i for i, c in enumerate(cues) if c] or list(range(len(spans)))
    i = max(order, key=lambda j: (float(sims[j]), -j))
    a, b = spans[i]
    b = _cap_words(text, a, b, MAX_QUOTE_WORDS)
    m = _CUE.search(text[a:b]) if cues[i] else None
    return a, b, (m.group().lower() if m else "")


def _classify(e: Evidence, cue: str, sides: set[str]) -> tuple[str, str]:
    """Which list a similar passage belongs to, and why it is offered."""
    if e.codes:
        return "boundary", "coded otherwise as: " + "; ".join(e.codes)
    if cue:
        return "contradicting", f"similar talk with a negation or contrast ('{cue}')"
    if sides and e.side and e.side not in sides:
        return "contradicting", f"uncoded, similar, from the other side ({e.side})"
    return "maybe_belongs", "uncoded, similar"


def negative_cases(vectors: Vectors, evidence: list[Evidence], member_labels: set[str], names: frozenset[str],
                   k: int = 3, embed: Any = None) -> Negatives:  # fmt: skip
    """Boundary cases (similar talk coded with other codes), contradicting passages (similar talk
    with a negation or contrast, or from a side the evidence does not cover) and, apart, uncoded
    similar passages that may belong to the category. Sentences are embedded ten segments at a time."""
    out = Negatives()
    if not evidence:
        return out
    conn, embed = vectors.conn, embed or cached(vectors.embedder.embed)
    vecs = embed([e.quote for e in evidence])
    centroid = vecs.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    docs = Counter(lem for e in evidence for lem in {w for w, _ in content_words(e.quote, names)})
    terms = {w for w, n in docs.items() if n >= min(2, len(evidence))}
    sides = {e.side for e in evidence if e.side}
    rows = [r for r in (_segment(conn, sid) for sid in _candidates(vectors, vecs, {e.segment_id for e in evidence}))
            if r is not None and not set(r["codes"]) & member_labels]  # fmt: skip
    for chunk in (rows[i : i + 10] for i in range(0, len(rows), 10)):
        if all(len(x) >= k for x in (out.boundary, out.contradicting, out.maybe_belongs)):
            break
        spans = [[s for s in sentence_spans(r["text"]) if quotable(r["text"][s[0] : s[1]])] for r in chunk]
        texts = [r["text"][a:b] for r, sp in zip(chunk, spans) for a, b in sp]
        sims = embed(texts) @ centroid if texts else np.zeros(0)
        at = 0
        for r, sp in zip(chunk, spans):
            cues = [_has_cue(r["text"][a:b], terms, names) for a, b in sp]
            part, at = sims[at : at + len(sp)], at + len(sp)
            if not sp:
                continue
            a, b, cue = _pick(r["text"], part, sp, cues)
            e = Evidence(r["name"], r["speaker"], r["side"], r["role_category"], r["wave"], r["start"] + a,
                         r["start"] + b, r["text"][a:b], r["id"], r["codes"])  # fmt: skip
            bucket, why = _classify(e, cue, sides)
            if len(getattr(out, bucket)) < k:
                getattr(out, bucket).append((e, why))
    return out


# -- gaps -----------------------------------------------------------------------------------------
def _names(people: list[sqlite3.Row], limit: int = 5) -> str:
    shown = [p["speaker"] for p in people[:limit]]
    return ", ".join(shown) + (f" and {len(people) - limit} more" if len(people) > limit else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def gaps(conn: sqlite3.Connection, evidence: list[Evidence], found: list[Pole], negatives: Negatives,
         cooccurring: list[tuple[str, int]], subject: str,
         case: str | None = None) -> tuple[list[str], list[str]]:  # fmt: skip
    """Open questions and theoretical sampling derived from the evidence against this project's
    own participants, cases and waves (with ``case``, only those of that case)."""
    people = conn.execute(
        "SELECT p.speaker, p.side, p.role_category, p.case_id FROM participants p WHERE COALESCE(p.side, '') != 'researcher'"
        " AND EXISTS (SELECT 1 FROM segments s JOIN documents d ON d.id = s.document_id WHERE d.current = 1"
        " AND s.speaker = p.speaker AND (? IS NULL OR COALESCE(d.case_id, p.case_id) = ?)) ORDER BY p.speaker",
        (case, case),
    ).fetchall()
    questions, sampling = [], []
    n = len(evidence)
    if n < MIN_DIMENSION_PASSAGES:
        questions.append(f"Only {_plural(n, 'coded passage')}: is '{subject}' a category yet, or a property of another?")
    for label, attr in (("side", "side"), ("role category", "role_category")):
        heard = {getattr(e, "side" if attr == "side" else "role") for e in evidence}
        missing: dict[str, list[sqlite3.Row]] = {}
        for p in people:
            if p[attr] and p[attr] not in heard:
                missing.setdefault(p[attr], []).append(p)
        for value, who in sorted(missing.items()):
            if label == "side":
                speak = "speaks" if len(who) == 1 else "speak"
                sampling.append(f"No evidence from the {value} side although {_plural(len(who), value + ' participant')}"
                                f" {speak} in the transcripts: {_names(who)}. Ask them about '{subject}'.")  # fmt: skip
                questions.append(f"Does the {value} side talk about '{subject}' at all, or in other terms?")
            else:
                sampling.append(f"No evidence from role category {value} ({_names(who)}).")
    sampling += _missing_cases_and_waves(conn, evidence, subject, questions, case)
    for p in found:
        if p.thin:
            who = sorted({e.speaker or "unlabelled" for e in p.members})[0]
            what = "one passage" if len(p.members) == 1 else f"{len(p.members)} passages, all from one speaker,"
            sampling.append(f"Thin pole: only {what} at {p.name} ({who}): look for more talk like it from others,"
                            " or ask whether it is a property of its own.")  # fmt: skip
    if len(found) == 2:
        a, b = found
        questions.append(f"Passages split between {a.name} and {b.name}: under what conditions does the one"
                         " rather than the other occur?")  # fmt: skip
    elif len(found) > 2:
        names_ = ", ".join(p.name for p in found)
        questions.append(f"Passages fall into {names_}: are these dimensions of one property, or different properties?")
    sided = [(p, p.majority_side()) for p in found if p.majority_side()]
    if len({s for _, s in sided}) > 1:
        questions.append("Is the split a difference of side (" + "; ".join(f"{p.name} mostly {s}" for p, s in sided) + ")?")
    for label in sorted({c for e, _ in negatives.boundary for c in e.codes})[:3]:
        questions.append(f"Similar talk was coded '{label}': where is the boundary between '{subject}' and '{label}'?")
    if any(why.startswith("similar talk with a negation") for _, why in negatives.contradicting):
        questions.append(f"Some similar talk negates or qualifies it: when does '{subject}' not hold?")
    for label, k in cooccurring[:2]:
        questions.append(f"'{label}' is coded on {_plural(k, 'segment')} of the evidence: a condition, a consequence,"
                         f" or part of '{subject}'?")  # fmt: skip
    speakers = Counter(e.speaker for e in evidence if e.speaker)
    if n >= MIN_DIMENSION_PASSAGES and speakers and speakers.most_common(1)[0][1] / n > 0.5:
        who, k = speakers.most_common(1)[0]
        sampling.append(f"{k} of the {n} passages come from {who}: check whether others share this view.")
    return (questions or [f"What conditions make '{subject}' more or less likely? (no gap found in the coded data)"],
            sampling or ["Every side, role category, case and wave of this project is heard in the evidence: sample for"
                         " variation within it rather than for missing groups."])  # fmt: skip


def _missing_cases_and_waves(conn: sqlite3.Connection, evidence: list[Evidence], subject: str, questions: list[str],
                             case: str | None = None) -> list[str]:  # fmt: skip
    """Sampling lines for cases and waves of this project (or of ``case``) with no evidence, and
    the one-wave question."""
    out: list[str] = []
    segments = sorted({e.segment_id for e in evidence})
    heard = {r[0] for r in conn.execute(
        "SELECT DISTINCT COALESCE(d.case_id, p.case_id) FROM segments s JOIN documents d ON d.id = s.document_id"
        f" LEFT JOIN participants p ON p.speaker = s.speaker WHERE s.id IN ({','.join('?' * len(segments)) or 'NULL'})",
        segments)}  # fmt: skip
    cases = conn.execute(
        "SELECT COALESCE(d.case_id, p.case_id) AS c, group_concat(DISTINCT s.speaker) AS who FROM segments s"
        " JOIN documents d ON d.id = s.document_id AND d.current = 1 LEFT JOIN participants p ON p.speaker = s.speaker"
        " WHERE COALESCE(p.side, '') != 'researcher' AND s.speaker NOT IN ('Interviewer', 'Moderator')"
        " GROUP BY c HAVING COALESCE(d.case_id, p.case_id) IS NOT NULL ORDER BY c"
    ).fetchall()
    for r in cases if case is None else []:
        if r["c"] not in heard:
            who = sorted(set((r["who"] or "").split(",")) - {""})
            out.append(f"No evidence from case {r['c']}" + (f" ({', '.join(who[:5])})" if who else "") + ".")
    waves = {r[0]: r[1] for r in conn.execute(
        "SELECT d.wave, count(DISTINCT d.id) FROM documents d JOIN segments s ON s.document_id = d.id"
        " LEFT JOIN participants p ON p.speaker = s.speaker WHERE d.current = 1 AND d.wave IS NOT NULL"
        " AND (? IS NULL OR COALESCE(d.case_id, p.case_id) = ?) GROUP BY d.wave", (case, case))}  # fmt: skip
    got = {e.wave for e in evidence if e.wave is not None}
    for w in sorted(set(waves) - got):
        out.append(f"No evidence from wave {w} ({_plural(waves[w], 'transcript')}): look for '{subject}' there.")
    if len(got) == 1:
        (w,) = got
        questions.append(f"All evidence is from wave {w}: does '{subject}' persist, fade or change later?")
        if len(waves) <= 1:
            out.append(f"Return to the same people in the next wave and ask what has changed about '{subject}'.")
    return out
