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
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = 18765
_SEGMENT = re.compile(r"SEGMENT \(speaker: [^)]*\):\n(?P<seg>.*)\Z", re.S)
_CODEBOOK = re.compile(r"Codebook so far[^\n]*\n- (?P<first>[^\n]+)")


class StubState:
    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.requests: list[dict] = []
        self.lock = threading.Lock()


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


def make_handler(state: StubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

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

        def do_GET(self) -> None:  # noqa: N802
            self._send(200, {"object": "list", "data": [{"id": "stub-model", "object": "model"}]})

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
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
                return self._send(200, _completion(body, _category(user)))
            if schema == "MemoSections":
                return self._send(200, _completion(body, _memo(user)))
            if schema == "LinkProposal":
                return self._send(200, _completion(body, _link(system, user)))
            fmt = (body.get("response_format") or {}).get("type")
            if "NO-STRUCTURED" in segment and (fmt == "json_schema" or body.get("tools")):
                return self._send(400, {"error": {"message": "this server supports neither response_format "
                                                  "json_schema nor tools", "type": "invalid_request_error"}})  # fmt: skip
            if "NO-JSON-SCHEMA" in segment and fmt == "json_schema":
                return self._send(400, {"error": {"message": "response_format json_schema is not supported by this server",
                                                  "type": "invalid_request_error"}})  # fmt: skip
            if "RATE-LIMIT" in segment and n == 1:
                return self._send(429, {"error": {"message": "rate limited", "type": "rate_limit"}}, {"Retry-After": "2"})
            if "SERVER-ERROR" in segment and n == 1:
                return self._send(500, {"error": {"message": "internal error", "type": "server_error"}})
            if "ALWAYS-FAILS" in segment:
                return self._send(503, {"error": {"message": "overloaded", "type": "server_error"}})
            if "SLOW-REPLY" in segment and n == 1:
                time.sleep(2.0)
            if "MALFORMED-JSON" in segment and not is_repair:
                return self._send(200, _completion(body, None, '{"codes": [{"label": "Broken'))
            if "SCHEMA-INVALID" in segment:
                return self._send(200, _completion(body, {"codes": [{"label": "Only a label"}]}))
            payload = _codes(segment, system)
            if "HALLUCINATE" in segment:
                payload["codes"][0]["quote"] = "we signed a ten-year exclusive deal with the regulator"
            return self._send(200, _completion(body, payload))

    return Handler


def start(port: int = 0) -> tuple[ThreadingHTTPServer, StubState]:
    """Start the stub on 127.0.0.1 in a daemon thread; port 0 picks a free one."""
    state = StubState()
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state


if __name__ == "__main__":
    srv, _ = start(int(sys.argv[1]) if len(sys.argv) > 1 else PORT)
    print(f"stub OpenAI server on http://127.0.0.1:{srv.server_address[1]}/v1")
    threading.Event().wait()
