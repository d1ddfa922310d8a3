"""The ``openai`` embedder against a loopback OpenAI-compatible /embeddings endpoint."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from coder_assist import HashEmbedder, OpenAIEmbedder


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        vecs = HashEmbedder(8).embed(body["input"]) * 3.0  # deliberately not unit length
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vecs)]
        payload = json.dumps({"object": "list", "data": data[::-1], "model": body["model"],
                              "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.requests = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def test_openai_embedder_batches_orders_and_normalises(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    e = OpenAIEmbedder(model="nomic-embed-text", base_url=server, batch_size=2)
    texts = ["supplier was late", "the CFO asked for numbers", "gain-share model"]
    vecs = e.embed(texts)
    assert e.name == "openai:nomic-embed-text" and vecs.shape == (3, 8)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0)
    assert np.allclose(vecs, HashEmbedder(8).embed(texts))  # order restored from "index"
    assert [len(r["body"]["input"]) for r in _Handler.requests] == [2, 1]
    assert all(r["path"] == "/v1/embeddings" and r["auth"] == "Bearer sk-test" for r in _Handler.requests)
    assert e.dimension == 8
