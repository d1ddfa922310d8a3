"""Initial coding with the offline provider, and the run mechanics every provider shares:
resuming after an interruption or a killed process without duplicates, plug-in providers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from typer.testing import CliRunner

from coder_assist import Project
from coder_assist.cli.app import app
from coder_assist.hookspecs import hookimpl
from coder_assist.plugins import load_plugins
from coder_assist.suggest.providers.offline import OfflineProvider

from .conftest import FIXTURES, ROOT


@pytest.fixture(scope="module")
def fixture_project(tmp_path_factory):
    root = tmp_path_factory.mktemp("fx") / "p"
    p = Project.init(root, coder="ann", embedder="hash")
    p.ingest([FIXTURES / "wave1"], wave=1, attributes=FIXTURES / "participants.csv")
    p.ingest([FIXTURES / "wave2"], wave=2)
    yield p
    p.close()


def _snapshot_counts(p: Project) -> tuple[int, int]:
    return (p.conn.execute("SELECT count(*) FROM suggestions").fetchone()[0],
            p.conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0])  # fmt: skip


def test_offline_codes_every_participant_segment_with_grounded_quotes(fixture_project):
    p = fixture_project
    report = p.code()
    assert report.provider == "offline" and report.failed == 0 and not report.interrupted
    participant_segments = [s for s in p.segments() if s["side"] != "researcher"]
    assert report.coded == len(participant_segments) > 500
    rows = p.suggestion_rows()
    assert report.suggestions == len(rows) and report.ungrounded == 0 and report.grounded == len(rows)
    texts = {d["name"]: p.document_text(d["name"]) for d in p.documents()}
    for s in rows:
        assert texts[s["source"]][s["start"] : s["end"]] == s["quote"]
        assert s["provider"] == "offline" and s["speaker"] not in ("Interviewer", "Moderator")
    assert all(p.provenance(s["id"])["rationale"].startswith("Offline heuristic") for s in rows[:50])
    # Suggestions for every kind of source: each format, both waves, the focus group, both sides.
    fmt = {d["name"]: d["format"] for d in p.documents()}
    assert {fmt[s["source"]] for s in rows} == {"md", "txt", "vtt", "json", "docx"}
    assert {s["wave"] for s in rows} == {1, 2}
    assert any(s["source"].startswith("nw_fg01") for s in rows)
    sides = {r["side"] for r in p.segments() if r["id"] in {s["segment_id"] for s in rows}}
    assert sides == {"buyer", "supplier"}
    assert any(s["in_vivo"] and s["label"].startswith('"') for s in rows)
    gerunds = [s for s in rows if not s["in_vivo"]]
    # Process codes are gerunds from the parse, negation and modality kept ("Not ...", "Being unable to ...").
    heads = [s["label"].split()[1 if s["label"].startswith(("Not ", "Never ")) else 0] for s in gerunds]
    assert gerunds and sum(h.endswith("ing") for h in heads) / len(gerunds) > 0.95
    # No label names a participant or an organisation the project knows; quotes are clauses.
    names = set()
    for person in p.participants():
        names |= set(person["speaker"].split()) | set((person["organisation"] or "x").split()[:1])
    assert not [s["label"] for s in gerunds if set(s["label"].replace("'s", "").split()) & names]
    assert sorted(len(s["quote"].split()) for s in gerunds)[len(gerunds) // 2] >= 10
    # At most one in-vivo code per segment, never overlapping the process code's quote.
    by_segment: dict[str, list] = {}
    for s in rows:
        by_segment.setdefault(s["segment_id"], []).append(s)
    for codes in by_segment.values():
        vivo = [c for c in codes if c["in_vivo"]]
        assert len(vivo) <= 1
        for c in (c for c in codes if not c["in_vivo"]):
            assert all(v["end"] <= c["start"] or v["start"] >= c["end"] for v in vivo)
    # A second run has nothing left to do.
    again = p.code()
    assert again.selected == 0 and again.skipped_done == report.coded and len(p.suggestion_rows()) == len(rows)


def test_offline_is_deterministic(tmp_path):
    labels = []
    for name in ("a", "b"):
        p = Project.init(tmp_path / name, embedder="hash")
        p.ingest([FIXTURES / "wave2"])
        p.code()
        labels.append([(s["segment_id"], s["label"], s["quote"]) for s in p.suggestion_rows()])
        p.close()
    assert labels[0] == labels[1] and labels[0]


class _Interrupting(OfflineProvider):
    def __init__(self, after: int) -> None:
        super().__init__()
        self.after, self.calls = after, 0

    def propose(self, item):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls > self.after:
            raise KeyboardInterrupt
        return super().propose(item)


def test_interrupted_run_resumes_without_duplicates(tmp_path):
    clean = Project.init(tmp_path / "clean", embedder="hash")
    clean.ingest([FIXTURES / "wave2"])
    clean.code()
    expected = sorted((s["segment_id"], s["label"]) for s in clean.suggestion_rows())

    p = Project.init(tmp_path / "p", embedder="hash")
    p.ingest([FIXTURES / "wave2"])
    with pytest.raises(KeyboardInterrupt):
        p.code(provider=_Interrupting(after=40))
    assert p.conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == 40
    report = p.code(provider=OfflineProvider())
    assert report.skipped_done == 40 and report.failed == 0
    assert sorted((s["segment_id"], s["label"]) for s in p.suggestion_rows()) == expected
    statuses = [r[0] for r in p.conn.execute("SELECT status FROM coding_runs ORDER BY started_at")]
    assert statuses == ["interrupted", "finished"]
    from coder_assist.store import audit

    assert audit.verify(p.conn) == []


def test_killed_process_loses_nothing_and_rerun_finishes(tmp_path):
    p = Project.init(tmp_path / "p", embedder="hash")
    p.ingest([FIXTURES / "wave1"])
    total = len([s for s in p.segments()])
    script = textwrap.dedent(f"""
        import time, sys
        sys.path.insert(0, {str(ROOT)!r})
        from coder_assist import Project
        from coder_assist.suggest.providers.offline import OfflineProvider
        class Slow(OfflineProvider):
            def propose(self, item):
                time.sleep(0.02)
                return super().propose(item)
        Project.open({str(p.root)!r}).code(provider=Slow())
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.time() + 60
    while time.time() < deadline and p.conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0] < 20:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = p.conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0]
    assert 20 <= done < total  # killed midway
    assert p.conn.execute("SELECT status FROM coding_runs").fetchone()[0] == "running"  # it never got to say
    report = p.code()
    assert report.skipped_done == done and report.failed == 0
    rows = p.conn.execute("SELECT segment_id, count(*) AS n FROM llm_calls GROUP BY segment_id").fetchall()
    assert all(r["n"] == 1 for r in rows)
    coded = {r["segment_id"] for r in rows}
    assert coded == {s["id"] for s in p.segments() if s["speaker"] not in ("Interviewer", "Moderator")}


class _EchoPlugin:
    """A third-party provider registered through the plug-in hook, touching no core code."""

    @staticmethod
    @hookimpl
    def register_providers(register):  # type: ignore[no-untyped-def]
        from coder_assist.suggest.providers import CodeProposal, ProposedCode, ProviderReply

        class Echo:
            name, model, base_host, remote, prompt_id = "echo", "echo-1", None, False, "initial-coding"

            def params(self):  # type: ignore[no-untyped-def]
                return {}

            def propose(self, item):  # type: ignore[no-untyped-def]
                first = " ".join(item.text.split()[:4])
                proposal = CodeProposal(codes=[ProposedCode(label="Echoing", in_vivo=False, quote=first,
                                                            rationale="echo", reused_code=None)])  # fmt: skip
                return ProviderReply(proposal, proposal.model_dump_json())

        register("echo", lambda cfg: Echo())


def test_third_party_provider_plugs_in(tmp_path):
    pm = load_plugins()
    pm.register(_EchoPlugin, name="test-echo")
    try:
        p = Project.init(tmp_path / "p", embedder="hash")
        p.ingest([FIXTURES / "wave2" / "vl03_hartmann_korbel.json"])
        report = p.code(provider="echo")
        assert report.provider == "echo" and report.coded > 0 and report.ungrounded == 0
        assert {s["label"] for s in p.suggestion_rows()} == {"Echoing"}
        assert p.provenance(p.suggestion_rows()[0]["id"])["prompt_id"] == "initial-coding"
    finally:
        pm.unregister(name="test-echo")


def test_cli_code_dry_run_then_run_json(tmp_path):
    runner = CliRunner()
    proj = tmp_path / "p"
    assert runner.invoke(app, ["init", str(proj), "--embedder", "hash"]).exit_code == 0
    assert runner.invoke(app, ["-p", str(proj), "ingest", str(FIXTURES / "wave2")]).exit_code == 0
    r = runner.invoke(app, ["-p", str(proj), "code", "--dry-run"])
    assert r.exit_code == 0 and "segments to code" in r.stdout and "nothing was sent" in r.stdout
    r = runner.invoke(app, ["-p", str(proj), "code", "--limit", "5", "--json"])
    data = json.loads(r.stdout)
    assert r.exit_code == 0 and data["coded"] == 5 and data["provider"] == "offline"
    r = runner.invoke(app, ["-p", str(proj), "suggestions", "--status", "proposed", "--json"])
    assert len(json.loads(r.stdout)) == data["grounded"]
    r = runner.invoke(app, ["-p", str(proj), "code", "--provider", "nonesuch"])
    assert r.exit_code == 1 and "unknown provider 'nonesuch'" in r.stderr


def test_offline_deductive_coding_into_constructs(tmp_path):
    from coder_assist import HashEmbedder
    from coder_assist.suggest.providers.deductive import DeductiveOfflineProvider

    p = Project.init(tmp_path / "p", embedder="hash")
    p.ingest([FIXTURES / "wave2"], attributes=FIXTURES / "participants.csv")
    fw = p.framework("ivpd")
    prov = DeductiveOfflineProvider(fw, HashEmbedder(), threshold=0.2)
    report = p.code(provider=prov, framework="ivpd")
    rows = p.suggestion_rows()
    names = {c.name for c in fw.constructs}
    assert report.coded > 0 and rows and all(r["label"] in names for r in rows)
    assert report.ungrounded == 0 and {r["grounding"] for r in rows} == {"exact"}
    assert all("Offline similarity" in p.provenance(r["id"])["rationale"] for r in rows[:10])
    assert {k[0] for k in p.conn.execute("SELECT kind FROM suggestions")} == {"construct-code"}
    # Deductive and initial coding are different work: one does not skip the other.
    initial = p.code(provider="offline")
    assert initial.skipped_done == 0 and initial.coded == report.coded
    # A stricter threshold abstains more (a new work key, since the parameters differ).
    strict = p.code(provider=DeductiveOfflineProvider(fw, HashEmbedder(), threshold=0.9), framework="ivpd")
    assert strict.suggestions < report.suggestions
    p.close()
