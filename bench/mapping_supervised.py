"""Measure a supervised alternative to the offline construct mapper (not shipped).

    python bench/mapping_supervised.py [--framework ivpd] [--C 3 10 30]

A logistic regression over MiniLM embeddings of the gold quotes (``fixtures/gold/constructs.jsonl``,
labels rolled up to the top-level constructs), the codebook's own texts (definition, cues,
examples) and off-topic interview sentences as ``none`` (``calibration.BACKGROUND`` plus
``bench/data/offtopic_sentences.txt``, written for this bench). Prints, per setting, the 5-fold
cross-validated rolled-up Cohen's kappa on the gold set (the same folds as ``coder-assist eval``),
the share linked, the share of held-out off-topic sentences linked, and the share of paragraphs
linked on two podcast episodes that are not about B2B value (``../shared/transcripts/changelog``)
and on the fixture transcripts, next to the shipped hierarchical mapper.

It shows why this is not the default: it labels the gold set better but links most paragraphs of
talk that fits no construct, which the issue rules out (a corpus that does not fit gets almost no
links).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coder_assist import MiniLMEmbedder  # noqa: E402
from coder_assist.theory.calibration import BACKGROUND  # noqa: E402
from coder_assist.theory.evaluate import score  # noqa: E402
from coder_assist.theory.frameworks import builtin_frameworks  # noqa: E402
from coder_assist.theory.mapping import (  # noqa: E402
    NONE, ConstructMapper, construct_parts, evaluate, folds_of, load_gold, roll_up,
)

SHARED = ROOT.parent / "shared" / "transcripts" / "changelog"


def paragraphs(path: Path) -> list[str]:
    """Blank-line separated paragraphs of at least 12 words."""
    return [p.strip() for p in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")) if len(p.split()) >= 12]


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--framework", default="ivpd")
    ap.add_argument("--C", type=float, nargs="+", default=[3.0, 10.0, 30.0])
    args = ap.parse_args()
    fw = builtin_frameworks()[args.framework]
    emb = MiniLMEmbedder()
    records = [r for r in load_gold(ROOT / "fixtures" / "gold" / "constructs.jsonl") if r["framework"] == fw.id]
    X = emb.embed([r["quote"] for r in records])
    y = np.array([roll_up(fw, r["label"]) for r in records])
    parts, part_y = [], []
    for c in fw.constructs:
        for t in construct_parts(fw, c.id):
            parts.append(t)
            part_y.append(roll_up(fw, c.id))
    P, part_y = emb.embed(parts), np.array(part_y)
    off_sentences = list(BACKGROUND) + [x.strip() for x in (ROOT / "bench" / "data" / "offtopic_sentences.txt").read_text(encoding="utf-8").splitlines() if x.strip()]
    B = emb.embed(off_sentences)
    corpora = {"podcasts": [p for f in sorted(SHARED.glob("*.md")) for p in paragraphs(f)] if SHARED.exists() else [],
               "fixtures": [p for f in sorted((ROOT / "fixtures").glob("wave*/*")) if f.suffix in (".md", ".txt") for p in paragraphs(f)]}  # fmt: skip
    vec = {k: emb.embed(v) for k, v in corpora.items() if v}

    shipped = evaluate(fw, emb, records)
    mapper = ConstructMapper(fw, emb)
    rates = {k: float(np.mean([p.construct is not None for p in mapper.predict(v)])) for k, v in corpora.items() if v}
    print(f"{fw.id}: n={len(records)}  shipped hierarchical mapper: CV rolled-up kappa {shipped.cv_rollup_kappa:.3f}, "
          f"linked {shipped.cv_linked:.0%}; baseline (nearest top-level text) kappa {shipped.baseline_kappa:.3f}; "
          + ", ".join(f"{k} paragraphs linked {v:.0%}" for k, v in rates.items()))  # fmt: skip
    folds, bfolds = folds_of(len(records), 5), folds_of(len(B), 5)

    def fit(Xs: list[np.ndarray], ys: list[np.ndarray], C: float):
        return LogisticRegression(C=C, max_iter=3000, class_weight="balanced").fit(np.vstack(Xs), np.concatenate(ys))

    def decide(model, Z: np.ndarray, t: float) -> np.ndarray:
        pr = model.predict_proba(Z)
        k, cls = pr.argmax(1), np.array(model.classes_)
        return np.where((cls[k] != NONE) & (pr.max(1) >= t), cls[k], NONE)

    for C in args.C:
        for t in (0.0, 0.3, 0.4):
            pred, off = np.empty(len(records), dtype=object), np.zeros(len(B), bool)
            for f, test in enumerate(folds):
                train, btrain = np.setdiff1d(np.arange(len(records)), test), np.setdiff1d(np.arange(len(B)), bfolds[f])
                model = fit([X[train], P, B[btrain]], [y[train], part_y, np.array([NONE] * len(btrain))], C)
                pred[test] = decide(model, X[test], t)
                off[bfolds[f]] = decide(model, B[bfolds[f]], t) != NONE
            model = fit([X, P, B], [y, part_y, np.array([NONE] * len(B))], C)
            s = score(list(y), list(pred))
            extra = ", ".join(f"{k} paragraphs linked {np.mean(decide(model, v, t) != NONE):.0%}" for k, v in vec.items())
            print(f"  supervised C={C:g} p>={t:.1f}: CV rolled-up kappa {s.kappa:.3f}, linked {np.mean(pred != NONE):.0%}, "
                  f"held-out off-topic sentences linked {off.mean():.0%}, {extra}")  # fmt: skip


if __name__ == "__main__":
    main()
