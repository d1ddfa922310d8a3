"""Ingest benchmark: whole-pipeline throughput against the bare embedder on the same segments.

    python bench/ingest.py [--n 200] [--words 10000]

Generates N synthetic interviews of about WORDS words each (deterministic), ingests them into a
fresh project with the offline MiniLM embedder (parse, segment, SQLite, embed, chroma), then
embeds the very same segment texts with the bare model. Prints segments/s for both, their ratio
(target >= 0.85 at N=200) and the peak RSS. Figures also go to bench/out/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coder_assist import MiniLMEmbedder, Project  # noqa: E402

SPEAKERS = ["Interviewer", "Respondent"]
OPENERS = ["Honestly,", "Well,", "I think", "To be fair,", "From where I sit,", "If I'm candid,", "Look,", "So"]
SUBJECTS = ["procurement", "the operations team", "finance", "our new CFO", "the account manager", "the helpdesk",
            "the steering group", "the supplier's delivery lead", "the end users", "the category manager"]  # fmt: skip
VERBS = ["questioned", "praised", "pushed back on", "kept measuring", "never really understood", "renegotiated",
         "escalated", "quietly accepted", "wanted to quantify", "lost patience with"]  # fmt: skip
OBJECTS = ["the service credits", "the innovation roadmap", "the renewal terms", "the monthly KPI pack",
           "the invoice disputes", "the response times", "the gain-share model", "the business case",
           "the cost of the night shift", "the promises in the original bid"]  # fmt: skip
TAILS = ["because nobody had agreed what good looked like.", "after the reorganisation last spring.",
         "and that changed the tone of every meeting.", "although the numbers told a different story.",
         "which I still find hard to explain.", "so we ended up in a very different place.",
         "and to this day people remember it.", "while the contract said something else entirely."]  # fmt: skip


def interview(rng: random.Random, words: int, idx: int) -> str:
    """One labelled transcript of roughly ``words`` words; every one different."""
    out, count, turn = [], 0, 0
    while count < words:
        speaker = SPEAKERS[turn % 2]
        n = rng.randint(1, 2) if speaker == "Interviewer" else rng.randint(3, 9)
        sents = []
        for _ in range(n):
            s = f"{rng.choice(OPENERS)} {rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} " \
                f"in quarter {rng.randint(1, 4)} of {rng.randint(2015, 2026)} {rng.choice(TAILS)}"
            sents.append(s[0].upper() + s[1:])
        text = " ".join(sents)
        out.append(f"{speaker}: {text}")
        count += len(text.split())
        turn += 1
    return f"Interview {idx}\n\n" + "\n\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="number of interviews")
    ap.add_argument("--words", type=int, default=10_000, help="words per interview")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="ca-bench-") as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        for i in range(args.n):
            (src / f"interview-{i:04d}.txt").write_text(interview(rng, args.words, i), encoding="utf-8")
        words = sum(len(p.read_text().split()) for p in src.iterdir())

        embedder = MiniLMEmbedder()
        embedder.embed(["warm-up: load the model before any clock starts"])
        proj = Project.init(Path(tmp) / "proj", coder="bench", embedder="minilm")
        proj._embedder = embedder

        t0 = time.perf_counter()
        report = proj.ingest([src])
        pipeline_s = time.perf_counter() - t0
        assert report.ok, report.failures
        texts = [s["text"] for s in proj.segments()]
        n_seg = len(texts)
        tokens = proj.conn.execute("SELECT sum(n_tokens) FROM segments").fetchone()[0]
        proj.close()

        t0 = time.perf_counter()
        embedder.embed(texts)
        bare_s = time.perf_counter() - t0

    pipeline_rate, bare_rate = n_seg / pipeline_s, n_seg / bare_s
    figures = {
        "interviews": args.n, "words": words, "segments": n_seg, "avg_tokens_per_segment": round(tokens / n_seg, 1),
        "pipeline_seconds": round(pipeline_s, 1), "pipeline_segments_per_s": round(pipeline_rate, 1),
        "embedder_seconds": round(bare_s, 1), "embedder_segments_per_s": round(bare_rate, 1),
        "ratio": round(pipeline_rate / bare_rate, 3), "target_ratio": 0.85,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
    }  # fmt: skip
    for key, value in figures.items():
        print(f"{key:>24}: {value}")
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
