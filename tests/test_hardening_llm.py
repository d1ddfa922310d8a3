"""Credentials never stored, and refused credentials fail fast (issue 12).

These run the stub server live on loopback with ``echo_auth``: every chat request fails with a
body that echoes the Authorization header and the key (a cassette would record the key).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from coder_assist import Project
from coder_assist.errors import CoderAssistError
from coder_assist.suggest.providers import AuthenticationFailed
from coder_assist.suggest.providers.openai_compat import OpenAICompatProvider
from coder_assist.suggest.secrets import MASK, safe_url, scrub

from . import stub_server

SK_KEY = "sk-proj-Leak3dKey0123456789abcdef"
GATEWAY_KEY = "gw_7f3a9c2e1b5d4e6f8a0b"  # no recognisable shape: only the exact-string rule catches it

INTERVIEW = """Interviewer: Tell me about the contract.

Priya Natarajan: When Graham arrived as CFO he asked for every invoice to be checked against the rate card.

Interviewer: And the night shift?

Tom Haverley: The engineers came out at two in the morning and fixed dock seven, and we still fined them.
"""


@pytest.fixture
def proj(tmp_path):
    p = Project.init(tmp_path / "p", coder="ann", embedder="hash")
    src = tmp_path / "interview.txt"
    src.write_text(INTERVIEW, encoding="utf-8")
    assert p.ingest([src], wave=1).ok
    yield p
    p.close()


@pytest.fixture
def stub(request):
    server, state = stub_server.start(0, echo_auth=request.param)
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    server.shutdown()
    server.server_close()


def _provider(base_url: str, key: str, **kw) -> OpenAICompatProvider:
    return OpenAICompatProvider("stub-model", base_url, api_key=key, max_attempts=3, timeout=10, concurrency=1,
                                sleep=lambda s: None, **kw)  # fmt: skip


def _assert_nowhere(p: Project, tmp_path: Path, key: str) -> None:
    """The key is in no byte of the project folder (database, WAL, anchor) nor in the audit export."""
    p.conn.execute("PRAGMA wal_checkpoint(FULL)")
    for f in p.root.rglob("*"):
        if f.is_file():
            assert key.encode() not in f.read_bytes(), f
    out = tmp_path / "audit.jsonl"
    p.export_audit(out)
    assert key not in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("stub", [401, 403], indirect=True)
@pytest.mark.parametrize("key", [SK_KEY, GATEWAY_KEY])
def test_refused_credentials_fail_fast_without_the_key(proj, stub, key, tmp_path):
    base_url, state = stub
    with pytest.raises(AuthenticationFailed) as err:
        proj.code(provider=_provider(base_url, key))
    message = str(err.value)
    status = state.echo_auth
    assert message == (f"{base_url}: authentication failed ({status}); check the API key (OPENAI_API_KEY) for this endpoint")
    assert isinstance(err.value, CoderAssistError) and key not in message
    assert state.chats == 1  # not retried, and no further segment was tried
    run = proj.conn.execute("SELECT status FROM coding_runs").fetchone()
    assert run["status"] == "interrupted"
    assert proj.conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == 0
    _assert_nowhere(proj, tmp_path, key)


@pytest.mark.parametrize("stub", [400, 500], indirect=True)
@pytest.mark.parametrize("key", [SK_KEY, GATEWAY_KEY])
def test_echoed_key_is_scrubbed_from_stored_errors_and_replies(proj, stub, key, tmp_path):
    base_url, state = stub
    report = proj.code(provider=_provider(base_url, key))
    assert report.failed == 2 and report.coded == 0
    assert state.chats == (6 if state.echo_auth == 500 else 2)  # a 5xx is retried (3 attempts), a 400 is not
    rows = proj.conn.execute("SELECT error, raw_response FROM llm_calls").fetchall()
    assert len(rows) == 2
    for r in rows:
        assert r["error"].startswith(f"HTTP {state.echo_auth}: ") and MASK in r["error"], r["error"]
        assert MASK in r["raw_response"] and "Bearer [REDACTED]" in r["raw_response"]
    _assert_nowhere(proj, tmp_path, key)


@pytest.mark.parametrize("stub", [400], indirect=True)
def test_structured_steps_scrub_the_error_too(proj, stub, tmp_path):
    """Categorize and memo drafts go through ``StructuredCaller``: the stored failure is scrubbed."""
    base_url, _ = stub
    for seg, label in zip(proj.segments(), ("Checking invoices", "Checking invoice lines")):
        proj.apply_code(label, seg["id"])
    proj.categorize(threshold=0.9, provider=_provider(base_url, GATEWAY_KEY))
    rows = proj.category_suggestion_rows()
    assert rows and all(MASK in r["properties"]["llm_error"] for r in rows), rows
    proj.decide_category(rows[0]["id"], "accept")
    name = proj.conn.execute("SELECT name FROM categories").fetchone()[0]
    with pytest.raises(CoderAssistError, match="the model did not draft the memo: HTTP 400") as err:
        proj.draft_memo(category=name, provider=_provider(base_url, GATEWAY_KEY))
    assert GATEWAY_KEY not in str(err.value) and MASK in str(err.value)
    _assert_nowhere(proj, tmp_path, GATEWAY_KEY)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.DEF-123_xyz", "Authorization: Bearer [REDACTED]"),
        ("auth basic dXNlcjpwYXNz", "auth basic [REDACTED]"),
        ("Incorrect API key provided: sk-ant-api03-AbCdEf012345", "Incorrect API key provided: [REDACTED]"),
        ('{"api_key": "k-123456", "model": "m"}', '{"api_key": "[REDACTED]", "model": "m"}'),
        ("url?api-key=k123456&x=1", "url?api-key=[REDACTED]&x=1"),
        ("{'x-api-key': 'zzz'}", "{'x-api-key': '[REDACTED]'}"),
        ("access_token=tok password: hunter2", "access_token=[REDACTED] password: [REDACTED]"),
        ("basic training for the bearer cheque desk", "basic training for the bearer cheque desk"),
    ],
)
def test_scrub_patterns(text, expected):
    assert scrub(text) == expected


def test_scrub_exact_keys_only_when_long_enough():
    assert scrub("key gw_7f3a9c2e1b5d4e6f8a0b here", [GATEWAY_KEY, None]) == "key [REDACTED] here"
    assert scrub("the word short stays", ["short"]) == "the word short stays"
    assert scrub(None, [GATEWAY_KEY]) is None


def test_safe_url_drops_credentials_and_query():
    assert safe_url("https://user:pw@gw.example.org:8443/v1?api-key=k#f") == "https://gw.example.org:8443/v1"
    assert safe_url("http://[::1]:8000/v1") == "http://[::1]:8000/v1"
