"""A small OpenAI-compatible chat server for recording test cassettes (and live timeout tests).

Run it by hand with ``python -m tests.stub_server [port]``; the tests start it themselves when
recording (``VCR_RECORD_MODE=once``). Behaviour is chosen by marker words in the SEGMENT:

| marker            | first request                      | later requests            |
| ----------------- | ---------------------------------- | ------------------------- |
| (none)            | valid codes quoting the segment    | same                      |
| RATE-LIMIT        | 429 with ``Retry-After: 2``        | valid                     |
| SERVER-ERROR      | 500                                | valid                     |
| ALWAYS-FAILS      | 503                                | 503                       |
| SLOW-REPLY        | answers after 2 s (client times out) | valid                   |
| MALFORMED-JSON    | content that is not JSON           | valid (the repair)        |
| SCHEMA-INVALID    | JSON missing required fields       | same (repair fails too)   |
| HALLUCINATE       | a quote that is not in the segment | same                      |
| NO-JSON-SCHEMA    | 400 for ``response_format: json_schema``; tool calls work |  |
| NO-STRUCTURED     | 400 for json_schema and for tools; JSON mode works |          |

Theory steps answer by schema, without fault markers: CategoryProposal names a cluster after its
first code, MemoSections cites passages (one quote invented on purpose), LinkProposal picks the
construct sharing most words with the item.

Valid replies quote the segment's first six words exactly and the next words with case and
punctuation changed (a normalized match), and reuse a codebook label when the prompt has one.

The Batch API, in memory and shaped like OpenAI's (the ``openai`` client's ``files.create``,
``files.retrieve``, ``files.content``, ``batches.create/retrieve/cancel`` work against it):
``POST /v1/files`` (multipart, ``purpose=batch`` checks every line is a request),
``GET /v1/files/{id}[/content]``, ``POST /v1/batches`` (``status: validating``),
``GET /v1/batches/{id}`` (1st retrieve: ``in_progress``; 2nd: every line goes through the chat
logic above, markers included, and the batch is ``completed`` with an output file of the 200
replies and an error file of the others, e.g. ALWAYS-FAILS's 503), ``POST /v1/batches/{id}/cancel``
(``cancelling``, then ``cancelled`` on the next retrieve, no output). Ids count up per server.

``start(echo_auth=401)`` (or 403, 400, 500 ...) makes every live chat request fail with that status
and a body that echoes the request's ``Authorization`` header and key, as a careless gateway does
(live tests only: a cassette would record the key).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import Counter
from email.policy import default as email_policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = 18765
_SEGMENT = re.compile(r"SEGMENT \(speaker: [^)]*\):\n(?P<seg>.*)\Z", re.S)
_PASSAGE = re.compile(r"SEGMENTS \(speakers: [^)]*\):\n(?P<seg>.*)\Z", re.S)
_LINE = re.compile(r"\[\d+\] [^:]+: (?P<text>.*)")
_CODEBOOK = re.compile(r"Codebook so far[^\n]*\n- (?P<first>[^\n]+)")


class StubState:
    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.counter = 0
        self.latency = 0.0
        """Seconds each live chat reply takes (benchmarks: a fixed model latency)."""
        self.fault_every = 0
        """Every n-th live chat request fails once (429 with Retry-After, then 500, alternating); 0: none."""
        self.echo_auth = 0
        """Status every live chat request gets, with the Authorization header echoed; 0: normal."""
        self.chats = 0
        self.in_flight = 0
        self.peak_in_flight = 0


def _codes(segment: str, system: str) -> dict:
    words = segment.split()
    exact = " ".join(words[:6])
    tail = words[6:12] or words[:3]
    normalized = re.sub(r"[^\w\s]", "", " ".join(tail)).upper()
    reuse = _CODEBOOK.search(system)
    reused = reuse.group("first").split(":")[0].strip() if reuse and not reuse.group("first").startswith("(") else None
    return {"codes": [
        {"label": reused or "Describing the relationship", "in_vivo": False, "quote": exact,
         "rationale": "The opening words set out the situation.", "reused_code": reused},
        {"label": f"\"{' '.join(tail[:3])}\"", "in_vivo": True, "quote": normalized,
         "rationale": "The participant's own phrasing.", "reused_code": None},
    ]}  # fmt: skip


def _category(user: str) -> dict:
    """Names the cluster after its first code; properties from the code list."""
    labels = re.findall(r"^- (.+?) \(\d+\)$", user, re.M)
    return {"name": f"Living with {labels[0].lower() if labels else 'it'}", "definition": "Stub definition of the category.",
            "properties": [f"shows in: {x}" for x in labels[:3]], "dimensions": ["from occasional to constant"]}  # fmt: skip


def _memo(user: str) -> dict:
    """Cites the first words of E1 and N1 exactly, E2 with changed case, and one invented quote."""
    passages = dict(re.findall(r"^([EN]\d+) \[[^\]]*\]: (.+)$", user, re.M))
    cites = []
    for pid, transform in (("E1", str), ("E2", str.lower), ("N1", str)):
        if pid in passages:
            words = " ".join(passages[pid].split()[:7])
            cites.append({"passage": pid, "quote": transform(words), "claim": f"{pid} shows the pattern."})
    cites.append({"passage": "E1", "quote": "a sentence that nobody ever said", "claim": "An invented claim."})
    return {"definition": "Stub definition.", "properties": ["intensity: from mild to acute"],
            "comparison": "Buyers and suppliers differ.", "negative_cases": "N1 cuts the other way.",
            "citations": cites, "open_questions": ["Does it last?"], "theoretical_sampling": ["Ask finance."]}  # fmt: skip


def _link(system: str, user: str) -> dict:
    """The construct sharing most longer words with the item; null when none shares any."""
    item = user.split("ITEM:\n", 1)[-1].strip()
    words = {w for w in re.findall(r"[a-z]{5,}", item.lower())}
    best, best_n = None, 0
    for cid, text in re.findall(r"^- ([a-z0-9_]+): (.+)$", system, re.M):
        n = len(words & set(re.findall(r"[a-z]{5,}", text.lower())))
        if n > best_n:
            best, best_n = cid, n
    return {"construct_id": best, "confidence": min(1.0, best_n / 5), "rationale": f"{best_n} shared words.",
            "evidence_quote": " ".join(item.split()[-6:])}  # fmt: skip


def _completion(body: dict, payload: dict | None, content: str | None = None) -> dict:
    message: dict = {"role": "assistant", "content": content}
    if payload is not None and body.get("tools"):
        message["content"] = None
        message["tool_calls"] = [{"id": "call_1", "type": "function", "function": {
            "name": body["tools"][0]["function"]["name"], "arguments": json.dumps(payload)}}]  # fmt: skip
    elif payload is not None:
        message["content"] = json.dumps(payload)
    prompt_chars = sum(len(m.get("content") or "") for m in body.get("messages", []))
    out_chars = len(message["content"] or json.dumps(message.get("tool_calls")))
    return {
        "id": "chatcmpl-stub", "object": "chat.completion", "created": 1_700_000_000, "model": body.get("model"),
        "choices": [{"index": 0, "finish_reason": "tool_calls" if "tool_calls" in message else "stop", "message": message}],
        "usage": {"prompt_tokens": prompt_chars // 4, "completion_tokens": out_chars // 4,
                  "total_tokens": prompt_chars // 4 + out_chars // 4},
    }  # fmt: skip


def _chat_reply(state: StubState, body: dict) -> tuple[int, dict, dict[str, str] | None]:
    """One chat completion request -> (status, JSON body, headers): live and batch lines alike."""
    msgs = body.get("messages", [])
    system = next((m["content"] for m in msgs if m["role"] == "system"), "")
    user = next((m["content"] for m in msgs if m["role"] == "user"), "")
    m = _SEGMENT.search(user)
    segment = m.group("seg").strip() if m else user
    is_repair = any(m["role"] == "assistant" for m in msgs)
    with state.lock:
        key = segment + ("#repair" if is_repair else "")
        state.seen[key] += 1
        n = state.seen[key]
        state.requests.append({"segment": segment, "body": body, "n": n})
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name") or \
        ((body.get("tools") or [{}])[0].get("function") or {}).get("name")  # fmt: skip
    if schema == "CategoryProposal":  # theory steps: no fault markers
        return 200, _completion(body, _category(user)), None
    if schema == "MemoSections":
        return 200, _completion(body, _memo(user)), None
    if schema == "LinkProposal":
        return 200, _completion(body, _link(system, user)), None
    fmt = (body.get("response_format") or {}).get("type")
    if "NO-STRUCTURED" in segment and (fmt == "json_schema" or body.get("tools")):
        return 400, {"error": {"message": "this server supports neither response_format "
                               "json_schema nor tools", "type": "invalid_request_error"}}, None  # fmt: skip
    if "NO-JSON-SCHEMA" in segment and fmt == "json_schema":
        return 400, {"error": {"message": "response_format json_schema is not supported by this server",
                               "type": "invalid_request_error"}}, None  # fmt: skip
    if "RATE-LIMIT" in segment and n == 1:
        return 429, {"error": {"message": "rate limited", "type": "rate_limit"}}, {"Retry-After": "2"}
    if "SERVER-ERROR" in segment and n == 1:
        return 500, {"error": {"message": "internal error", "type": "server_error"}}, None
    if "ALWAYS-FAILS" in segment:
        return 503, {"error": {"message": "overloaded", "type": "server_error"}}, None
    if "SLOW-REPLY" in segment and n == 1:
        time.sleep(2.0)
    if "MALFORMED-JSON" in segment and not is_repair:
        return 200, _completion(body, None, '{"codes": [{"label": "Broken'), None
    if "SCHEMA-INVALID" in segment:
        return 200, _completion(body, {"codes": [{"label": "Only a label"}]}), None
    passage = _PASSAGE.search(user)
    if passage:  # several numbered segments (passage prompts): codes for each, quoting that segment
        lines = [_LINE.match(x) for x in passage.group("seg").splitlines()]
        payload = {"codes": [c for x in lines if x for c in _codes(x.group("text"), system)["codes"]]}
        return 200, _completion(body, payload), None
    payload = _codes(segment, system)
    if "HALLUCINATE" in segment:
        payload["codes"][0]["quote"] = "we signed a ten-year exclusive deal with the regulator"
    return 200, _completion(body, payload), None


def _live_chat(state: StubState, body: dict) -> tuple[int, dict, dict[str, str] | None]:
    """A live chat request: the benchmark knobs (latency, injected faults, in-flight count), then the reply."""
    with state.lock:
        state.chats += 1
        n = state.chats
        state.in_flight += 1
        state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
    try:
        if state.latency:
            time.sleep(state.latency)
        if state.fault_every and n % state.fault_every == 0:
            if (n // state.fault_every) % 2:
                return 429, {"error": {"message": "rate limited", "type": "rate_limit"}}, {"Retry-After": "0.5"}
            return 500, {"error": {"message": "internal error", "type": "server_error"}}, None
        return _chat_reply(state, body)
    finally:
        with state.lock:
            state.in_flight -= 1


# -- the Batch API (files and batches), in memory ------------------------------------------------
_T0 = 1_700_000_000
_ENDPOINTS = ("/v1/chat/completions",)


def _file_object(f: dict) -> dict:
    return {"id": f["id"], "object": "file", "bytes": len(f["content"]), "created_at": _T0, "filename": f["filename"],
            "purpose": f["purpose"], "status": "processed", "expires_at": None, "status_details": None}  # fmt: skip


def _new_file(state: StubState, filename: str, purpose: str, content: bytes) -> dict:
    with state.lock:
        state.counter += 1
        f = {"id": f"file-stub{state.counter:04d}", "filename": filename, "purpose": purpose, "content": content}
        state.files[f["id"]] = f
    return f


def _not_found(what: str) -> tuple[int, dict]:
    return 404, {"error": {"message": f"No such {what}", "type": "invalid_request_error", "code": None, "param": None}}


def _upload(state: StubState, content_type: str, raw: bytes) -> tuple[int, dict]:
    """``POST /v1/files``: a multipart form with ``purpose`` and ``file``."""
    msg = BytesParser(policy=email_policy).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in msg.iter_parts() if msg.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        fields[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
    if "file" not in fields or "purpose" not in fields:
        return 400, {"error": {"message": "'file' and 'purpose' are required", "type": "invalid_request_error"}}
    purpose = fields["purpose"][1].decode()
    content = fields["file"][1]
    if purpose == "batch":
        for i, line in enumerate(content.decode().splitlines(), 1):
            try:
                req = json.loads(line)
                assert {"custom_id", "method", "url", "body"} <= set(req)
            except (ValueError, AssertionError):
                return 400, {"error": {"message": f"line {i} is not a batch request", "type": "invalid_request_error"}}
    return 200, _file_object(_new_file(state, fields["file"][0] or "upload", purpose, content))


def _batch_object(b: dict) -> dict:
    keys = ("id", "endpoint", "input_file_id", "completion_window", "status", "output_file_id", "error_file_id",
            "created_at", "in_progress_at", "completed_at", "cancelling_at", "cancelled_at", "metadata", "request_counts")
    return {"object": "batch", "errors": None, "expires_at": _T0 + 86_400, "finalizing_at": None, "failed_at": None,
            "expired_at": None, "model": b.get("model"), **{k: b.get(k) for k in keys}}  # fmt: skip


def _batch_post(state: StubState, path: str, body: dict) -> tuple[int, dict]:
    if path == "/v1/batches":
        f = state.files.get(body.get("input_file_id") or "")
        if f is None:
            return _not_found("file")
        if body.get("endpoint") not in _ENDPOINTS or body.get("completion_window") != "24h":
            return 400, {"error": {"message": "endpoint must be /v1/chat/completions and completion_window 24h",
                                   "type": "invalid_request_error"}}  # fmt: skip
        lines = f["content"].decode().splitlines()
        with state.lock:
            state.counter += 1
            b = {"id": f"batch_stub{state.counter:04d}", "endpoint": body["endpoint"], "input_file_id": f["id"],
                 "completion_window": "24h", "status": "validating", "output_file_id": None, "error_file_id": None,
                 "created_at": _T0, "metadata": body.get("metadata"), "polls": 0,
                 "model": json.loads(lines[0])["body"].get("model") if lines else None,
                 "request_counts": {"total": len(lines), "completed": 0, "failed": 0}}  # fmt: skip
            state.batches[b["id"]] = b
        return 200, _batch_object(b)
    m = re.fullmatch(r"/v1/batches/([^/]+)/cancel", path)
    b = state.batches.get(m.group(1)) if m else None
    if b is None:
        return _not_found("batch")
    if b["status"] in ("completed", "failed", "expired", "cancelled"):
        return 409, {"error": {"message": f"Cannot cancel a batch with status '{b['status']}'.",
                               "type": "invalid_request_error"}}  # fmt: skip
    b["status"], b["cancelling_at"] = "cancelling", _T0 + 5
    return 200, _batch_object(b)


def _batch_get(state: StubState, path: str) -> tuple[int, dict] | bytes:
    m = re.fullmatch(r"/v1/files/([^/]+)(/content)?", path)
    if m:
        f = state.files.get(m.group(1))
        if f is None:
            return _not_found("file")
        return f["content"] if m.group(2) else (200, _file_object(f))
    m = re.fullmatch(r"/v1/batches/([^/]+)", path)
    b = state.batches.get(m.group(1)) if m else None
    if b is None:
        return _not_found("batch")
    b["polls"] += 1
    if b["status"] == "cancelling":
        b["status"], b["cancelled_at"] = "cancelled", _T0 + 6
    elif b["status"] == "validating":  # first retrieve: running; second: done
        b["status"], b["in_progress_at"] = "in_progress", _T0 + 1
    elif b["status"] == "in_progress":
        _run_batch(state, b)
    return 200, _batch_object(b)


def _run_batch(state: StubState, b: dict) -> None:
    """Every request line through the live chat logic; 200s to the output file, the rest to the error file."""
    out, err = [], []
    for i, line in enumerate(state.files[b["input_file_id"]]["content"].decode().splitlines(), 1):
        req = json.loads(line)
        status, obj, _ = _chat_reply(state, req["body"])
        result = {"id": f"batch_req_{i:04d}", "custom_id": req["custom_id"],
                  "response": {"status_code": status, "request_id": f"req_{i:04d}", "body": obj}, "error": None}  # fmt: skip
        (out if status == 200 else err).append(json.dumps(result) + "\n")
    if out:
        b["output_file_id"] = _new_file(state, "batch_output.jsonl", "batch_output", "".join(out).encode())["id"]
    if err:
        b["error_file_id"] = _new_file(state, "batch_errors.jsonl", "batch_output", "".join(err).encode())["id"]
    b["status"], b["completed_at"] = "completed", _T0 + 2
    b["request_counts"] = {"total": len(out) + len(err), "completed": len(out), "failed": len(err)}


def _echo_auth(state: StubState, authorization: str) -> dict:
    """A careless gateway's error body: the credentials it was sent, three ways."""
    with state.lock:
        state.chats += 1
    key = authorization.removeprefix("Bearer ")
    return {"error": {"message": f"Incorrect API key provided: {key}. Header was 'Authorization: {authorization}'.",
                      "type": "invalid_request_error", "request": {"headers": {"authorization": authorization}},
                      "api_key": key}}  # fmt: skip


def make_handler(state: StubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, obj: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out first (the SLOW-REPLY case)

        def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path.startswith(("/v1/files/", "/v1/batches/")):
                routed = _batch_get(state, path)
                if isinstance(routed, bytes):
                    return self._send_bytes(200, routed, "application/octet-stream")
                return self._send(*routed)
            if path == "/stub/stats":  # for benchmarks that run the stub in its own process
                with state.lock:
                    return self._send(200, {"chats": state.chats, "peak_in_flight": state.peak_in_flight,
                                            "messages": [r["body"].get("messages", []) for r in state.requests]})  # fmt: skip
            self._send(200, {"object": "list", "data": [{"id": "stub-model", "object": "model"}]})

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if path == "/v1/files":
                return self._send(*_upload(state, self.headers.get("Content-Type", ""), raw))
            if path.startswith("/v1/batches"):
                return self._send(*_batch_post(state, path, json.loads(raw or b"{}")))
            if state.echo_auth:
                return self._send(state.echo_auth, _echo_auth(state, self.headers.get("Authorization", "")))
            status, obj, headers = _live_chat(state, json.loads(raw or b"{}"))
            self._send(status, obj, headers)

    return Handler


def start(port: int = 0, latency: float = 0.0, fault_every: int = 0,
          echo_auth: int = 0) -> tuple[ThreadingHTTPServer, StubState]:  # fmt: skip
    """Start the stub on 127.0.0.1 in a daemon thread; port 0 picks a free one. ``latency`` and
    ``fault_every`` are for benchmarks, ``echo_auth`` for credential leaks (see :class:`StubState`)."""
    state = StubState()
    state.latency, state.fault_every, state.echo_auth = latency, fault_every, echo_auth
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="A small OpenAI-compatible stub server on 127.0.0.1.")
    ap.add_argument("port", nargs="?", type=int, default=PORT)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds per live chat reply")
    ap.add_argument("--fault-every", type=int, default=0, help="every n-th chat request fails once (429 / 500)")
    args = ap.parse_args()
    srv, _ = start(args.port, latency=args.latency, fault_every=args.fault_every)
    print(f"stub OpenAI server on http://127.0.0.1:{srv.server_address[1]}/v1", flush=True)
    threading.Event().wait()
