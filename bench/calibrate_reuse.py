"""Refit and cross-validate the meaning-based reuse threshold of ``coder_assist.suggest.reuse``.

Reads fixtures/gold/code_pairs.jsonl, embeds the labels with the offline MiniLM embedder, and
prints repeated stratified 5-fold CV precision, recall and F1 of the rule (guards, then label
cosine >= a threshold fitted at training precision 0.9), the threshold fitted on all pairs (copy it
into ``reuse.THRESHOLD`` when it changes), and the same figures for "label: quote" texts.

    .venv/bin/python bench/calibrate_reuse.py [--pairs PATH] [--show]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from coder_assist.store.embedders import MiniLMEmbedder  # noqa: E402
from coder_assist.suggest import reuse  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=Path, default=reuse.GOLD)
    ap.add_argument("--show", action="store_true", help="print every pair with its similarity and decision")
    args = ap.parse_args(argv)
    embed = MiniLMEmbedder().embed
    pairs = reuse.load_pairs(args.pairs)
    result = {"labels": reuse.cross_validate(embed, pairs),
              "label_and_quote": reuse.cross_validate(embed, pairs, with_quotes=True)}
    print(json.dumps(result, indent=2))
    if args.show:
        s, y, ok, _ = reuse.calibration_data(embed, pairs)
        for i in sorted(range(len(pairs)), key=lambda i: -s[i]):
            p = pairs[i]
            verdict = "guard" if not ok[i] else ("reuse" if s[i] >= reuse.THRESHOLD else "-")
            print(f"{s[i]:.3f} {'SAME' if y[i] else 'diff'} {verdict:5s} {p['kind']:18s} {p['a']} | {p['b']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
