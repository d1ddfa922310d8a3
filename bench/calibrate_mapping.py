"""Calibrate the offline construct mapper's abstain thresholds on the labelled fixture set.

    python bench/calibrate_mapping.py [--gold fixtures/gold/constructs.jsonl]

For each framework in the gold set, embeds the quotes and the constructs with the default
embedder (MiniLM), picks the similarity threshold that maximises macro-F1 (abstentions scored as
'none'), and writes coder_assist/theory/calibration.json. Prints in-sample and 5-fold cross-validated
scores; report the cross-validated ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coder_assist import MiniLMEmbedder  # noqa: E402
from coder_assist.theory.frameworks import builtin_frameworks  # noqa: E402
from coder_assist.theory.mapping import ConstructMapper, calibrate, evaluate, load_gold  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gold", default=str(ROOT / "fixtures" / "gold" / "constructs.jsonl"))
    args = ap.parse_args()
    embedder = MiniLMEmbedder()
    records = load_gold(args.gold)
    frameworks = builtin_frameworks()
    out: dict[str, dict[str, dict[str, float]]] = {embedder.name: {}}
    for fid in sorted({r["framework"] for r in records}):
        rows = [r for r in records if r["framework"] == fid]
        mapper = ConstructMapper(frameworks[fid], embedder, threshold=0.0)
        sims = mapper.similarities([r["quote"] for r in rows])
        threshold = round(calibrate(sims, mapper.ids, [r["label"] for r in rows]), 4)
        result = evaluate(frameworks[fid], embedder, rows, threshold=threshold)
        out[embedder.name][fid] = {"threshold": threshold, "n": len(rows)}
        print(f"{fid:<22} n={len(rows):<4} threshold {threshold:.3f}  in-sample acc {result.accuracy:.3f} "
              f"macro-F1 {result.macro_f1:.3f} kappa {result.kappa:.3f} | 5-fold CV acc {result.cv_accuracy:.3f} "
              f"macro-F1 {result.cv_macro_f1:.3f} kappa {result.cv_kappa:.3f}")  # fmt: skip
    path = ROOT / "coder_assist" / "theory" / "calibration.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
