"""Scoring construct mapping against a labelled set: eval."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import BaseUrl, Json, Model, open_project, print_json, say

commands = typer.Typer()


@commands.command("eval")
def eval_cmd(
    gold: Annotated[Path, typer.Option(help="JSONL of {quote, framework, label}.", metavar="FILE.jsonl")],
    framework: Annotated[Optional[str], typer.Option(help="Only this framework.")] = None,
    provider: Annotated[str, typer.Option(help="offline (similarity mapper) or openai (the model chooses).")] = "offline",
    model: Model = None,
    base_url: BaseUrl = None,
    as_json: Json = False,
) -> None:
    """Map each gold quote and report accuracy, macro-F1 and Cohen's kappa per framework."""
    from ..theory.evaluate import Scores, confusion_table
    from ..theory.mapping import rollup_scores

    with open_project() as proj:
        results = proj.evaluate_gold(gold, framework, provider=provider, model=model, base_url=base_url)
        embedder = proj.embedder.name if provider == "offline" else f"{provider} {model or ''}".strip()
    if as_json:
        return print_json([vars(r) for r in results])
    for r in results:
        say(f"{r.framework} (n={r.n}, {'offline hierarchical mapper, ' if provider == 'offline' else ''}{embedder}, "
            f"threshold {r.threshold:.2f}, linked {r.linked:.0%}):")  # fmt: skip
        say(f"  strict:    accuracy {r.accuracy:.3f}  macro-F1 {r.macro_f1:.3f}  kappa {r.kappa:.3f}")
        say(f"  rolled up to top-level constructs: accuracy {r.rollup_accuracy:.3f}  macro-F1 {r.rollup_macro_f1:.3f}"
            f"  kappa {r.rollup_kappa:.3f}")  # fmt: skip
        if provider == "offline":
            say(f"  5-fold cross-validated, strict (calibrated on the other folds): accuracy {r.cv_accuracy:.3f}"
                f"  macro-F1 {r.cv_macro_f1:.3f}  kappa {r.cv_kappa:.3f}")  # fmt: skip
            say(f"  5-fold cross-validated, rolled up: accuracy {r.cv_rollup_accuracy:.3f}"
                f"  macro-F1 {r.cv_rollup_macro_f1:.3f}  kappa {r.cv_rollup_kappa:.3f}  (linked {r.cv_linked:.0%})")  # fmt: skip
        if r.baseline_kappa is not None:
            say(f"  baseline, nearest top-level definition (no abstention), rolled up: accuracy {r.baseline_accuracy:.3f}"
                f"  macro-F1 {r.baseline_macro_f1:.3f}  kappa {r.baseline_kappa:.3f}")  # fmt: skip
        s = Scores(r.n, r.accuracy, r.macro_f1, r.kappa, r.labels, r.confusion)
        say("\n".join("  " + line for line in confusion_table(s).splitlines()), block=True)
        if r.rollup_labels:
            say("  rolled up:")
            say("\n".join("  " + line for line in confusion_table(rollup_scores(r)).splitlines()), block=True)
