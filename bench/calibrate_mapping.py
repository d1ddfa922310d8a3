"""Calibrate the offline construct mapper on the labelled gold set and write calibration.json.

    python bench/calibrate_mapping.py [--gold fixtures/gold/constructs.jsonl] [--dry-run]

With the default embedder (MiniLM), for each framework in the gold set:

1. chooses the top-level aggregate (mean of the best two family scores, the best one, or the
   top-level construct's own text) by 5-fold cross-validated rolled-up kappa on the records drawn
   from the fixture transcripts only (``source`` not starting with ``gold:``), pooled over the
   frameworks, so the method is fixed before the written records are looked at;
2. fits the hierarchical parameters (``mapping.fit``) on all records and writes them, with the
   flat nearest-construct threshold that the per-case analyses use, to
   ``coder_assist/theory/calibration.json``;
3. prints strict and rolled-up figures, in-sample and 5-fold cross-validated (parameters fitted on
   the training folds only), for the fixture records, the written records and all of them, plus a
   held-out check (fitted on the fixture records, scored on the written ones) and the baseline
   (nearest top-level construct by whole text, no abstention). Report the cross-validated ones.

The smallest top-level margin the fit may choose is ``mapping.MIN_MARGIN`` (0.04), a floor that
keeps unrelated talk nearly unlinked; ``--min-margin 0`` fits without it, for comparison.

The flat threshold is fitted on the fixture records only, as before, so the analyses' threshold
does not move with the written records.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coder_assist import MiniLMEmbedder  # noqa: E402
from coder_assist.theory.evaluate import score  # noqa: E402
from coder_assist.theory.frameworks import builtin_frameworks  # noqa: E402
from coder_assist.theory.mapping import (  # noqa: E402
    AGGREGATES, NONE, ConstructMapper, calibrate, evaluate, fit, load_gold, roll_up,
)


def written(record: dict[str, str]) -> bool:
    return record.get("source", "").startswith("gold:")


def line(label: str, r) -> str:
    return (f"  {label:<22} n={r.n:<4} strict in-sample kappa {r.kappa:.3f} (acc {r.accuracy:.3f}, F1 {r.macro_f1:.3f})"
            f"  CV kappa {r.cv_kappa:.3f} (acc {r.cv_accuracy:.3f}, F1 {r.cv_macro_f1:.3f})\n"
            f"  {'':<22}        rolled-up in-sample kappa {r.rollup_kappa:.3f} (acc {r.rollup_accuracy:.3f}, "
            f"F1 {r.rollup_macro_f1:.3f})  CV kappa {r.cv_rollup_kappa:.3f} (acc {r.cv_rollup_accuracy:.3f}, "
            f"F1 {r.cv_rollup_macro_f1:.3f})  linked {r.linked:.0%} (CV {r.cv_linked:.0%})  "
            f"baseline kappa {r.baseline_kappa:.3f} (acc {r.baseline_accuracy:.3f})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gold", default=str(ROOT / "fixtures" / "gold" / "constructs.jsonl"))
    ap.add_argument("--min-margin", type=float, default=None,
                    help="smallest top-level margin the fit may choose (default: mapping.MIN_MARGIN)")
    ap.add_argument("--dry-run", action="store_true", help="print the figures, do not write calibration.json")
    args = ap.parse_args()
    embedder = MiniLMEmbedder()
    records = load_gold(args.gold)
    frameworks = builtin_frameworks()
    fids = sorted({r["framework"] for r in records})
    mappers = {fid: ConstructMapper(frameworks[fid], embedder, params=None) for fid in fids}

    print("1. aggregate, chosen on the fixture records' 5-fold CV (rolled-up kappa, pooled by n):")
    pooled = {}
    for agg in AGGREGATES:
        total, n = 0.0, 0
        for fid in fids:
            rows = [r for r in records if r["framework"] == fid and not written(r)]
            res = evaluate(frameworks[fid], embedder, rows, aggregate=agg, mapper=_with(mappers[fid], agg),
                           min_margin=args.min_margin)
            print(f"   {agg:<5} {fid:<20} n={len(rows):<4} CV rolled-up kappa {res.cv_rollup_kappa:.3f}  "
                  f"strict {res.cv_kappa:.3f}")  # fmt: skip
            total += res.cv_rollup_kappa * len(rows)
            n += len(rows)
        pooled[agg] = total / n
        print(f"   {agg:<5} pooled CV rolled-up kappa {pooled[agg]:.3f}")
    aggregate = max(AGGREGATES, key=lambda a: (round(pooled[a], 6), -AGGREGATES.index(a)))
    print(f"   chosen: {aggregate}")

    out: dict[str, dict[str, dict[str, object]]] = {embedder.name: {}}
    print("\n2./3. figures per framework (in-sample: parameters fitted on the rows shown):")
    for fid in fids:
        fw = frameworks[fid]
        mapper = _with(mappers[fid], aggregate)
        rows = [r for r in records if r["framework"] == fid]
        old = [r for r in rows if not written(r)]
        new = [r for r in rows if written(r)]
        old_sims = mapper.similarities([r["quote"] for r in old])
        flat = round(calibrate(old_sims, mapper.ids, [r["label"] for r in old]), 4)
        params = fit(mapper, mapper.score([r["quote"] for r in rows], aggregate), [r["label"] for r in rows], aggregate,
                     args.min_margin)
        out[embedder.name][fid] = {"threshold": flat, "n": len(old),
                                   "hierarchical": {**asdict(params), "n": len(rows)}}  # fmt: skip
        print(f"{fid}: flat threshold {flat:.4f} (n={len(old)}); hierarchical {asdict(params)} (n={len(rows)})")
        for label, subset in (("fixture records", old), ("written records", new), ("all records", rows)):
            if len(subset) < 5:
                print(f"  {label:<22} n={len(subset)}: too few to score")
                continue
            sub_params = fit(mapper, mapper.score([r["quote"] for r in subset], aggregate),
                             [r["label"] for r in subset], aggregate, args.min_margin)  # fmt: skip
            print(line(label, evaluate(fw, embedder, subset, params=sub_params, mapper=_with(mapper, aggregate, sub_params),
                                      min_margin=args.min_margin)))
        if len(old) >= 5 and new:
            old_params = fit(mapper, mapper.score([r["quote"] for r in old], aggregate), [r["label"] for r in old], aggregate,
                             args.min_margin)
            preds = [p.construct or NONE for p in mapper.decide(mapper.score([r["quote"] for r in new], aggregate), old_params)]
            gold = [r["label"] for r in new]
            s, ru = score(gold, preds), score([roll_up(fw, g) for g in gold], [roll_up(fw, p) for p in preds])
            print(f"  held-out (fit on fixture, score written) n={len(new)}: strict kappa {s.kappa:.3f} "
                  f"(acc {s.accuracy:.3f}, F1 {s.macro_f1:.3f})  rolled-up kappa {ru.kappa:.3f} (acc {ru.accuracy:.3f}, "
                  f"F1 {ru.macro_f1:.3f})  linked {sum(p != NONE for p in preds) / len(preds):.0%}")  # fmt: skip
    if args.dry_run:
        return
    path = ROOT / "coder_assist" / "theory" / "calibration.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


def _with(mapper: ConstructMapper, aggregate: str, params=None) -> ConstructMapper:
    """The same mapper (embeddings reused) with another aggregate and parameters."""
    from dataclasses import replace

    clone = object.__new__(ConstructMapper)
    clone.__dict__.update(mapper.__dict__)
    clone.params = replace(params or mapper.params, aggregate=aggregate)
    clone.threshold = clone.params.threshold
    return clone


if __name__ == "__main__":
    main()
