"""Theory memos: drafted from the project's data, confirmed and versioned by people.

A draft is a suggestion. Every quote in a memo carries an anchor ``[source@start:end]``; drafts
are built from coded spans and checked, and a memo (a draft being accepted, an edited version,
or a reflexive memo a researcher writes) is only saved when every anchored quote equals the
transcript text at those offsets. Memo versions are never overwritten: each save is a new
version, and the audit trail records the diff against the previous one.

Offline, the draft is analytic (see :mod:`.memo_analysis`): evidence quotes are whole sentences,
properties are dimensions found in the passages, negative cases are boundary and contradicting
talk with the reason each is offered, and sampling names this project's unheard groups.
Quoted passages without an anchor are checked as for every memo (:mod:`coder_assist.suggest.passages`).
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..store import audit
from ..store import queries
from ..store.db import transaction, utcnow
from ..suggest.grounding import ANCHOR, locate, verify_citations
from ..suggest.passages import mark_unverified, unverified
from ..suggest.llm import StructuredCaller
from ..suggest.providers import StructuredProvider
from ..suggest.providers.schemas import MemoSections
from . import memo_analysis
from . import queries as theory_queries
from .memo_analysis import Evidence, Negatives
from .memo_analysis import quotable as _quotable
from ..errors import CoderAssistError

if TYPE_CHECKING:
    from ..progress import Progress
    from ..store.context import StoreContext
    from ..store.vectors import Vectors
    from .frameworks import Framework

MAX_EVIDENCE = 8


def _evidence_for_codes(conn: sqlite3.Connection, code_ids: list[int], sentences: bool = False) -> list[Evidence]:
    """The coded spans of ``code_ids``, merged per span; with ``sentences``, each widened to the
    whole sentence(s) of its segment that carry it (see :func:`memo_analysis.widen`)."""
    if not code_ids:
        return []
    marks = ",".join("?" * len(code_ids))
    rows = conn.execute(
        "SELECT g.start, g.end, g.segment_id, d.id AS doc_id, d.name, d.wave, substr(d.text, g.start + 1, g.end - g.start) AS quote,"
        " s.speaker, s.start AS seg_start, s.end AS seg_end, p.side, p.role_category, c.label FROM codings g"
        " JOIN documents d ON d.id = g.document_id JOIN segments s ON s.id = g.segment_id JOIN codes c ON c.id = g.code_id"
        f" LEFT JOIN participants p ON p.speaker = s.speaker WHERE g.active = 1 AND g.code_id IN ({marks})"
        " ORDER BY d.wave, d.name, g.start",
        code_ids,
    ).fetchall()
    texts: dict[int, str] = {}
    merged: dict[tuple[str, int, int], Evidence] = {}
    for r in rows:
        start, end, quote = r["start"], r["end"], r["quote"]
        if sentences:
            if r["doc_id"] not in texts:
                texts[r["doc_id"]] = conn.execute("SELECT text FROM documents WHERE id = ?", (r["doc_id"],)).fetchone()[0]
            doc = texts[r["doc_id"]]
            start, end = memo_analysis.widen(doc, r["seg_start"], r["seg_end"], start, end) or (start, end)
            quote = doc[start:end]
        key = (r["name"], start, end)
        if key in merged:
            if not sentences or r["label"] not in merged[key].codes:
                merged[key].codes.append(r["label"])
        elif _quotable(quote):
            merged[key] = Evidence(r["name"], r["speaker"], r["side"], r["role_category"], r["wave"], start, end,
                                   quote, r["segment_id"], [r["label"]])  # fmt: skip
    return list(merged.values())


def _diverse(evidence: list[Evidence], k: int = MAX_EVIDENCE) -> list[Evidence]:
    """Round-robin over speakers so one voice does not fill the memo."""
    by_speaker: dict[str | None, list[Evidence]] = {}
    for e in evidence:
        by_speaker.setdefault(e.speaker, []).append(e)
    out: list[Evidence] = []
    while len(out) < k and any(by_speaker.values()):
        for items in by_speaker.values():
            if items and len(out) < k:
                out.append(items.pop(0))
    return out


def _negative_cases(vectors: Vectors, evidence: list[Evidence], exclude_codes: set[str], k: int = 4) -> list[Evidence]:
    """Segments most like the evidence that were coded otherwise (or not at all): the passages
    offered to an LLM for comparison (the offline draft uses :func:`memo_analysis.negative_cases`)."""
    if not evidence:
        return []
    conn = vectors.conn
    centroid = vectors.embedder.embed([e.quote for e in evidence]).mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    seen = {e.segment_id for e in evidence}
    out = []
    for sid, _score in vectors.index.query(centroid, 40):
        if sid in seen:
            continue
        row = conn.execute(
            "SELECT s.*, d.name, d.wave, p.side, p.role_category, t.role FROM segments s JOIN documents d ON d.id = s.document_id"
            " JOIN turns t ON t.id = s.turn_id LEFT JOIN participants p ON p.speaker = s.speaker WHERE s.id = ?",
            (sid,),
        ).fetchone()
        if row is None or not queries.is_participant_talk(row["role"], row["side"], row["speaker"]) or not _quotable(row["text"]):
            continue
        codes = [r[0] for r in conn.execute(
            "SELECT DISTINCT c.label FROM codings g JOIN codes c ON c.id = g.code_id WHERE g.segment_id = ? AND g.active = 1",
            (sid,))]  # fmt: skip
        if set(codes) & exclude_codes:
            continue
        out.append(Evidence(row["name"], row["speaker"], row["side"], row["role_category"], row["wave"], row["start"],
                            row["end"], row["text"], sid, codes))  # fmt: skip
        if len(out) == k:
            break
    return out


def _comparison(evidence: list[Evidence]) -> list[str]:
    lines = []
    for title, key in (("side", lambda e: e.side), ("role category", lambda e: e.role), ("wave", lambda e: e.wave)):
        counts = Counter(str(key(e) or "unknown") for e in evidence)
        lines.append(f"- By {title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return lines


def _render(title: str, definition: str, properties: list[str], evidence: list[Evidence], negatives: Negatives,
            links: list[str], questions: list[str], sampling: list[str], notes: dict[tuple[str, int, int], str],
            compared: list[Evidence]) -> str:  # fmt: skip
    """The offline draft's Markdown. ``notes`` adds a remark (a pole's name) after an evidence line;
    the comparison counts ``compared`` (every passage, not only those shown)."""
    evidence_lines = [e.line() + (f" — {notes[k]}" if (k := (e.source, e.start, e.end)) in notes else "") for e in evidence]
    parts = [f"# Memo: {title}",
             "_Draft assembled offline from this project's coded data (no model). Every quote is anchored to the "
             "transcript and was checked verbatim. Rewrite it in your own analytic voice before accepting._",
             "", "## Definition", definition or "(none yet)", "", "## Properties and dimensions",
             *(properties or ["- (none recorded yet)"]), "", "## Evidence", *(evidence_lines or ["(no coded passages)"]),
             "", "## Comparison across groups", *_comparison(compared), "", "## Negative and disconfirming cases",
             "Similar talk that human coders coded otherwise (boundary cases), or that negates or qualifies the "
             "evidence, or comes from a side the evidence does not cover:",
             *([f"{e.line()} — {why}" for e, why in negatives.boundary + negatives.contradicting] or ["(none found)"]),
             *(["", "### Uncoded passages that may belong here", *[f"{e.line()} — {why}" for e, why in negatives.maybe_belongs]]
               if negatives.maybe_belongs else []),
             "", "## Links to constructs", *(links or ["- (no confirmed construct links)"]), "", "## Open questions",
             *[f"- {q}" for q in questions], "", "## Theoretical sampling for the next wave", *[f"- {s}" for s in sampling]]  # fmt: skip
    return "\n".join(parts) + "\n"


def _subject(conn: sqlite3.Connection, category: str | None, construct: str | None, case: str | None,
             fw: Framework | None) -> dict[str, Any]:
    if sum(x is not None for x in (category, construct, case)) != 1:
        raise CoderAssistError("give exactly one of --category, --construct or --case")
    if category is not None:
        row = conn.execute("SELECT * FROM categories WHERE active = 1 AND (name = ? OR CAST(id AS TEXT) = ?)", (category, category)).fetchone()
        if row is None:
            raise CoderAssistError(f"no confirmed category {category!r}")
        codes = conn.execute("SELECT c.id, c.label FROM category_members m JOIN codes c ON c.id = m.code_id"
                             " WHERE m.category_id = ? AND m.active = 1 AND c.active = 1", (row["id"],)).fetchall()  # fmt: skip
        links = [f"- {r['framework']}.{r['construct']} (confirmed)" for r in conn.execute(
            "SELECT DISTINCT framework, construct FROM construct_links WHERE active = 1 AND ((level = 'category' AND target = ?)"
            f" OR (level = 'code' AND target IN ({','.join('?' * len(codes)) or 'NULL'})))",
            (str(row["id"]), *[str(c["id"]) for c in codes]))]  # fmt: skip
        labels = "; ".join(c["label"] for c in codes)
        props = [f"- Gathers {len(codes)} member code{'s' if len(codes) != 1 else ''}: {labels}."] if codes else []
        return {"key": f"category:{row['name']}", "title": row["name"], "definition": row["definition"] or "",
                "code_ids": [c["id"] for c in codes], "properties": props, "links": links}  # fmt: skip
    if construct is not None:
        fid, _, cid = construct.partition(".")
        assert fw is not None and fw.id == fid, "the caller resolves the construct's framework"
        c = fw.construct(cid)
        rows = conn.execute("SELECT level, target FROM construct_links WHERE active = 1 AND framework = ? AND construct = ?",
                            (fid, cid)).fetchall()  # fmt: skip
        code_ids = {int(r["target"]) for r in rows if r["level"] == "code"}
        for r in rows:
            if r["level"] == "category":
                code_ids |= {m[0] for m in conn.execute("SELECT code_id FROM category_members WHERE category_id = ? AND active = 1", (int(r["target"]),))}
        props = [f"- Use when: {x}" for x in c.include] + [f"- Not when: {x}" for x in c.exclude]
        return {"key": f"construct:{construct}", "title": f"{c.name} ({construct})", "definition": c.definition,
                "code_ids": sorted(code_ids), "properties": props, "links": [f"- {construct} (the memo's subject)"]}  # fmt: skip
    rows = conn.execute(
        "SELECT DISTINCT g.code_id FROM codings g JOIN documents d ON d.id = g.document_id JOIN segments s ON s.id = g.segment_id"
        " LEFT JOIN participants p ON p.speaker = s.speaker WHERE g.active = 1 AND COALESCE(d.case_id, p.case_id) = ?",
        (case,),
    ).fetchall()
    if not rows:
        raise CoderAssistError(f"no coded passages in case {case!r}")
    people = conn.execute("SELECT speaker, side, role_category FROM participants WHERE case_id = ? ORDER BY side", (case,)).fetchall()
    return {"key": f"case:{case}", "title": f"case {case}", "code_ids": [r[0] for r in rows],
            "definition": "Participants: " + "; ".join(f"{p['speaker']} ({p['side']}, {p['role_category']})" for p in people),
            "properties": [], "links": []}  # fmt: skip


def _llm_body(conn: sqlite3.Connection, caller: StructuredCaller, subj: dict[str, Any], evidence: list[Evidence],
              negatives: list[Evidence]) -> tuple[str | None, list[Evidence], int, str, str]:  # fmt: skip
    """Ask an LLM for the memo's sections; re-anchor its citations in the passages. Returns
    (body or None, cited evidence, citations that could not be grounded, raw reply, error)."""
    passages = {f"E{i + 1}": e for i, e in enumerate(evidence)} | {f"N{i + 1}": e for i, e in enumerate(negatives)}
    fmt = lambda k, e: f"{k} [{e.speaker}, {e.side or '-'}, {e.role or '-'}, wave {e.wave}]: {e.quote}"  # noqa: E731
    result = caller.call(
        "memo-draft", MemoSections, subject=subj["title"], definition=subj["definition"] or "(none yet)",
        evidence="\n".join(fmt(k, e) for k, e in passages.items() if k[0] == "E") or "(none)",
        negatives="\n".join(fmt(k, e) for k, e in passages.items() if k[0] == "N") or "(none)",
        comparison="\n".join(_comparison(evidence)),
    )  # fmt: skip
    if result.fields is None:
        return None, [], 0, result.raw, result.error
    sections, provider = result.fields, caller.provider
    cited: list[tuple[Evidence, str]] = []
    missing = 0
    for c in sections["citations"]:
        e = passages.get(c["passage"].strip())
        g = locate(c["quote"], e.quote, base=e.start, threshold=1.01) if e else None
        if e is None or g is None or not g.grounded:
            missing += 1
            continue
        doc = queries.document_text(conn, e.source) or ""
        span = Evidence(e.source, e.speaker, e.side, e.role, e.wave, g.start, g.end, doc[g.start : g.end], e.segment_id, e.codes)  # type: ignore[arg-type]
        if _quotable(span.quote):
            cited.append((span, c["claim"]))
    lines = [f"# Memo: {subj['title']}",
             f"_Draft written by {provider.name} {provider.model} from this project's evidence; every quote below was "
             "re-located in the transcript and anchored. Rewrite it in your own analytic voice before accepting._",
             *([f"_{missing} citation(s) from the model could not be found in the passages and were left out._"] if missing else []),
             "", "## Definition", sections["definition"], "", "## Properties and dimensions",
             *[f"- {x}" for x in sections["properties"]], "", "## Evidence",
             *[f"{e.line()} — {claim}" for e, claim in cited], "", "## Comparison across groups", sections["comparison"],
             *_comparison(evidence), "", "## Negative and disconfirming cases", sections["negative_cases"], "",
             "## Links to constructs", *(subj["links"] or ["- (no confirmed construct links)"]), "", "## Open questions",
             *[f"- {q}" for q in sections["open_questions"]], "", "## Theoretical sampling for the next wave",
             *[f"- {q}" for q in sections["theoretical_sampling"]]]  # fmt: skip
    return "\n".join(lines) + "\n", [e for e, _ in cited], missing, result.raw, ""


def _member_labels(conn: sqlite3.Connection, code_ids: list[int]) -> set[str]:
    """The labels of the subject's codes (passages carrying one are evidence, not negative cases)."""
    marks = ",".join("?" * len(code_ids)) or "NULL"
    return {r[0] for r in conn.execute(f"SELECT label FROM codes WHERE id IN ({marks})", code_ids)}


def _by_pole(evidence: list[Evidence], found: list[memo_analysis.Pole]) -> list[Evidence]:
    """The evidence reordered round-robin over the poles, so the shown passages cover each."""
    if not found:
        return evidence
    queues = [list(p.members) for p in found]
    out: list[Evidence] = []
    while any(queues):
        out += [q.pop(0) for q in queues if q]
    return out


def _offline_body(conn: sqlite3.Connection, vectors: Vectors, subj: dict[str, Any],
                  progress: Progress) -> tuple[str, list[Evidence], list[Evidence]]:  # fmt: skip
    """The offline draft: sentence-level evidence, dimensions, negative cases and gaps from this
    project's data. Returns (body, evidence shown, negative cases shown)."""
    passages = _evidence_for_codes(conn, subj["code_ids"], sentences=True)
    names = memo_analysis.name_words(queries.participants(conn)) | memo_analysis.proper_nouns([e.quote for e in passages])
    embed = memo_analysis.cached(vectors.embedder.embed)
    found = memo_analysis.poles(passages, embed, names)
    members = _member_labels(conn, subj["code_ids"])
    cooccurring = memo_analysis.cooccurring_codes(conn, passages, members)
    evidence = _diverse(_by_pole(passages, found))
    progress.advance()
    negatives = memo_analysis.negative_cases(vectors, passages, members, names, embed=embed) if passages else Negatives()
    progress.advance()
    case = subj["key"].removeprefix("case:") if subj["key"].startswith("case:") else None
    questions, sampling = memo_analysis.gaps(conn, passages, found, negatives, cooccurring, subj["title"], case=case)
    progress.advance()
    notes = {(e.source, e.start, e.end): p.name for p in found for e in p.members}
    properties = memo_analysis.properties(passages, found, cooccurring) + subj["properties"]
    body = _render(subj["title"], subj["definition"], properties, evidence, negatives, subj["links"], questions,
                   sampling, notes, passages)  # fmt: skip
    return body, evidence, negatives.all


def draft_memo(store: StoreContext, vectors: Vectors, actor: str, *, category: str | None = None,
               construct: str | None = None, case: str | None = None, framework: Framework | None = None,
               provider: Any = None, progress: Progress | None = None) -> int:  # fmt: skip
    """Draft a memo (a suggestion) and return its id: assembled offline, or written by an LLM
    ``provider`` (one with ``structured``) from the same evidence. All quotes are verified.
    ``progress`` advances once per step: evidence, negative cases, open questions (and the model's draft)."""
    from ..progress import NoProgress

    progress = progress or NoProgress()
    conn = store.conn
    subj = _subject(conn, category, construct, case, framework)
    llm = isinstance(provider, StructuredProvider)
    progress.begin("drafting", 4 if llm else 3)
    try:
        if llm:
            evidence = _diverse(_evidence_for_codes(conn, subj["code_ids"]))
            progress.advance()
            all_labels = {c for e in evidence for c in e.codes}
            negatives = _negative_cases(vectors, evidence, all_labels) if evidence else []
            progress.advance(2)
            caller = StructuredCaller(provider, store.config.privacy, queries.participants(conn))
            body, cited, missing, raw, error = _llm_body(conn, caller, subj, evidence, negatives)
            if body is None:
                raise CoderAssistError(f"the model did not draft the memo: {error}")
            evidence, negatives, who, model = cited, [], provider.name, provider.model
            progress.advance()
        else:
            body, evidence, negatives = _offline_body(conn, vectors, subj, progress)
            who, model, missing, raw = "offline", "assembled-from-data", 0, None
    finally:
        progress.end()
    problems = verify_citations(conn, body)
    invented = unverified(conn, body, marked=False)
    body = mark_unverified(body, invented) if invented else body
    missing += len(invented)
    citations = [vars(e) for e in evidence + negatives]
    with transaction(conn):
        draft_id = conn.execute(
            "INSERT INTO memo_drafts (run_id, provider, model, subject, body, citations, ungrounded, created_at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (uuid.uuid4().hex, who, model, subj["key"], body, json.dumps(citations, ensure_ascii=False),
             len(problems) + missing, utcnow()),
        ).lastrowid  # fmt: skip
        audit.append(conn, actor, "memo-draft", {
            "draft_id": draft_id, "subject": subj["key"], "provider": who, "model": model, "citations": len(citations),
            "ungrounded": len(problems) + missing, "raw_response": raw,
        })  # fmt: skip
    return int(draft_id)  # type: ignore[arg-type]


def export_memos(conn: sqlite3.Connection, folder: Path, actor: str) -> int:
    """Write the latest version of every memo as Markdown, one file per subject."""
    latest = {m["subject"]: m for m in theory_queries.memos(conn)}
    folder.mkdir(parents=True, exist_ok=True)
    for subject, m in latest.items():
        (folder / (re.sub(r"[^\w.-]+", "_", subject) + ".md")).write_text(m["body"], encoding="utf-8")
    with transaction(conn):
        audit.append(conn, actor, "memo-export", {"folder": str(folder), "memos": len(latest)})
    return len(latest)
