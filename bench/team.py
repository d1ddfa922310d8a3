"""Team load: several coders, each in their own process, deciding overlapping suggestions at once.

    python bench/team.py [--coders 8] [--decisions 1000] [--overlap 2]

Builds a project (hash embedder) with ``coders x decisions / overlap`` proposed suggestions on
synthetic interviews; each coder process then accepts its ``--decisions`` suggestions as fast as
it can, every suggestion being tried by ``--overlap`` coders in different orders. Prints, per
store backend: decisions/s (winning decisions over wall time), attempts/s, conflicts, and the
checks: 0 lost (every suggestion decided), exactly one winner per suggestion (one accept decision
each, one coding each), audit chain valid.

The PostgreSQL column runs the same on a throwaway server (``tests/pg_server.py``, Debian's
``postgresql`` package), the coders' processes each with their own project folder on the one
database; it is left out, with the reason, when the server binaries are missing.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coder_assist import Project  # noqa: E402
from coder_assist.review.decisions import Conflict  # noqa: E402
from coder_assist.suggest.providers import CodeProposal, ProposedCode, ProviderReply, Usage  # noqa: E402

WORDS = ("supplier procurement invoice site manager contract renewal scorecard penalty engineer night shift "
         "savings target finance budget value price tender trust account review meeting figures report").split()  # fmt: skip


class OneCode:
    """A local provider proposing one code per segment, on its first six words (no model, no network)."""

    name, model, base_host, remote, prompt_id = "bench", "one-code", None, False, "initial-coding"

    def params(self) -> dict:
        return {}

    def propose(self, item) -> ProviderReply:  # noqa: ANN001 - CodingInput
        words = item.text.split()
        proposal = CodeProposal(codes=[ProposedCode(label=f"Weighing the {words[1].strip('.,').lower()}", in_vivo=False,
                                                    quote=" ".join(words[:6]), rationale="bench", reused_code=None)])  # fmt: skip
        return ProviderReply(proposal, proposal.model_dump_json(), Usage(10, 10, True), 0, 1)


def build(root: Path, suggestions: int, store: str | None = None) -> list[int]:
    rng = random.Random(7)
    folder = root.parent / "interviews"
    folder.mkdir()
    per_file = 100
    for f in range(suggestions // per_file + 1):
        turns = []
        for t in range(per_file):
            body = " ".join(rng.choice(WORDS) for _ in range(18))
            turns.append(f"Interviewer: What about item {f}-{t}?\n\nP{f}: The {body}.")
        (folder / f"i{f:03d}.txt").write_text("\n\n".join(turns) + "\n", encoding="utf-8")
    with Project.init(root, coder="bench", embedder="hash", store=store) as p:
        p.ingest([folder], index=False)
        p.conn.execute("UPDATE turns SET role = 'interviewer' WHERE speaker = 'Interviewer'")
        p.conn.commit()
        p.code(provider=OneCode())
        ids = [r["id"] for r in p.suggestion_rows(status="proposed")]
    if len(ids) < suggestions:
        raise SystemExit(f"only {len(ids)} suggestions were proposed, {suggestions} needed")
    return ids[:suggestions]


def coder(root: str, name: str, ids: list[int], start: mp.Event, out: mp.Queue) -> None:  # type: ignore[type-arg]
    won = conflicts = 0
    with Project.open(Path(root)) as p:
        start.wait()
        for i in ids:
            try:
                p.accept(i, coder=name)
                won += 1
            except Conflict:
                conflicts += 1
    out.put((name, won, conflicts))


def run(root: Path, ids: list[int], coders: int, decisions: int, overlap: int) -> dict:  # noqa: C901
    rng = random.Random(11)
    plans: list[list[int]] = [[] for _ in range(coders)]
    for k in range(overlap):  # each suggestion goes to `overlap` different coders
        shuffled = ids[:]
        rng.shuffle(shuffled)
        for n, sid in enumerate(shuffled):
            plans[(n + k * (coders // overlap or 1)) % coders].append(sid)
    for plan in plans:
        rng.shuffle(plan)
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=coder, args=(str(root), f"coder{n}", plans[n], start, out)) for n in range(coders)]
    for proc in procs:
        proc.start()
    time.sleep(3)  # every process has opened the project
    began = time.perf_counter()
    start.set()
    results = [out.get() for _ in procs]
    wall = time.perf_counter() - began
    for proc in procs:
        proc.join()
    with Project.open(root) as p:
        c = p.conn
        accepted = c.execute("SELECT count(*) FROM suggestions WHERE status = 'accepted' AND id IN (%s)"
                             % ",".join(map(str, ids))).fetchone()[0]  # fmt: skip
        per = c.execute("SELECT suggestion_id, count(*) FROM decisions WHERE action = 'accept' GROUP BY suggestion_id"
                        " HAVING count(*) > 1").fetchall()  # fmt: skip
        codings = c.execute("SELECT count(*) FROM codings WHERE suggestion_id IS NOT NULL").fetchone()[0]
        breaks = p.verify_audit()
    won = sum(r[1] for r in results)
    return {"attempts": sum(len(pl) for pl in plans), "won": won, "conflicts": sum(r[2] for r in results),
            "wall": wall, "lost": len(ids) - accepted, "double": len(per), "codings": codings, "audit": not breaks}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--coders", type=int, default=8)
    ap.add_argument("--decisions", type=int, default=1000, help="suggestions each coder tries")
    ap.add_argument("--overlap", type=int, default=2, help="coders trying each suggestion")
    a = ap.parse_args()
    n = a.coders * a.decisions // a.overlap
    print(f"{a.coders} coders x {a.decisions} attempts, each of {n} suggestions tried by {a.overlap}")
    print(f"{'backend':<22}{'decisions/s':>12}{'attempts/s':>12}{'conflicts':>11}{'lost':>6}{'one winner':>12}{'audit':>7}")
    failed = False
    for backend in ("sqlite (one machine)", "postgresql"):
        server = None
        if backend == "postgresql":
            sys.path.insert(0, str(ROOT / "tests"))
            from pg_server import PgServer, binaries  # noqa: PLC0415 - the tests' throwaway server

            if binaries() is None:
                print(f"{backend:<22}{'left out: no PostgreSQL server binaries (Debian package postgresql)':>70}")
                continue
            server = PgServer()
            server.start()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp) / "project"
                ids = build(root, n, server.database() if server else None)
                r = run(root, ids, a.coders, a.decisions, a.overlap)
        finally:
            if server is not None:
                server.stop()
        ok_winner = r["double"] == 0 and r["won"] == n == r["codings"]
        print(f"{backend:<22}{r['won'] / r['wall']:>12.0f}{r['attempts'] / r['wall']:>12.0f}{r['conflicts']:>11}"
              f"{r['lost']:>6}{'yes' if ok_winner else 'NO':>12}{'valid' if r['audit'] else 'BROKEN':>7}")  # fmt: skip
        failed |= bool(r["lost"] or not ok_winner or not r["audit"])
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
