"""Human decisions: the only way into the codebook; undo, conflicts, bulk, trace, concurrency."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from coder_assist import Project
from coder_assist.review.decisions import Conflict
from coder_assist.errors import CoderAssistError
from coder_assist.suggest.providers import CodingInput

from .conftest import FIXTURES, ROOT


@pytest.fixture
def coded(tmp_path):
    """Fixture wave 2, coded offline; the project's default coder is unset on purpose."""
    p = Project.init(tmp_path / "p", embedder="hash")
    p.ingest([FIXTURES / "wave2"], wave=2, attributes=FIXTURES / "participants.csv")
    p.code()
    yield p
    p.close()


def _open_ids(p: Project, n: int = 5) -> list[int]:
    return [r["id"] for r in p.suggestion_rows(status="proposed")[:n]]


def test_accept_creates_code_and_coding_on_the_quote(coded):
    sid = _open_ids(coded)[0]
    s = coded.suggestion_rows(ids=[sid])[0]
    [d] = coded.accept(sid, coder="ann")
    assert (d.action, d.from_status, d.to_status, d.coder) == ("accept", "proposed", "accepted", "ann")
    coding = dict(coded.conn.execute("SELECT * FROM codings WHERE id = ?", (d.coding_id,)).fetchone())
    assert (coding["start"], coding["end"], coding["suggestion_id"]) == (s["start"], s["end"], sid)
    assert coded.code_rows()[0]["label"] == s["label"]
    event = coded.audit_log(type_="decision")[-1]
    assert event["actor"] == "ann" and event["payload"]["suggestion_id"] == sid


def test_a_decision_needs_a_named_coder(coded, monkeypatch):
    monkeypatch.delenv("CODER_ASSIST_CODER", raising=False)
    with pytest.raises(CoderAssistError, match="needs a named coder"):
        coded.accept(_open_ids(coded)[0])
    monkeypatch.setenv("CODER_ASSIST_CODER", "bea")
    assert coded.accept(_open_ids(coded)[0])[0].coder == "bea"


def test_second_coder_gets_a_conflict_not_an_overwrite(coded):
    sid = _open_ids(coded)[0]
    other = Project.open(coded.root, embedder=coded.embedder)  # another notebook, another connection
    seen = other.suggestion_rows(ids=[sid])[0]["version"]
    coded.accept(sid, coder="ann")
    with pytest.raises(Conflict, match=r"already accepted by ann"):
        other.reject(sid, coder="bea")
    from coder_assist.review.decisions import decide

    with pytest.raises(Conflict, match="changed since you saw it by ann"):
        decide(other.conn, sid, "reject", "bea", expected_version=seen)
    assert coded.suggestion_rows(ids=[sid])[0]["status"] == "accepted"
    other.close()


def test_edit_label_and_span_merge_reject_defer(coded):
    a, b, c, d, e = _open_ids(coded)
    seg_b = coded.conn.execute("SELECT * FROM segments WHERE id = (SELECT segment_id FROM suggestions WHERE id = ?)", (b,)).fetchone()
    coded.edit(a, label="Questioning the supplier's figures", coder="ann")
    words = " ".join(seg_b["text"].split()[:3])
    coded.edit(b, label="Opening up", span=words, coder="ann")
    coding_b = coded.conn.execute("SELECT start, end FROM codings WHERE suggestion_id = ?", (b,)).fetchone()
    doc = coded.conn.execute("SELECT text FROM documents WHERE id = ?", (seg_b["document_id"],)).fetchone()[0]
    assert doc[coding_b[0] : coding_b[1]] == words
    coded.merge(c, "Opening up", coder="ann")
    coded.reject(d, coder="ann", note="too generic")
    coded.defer(e, coder="ann")
    status = {r["id"]: r["status"] for r in coded.suggestion_rows(ids=[a, b, c, d, e])}
    assert status == {a: "edited", b: "edited", c: "merged", d: "rejected", e: "deferred"}
    opening = next(x for x in coded.code_rows() if x["label"] == "Opening up")
    assert opening["codings"] == 2 and opening["by_wave"] == {"2": 2}
    assert coded.accept(e, coder="ann")[0].from_status == "deferred"  # a deferred one can be decided later
    with pytest.raises(CoderAssistError, match="no active code"):
        coded.merge(_open_ids(coded)[0], "Nonexistent", coder="ann")
    with pytest.raises(CoderAssistError, match="not in segment"):
        coded.edit(_open_ids(coded)[0], span="words that are nowhere", coder="ann")
    whole = coded.edit(_open_ids(coded)[0], span="*", coder="ann")
    seg = coded.conn.execute("SELECT s.start, s.end FROM segments s JOIN codings g ON g.segment_id = s.id WHERE g.id = ?",
                             (whole.coding_id,)).fetchone()  # fmt: skip
    assert tuple(coded.conn.execute("SELECT start, end FROM codings WHERE id = ?", (whole.coding_id,)).fetchone()) == tuple(seg)


def test_undo_reverses_without_deleting(coded):
    sid = _open_ids(coded)[0]
    d = coded.accept(sid, coder="ann")[0]
    u = coded.undo(coder="ann")
    assert (u.action, u.from_status, u.to_status) == ("undo", "accepted", "proposed")
    assert coded.code_rows() == []  # the code it created has no coding left
    assert coded.conn.execute("SELECT active FROM codings WHERE id = ?", (d.coding_id,)).fetchone()[0] == 0
    assert coded.conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == 2  # nothing deleted
    with pytest.raises(Conflict, match="already undone"):
        coded.undo(d.id, coder="ann")
    with pytest.raises(CoderAssistError, match="no decision to undo"):
        coded.undo(coder="ann")
    coded.reject(sid, coder="bea")  # decided again after the undo
    assert coded.suggestion_rows(ids=[sid])[0]["status"] == "rejected"
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        coded.conn.execute("DELETE FROM decisions")


def test_ungrounded_suggestions_are_never_one_click(tmp_path):
    from .test_coding_llm import INTERVIEW  # a HALLUCINATE segment, coded through the cassette
    from .test_coding_llm import PARTICIPANTS, provider, recorder  # noqa: F401

    p = Project.init(tmp_path / "p", embedder="hash")
    src = tmp_path / "nw-interview.txt"
    src.write_text(INTERVIEW, encoding="utf-8")
    csv = tmp_path / "participants.csv"
    csv.write_text(PARTICIPANTS, encoding="utf-8")
    p.ingest([src], wave=1, attributes=csv)
    # Make an ungrounded suggestion the way the engine does (engine tables are open to it).
    seg = p.segments()[1]
    p.conn.execute("INSERT INTO coding_runs (id, work_key, actor, provider, model, prompt_id, prompt_version, prompt_sha256,"
                   " params, redaction, selection, status, started_at) VALUES ('r', 'k', 'x', 'openai', 'm', 'p', '1', 's',"
                   " '{}', '{}', '{}', 'finished', 't')")  # fmt: skip
    p.conn.execute("INSERT INTO llm_calls (run_id, segment_id, work_key, status, attempts, input_sha256, context_ids,"
                   " similar_ids, redacted, tokens_estimated, created_at) VALUES ('r', ?, 'k', 'ok', 1, 'h', '[]', '[]', 0, 0, 't')",
                   (seg["id"],))  # fmt: skip
    sid = p.conn.execute("INSERT INTO suggestions (call_id, run_id, segment_id, kind, label, in_vivo, quote, grounding,"
                         " grounding_score, rationale, status, created_at) VALUES (1, 'r', ?, 'initial-code', 'Inventing',"
                         " 0, 'never said', 'ungrounded', 0, 'x', 'ungrounded', 't')", (seg["id"],)).lastrowid  # fmt: skip
    with pytest.raises(Conflict, match="ungrounded"):
        p.accept(sid, coder="ann")
    assert p.bulk_preview("status=ungrounded", "accept") == []
    d = p.edit(sid, span="*", coder="ann")  # the coder gives it a real span: now it is grounded by a person
    assert d.to_status == "edited"
    p.close()


def test_bulk_accept_preview_and_all_or_nothing(coded):
    preview = coded.bulk_preview("provider=offline and side=supplier and in_vivo=true", "accept")
    assert preview and all(r["side"] == "supplier" and r["in_vivo"] for r in preview)
    first = preview[0]["id"]
    coded.reject(first, coder="bea")
    preview = coded.bulk_preview("provider=offline and side=supplier and in_vivo=true", "accept")
    decided = coded.decide_where("provider=offline and side=supplier and in_vivo=true", "accept", coder="ann")
    assert len(decided) == len(preview) and first not in {d.suggestion_id for d in decided}
    with pytest.raises(CoderAssistError, match="unknown field"):
        coded.decide_where("colour=red", "accept", coder="ann")
    with pytest.raises(CoderAssistError, match="cannot read"):
        coded.bulk_preview("wave 2", "accept")
    with pytest.raises(CoderAssistError, match="takes a number"):
        coded.bulk_preview("wave==", "accept")


def test_bulk_conflict_leaves_everything_unchanged(coded, monkeypatch):
    import coder_assist.review.decisions as project_module

    ids = [r["id"] for r in coded.bulk_preview("label~ing", "reject")][:6]
    real = project_module.decide
    calls = {"n": 0}

    def flaky(conn, sid, action, coder, **kw):  # the fourth one finds someone got there first
        calls["n"] += 1
        if calls["n"] == 4:
            raise Conflict("suggestion changed while deciding")
        return real(conn, sid, action, coder, **kw)

    monkeypatch.setattr(project_module, "decide", flaky)
    before = coded.conn.execute("SELECT count(*) FROM decisions").fetchone()[0]
    with pytest.raises(Conflict):
        coded.decide_where("label~ing", "reject", coder="ann")
    assert coded.conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == before
    assert {r["status"] for r in coded.suggestion_rows(ids=ids)} == {"proposed"}


def test_manual_codebook_commands(coded):
    seg = coded.segments()[3]
    coded.add_code("Trust", definition="Relying on the other side", coder="ann")
    coded.add_code("Trusting the engineers", parent="Trust", coder="ann")
    cid = coded.apply_code("Trusting the engineers", seg["id"], coder="ann")
    coded.apply_code("Relying on people", seg["id"], coder="ann")
    assert coded.merge_codes(["Relying on people"], "Trusting the engineers", coder="ann") == 1
    coded.rename_code("Trusting the engineers", "Trusting the supplier's engineers", coder="ann")
    rows = {c["label"]: c for c in coded.code_rows()}
    assert rows["Trusting the supplier's engineers"]["codings"] == 2
    assert rows["Trusting the supplier's engineers"]["parent_id"] == rows["Trust"]["id"]
    assert "Relying on people" not in rows
    assert coded.delete_code("Trust", coder="ann") == 0
    t = coded.trace(cid)
    assert t["coding"]["code"] == "Trusting the supplier's engineers" and t["decision"]["action"] == "codebook:apply"
    kinds = [e["payload"]["action"] for e in coded.audit_log(type_="codebook")]
    assert kinds == ["add", "add", "apply", "apply", "merge", "rename", "delete"]


def test_trace_goes_back_to_model_prompt_and_person(coded):
    sid = _open_ids(coded)[0]
    d = coded.accept(sid, coder="ann")[0]
    t = coded.trace(d.coding_id)
    assert t["decision"]["coder"] == "ann" and t["decision"]["action"] == "accept"
    assert t["suggestion"]["provider"] == "offline" and t["suggestion"]["prompt_sha256"]
    assert t["suggestion"]["raw_response"] and t["coding"]["text"] == t["suggestion"]["quote"]
    assert t["undone_by"] is None
    coded.undo(coder="ann")
    assert coded.trace(d.coding_id)["undone_by"]["action"] == "undo"


@pytest.mark.sqlite_only
def test_providers_have_no_path_to_the_codebook(coded, tmp_path):
    # 1. What a provider receives is plain data: no connection, no project.
    kinds = {f.type for f in dataclasses.fields(CodingInput)}
    assert all("Connection" not in str(k) and "Project" not in str(k) for k in kinds)
    # 2. Coding wrote suggestions only.
    assert coded.conn.execute("SELECT count(*) FROM codes").fetchone()[0] == 0
    assert coded.conn.execute("SELECT count(*) FROM suggestions").fetchone()[0] > 0
    # 3. Outside a decision, even the project's own connection cannot write the codebook ...
    for sql in ("INSERT INTO codes (label, created_at, created_by) VALUES ('x', 't', 'bot')",
                "UPDATE suggestions SET status = 'accepted'"):  # fmt: skip
        with pytest.raises(sqlite3.IntegrityError, match="human decision"):
            coded.conn.execute(sql)
    # 4. ... and neither can any other program opening the file.
    raw = sqlite3.connect(coded.root / "project.db")
    with pytest.raises(sqlite3.OperationalError, match="ca_human_decision"):
        raw.execute("INSERT INTO codes (label, created_at, created_by) VALUES ('x', 't', 'bot')")
    raw.close()
    # 5. No provider module imports the database, decision or project layers, or holds SQL writes.
    import ast

    forbidden = {"sqlite3", "decisions", "db", "project", "coding", "audit"}
    for path in (ROOT / "coder_assist" / "providers").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[-1] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[-1]} | {a.name for a in node.names}
            else:
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    assert not any(k in node.value.upper() for k in ("INSERT INTO", "UPDATE ", "DELETE FROM")), path
                continue
            assert not names & forbidden, (path, names & forbidden)


def test_audit_export_and_log_filters(coded, tmp_path):
    coded.accept(_open_ids(coded, 2), coder="ann")
    coded.reject(_open_ids(coded, 1), coder="bea")
    assert [e["actor"] for e in coded.audit_log(type_="decision")] == ["ann", "ann", "bea"]
    assert len(coded.audit_log(coder="bea")) == 1
    out = tmp_path / "audit.jsonl"
    n = coded.export_audit(out, coder="ann")
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == n and lines[0]["seq"] == 1 and all("hash" in x for x in lines)
    assert coded.audit_log()[-1]["type"] == "audit-export"
    assert coded.verify_audit() == []


WORKER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from coder_assist import Project
    p = Project.open({proj!r})
    ids = [int(x) for x in sys.argv[2].split(",")]
    for n, sid in enumerate(ids):
        action = ("accept", "reject", "defer")[n % 3]
        getattr(p, action)(sid, coder=sys.argv[1])
    p.close()
""")


def test_four_processes_five_hundred_decisions_each(tmp_path):
    p = Project.init(tmp_path / "p", embedder="hash")
    p.ingest([FIXTURES / "wave1"], index=False)
    segs = p.segments()
    p.conn.execute("INSERT INTO coding_runs (id, work_key, actor, provider, model, prompt_id, prompt_version, prompt_sha256,"
                   " params, redaction, selection, status, started_at) VALUES ('r', 'k', 'x', 'offline', 'm', 'p', '1', 's',"
                   " '{}', '{}', '{}', 'finished', 't')")  # fmt: skip
    with p.conn:
        for i, seg in enumerate(segs):
            p.conn.execute("INSERT INTO llm_calls (id, run_id, segment_id, work_key, status, attempts, input_sha256, context_ids,"
                           " similar_ids, redacted, tokens_estimated, created_at) VALUES (?, 'r', ?, 'k', 'ok', 1, 'h', '[]', '[]', 0, 0, 't')",
                           (i + 1, seg["id"]))  # fmt: skip
        for n in range(2000):
            seg = segs[n % len(segs)]
            p.conn.execute("INSERT INTO suggestions (call_id, run_id, segment_id, kind, label, in_vivo, quote, start, end,"
                           " grounding, grounding_score, rationale, status, created_at) VALUES (?, 'r', ?, 'initial-code', ?, 0, ?,"
                           " ?, ?, 'exact', 1, 'x', 'proposed', 't')",
                           (n % len(segs) + 1, seg["id"], f"Code {n % 40}", seg["text"], seg["start"], seg["end"]))  # fmt: skip
    ids = [r[0] for r in p.conn.execute("SELECT id FROM suggestions ORDER BY id")]
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(root=str(ROOT), proj=str(p.root)))
    procs = [subprocess.Popen([sys.executable, str(script), f"coder{k}", ",".join(map(str, ids[k::4]))],
                              stderr=subprocess.PIPE) for k in range(4)]  # fmt: skip
    errors = [proc.communicate(timeout=300)[1].decode() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], errors
    assert p.conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == 2000
    per_coder = dict(p.conn.execute("SELECT coder, count(*) FROM decisions GROUP BY coder").fetchall())
    assert per_coder == {f"coder{k}": 500 for k in range(4)}
    assert p.conn.execute("SELECT count(*) FROM suggestions WHERE status = 'proposed'").fetchone()[0] == 0
    assert len(p.audit_log(type_="decision")) == 2000
    accepted = p.conn.execute("SELECT count(*) FROM suggestions WHERE status = 'accepted'").fetchone()[0]
    assert p.conn.execute("SELECT count(*) FROM codings WHERE active = 1").fetchone()[0] == accepted
    assert p.conn.execute("SELECT count(*) FROM codes WHERE active = 1").fetchone()[0] <= 40  # shared labels, no duplicates
    assert p.verify_audit() == []
    anchor = (p.root / "audit.anchor").read_text().splitlines()
    assert len(anchor) == p.conn.execute("SELECT max(seq) FROM events").fetchone()[0]
    p.close()
