"""Benchmark of a coding run against the stub OpenAI server with a fixed latency.

    python bench/recode.py [--segments 2000] [--latency 0.3] [--concurrency 8] [--faults 50]

Builds a project (hash embedder: this measures the run, not embeddings) holding about
``--segments`` participant segments in 20 synthetic interviews, starts ``tests/stub_server.py``
on loopback with ``--latency`` seconds per reply, and prints:

1. wall time of a concurrent run against the ideal ``N x latency / concurrency`` (target <= 1.15x
   at concurrency 8), calls sent and the peak of calls in flight;
2. the same with injected faults (every ``--faults``-th request a 429 with Retry-After 0.5 s or a
   500, alternating): wall time, retries, how low the adaptive window went; every segment still
   coded exactly once;
3. an unchanged re-run: calls sent (target 0) and its time against the first run's (target <= 3%);
4. prompt tokens per transcript token (target <= 1.5), counted with the project's token counter
   on the requests the stub received: in all, and without the static prefix (the system message:
   instructions and codebook, the same for every request of a run, so the endpoint's prompt cache
   can serve it): one segment per request with the default two turns of context and with none,
   and ``--per-call`` consecutive segments per request (``coding.segments_per_call``).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coder_assist import Project  # noqa: E402
from coder_assist.store.tokens import default_counter  # noqa: E402
from coder_assist.suggest.providers.openai_compat import OpenAICompatProvider  # noqa: E402

WORDS = ("supplier procurement invoice site manager contract renewal scorecard penalty dock door engineer night "
         "shift savings target finance budget value price tender trust account review meeting figures report "
         "service level uptime response time rescue visit ticket complaint").split()  # fmt: skip


def interviews(folder: Path, segments: int, docs: int = 20) -> None:
    rng = random.Random(7)
    per = max(1, segments // docs)
    for d in range(docs):
        turns = []
        for i in range(per):
            turns.append(f"Interviewer: And what happened with point {i}?")
            body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(22, 38)))
            turns.append(f"Participant {d:02d}: Well, the {body}, and that is how it went.")
        (folder / f"interview-{d:02d}.txt").write_text("\n\n".join(turns) + "\n", encoding="utf-8")
        (folder / "people.csv").open("a", encoding="utf-8").write(
            ("participant_id,speaker,side\nR1,Interviewer,researcher\n" if d == 0 else "") + f"P{d},Participant {d:02d},buyer\n")


class Stub:
    """``tests/stub_server.py`` in its own process (as a real endpoint is: it does not share this
    process's interpreter lock), on a free loopback port."""

    def __init__(self, latency: float = 0.0, fault_every: int = 0) -> None:
        import socket
        import subprocess

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.stub_server", str(port), "--latency", str(latency),
                                      "--fault-every", str(fault_every)], cwd=ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
        self.proc.stdout.readline()  # type: ignore[union-attr]  # the "listening" line
        self.url = f"http://127.0.0.1:{port}/v1"

    def stats(self) -> dict:
        import json
        import urllib.request

        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/stub/stats") as r:
            return json.loads(r.read())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def run(proj: Project, url: str, concurrency: int) -> tuple[float, object]:
    t0 = time.perf_counter()
    report = proj.code(provider=OpenAICompatProvider("stub-model", url, api_key="k", concurrency=concurrency,
                                                     backoff_base=0.2))  # fmt: skip
    return time.perf_counter() - t0, report


def tokens_per_transcript_token(proj: Project, stats: dict, counter) -> tuple[float, float]:
    segs = [r[0] for r in proj.conn.execute("SELECT text FROM segments s JOIN turns t ON t.id = s.turn_id"
                                             " WHERE t.speaker != 'Interviewer'")]  # fmt: skip
    transcript = sum(counter.count_many(segs))
    systems, users = [], []
    for msgs in stats["messages"]:
        systems.append(next(m["content"] for m in msgs if m["role"] == "system"))
        users.append(next(m["content"] for m in msgs if m["role"] == "user"))
    s, u = sum(counter.count_many(systems)), sum(counter.count_many(users))
    return (s + u) / transcript, u / transcript


def project(tmp: Path, name: str, segments: int, context: int) -> Project:
    src = tmp / f"{name}-src"
    src.mkdir()
    interviews(src, segments)
    proj = Project.init(tmp / name, coder="bench", embedder="hash")
    proj.ingest(sorted(src.glob("*.txt")), attributes=src / "people.csv", wave=1)
    proj.config.coding.context_turns = context
    return proj


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--segments", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.3)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--faults", type=int, default=50)
    ap.add_argument("--per-call", type=int, default=8, help="segments per request for the passage figure of 4")
    args = ap.parse_args()
    counter = default_counter()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        proj = project(tmp, "clean", args.segments, context=2)
        n = proj.code(provider="offline", dry_run=True).selected
        stub = Stub(latency=args.latency)
        wall, report = run(proj, stub.url, args.concurrency)
        stats = stub.stats()
        ideal = n * args.latency / args.concurrency
        print(f"1. {n} segments, latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}: "
              f"{wall:.1f} s against the ideal {ideal:.1f} s = {wall / ideal:.3f}x (target <= 1.15x); "
              f"{stats['chats']} calls, peak in flight {stats['peak_in_flight']}, coded {report.coded}, "
              f"failed {report.failed}")  # fmt: skip
        total, variable = tokens_per_transcript_token(proj, stats, counter)
        rerun_wall, rerun = run(proj, stub.url, args.concurrency)
        print(f"3. unchanged re-run: {stub.stats()['chats'] - stats['chats']} calls (target 0), {rerun_wall:.2f} s = "
              f"{rerun_wall / wall:.1%} of the first run (target <= 3%); selected {rerun.selected}")  # fmt: skip
        stub.stop()

        faulty = project(tmp, "faults", args.segments, context=2)
        stub = Stub(latency=args.latency, fault_every=args.faults)
        fwall, freport = run(faulty, stub.url, args.concurrency)
        calls = stub.stats()["chats"]
        once = faulty.conn.execute("SELECT count(DISTINCT segment_id) = count(*) FROM llm_calls WHERE status = 'ok'").fetchone()[0]
        print(f"2. with a fault every {args.faults} requests: {fwall:.1f} s = {fwall / ideal:.3f}x ideal; "
              f"{calls} calls for {n} segments ({calls - n} retries), {freport.throttles} 429s, window down "
              f"to {freport.lowest_window} of {args.concurrency}; coded {freport.coded}, failed {freport.failed}, "
              f"each segment once: {bool(once)}")  # fmt: skip
        stub.stop()

        figures = [f"one segment per request, context_turns=2: {total:.2f} in all, {variable:.2f} without the static prefix"]
        for name, context, per in (("no-context", 0, 1), ("passage", 2, args.per_call)):
            other = project(tmp, name, min(args.segments, 400), context=context)
            other.config.coding.segments_per_call = per
            stub = Stub()
            run(other, stub.url, args.concurrency)
            t, v = tokens_per_transcript_token(other, stub.stats(), counter)
            stub.stop()
            figures.append(f"{per} segment(s) per request, context_turns={context}: {t:.2f} in all, {v:.2f} without "
                           "the static prefix")  # fmt: skip
            other.close()
        print("4. prompt tokens per transcript token (target <= 1.5): " + "; ".join(figures))
        for p in (proj, faulty):
            p.close()


if __name__ == "__main__":
    main()
