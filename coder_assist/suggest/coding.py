"""The initial-coding run: for each selected segment, ask the provider for codes, ground every
quote in the segment, and store suggestions with full provenance.

Each segment is written in one transaction (call, suggestions, audit event), so an interrupted or
killed run keeps everything already produced, and a re-run with the same provider, model, prompt
and parameters (the *work key*) skips those segments: no duplicates. Failed segments are retried
by the next run. A run records the process that owns it (pid, host, the process's start time);
a ``running`` run whose process is gone (killed, the machine restarted) is marked
``interrupted`` when the next run starts or :func:`mark_interrupted` is called.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..store import audit
from ..store import queries
from ..store.db import transaction, utcnow
from .grounding import locate
from .lexicon import entity_abstractions
from .prompts import PromptTemplate, load_prompt
from .providers import CodeProposal, CodingInput, HeuristicProvider, ProposedCode, Provider, ProviderReply, SimilarSegment, Usage
from .redact import Redactor, redactor_for
from .reuse import EMBEDDER as REUSE_EMBEDDER, MeaningIndex
from .secrets import scrub_reply
from ..store.tokens import default_counter

if TYPE_CHECKING:
    from ..progress import Progress
    from ..store.context import StoreContext
    from ..store.vectors import Vectors

_SENTENCE = re.compile(r"[^.!?…]+(?:[.!?…]+[\"'”’)]*|$)")
APPLY_PROMPT = "codebook-application"
#: Prompts with a passage variant (``<id>-passage``) that codes several consecutive segments per request.
PASSAGE_PROMPTS = ("initial-coding", APPLY_PROMPT)
PASSAGE_SUFFIX = "-passage"


@dataclass
class RunReport:
    run_id: str | None
    provider: str
    model: str
    selected: int = 0
    skipped_done: int = 0
    coded: int = 0
    failed: int = 0
    suggestions: int = 0
    grounded: int = 0
    ungrounded: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_estimated: bool = False
    cost_usd: float | None = 0.0
    redacted: bool = False
    dry_run: bool = False
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
    max_cost_usd: float | None = None
    """The cost cap of this run (``--max-cost`` or ``[budget] max_cost_usd``), if any."""
    budget_stopped: bool = False
    """The run stopped before a call would have taken its cost above the cap."""
    left_undone: int = 0
    """Selected segments not coded because the cap was reached."""
    by_wave: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Dry run: segments, prompt and completion tokens and cost per wave (``none``: no wave)."""
    concurrency: int = 1
    """Calls in flight at most; ``throttles`` 429s seen, ``lowest_window`` the window they left."""
    throttles: int = 0
    lowest_window: int = 1


def work_key(provider: Provider, prompt_sha: str, framework: Any = None) -> str:
    fw = [framework.id, framework.version] if framework is not None else None
    body = json.dumps([provider.name, provider.model, prompt_sha, provider.params(), fw], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:24]


def select_segments(
    conn: sqlite3.Connection, *, wave: int | None, source: str | None, include_researchers: bool
) -> list[sqlite3.Row]:
    """Current segments in document order, participants' talk only unless asked otherwise."""
    where, params = ["d.current = 1"], []
    if wave is not None:
        where.append("d.wave = ?")
        params.append(wave)
    if source is not None:
        where.append("d.name = ?")
        params.append(source)
    if not include_researchers:
        where.append(queries.PARTICIPANT_TALK)
    return conn.execute(
        "SELECT s.id, s.text, s.speaker, s.start, s.end, s.turn_id, t.idx AS turn, d.id AS document_id,"
        " d.name AS source, d.wave FROM segments s JOIN turns t ON t.id = s.turn_id JOIN documents d ON d.id = s.document_id"
        f" LEFT JOIN participants p ON p.speaker = s.speaker WHERE {' AND '.join(where)} ORDER BY d.name, s.idx",
        params,
    ).fetchall()


class CodingRun:
    """One run of a provider over a selection of segments."""

    def __init__(self, store: StoreContext, vectors: Vectors, provider: Provider, actor: str, framework: Any = None,
                 apply_codebook: bool = False, per_call: int | None = None) -> None:  # fmt: skip
        self.framework = framework
        self.apply_codebook = apply_codebook and framework is None and not isinstance(provider, HeuristicProvider)
        base = APPLY_PROMPT if self.apply_codebook else provider.prompt_id
        wanted = store.config.coding.segments_per_call if per_call is None else per_call
        self.per_call = wanted if base in PASSAGE_PROMPTS and not isinstance(provider, HeuristicProvider) else 1
        """Consecutive segments of one document sent in one request (``coding.segments_per_call``)."""
        self.vectors = vectors
        self.conn = store.conn
        self.provider = provider
        self.actor = actor
        self.cfg = store.config
        if isinstance(provider, HeuristicProvider):  # offline heuristics: their source is the "prompt"
            self._bind_meaning()
            self.prompt: PromptTemplate | None = None
            self.prompt_sha = provider.source_sha256()
            self.prompt_version = "1"
        else:
            self.prompt = load_prompt(base + PASSAGE_SUFFIX if self.per_call > 1 else base)
            self.prompt_sha, self.prompt_version = self.prompt.sha256, self.prompt.version
        self.prompt_id = self.prompt.id if self.prompt is not None else provider.prompt_id
        self.codebook_sha = ""
        self._entries: list[str] | None = None
        if self.apply_codebook:  # the codebook is part of the work: a changed codebook is new work
            self._entries = self._codebook_entries()  # read once: the run sends this very codebook
            self.codebook_sha = hashlib.sha256("\n".join(self._entries).encode()).hexdigest()
        per = f":{self.per_call}-per-call" if self.per_call > 1 else ""  # other requests: other work
        self.key = work_key(provider, self.prompt_sha + self.codebook_sha + per, framework)
        self.redactor: Redactor | None = redactor_for(self.cfg.privacy, queries.participants(self.conn), provider.remote)

    def _bind_meaning(self) -> None:
        """Meaning-based constant comparison for a heuristic provider that supports it
        (``use_meaning``): with the project's embedder when it is the one the reuse threshold was
        calibrated for (``reuse.EMBEDDER``, local MiniLM), else none (lexical reuse only). Done
        before the work key, which records it through the provider's params."""
        use = getattr(self.provider, "use_meaning", None)
        if use is None:
            return
        embedder = self.vectors.embedder if self.vectors is not None and self.framework is None else None
        use(MeaningIndex(embedder.embed, embedder.name) if embedder is not None and embedder.name == REUSE_EMBEDDER else None)

    # -- inputs -------------------------------------------------------------------------------
    def _codebook(self) -> list[str]:
        if self._entries is not None:
            return self._entries
        if self.framework is not None:
            return [f"{c.name}: {c.definition} Use when: {' '.join(c.include)} Not when: {' '.join(c.exclude)}"
                    for c in self.framework.constructs]  # fmt: skip
        # A prompt shows the 60 most used codes; a heuristic provider compares with the whole codebook.
        limit = "" if self.prompt is None else " LIMIT 60"
        rows = self.conn.execute(
            "SELECT c.label, count(g.id) AS n FROM codes c LEFT JOIN codings g ON g.code_id = c.id AND g.active = 1"
            " WHERE c.active = 1 AND c.kind = 'initial' GROUP BY c.id ORDER BY n DESC, c.label" + limit
        ).fetchall()
        return [r["label"] for r in rows]

    def _codebook_entries(self) -> list[str]:
        """Every accepted initial code with its definition and up to two coded examples (the
        codebook-application prompt), most used first."""
        rows = self.conn.execute(
            "SELECT c.id, c.label, c.definition, count(g.id) AS n FROM codes c LEFT JOIN codings g ON g.code_id = c.id"
            " AND g.active = 1 WHERE c.active = 1 AND c.kind = 'initial' GROUP BY c.id ORDER BY n DESC, c.label"
        ).fetchall()  # fmt: skip
        out = []
        for r in rows:
            examples = [e[0] for e in self.conn.execute(
                "SELECT substr(d.text, g.start + 1, min(g.end - g.start, 240)) FROM codings g JOIN documents d"
                " ON d.id = g.document_id WHERE g.code_id = ? AND g.active = 1 ORDER BY g.id LIMIT 2", (r["id"],))]  # fmt: skip
            line = r["label"] + (f": {r['definition']}" if r["definition"] else "")
            out.append(line + "".join(f'\n  e.g. "{" ".join(x.split())}"' for x in examples))
        return out

    def _context(self, seg: sqlite3.Row) -> tuple[str, list[int]]:
        n = self.cfg.coding.context_turns
        if n == 0:
            return "(none)", []
        rows = self.conn.execute(
            "SELECT t.id, t.speaker, substr(d.text, t.start + 1, min(t.end - t.start, 600)) AS text"
            " FROM turns t JOIN documents d ON d.id = t.document_id"
            " WHERE t.document_id = ? AND t.idx < ? AND t.idx >= ? ORDER BY t.idx",
            (seg["document_id"], seg["turn"], seg["turn"] - n),
        ).fetchall()
        before = self.conn.execute(
            "SELECT substr(d.text, t.start + 1, ? - t.start) FROM turns t JOIN documents d ON d.id = t.document_id"
            " WHERE t.id = ?",
            (seg["start"], seg["turn_id"]),
        ).fetchone()[0].strip()
        lines = [f"{r['speaker'] or 'Speaker'}: {r['text']}" for r in rows]
        if before:
            lines.append(f"{seg['speaker'] or 'Speaker'} (same turn, before the segment): {before[-600:]}")
        return ("\n".join(lines) or "(start of the document)"), [r["id"] for r in rows]

    def _similar(self, seg: sqlite3.Row, has_codings: bool) -> list[SimilarSegment]:
        k = self.cfg.coding.similar
        if not k or not has_codings:
            return []
        return [SimilarSegment(n.segment_id, n.text, n.codes, round(n.score, 4))
                for n in self.vectors.coded_neighbours(seg["text"], k, exclude=seg["id"], pool=4)]

    def units(self, segments: list[sqlite3.Row]) -> list[list[sqlite3.Row]]:
        """The segments in requests: up to ``per_call`` consecutive ones of the same document."""
        out: list[list[sqlite3.Row]] = []
        for seg in segments:
            if out and len(out[-1]) < self.per_call and out[-1][0]["document_id"] == seg["document_id"]:
                out[-1].append(seg)
            else:
                out.append([seg])
        return out

    def build_unit(self, unit: list[sqlite3.Row], codebook: list[str], has_codings: bool) -> tuple[CodingInput, list[int]]:
        """One request's input: a segment, or (passage prompts) several numbered consecutive ones
        with the context before the first."""
        if self.per_call == 1:
            return self.build_input(unit[0], codebook, has_codings)
        text = "\n".join(f"[{i}] {seg['speaker'] or 'Speaker'}: {seg['text']}" for i, seg in enumerate(unit, 1))
        speakers = ", ".join(dict.fromkeys(seg["speaker"] or "unlabelled" for seg in unit))
        return self.build_input(unit[0], codebook, has_codings, segment_text=text, speaker=speakers)

    def build_input(self, seg: sqlite3.Row, codebook: list[str], has_codings: bool, segment_text: str | None = None,
                    speaker: str | None = None) -> tuple[CodingInput, list[int]]:  # fmt: skip
        context, context_ids = self._context(seg)
        if not hasattr(self, "_known"):  # once per run; names and restored labels never go to a remote provider
            self._known = ({}, []) if self.provider.remote else (
                entity_abstractions(queries.participants(self.conn)), [r[0] for r in self.conn.execute(
                    "SELECT s.label FROM suggestions s JOIN llm_calls c ON c.id = s.call_id"
                    " WHERE c.work_key = ? AND s.in_vivo = 0 ORDER BY s.id", (self.key,))])  # fmt: skip
        item = CodingInput(seg["id"], seg["text"], seg["speaker"], seg["source"], context,
                           self._similar(seg, has_codings), codebook,
                           entities=self._known[0], earlier_labels=self._known[1])  # fmt: skip
        if self.prompt is not None:
            similar = "\n".join(f"- \"{s.text}\" -> {'; '.join(s.codes)}" for s in item.similar) or "(none yet)"
            item.system, item.user = self.prompt.render(
                codebook="\n".join(f"- {c}" for c in codebook) or "(empty: no codes accepted yet)",
                source=seg["source"], context=context, similar=similar,
                speaker=speaker or seg["speaker"] or "unlabelled", segment=seg["text"] if segment_text is None else segment_text,
            )  # fmt: skip
            if self.redactor is not None:
                item.system, item.user = self.redactor.redact(item.system), self.redactor.redact(item.user)
        return item, context_ids

    # -- the run ------------------------------------------------------------------------------
    def estimate(self, segments: list[sqlite3.Row], report: RunReport) -> None:
        """Token and cost estimate without calling anything."""
        codebook = self._codebook()
        counter = default_counter()
        texts = []
        units = self.units(segments)
        for unit in units:
            item, _ = self.build_unit(unit, codebook, has_codings=False)
            texts.append(item.system + "\n" + item.user if self.prompt else item.text)
        counts = counter.count_many(texts)
        per = 0 if self.prompt is None else self.cfg.coding.completion_tokens_estimate
        report.prompt_tokens = sum(counts)
        report.completion_tokens = per * len(segments)
        report.tokens_estimated = True
        report.cost_usd = self.cost(report.prompt_tokens, report.completion_tokens)
        for unit, n in zip(units, counts):  # a unit never spans documents, so never waves
            w = report.by_wave.setdefault("none" if unit[0]["wave"] is None else str(unit[0]["wave"]),
                                          {"segments": 0, "prompt_tokens": 0, "completion_tokens": 0})  # fmt: skip
            w["segments"] += len(unit)
            w["prompt_tokens"] += n
            w["completion_tokens"] += per * len(unit)
        for w in report.by_wave.values():
            w["cost_usd"] = self.cost(w["prompt_tokens"], w["completion_tokens"])

    def call_estimate(self, item: CodingInput, segments: int = 1) -> float:
        """The cost one call is expected to take (prompt counted, completion estimated), for the cap."""
        if self.prompt is None or not self.provider.remote:
            return 0.0
        tokens = default_counter().count_many([item.system + "\n" + item.user])[0]
        return self.cost(tokens, self.cfg.coding.completion_tokens_estimate * segments) or 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if not self.provider.remote:
            return 0.0
        price = self.cfg.prices.get(self.provider.model)
        if price is None:
            return None
        return round((prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6, 6)

    def run(self, segments: list[sqlite3.Row], report: RunReport, progress: Progress) -> None:
        run_id = uuid.uuid4().hex
        report.run_id = run_id
        report.redacted = self.redactor is not None
        redaction = {"applied": self.redactor is not None, "mode": self.cfg.privacy.redact,
                     "identifiers": self.redactor.summary() if self.redactor else {}}  # fmt: skip
        mark_interrupted(self.conn, self.actor)
        with transaction(self.conn):
            self.record_run(run_id, "running", {"segments": len(segments)}, redaction)
            audit.append(self.conn, self.actor, "coding-run-start", {
                "run_id": run_id, "provider": self.provider.name, "model": self.provider.model,
                "base_host": self.provider.base_host, "prompt_id": self.prompt_id, "codebook_sha256": self.codebook_sha or None,
                "prompt_sha256": self.prompt_sha, "params": self.provider.params(), "segments": len(segments),
                "redaction": redaction,
            })  # fmt: skip
        status = "interrupted"
        progress.begin("coding", len(segments))
        try:
            codebook = self._codebook()
            has_codings = queries.has_codings(self.conn)
            width = int(getattr(self.provider, "concurrency", 1) or 1)
            units = self.units(segments)
            self.classifier = self._classifier(codebook)
            if width > 1 and not isinstance(self.provider, HeuristicProvider):
                self._run_concurrent(run_id, units, codebook, has_codings, width, report, progress)
            else:
                for n, unit in enumerate(units):
                    item, context_ids = self.build_unit(unit, codebook, has_codings)
                    if self._over_budget(report, self.call_estimate(item, len(unit))):
                        report.left_undone = sum(len(u) for u in units[n:])
                        break
                    reply = self._with_codebook(unit[0], self.provider.propose(item))
                    self._store_unit(run_id, unit, item, context_ids, reply, report)
                    progress.advance(len(unit))
            status = "finished"
        finally:
            progress.end()
            report.interrupted = status != "finished"
            counts = {k: getattr(report, k) for k in ("coded", "failed", "suggestions", "grounded", "ungrounded")}
            with transaction(self.conn):
                self.conn.execute("UPDATE coding_runs SET status = ?, counts = ?, finished_at = ? WHERE id = ?",
                                  (status, json.dumps(counts), utcnow(), run_id))  # fmt: skip
                audit.append(self.conn, self.actor, "coding-run-end", {"run_id": run_id, "status": status, **counts})

    def _classifier(self, codebook: list[str]) -> Any:
        """Offline runs with a codebook: the classifier over the human codings (``classifier.py``),
        with a local embedder only; None when the codings do not support one."""
        from .classifier import train

        embedder = self.vectors.embedder if self.vectors is not None else None
        if (not isinstance(self.provider, HeuristicProvider) or self.framework is not None or not codebook
                or embedder is None or embedder.name.startswith("openai")):  # fmt: skip
            return None
        return train(self.conn, embedder.embed)

    def _with_codebook(self, seg: sqlite3.Row, reply: ProviderReply) -> ProviderReply:
        """Add the classifier's codebook code to an offline reply, quoting the segment's sentence
        most like the code's human codings, unless the reply already carries that code."""
        clf = getattr(self, "classifier", None)
        if clf is None or reply.proposal is None:
            return reply
        sentences = [m.group().strip() for m in _SENTENCE.finditer(seg["text"]) if m.group().strip()] or [seg["text"]]
        vectors = self.vectors.embedder.embed([seg["text"], *sentences])
        (found,) = clf.predict(vectors[:1])
        taken = {c.reused_code or c.label for c in reply.proposal.codes}
        if found is None or found[0] in taken:
            return reply
        label, sim = found
        centroid = clf.centroids[clf.labels.index(label)]
        quote = sentences[int(np.argmax(vectors[1:] @ centroid))]
        code = ProposedCode(label=label, in_vivo=False, quote=quote, reused_code=label, rationale=(
            f"Codebook classifier (offline): this segment is closer to the human codings of '{label}' than to any "
            f"other code's (margin {sim:.2f}; {clf.describe()})."))  # fmt: skip
        proposal = CodeProposal(codes=[*reply.proposal.codes, code])
        return ProviderReply(proposal, proposal.model_dump_json(), reply.usage, reply.latency_ms, reply.attempts, reply.error)

    def record_run(self, run_id: str, status: str, selection: dict[str, Any], redaction: dict[str, Any],
                   started_at: str | None = None) -> None:  # fmt: skip
        """The ``coding_runs`` row of this run, with the process that owns it (the caller holds the
        transaction)."""
        self.conn.execute(
            "INSERT INTO coding_runs (id, work_key, actor, provider, model, base_host, prompt_id, prompt_version,"
            " prompt_sha256, params, redaction, selection, status, started_at, pid, host, process_started)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, self.key, self.actor, self.provider.name, self.provider.model, self.provider.base_host,
             self.prompt_id, self.prompt_version, self.prompt_sha, json.dumps(self.provider.params()),
             json.dumps(redaction), json.dumps(selection), status, started_at or utcnow(),
             os.getpid(), socket.gethostname(), process_started(os.getpid())),
        )  # fmt: skip

    def _over_budget(self, report: RunReport, next_call: float, in_flight: float = 0.0) -> bool:
        """Whether a call expected to cost ``next_call`` would take the run above its cap."""
        cap = report.max_cost_usd
        if cap is None or report.cost_usd is None:
            return False
        if report.cost_usd + in_flight + next_call > cap:
            report.budget_stopped = True
            return True
        return False

    def _run_concurrent(self, run_id: str, units: list[list[sqlite3.Row]], codebook: list[str], has_codings: bool,
                        width: int, report: RunReport, progress: Progress) -> None:  # fmt: skip
        """Up to ``width`` calls in flight on worker threads (fewer while the pacer is throttled).
        Inputs are built and replies stored on this thread, one transaction per segment and in
        segment order (so a run's ids do not depend on which reply came back first; at most
        ``4 x width`` replies wait for an earlier one). A killed run keeps every stored segment and
        the next run redoes the rest."""
        from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

        from .pacing import Pacer

        pacer = Pacer(width, int(getattr(self.provider, "rpm", 0) or 0), int(getattr(self.provider, "tpm", 0) or 0))
        self.provider.pacer = pacer  # type: ignore[attr-defined]
        report.concurrency = width
        flight: dict[Future[ProviderReply], int] = {}
        slots: dict[int, tuple[list[sqlite3.Row], CodingInput, list[int], float, ProviderReply | None]] = {}
        submitted = stored = 0
        stopped = False
        pool = ThreadPoolExecutor(width, thread_name_prefix="coder-assist-call")
        try:
            while True:
                while not stopped and len(flight) < pacer.window and submitted - stored < 4 * width:
                    if submitted == len(units):
                        stopped = True
                        break
                    unit = units[submitted]
                    item, context_ids = self.build_unit(unit, codebook, has_codings)
                    estimate = self.call_estimate(item, len(unit))
                    if self._over_budget(report, estimate, sum(slots[i][3] for i in flight.values())):
                        report.left_undone = sum(len(u) for u in units[submitted:])
                        stopped = True
                        break
                    flight[pool.submit(self.provider.propose, item)] = submitted
                    slots[submitted] = (unit, item, context_ids, estimate, None)
                    submitted += 1
                if not flight:
                    break
                done, _ = wait(list(flight), return_when=FIRST_COMPLETED)
                for fut in done:
                    i = flight.pop(fut)
                    slots[i] = (*slots[i][:4], fut.result())
                while stored in slots and slots[stored][4] is not None:
                    unit, item, context_ids, _, reply = slots.pop(stored)
                    self._store_unit(run_id, unit, item, context_ids, reply, report)  # type: ignore[arg-type]
                    stored += 1
                    progress.advance(len(unit))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.provider.pacer = None  # type: ignore[attr-defined]
            report.throttles, report.lowest_window = pacer.throttles, pacer.lowest

    def _store_unit(self, run_id: str, unit: list[sqlite3.Row], item: CodingInput, context_ids: list[int],
                    reply: ProviderReply, report: RunReport) -> None:  # fmt: skip
        """Store one request's reply: for several segments, each code goes to the segment its
        quote is found in (else the first, where it stays ungrounded), and each segment gets its
        own call row with an even share of the tokens, in its own transaction."""
        if len(unit) == 1:
            return self._store(run_id, unit[0], item, context_ids, reply, report)
        shares: list[list[Any]] = [[] for _ in unit]
        for code in (reply.proposal.codes if reply.proposal else []):
            quote = self.redactor.restore(code.quote) if self.redactor is not None else code.quote
            scored = [(g.score if g.grounded else -1.0, -i) for i, seg in enumerate(unit)
                      if (g := locate(quote, seg["text"], base=seg["start"])) is not None]  # fmt: skip
            best = -max(scored)[1] if scored and max(scored)[0] >= 0 else 0
            shares[best].append(code)
        n = len(unit)
        for i, seg in enumerate(unit):
            usage = Usage(reply.usage.prompt_tokens // n + (reply.usage.prompt_tokens % n if i == 0 else 0),
                          reply.usage.completion_tokens // n + (reply.usage.completion_tokens % n if i == 0 else 0),
                          reply.usage.estimated)  # fmt: skip
            proposal = CodeProposal(codes=shares[i]) if reply.proposal is not None else None
            part = ProviderReply(proposal, reply.raw, usage, reply.latency_ms, reply.attempts, reply.error)
            self._store(run_id, seg, item, context_ids, part, report)

    def _store(self, run_id: str, seg: sqlite3.Row, item: CodingInput, context_ids: list[int],
               reply: ProviderReply, report: RunReport) -> None:  # fmt: skip
        r = self.redactor
        reply = scrub_reply(reply, [getattr(self.provider, "api_key", None)])  # any provider, live or batch
        cost = self.cost(reply.usage.prompt_tokens, reply.usage.completion_tokens)
        report.prompt_tokens += reply.usage.prompt_tokens
        report.completion_tokens += reply.usage.completion_tokens
        report.tokens_estimated |= reply.usage.estimated
        report.cost_usd = None if cost is None or report.cost_usd is None else round(report.cost_usd + cost, 6)
        status = "ok" if reply.proposal is not None else "failed"
        now = utcnow()
        with transaction(self.conn):
            # A failed call of the same work is replaced; a finished one is never redone.
            self.conn.execute("DELETE FROM llm_calls WHERE segment_id = ? AND work_key = ? AND status = 'failed'"
                              " AND id NOT IN (SELECT call_id FROM suggestions)", (seg["id"], self.key))  # fmt: skip
            call_id = self.conn.execute(
                "INSERT INTO llm_calls (run_id, segment_id, work_key, status, error, attempts, input_sha256,"
                " context_ids, similar_ids, redacted, raw_response, prompt_tokens, completion_tokens,"
                " tokens_estimated, latency_ms, cost_usd, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, seg["id"], self.key, status, reply.error, reply.attempts,
                 hashlib.sha256(seg["text"].encode()).hexdigest(), json.dumps(context_ids),
                 json.dumps([s.segment_id for s in item.similar]), int(r is not None), reply.raw,
                 reply.usage.prompt_tokens, reply.usage.completion_tokens, int(reply.usage.estimated),
                 reply.latency_ms, cost, now),
            ).lastrowid  # fmt: skip
            ids = []
            for code in (reply.proposal.codes if reply.proposal else []):
                label, quote, rationale = code.label.strip(), code.quote, code.rationale.strip()
                reused_label = code.reused_code
                if r is not None:
                    label, quote, rationale = r.restore(label), r.restore(quote), r.restore(rationale)
                    reused_label = r.restore(reused_label) if reused_label else None
                g = locate(quote, seg["text"], base=seg["start"])
                reused_id = None
                if reused_label:
                    row = self.conn.execute("SELECT id FROM codes WHERE label = ? AND active = 1", (reused_label,)).fetchone()
                    reused_id = row[0] if row else None
                state = "proposed" if g.grounded and label else "ungrounded"
                ids.append(self.conn.execute(
                    "INSERT INTO suggestions (call_id, run_id, segment_id, kind, label, in_vivo, quote, start, end,"
                    " grounding, grounding_score, rationale, reused_code_id, reused_label, status, created_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (call_id, run_id, seg["id"], "construct-code" if self.framework is not None else "initial-code", label, int(code.in_vivo), quote, g.start, g.end,
                     g.method, g.score, rationale, reused_id, reused_label, state, now),
                ).lastrowid)  # fmt: skip
                report.suggestions += 1
                report.by_method[g.method] = report.by_method.get(g.method, 0) + 1
                if state == "proposed":
                    report.grounded += 1
                else:
                    report.ungrounded += 1
            audit.append(self.conn, self.actor, "suggestions", {
                "run_id": run_id, "segment_id": seg["id"], "call_id": call_id, "status": status,
                "suggestion_ids": ids, "error": reply.error,
            })  # fmt: skip
        if status == "ok":
            report.coded += 1
        else:
            report.failed += 1


def run_coding(
    store: StoreContext, vectors: Vectors, provider: Provider, actor: str, *, wave: int | None = None, source: str | None = None,
    limit: int | None = None, dry_run: bool = False, progress: Progress | None = None, framework: Any = None,
    max_cost: float | None = None, apply_codebook: bool = False,
) -> RunReport:  # fmt: skip
    """Select segments, skip those already done with the same work key (or waiting in a batch of
    it), and code the rest. With ``framework``, coding is deductive: into that framework's
    constructs. ``max_cost`` (default ``[budget] max_cost_usd``) stops the run before a call would
    take its cost above it; what is left undone is counted in the report. ``apply_codebook``
    (re-coding a wave) asks a model with the codebook-application prompt: the accepted codes
    with their definitions and examples first, new codes only where none fits; the codebook is
    part of the work key, so a changed codebook re-codes and an unchanged one does not."""
    from ..errors import CoderAssistError
    from ..progress import NoProgress

    if apply_codebook:
        check_recode(store.conn, wave)
    run = CodingRun(store, vectors, provider, actor, framework, apply_codebook)
    cap = max_cost if max_cost is not None else store.config.budget.max_cost_usd
    report = RunReport(None, provider.name, provider.model, dry_run=dry_run, max_cost_usd=cap)
    if cap is not None and run.prompt is not None and run.cost(1_000_000, 0) is None:
        raise CoderAssistError(f"no price known for model {provider.model!r}: add it under [prices] in the config "
                               "to use a cost cap")  # fmt: skip
    segments = select_segments(store.conn, wave=wave, source=source,
                               include_researchers=store.config.coding.include_researchers)  # fmt: skip
    done = {r[0] for r in store.conn.execute(
        "SELECT segment_id FROM llm_calls WHERE work_key = ? AND status = 'ok'", (run.key,))}  # fmt: skip
    done |= queries.pending_segments(store.conn, run.key)
    todo = [s for s in segments if s["id"] not in done]
    report.skipped_done = len(segments) - len(todo)
    if limit is not None:
        todo = todo[:limit]
    report.selected = len(todo)
    if provider.remote and run.redactor is None:
        report.warnings.append(
            f"sending unredacted interview text to {provider.base_host} (privacy.redact = "
            f"{store.config.privacy.redact!r})"
        )
    if dry_run:
        run.estimate(todo, report)
        return report
    if todo:
        run.run(todo, report, progress or NoProgress())
    return report


def mark_interrupted(conn: sqlite3.Connection, actor: str) -> list[str]:
    """Mark this host's ``running`` runs whose process is gone as ``interrupted`` (with an audit
    event each); returns their ids. Runs of other hosts, or without a recorded pid, are left."""
    host = socket.gethostname()
    rows = conn.execute("SELECT id, pid, process_started FROM coding_runs WHERE status = 'running' AND host = ?"
                        " AND pid IS NOT NULL", (host,)).fetchall()  # fmt: skip
    gone = [r for r in rows if not process_alive(r["pid"], r["process_started"])]
    marked = []
    if gone:
        with transaction(conn):
            for r in gone:
                if conn.execute("UPDATE coding_runs SET status = 'interrupted', finished_at = ? WHERE id = ?"
                                " AND status = 'running'", (utcnow(), r["id"])).rowcount:  # fmt: skip
                    audit.append(conn, actor, "coding-run-interrupted",
                                 {"run_id": r["id"], "pid": r["pid"], "host": host, "reason": "its process is gone"})
                    marked.append(r["id"])
    return marked


def process_started(pid: int) -> str | None:
    """When a process started, in the kernel's clock ticks since boot (``/proc``, Linux), to tell
    a reused pid from the original; None where that is not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after "pid (comm)": field 3 onwards
    return fields[19] if len(fields) > 19 else None  # field 22: starttime


def process_alive(pid: int, started: str | None) -> bool:
    """Whether process ``pid`` (started at ``started``, when known) still runs on this host.
    Where that cannot be told (Windows, no /proc) it counts as alive: a run is never marked
    interrupted while it may still be going."""
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate it there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # it exists, but belongs to another user
    now = process_started(pid)
    return started is None or now is None or now == started


def check_recode(conn: sqlite3.Connection, wave: int | None) -> None:
    """Re-coding needs a wave with documents and a codebook to apply."""
    from ..errors import CoderAssistError

    waves = sorted({r[0] for r in conn.execute("SELECT DISTINCT wave FROM documents WHERE current = 1 AND wave IS NOT NULL")})
    if wave is not None and wave not in waves:
        raise CoderAssistError(f"wave {wave} has no documents (waves: {', '.join(map(str, waves)) or 'none'})")
    if conn.execute("SELECT 1 FROM codes WHERE active = 1 AND kind = 'initial' LIMIT 1").fetchone() is None:
        raise CoderAssistError("the codebook is empty: accept some codes first ('code', then 'review'); recode applies them")


def provenance_of(conn: sqlite3.Connection, suggestion_id: int) -> dict[str, Any]:
    """Everything recorded about how a suggestion came about."""
    row = conn.execute(
        "SELECT s.*, c.status AS call_status, c.attempts, c.input_sha256, c.context_ids, c.similar_ids,"
        " c.redacted, c.raw_response, c.prompt_tokens, c.completion_tokens, c.tokens_estimated, c.latency_ms,"
        " c.cost_usd, r.provider, r.model, r.base_host, r.prompt_id, r.prompt_version, r.prompt_sha256,"
        " r.params, r.actor, r.started_at FROM suggestions s JOIN llm_calls c ON c.id = s.call_id"
        " JOIN coding_runs r ON r.id = s.run_id WHERE s.id = ?",
        (suggestion_id,),
    ).fetchone()
    if row is None:
        raise KeyError(suggestion_id)
    out = dict(row)
    for key in ("context_ids", "similar_ids", "params"):
        out[key] = json.loads(out[key])
    return out
