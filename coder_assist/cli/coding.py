"""Initial coding suggestions: code, suggestions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import CoderAssistError
from ..suggest.coding import RunReport
from ._common import BaseUrl, Json, Model, OnlySource, OnlyWave, RichProgress, open_project, plural, print_json, say, state, warn
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
    max_cost: Annotated[Optional[float], typer.Option("--max-cost", help="Stop before a call would take this run's cost above USD (default: [budget] max_cost_usd).", min=0)] = None,
    as_json: Json = False,
) -> None:
    """Grounded-theory initial coding: propose codes for each segment, as suggestions only.

    Only participants' talk is coded (not interviewers or moderators). Segments already coded with
    the same provider, model, prompt and parameters are skipped, so an interrupted run can simply
    be started again. Every quote is checked against the segment; ungrounded suggestions are kept
    for inspection but never offered for one-click acceptance. Model calls run
    ``provider.concurrency`` at a time (default 4), within ``provider.rpm`` / ``provider.tpm``.
    """
    if batch:
        if dry_run or framework or max_cost is not None:
            raise CoderAssistError("--batch does not combine with --dry-run, --framework or --max-cost")
        return submit_batch(wave=wave, source=source, limit=limit, provider=provider, model=model, base_url=base_url,
                            as_json=as_json)  # fmt: skip
    with open_project() as proj:
        report = proj.code(provider=provider, model=model, base_url=base_url, wave=wave, source=source, limit=limit,
                           dry_run=dry_run, coder=state.coder, progress=None if as_json else RichProgress(),
                           framework=framework, max_cost=max_cost)  # fmt: skip
    if report.dry_run:
        for w in report.warnings:
            warn(w)
        if as_json:
            return print_json(vars(report))
        label = "offline heuristics (no model)" if report.provider == "offline" else f"{report.provider} {report.model}"
        cost = "unknown (no price for this model)" if report.cost_usd is None else f"${report.cost_usd:.4f}"
        say(f"dry run with {label}: {report.selected} segments to code ({report.skipped_done} already done)")
        say(f"estimated {report.prompt_tokens} prompt + {report.completion_tokens} completion tokens, estimated cost "
            f"{cost}; nothing was sent")  # fmt: skip
        for wave_name, w in sorted(report.by_wave.items()):
            wcost = "unknown" if w["cost_usd"] is None else f"${w['cost_usd']:.4f}"
            say(f"  wave {wave_name}: {w['segments']} segments, {w['prompt_tokens']} prompt + "
                f"{w['completion_tokens']} completion tokens, {wcost}")  # fmt: skip
        if report.max_cost_usd is not None and report.cost_usd is not None and report.cost_usd > report.max_cost_usd:
            say(f"the cost cap ${report.max_cost_usd:.4f} would stop the run before it finishes")
        return
    _report(report, as_json)


@commands.command()
def recode(
    wave: Annotated[int, typer.Option(help="The wave to code with the accepted codebook.")],
    provider: Annotated[Optional[str], typer.Option(help="offline, openai, or a plug-in's (default: from the config).")] = None,
    model: Model = None,
    base_url: BaseUrl = None,
    limit: Annotated[Optional[int], typer.Option(help="Code at most this many segments in this run.", min=1)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say how much would be sent; call nothing.")] = False,
    max_cost: Annotated[Optional[float], typer.Option("--max-cost", help="Stop before a call would take this run's cost above USD (default: [budget] max_cost_usd).", min=0)] = None,
    batch: Annotated[bool, typer.Option("--batch", help="Submit through the provider's Batch API (half price, within 24 h); see 'batches'.")] = False,
    as_json: Json = False,
) -> None:
    """Code a new wave with the accepted codebook: codes applied by their definitions and
    examples, new codes only where none fits, all as suggestions for review.

    Only segments not yet coded with this provider, model, prompt and codebook are sent: an
    unchanged re-run sends nothing, and a changed codebook re-codes the wave. It first says how
    much it will send (segments, tokens, cost). Offline, the heuristics compare every new code
    with the whole codebook (constant comparison).
    """
    if batch:
        if dry_run or max_cost is not None:
            raise CoderAssistError("--batch does not combine with --dry-run or --max-cost")
        return submit_batch(wave=wave, source=None, limit=limit, provider=provider, model=model, base_url=base_url,
                            as_json=as_json, apply_codebook=True)  # fmt: skip
    with open_project() as proj:
        plan = proj.recode(wave, provider=provider, model=model, base_url=base_url, limit=limit, dry_run=True,
                           max_cost=max_cost, coder=state.coder)  # fmt: skip
        cost = "unknown (no price for this model)" if plan.cost_usd is None else f"${plan.cost_usd:.4f}"
        if not as_json:
            say(f"recode wave {wave}: {plan.selected} segments to send ({plan.skipped_done} already done with this "
                f"codebook), about {plan.prompt_tokens} prompt + {plan.completion_tokens} completion tokens, {cost}")  # fmt: skip
        if dry_run or not plan.selected:
            return print_json(vars(plan)) if as_json else None
        report = proj.recode(wave, provider=provider, model=model, base_url=base_url, limit=limit, max_cost=max_cost,
                             coder=state.coder, progress=None if as_json else RichProgress())  # fmt: skip
    _report(report, as_json)


def _report(report: RunReport, as_json: bool) -> None:
    """What a coding run did, as text or JSON; exit 1 when segments failed or the cost cap stopped it."""
    for w in report.warnings:
        warn(w)
    if as_json:
        print_json(vars(report))
    else:
        label = "offline heuristics (no model)" if report.provider == "offline" else f"{report.provider} {report.model}"
        cost = "unknown (no price for this model)" if report.cost_usd is None else f"${report.cost_usd:.4f}"
        tokens = f"{report.prompt_tokens} prompt + {report.completion_tokens} completion tokens"
        say(f"{label}: coded {report.coded} segments, {report.failed} failed, {report.skipped_done} already done")
        methods = ", ".join(f"{k} {v}" for k, v in sorted(report.by_method.items()))
        say(f"{report.suggestions} suggestions: {report.grounded} grounded, {report.ungrounded} ungrounded"
            f"{f' ({methods})' if methods else ''}")  # fmt: skip
        say(f"{tokens}{' (estimated)' if report.tokens_estimated else ''}, cost {cost}"
            f"{'; identifiers were pseudonymised before sending' if report.redacted else ''}")  # fmt: skip
        if report.concurrency > 1 and report.throttles:
            say(f"the endpoint rate-limited {report.throttles} time(s); calls in flight went down to {report.lowest_window}"
                f" of {report.concurrency} and back up as calls succeeded")  # fmt: skip
        if report.budget_stopped:
            say(f"stopped at the cost cap ${report.max_cost_usd:.4f}: {report.left_undone} segments left undone; "
                "run again with a higher --max-cost to finish them")  # fmt: skip
        if report.failed and not report.budget_stopped:
            say("failed segments keep their reason and raw reply; run the command again to retry them")
    if report.failed or report.budget_stopped:
        raise typer.Exit(1)


@commands.command()
def suggestions(
    status: Annotated[Optional[str], typer.Option(help="proposed, ungrounded, ... (default: all).")] = None,
    run: Annotated[Optional[str], typer.Option(help="Only this coding run.")] = None,
    where: Annotated[Optional[str], typer.Option(help="Only those matching a filter (as in 'review --where').")] = None,
    csv: Annotated[Optional[Path], typer.Option(
        "--csv", metavar="FILE", help="Write a decision sheet instead: fill its 'action' column in a spreadsheet, "
        "then apply it with 'review --from FILE'.")] = None,
    as_json: Json = False,
) -> None:
    """List suggestions with their quote, grounding and provider, or write them as a decision sheet."""
    with open_project() as proj:
        if csv is not None:
            n = proj.write_decision_sheet(csv, status=status or "proposed", run_id=run, where=where)
            say(f"wrote {csv}: {plural(n, 'suggestion')} to decide (columns id, action, label, span, into, note, version, "
                f"then context); apply it with: coder-assist review --from {csv}")  # fmt: skip
            return
        rows = proj.suggestion_rows(status=status, run_id=run, where=where)
    if as_json:
        return print_json(rows)
    for r in rows:
        where = f"[{r['start']}:{r['end']}]" if r["start"] is not None else "[not found]"
        say(f"#{r['id']} {r['status']:<10} {r['label']}  ({r['provider']}, {r['grounding']})")
        say(f"    {r['speaker'] or '-'} in {r['source']} {where}: \"{r['quote']}\"")
