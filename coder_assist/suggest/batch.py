"""Initial coding through an OpenAI-compatible Batch API (``coder-assist code --batch``).

``submit`` renders each segment's prompt exactly as the live run would (``CodingRun.build_input``,
redaction included), turns it into the very request body the live provider sends (model,
messages, temperature, seed, the strict ``json_schema`` response format), uploads the JSON lines,
creates the batch and records it in ``batches`` with a ``coding_runs`` row and an audit event,
in one transaction. The batch id is stored, so ``status``, ``collect`` and ``cancel`` work from
another process or the next day.

``collect`` downloads a finished batch's output and error files, maps each line back to its
segment by ``custom_id`` (the segment id), parses the reply with the live provider's parser and
stores each segment through ``CodingRun._store`` under the batch's work key, one transaction per
segment. A segment already ``ok`` under that key is skipped, so collecting again (after a crash,
a SIGKILL, or just twice) loses nothing and duplicates nothing. Error lines, unparsable replies
(a batch gets no repair request) and requests the batch never ran become failed calls, which the
next ``code`` or ``code --batch`` picks up again. Results share the live run's work key, so live
and batch coding of the same work never code a segment twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import CoderAssistError
from ..store import audit
from ..store import queries
from ..store.queries import pending_segments
from ..store.db import transaction, utcnow
from .coding import CodingRun, RunReport, check_recode, select_segments
from .providers import AuthenticationFailed, CodeProposal, CodingInput, Provider, ProviderReply, SimilarSegment, Usage
from .redact import Redactor
from .secrets import known_keys, scrub

if TYPE_CHECKING:
    from ..progress import Progress
    from ..store.context import StoreContext
    from ..store.vectors import Vectors

ENDPOINT = "/v1/chat/completions"
WINDOW = "24h"
DISCOUNT = 0.5
#: The Batch API's limits per batch (OpenAI: 50,000 requests, an input file of 200 MB); a larger
#: submission is split into several batches, each recorded as soon as it is created.
MAX_REQUESTS = 50_000
MAX_BYTES = 190_000_000  # under 200 MB, with room for the multipart envelope
"""Batch requests cost half the live price (OpenAI's Batch API pricing)."""
ACTIVE = queries.BATCH_ACTIVE
"""Remote states that can still change."""
PENDING = queries.BATCH_PENDING
"""A batch in one of these states, not yet collected, holds its segments: submit skips them."""
T = TypeVar("T")


class BatchError(CoderAssistError):
    """No such batch, a provider without a batch API, or the batch API refused a request."""


@dataclass
class BatchReport:
    """What ``submit`` sent."""

    batch_id: str | None
    """The first (often the only) batch sent."""
    run_id: str | None
    provider: str
    model: str
    status: str | None = None
    selected: int = 0
    skipped_done: int = 0
    skipped_pending: int = 0
    input_file_id: str | None = None
    redacted: bool = False
    warnings: list[str] = field(default_factory=list)
    batch_ids: list[str] = field(default_factory=list)
    """Every batch sent: more than one when the segments exceed a batch's limits."""


@dataclass
class CollectReport:
    """What ``collect`` stored: batches collected now, those still running, and the coding totals."""

    collected: list[str] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    skipped_done: int = 0
    coding: RunReport | None = None


class BatchRun(CodingRun):
    """A coding run whose replies come from a batch: the batch's work key and model, half the price."""

    def __init__(self, store: StoreContext, vectors: Vectors, provider: Provider, actor: str, key: str | None = None,
                 model: str | None = None, apply_codebook: bool = False) -> None:  # fmt: skip
        super().__init__(store, vectors, provider, actor, apply_codebook=apply_codebook, per_call=1)  # one line per segment
        self.key = key or self.key
        self.model = model or provider.model

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if not self.provider.remote:
            return 0.0
        price = self.cfg.prices.get(self.model)
        if price is None:
            return None
        return round((prompt_tokens * price[0] + completion_tokens * price[1]) * DISCOUNT / 1e6, 6)


# -- the request ----------------------------------------------------------------------------------
def supports_batches(provider: Provider) -> bool:
    from .providers.openai_compat import OpenAICompatProvider

    return isinstance(provider, OpenAICompatProvider)


def request_body(provider: Any, system: str, user: str) -> dict[str, Any]:
    """The chat completion body the live provider sends for this prompt (through the same
    LangChain binding), minus ``stream``, which a batch line does not take."""
    method = provider.method
    bound = provider._bound(method)
    body = bound.bound._get_request_payload(provider._messages(system, user, method), **bound.kwargs)
    body.pop("stream", None)
    return body


def _client(provider: Provider) -> Any:
    if not supports_batches(provider):
        raise BatchError(f"provider {provider.name!r} has no batch API; batches need an OpenAI-compatible "
                         "endpoint (--provider openai)")  # fmt: skip
    import openai

    p: Any = provider
    return openai.OpenAI(base_url=p.base_url, api_key=p.api_key, timeout=p.timeout, max_retries=2)


def _api(what: str, call: Callable[[], T]) -> T:
    """One batch API call; its faults become one-line errors."""
    import openai

    try:
        return call()
    except openai.APIStatusError as exc:
        if exc.status_code in (401, 403):
            raise AuthenticationFailed(f"{what}: authentication failed ({exc.status_code}); check the API key "
                                       "(OPENAI_API_KEY) for this endpoint") from None  # fmt: skip
        message = ((exc.body or {}).get("message") if isinstance(exc.body, dict) else None) or str(exc)
        raise BatchError(f"{what}: HTTP {exc.status_code}: {scrub(' '.join(str(message).split()), known_keys())[:300]}") from None
    except openai.APIError as exc:
        raise BatchError(f"{what}: {scrub(' '.join(str(exc).split()), known_keys())[:300]}") from None


# -- stored batches -------------------------------------------------------------------------------
def rows(conn: sqlite3.Connection, batch_id: str | None = None) -> list[dict[str, Any]]:
    """Stored batches, newest first (one, when ``batch_id`` is given)."""
    if batch_id is not None:
        found = conn.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchall()
        if not found:
            raise BatchError(f"no batch {batch_id!r} in this project (see 'coder-assist batches status')")
    else:
        found = conn.execute("SELECT * FROM batches ORDER BY created_at DESC, id DESC").fetchall()
    out = []
    for r in found:
        d = dict(r)
        d["segment_ids"], d["counts"] = json.loads(d["segment_ids"]), json.loads(d["counts"])
        d.pop("inputs"), d.pop("redaction")
        out.append(d)
    return out


def _row(conn: sqlite3.Connection, batch_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
    if row is None:
        raise BatchError(f"no batch {batch_id!r} in this project (see 'coder-assist batches status')")
    return row


def _same_host(row: sqlite3.Row, provider: Provider) -> None:
    if row["base_host"] != provider.base_host:
        raise BatchError(f"batch {row['id']} was submitted to {row['base_host']}, not {provider.base_host} "
                         "(give its endpoint with --base-url)")  # fmt: skip


def _refresh(conn: sqlite3.Connection, client: Any, row: sqlite3.Row, actor: str) -> sqlite3.Row:
    """The batch's state from the API, stored; an audit event when its status changed."""
    b = _api(f"batch {row['id']}", lambda: client.batches.retrieve(row["id"]))
    counts = b.request_counts.model_dump() if b.request_counts is not None else json.loads(row["counts"])
    changed = (b.status, b.output_file_id, b.error_file_id) != (row["status"], row["output_file_id"], row["error_file_id"])
    if changed or counts != json.loads(row["counts"]):
        with transaction(conn):
            conn.execute("UPDATE batches SET status = ?, output_file_id = ?, error_file_id = ?, counts = ?, updated_at = ?"
                         " WHERE id = ?", (b.status, b.output_file_id, b.error_file_id, json.dumps(counts), utcnow(),
                                           row["id"]))  # fmt: skip
            if b.status != row["status"]:
                audit.append(conn, actor, "batch-status", {"batch_id": row["id"], "run_id": row["run_id"],
                                                           "from": row["status"], "to": b.status, "counts": counts})  # fmt: skip
    return conn.execute("SELECT * FROM batches WHERE id = ?", (row["id"],)).fetchone()


# -- submit, status, collect, cancel --------------------------------------------------------------
def submit(
    store: StoreContext, vectors: Vectors, provider: Provider, actor: str, *, wave: int | None = None,
    source: str | None = None, limit: int | None = None, apply_codebook: bool = False,
) -> BatchReport:  # fmt: skip
    """Send the segments still to code (not ``ok`` under the work key, not held by a pending batch
    of it) as one batch, or several when they exceed a batch's limits (``MAX_REQUESTS``,
    ``MAX_BYTES``); each is recorded as soon as it is created, so a failure part-way leaves the
    rest to the next submit. Nothing is sent, and nothing written, when there is nothing to code.
    ``apply_codebook``: the codebook-application prompt of ``recode`` (the codebook in the work key)."""
    client = _client(provider)
    conn = store.conn
    if apply_codebook:
        check_recode(conn, wave)
    run = BatchRun(store, vectors, provider, actor, apply_codebook=apply_codebook)
    report = BatchReport(None, None, provider.name, provider.model, redacted=run.redactor is not None)
    segments = select_segments(conn, wave=wave, source=source, include_researchers=store.config.coding.include_researchers)
    done = {r[0] for r in conn.execute("SELECT segment_id FROM llm_calls WHERE work_key = ? AND status = 'ok'", (run.key,))}
    held = pending_segments(conn, run.key)
    todo = [s for s in segments if s["id"] not in done and s["id"] not in held]
    report.skipped_done = sum(s["id"] in done for s in segments)
    report.skipped_pending = sum(s["id"] in held and s["id"] not in done for s in segments)
    todo = todo[:limit] if limit is not None else todo
    report.selected = len(todo)
    if provider.remote and run.redactor is None:
        report.warnings.append(f"sending unredacted interview text to {provider.base_host} (privacy.redact = "
                               f"{store.config.privacy.redact!r})")  # fmt: skip
    if not todo:
        return report
    codebook, has_codings = run._codebook(), queries.has_codings(conn)
    lines, inputs = [], {}
    for seg in todo:
        item, context_ids = run.build_input(seg, codebook, has_codings)
        body = request_body(provider, item.system, item.user)
        lines.append(json.dumps({"custom_id": seg["id"], "method": "POST", "url": ENDPOINT, "body": body}, ensure_ascii=False))
        inputs[seg["id"]] = {"context_ids": context_ids, "similar_ids": [s.segment_id for s in item.similar]}
    for part in _parts([(seg["id"], (line + "\n").encode("utf-8")) for seg, line in zip(todo, lines)]):
        batch_id, run_id, batch_status, file_id = _send(store, client, run, provider, actor, part, inputs, wave, source)
        report.batch_ids.append(batch_id)
        if report.batch_id is None:
            report.batch_id, report.run_id, report.status, report.input_file_id = batch_id, run_id, batch_status, file_id
    return report


def _parts(lines: list[tuple[str, bytes]]) -> list[list[tuple[str, bytes]]]:
    """``(segment id, JSONL line)`` pairs cut into batches within ``MAX_REQUESTS`` and ``MAX_BYTES``."""
    parts: list[list[tuple[str, bytes]]] = [[]]
    size = 0
    for sid, line in lines:
        if len(line) > MAX_BYTES:
            raise BatchError(f"segment {sid}: its request alone is over the Batch API's {MAX_BYTES:,} bytes per input file")
        if parts[-1] and (len(parts[-1]) >= MAX_REQUESTS or size + len(line) > MAX_BYTES):
            parts.append([])
            size = 0
        parts[-1].append((sid, line))
        size += len(line)
    return parts


def _send(store: StoreContext, client: Any, run: BatchRun, provider: Provider, actor: str,
          part: list[tuple[str, bytes]], inputs: dict[str, Any], wave: int | None, source: str | None) -> tuple[str, str, str, str]:  # fmt: skip
    """Upload one batch's input, create the batch and record it (its coding run, row and audit
    event) in one transaction; returns its id, run id, status and input file id."""
    conn = store.conn
    data = b"".join(line for _, line in part)
    ids = [sid for sid, _ in part]
    uploaded = _api("uploading the batch input", lambda: client.files.create(
        file=(f"coder-assist-{run.key}.jsonl", data, "application/jsonl"), purpose="batch"))  # fmt: skip
    batch = _api("creating the batch", lambda: client.batches.create(
        input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window=WINDOW,
        metadata={"coder_assist_work_key": run.key}))  # fmt: skip
    run_id, now = uuid.uuid4().hex, utcnow()
    redactor = run.redactor
    redaction = {"applied": redactor is not None, "mode": store.config.privacy.redact,
                 "identifiers": redactor.summary() if redactor else {}}  # fmt: skip
    stored_redaction = {"applied": redactor is not None, "placeholders": dict(redactor._back) if redactor else {}}
    counts = batch.request_counts.model_dump() if batch.request_counts is not None else {"total": len(ids)}
    with transaction(conn):
        run.record_run(run_id, "batch", {"segments": len(ids), "batch_id": batch.id, "wave": wave, "source": source},
                       redaction, now)  # fmt: skip
        conn.execute(
            "INSERT INTO batches (id, work_key, run_id, actor, provider, model, base_host, prompt_id, prompt_version,"
            " prompt_sha256, endpoint, input_file_id, segment_ids, inputs, redaction, status, output_file_id,"
            " error_file_id, counts, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (batch.id, run.key, run_id, actor, provider.name, provider.model, provider.base_host, run.prompt_id,
             run.prompt_version, run.prompt_sha, ENDPOINT, uploaded.id, json.dumps(ids),
             json.dumps({sid: inputs[sid] for sid in ids}), json.dumps(stored_redaction, ensure_ascii=False),
             batch.status, batch.output_file_id, batch.error_file_id, json.dumps(counts), now, now),
        )  # fmt: skip
        audit.append(conn, actor, "batch-submit", {
            "batch_id": batch.id, "run_id": run_id, "provider": provider.name, "model": provider.model,
            "base_host": provider.base_host, "prompt_id": run.prompt_id, "prompt_sha256": run.prompt_sha,
            "params": provider.params(), "segments": len(ids), "input_file_id": uploaded.id,
            "input_sha256": hashlib.sha256(data).hexdigest(), "redaction": redaction,
        })  # fmt: skip
    return batch.id, run_id, batch.status, uploaded.id


def status(store: StoreContext, provider: Provider, actor: str, batch_id: str | None = None) -> list[dict[str, Any]]:
    """Stored batches, the running ones (at this provider's host) refreshed from the API."""
    client = _client(provider)
    conn = store.conn
    targets = [_row(conn, batch_id)] if batch_id is not None else conn.execute("SELECT * FROM batches").fetchall()
    if batch_id is None and not targets:
        raise BatchError("no batches in this project (submit one with 'coder-assist code --batch')")
    if batch_id is not None:
        _same_host(targets[0], provider)
    for row in targets:
        if row["status"] in ACTIVE and row["collected_at"] is None and row["base_host"] == provider.base_host:
            _refresh(conn, client, row, actor)
    return rows(conn, batch_id)


def collect(
    store: StoreContext, vectors: Vectors, provider: Provider, actor: str, batch_id: str | None = None,
    progress: Progress | None = None,
) -> CollectReport:  # fmt: skip
    """Store the results of finished batches (all not yet collected, or ``batch_id``, again if
    need be). Batches still running are refreshed and listed in ``pending``."""
    from ..progress import NoProgress

    client = _client(provider)
    conn = store.conn
    if batch_id is not None:
        targets = [_row(conn, batch_id)]
        _same_host(targets[0], provider)
    else:
        if conn.execute("SELECT 1 FROM batches LIMIT 1").fetchone() is None:
            raise BatchError("no batches in this project (submit one with 'coder-assist code --batch')")
        targets = [r for r in conn.execute("SELECT * FROM batches WHERE collected_at IS NULL ORDER BY created_at, id")
                   if r["base_host"] == provider.base_host]  # fmt: skip
    report = CollectReport(coding=RunReport(None, provider.name, provider.model))
    progress = progress or NoProgress()
    for row in targets:
        if row["status"] in ACTIVE:
            row = _refresh(conn, client, row, actor)
        if row["status"] in ACTIVE:
            report.pending.append({"id": row["id"], "status": row["status"], "counts": json.loads(row["counts"])})
            continue
        _collect_one(store, vectors, provider, actor, client, row, report, progress)
        report.collected.append(row["id"])
    return report


def _collect_one(store: StoreContext, vectors: Vectors, provider: Provider, actor: str, client: Any,
                 row: sqlite3.Row, report: CollectReport, progress: Progress) -> None:  # fmt: skip
    conn = store.conn
    lines: dict[str, dict[str, Any]] = {}
    for file_id in (row["output_file_id"], row["error_file_id"]):
        if file_id:
            text = _api(f"downloading {file_id}", lambda: client.files.content(file_id).text)
            for line in text.splitlines():
                if line.strip():
                    obj = json.loads(line)
                    lines[obj["custom_id"]] = obj
    run = BatchRun(store, vectors, provider, actor, key=row["work_key"], model=row["model"])
    stored = json.loads(row["redaction"])
    if stored.get("applied"):  # the placeholders the sent text used, so the replies can be restored
        run.redactor = run.redactor or Redactor(patterns={})
        run.redactor._back.update(stored["placeholders"])
    else:
        run.redactor = None
    inputs = json.loads(row["inputs"])
    seg_ids = json.loads(row["segment_ids"])
    assert report.coding is not None
    progress.begin("collecting", len(seg_ids))
    try:
        for seg_id in seg_ids:
            if _is_done(conn, seg_id, row["work_key"]):  # per segment: another process may be collecting too
                report.skipped_done += 1
                progress.advance()
                continue
            seg = _segment(conn, seg_id)
            if seg is None:  # pragma: no cover - segments are never deleted
                continue
            given = inputs.get(seg_id, {})
            item = CodingInput(seg_id, seg["text"], seg["speaker"], seg["source"], "",
                               [SimilarSegment(i, "", [], 0.0) for i in given.get("similar_ids", [])], [])  # fmt: skip
            try:
                run._store(row["run_id"], seg, item, given.get("context_ids", []),
                           reply_of(lines.get(seg_id), row["status"]), report.coding)  # fmt: skip
            except sqlite3.IntegrityError:
                if not _is_done(conn, seg_id, row["work_key"]):
                    raise
                report.skipped_done += 1  # stored by a concurrent collect in between: UNIQUE (segment, work key)
            progress.advance()
    finally:
        progress.end()
    calls = dict(conn.execute("SELECT status, count(*) FROM llm_calls WHERE run_id = ? GROUP BY status", (row["run_id"],)).fetchall())
    n_sugg = conn.execute("SELECT count(*) FROM suggestions WHERE run_id = ?", (row["run_id"],)).fetchone()[0]
    counts = {"coded": calls.get("ok", 0), "failed": calls.get("failed", 0), "suggestions": n_sugg}
    with transaction(conn):
        now = utcnow()
        first = conn.execute("UPDATE batches SET collected_at = ?, updated_at = ? WHERE id = ? AND collected_at IS NULL",
                             (now, now, row["id"])).rowcount  # fmt: skip
        conn.execute("UPDATE coding_runs SET status = ?, counts = ?, finished_at = ? WHERE id = ?",
                     ("finished", json.dumps(counts), now, row["run_id"]))  # fmt: skip
        audit.append(conn, actor, "batch-collect", {"batch_id": row["id"], "run_id": row["run_id"], "status": row["status"],
                                                    "again": not first, **counts})  # fmt: skip


def _is_done(conn: sqlite3.Connection, seg_id: str, key: str) -> bool:
    return conn.execute("SELECT 1 FROM llm_calls WHERE segment_id = ? AND work_key = ? AND status = 'ok'",
                        (seg_id, key)).fetchone() is not None  # fmt: skip


def _segment(conn: sqlite3.Connection, seg_id: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT s.id, s.text, s.speaker, s.start, s.end, s.turn_id, d.id AS document_id, d.name AS source"
        " FROM segments s JOIN documents d ON d.id = s.document_id WHERE s.id = ?", (seg_id,)).fetchone()  # fmt: skip


def reply_of(line: dict[str, Any] | None, batch_status: str) -> ProviderReply:
    """One output or error line as the live provider's reply: parsed with its parser, or an error."""
    from langchain_openai.chat_models.base import _convert_dict_to_message

    from .providers.openai_compat import _parse, _raw_text

    if line is None:
        return ProviderReply(None, "", Usage(), 0, 0, f"no result: the batch ended {batch_status} before this request")
    response = line.get("response") or {}
    body, code = response.get("body"), response.get("status_code")
    if line.get("error") or code != 200 or not isinstance(body, dict) or not body.get("choices"):
        err = line.get("error") or ((body or {}).get("error") if isinstance(body, dict) else None) or {}
        message = " ".join(str(err.get("message") or body or "no reply").split())[:300]
        where = f"HTTP {code}" if code else f"batch error {err.get('code') or ''}".strip()
        return ProviderReply(None, json.dumps(line, ensure_ascii=False), Usage(), 0, 1, f"{where}: {message}")
    usage = Usage(int((body.get("usage") or {}).get("prompt_tokens") or 0),
                  int((body.get("usage") or {}).get("completion_tokens") or 0))  # fmt: skip
    message = _convert_dict_to_message(body["choices"][0]["message"])
    raw = _raw_text(message)
    parsed, problem = _parse(message, raw, CodeProposal)
    if parsed is None:
        return ProviderReply(None, raw, usage, 0, 1, f"invalid output (a batch makes no repair request): {problem}")
    return ProviderReply(parsed, raw, usage, 0, 1)  # type: ignore[arg-type]


def cancel(store: StoreContext, provider: Provider, actor: str, batch_id: str) -> dict[str, Any]:
    """Ask the API to cancel a running batch; collect it afterwards for any finished requests."""
    client = _client(provider)
    conn = store.conn
    row = _row(conn, batch_id)
    _same_host(row, provider)
    if row["status"] not in ACTIVE or row["collected_at"] is not None:
        raise BatchError(f"batch {batch_id} is {row['status']}{' and collected' if row['collected_at'] else ''}; "
                         "only a running batch can be cancelled")  # fmt: skip
    b = _api(f"cancelling batch {batch_id}", lambda: client.batches.cancel(batch_id))
    with transaction(conn):
        conn.execute("UPDATE batches SET status = ?, updated_at = ? WHERE id = ?", (b.status, utcnow(), batch_id))
        audit.append(conn, actor, "batch-cancel", {"batch_id": batch_id, "run_id": row["run_id"], "from": row["status"],
                                                   "to": b.status})  # fmt: skip
    return rows(conn, batch_id)[0]
