"""Initial coding suggestions: code, suggestions."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..errors import CoderAssistError
from ._common import BaseUrl, Json, Model, OnlySource, OnlyWave, RichProgress, open_project, print_json, say, state, warn
from .batches import submit as submit_batch

commands = typer.Typer()


@commands.command()
def code(
    wave: OnlyWave = None,
    source: OnlySource = None,
    provider: Annotated[Optional[str], typer.Option(help="offline, openai, or a plug-in's (default: from the config).")] = None,
    model: Model = None,
    base_url: BaseUrl = None,
    limit: Annotated[Optional[int], typer.Option(help="Code at most this many segments in this run.", min=1)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count segments, estimate tokens and cost; call nothing.")] = False,
    framework: Annotated[Optional[str], typer.Option(help="Deductive coding straight into this framework's constructs (e.g. ivpd).")] = None,
    batch: Annotated[bool, typer.Option("--batch", help="Submit through the provider's Batch API (half price, within 24 h); see 'batches'.")] = False,
    as_json: Json = False,
) -> None:
    """Grounded-theory initial coding: propose codes for each segment, as suggestions only.

    Only participants' talk is coded (not interviewers or moderators). Segments already coded with
    the same provider, model, prompt and parameters are skipped, so an interrupted run can simply
    be started again. Every quote is checked against the segment; ungrounded suggestions are kept
    for inspection but never offered for one-click acceptance.
    """
    if batch:
        if dry_run or framework:
            raise CoderAssistError("--batch does not combine with --dry-run or --framework")
        return submit_batch(wave=wave, source=source, limit=limit, provider=provider, model=model, base_url=base_url,
                            as_json=as_json)  # fmt: skip
    with open_project() as proj:
        report = proj.code(provider=provider, model=model, base_url=base_url, wave=wave, source=source, limit=limit,
                           dry_run=dry_run, coder=state.coder, progress=None if as_json else RichProgress(),
                           framework=framework)  # fmt: skip
    for w in report.warnings:
        warn(w)
    if as_json:
        return print_json(vars(report))
    label = "offline heuristics (no model)" if report.provider == "offline" else f"{report.provider} {report.model}"
    cost = "unknown (no price for this model)" if report.cost_usd is None else f"${report.cost_usd:.4f}"
    tokens = f"{report.prompt_tokens} prompt + {report.completion_tokens} completion tokens"
    if report.dry_run:
        say(f"dry run with {label}: {report.selected} segments to code ({report.skipped_done} already done)")
        say(f"estimated {tokens}, estimated cost {cost}; nothing was sent")
        return
    say(f"{label}: coded {report.coded} segments, {report.failed} failed, {report.skipped_done} already done")
    methods = ", ".join(f"{k} {v}" for k, v in sorted(report.by_method.items()))
    say(f"{report.suggestions} suggestions: {report.grounded} grounded, {report.ungrounded} ungrounded"
        f"{f' ({methods})' if methods else ''}")  # fmt: skip
    say(f"{tokens}{' (estimated)' if report.tokens_estimated else ''}, cost {cost}"
        f"{'; identifiers were pseudonymised before sending' if report.redacted else ''}")  # fmt: skip
    if report.failed:
        say("failed segments keep their reason and raw reply; run 'coder-assist code' again to retry them")
        raise typer.Exit(1)


@commands.command()
def suggestions(
    status: Annotated[Optional[str], typer.Option(help="proposed, ungrounded, ... (default: all).")] = None,
    run: Annotated[Optional[str], typer.Option(help="Only this coding run.")] = None,
    as_json: Json = False,
) -> None:
    """List suggestions with their quote, grounding and provider."""
    with open_project() as proj:
        rows = proj.suggestion_rows(status=status, run_id=run)
    if as_json:
        return print_json(rows)
    for r in rows:
        where = f"[{r['start']}:{r['end']}]" if r["start"] is not None else "[not found]"
        say(f"#{r['id']} {r['status']:<10} {r['label']}  ({r['provider']}, {r['grounding']})")
        say(f"    {r['speaker'] or '-'} in {r['source']} {where}: \"{r['quote']}\"")
