"""Initial coding through the Batch API: batches status, collect, cancel (submit is ``code --batch``)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Optional

import typer

from ._common import BaseUrl, Json, RichProgress, open_project, plural, print_json, say, state, warn

commands = typer.Typer()
batches = typer.Typer(help="Batch API coding: status, collect, cancel (submit with 'code --batch').", no_args_is_help=True)
commands.add_typer(batches, name="batches")
BatchId = Annotated[Optional[str], typer.Argument(help="A batch id (default: every batch of this project).", metavar="BATCH_ID")]
Provider = Annotated[Optional[str], typer.Option(help="The provider the batch went to (default: from the config).")]


def submit(*, wave: int | None, source: str | None, limit: int | None, provider: str | None, model: str | None,
           base_url: str | None, as_json: bool, apply_codebook: bool = False) -> None:  # fmt: skip
    """``code --batch`` / ``recode --batch``: submit the segments still to code as one batch and say what was sent."""
    with open_project() as proj:
        report = proj.code_batch(wave=wave, source=source, limit=limit, coder=state.coder, provider=provider,
                                 model=model, base_url=base_url, apply_codebook=apply_codebook)  # fmt: skip
    for w in report.warnings:
        warn(w)
    if as_json:
        return print_json(vars(report))
    held = f", {report.skipped_pending} in a pending batch" if report.skipped_pending else ""
    if report.batch_id is None:
        say(f"nothing to submit: {report.skipped_done} segments already done{held}")
        return
    sent = f"batch {report.batch_id}" if len(report.batch_ids) <= 1 else \
        f"{len(report.batch_ids)} batches ({', '.join(report.batch_ids)}; a batch holds at most 50,000 requests and 200 MB)"  # fmt: skip
    say(f"{report.provider} {report.model}: submitted {sent} with {plural(report.selected, 'segment')}"
        f" ({report.skipped_done} already done{held}){'; identifiers were pseudonymised' if report.redacted else ''}")  # fmt: skip
    follow = report.batch_id if len(report.batch_ids) <= 1 else ""
    say(f"follow {'it' if follow else 'them'} with 'coder-assist batches status{' ' + follow if follow else ''}', "
        "then 'coder-assist batches collect'")


def _line(r: dict[str, Any]) -> str:
    c = r["counts"]
    done = f"{c.get('completed', 0)}/{c.get('total', len(r['segment_ids']))} done, {c.get('failed', 0)} failed"
    collected = ", collected" if r["collected_at"] else ""
    return f"{r['id']}  {r['status']:<11} {done}{collected}  ({r['model']}, {r['created_at'][:16]}, {r['actor']})"


@batches.command("status")
def batches_status(batch_id: BatchId = None, provider: Provider = None, base_url: BaseUrl = None, as_json: Json = False) -> None:
    """Submitted batches with their state, running ones refreshed from the API."""
    with open_project() as proj:
        rows = proj.batches(batch_id, coder=state.coder, provider=provider, base_url=base_url)
    if as_json:
        return print_json(rows)
    for r in rows:
        say(_line(r))


@batches.command("collect")
def batches_collect(batch_id: BatchId = None, provider: Provider = None, base_url: BaseUrl = None, as_json: Json = False) -> None:
    """Store the suggestions of finished batches; each segment once, however often this runs."""
    with open_project() as proj:
        report = proj.collect_batches(batch_id, coder=state.coder, provider=provider, base_url=base_url,
                                      progress=None if as_json else RichProgress())  # fmt: skip
    if as_json:
        return print_json(dataclasses.asdict(report))
    for p in report.pending:
        c = p["counts"]
        say(f"batch {p['id']} is {p['status']} ({c.get('completed', 0)}/{c.get('total', '?')} done): collect it later")
    if not report.collected:
        if not report.pending:
            say("nothing to collect: every batch is collected already")
        return
    r = report.coding
    assert r is not None
    say(f"collected {plural(len(report.collected), 'batch')} ({', '.join(report.collected)}): coded {r.coded} segments,"
        f" {r.failed} failed, {report.skipped_done} already done")  # fmt: skip
    say(f"{r.suggestions} suggestions: {r.grounded} grounded, {r.ungrounded} ungrounded; "
        f"{r.prompt_tokens} prompt + {r.completion_tokens} completion tokens, cost "
        f"{'unknown (no price for this model)' if r.cost_usd is None else f'${r.cost_usd:.4f}'}")  # fmt: skip
    if r.failed:
        say("failed segments keep their reason and raw reply; 'coder-assist code --batch' submits them again")
        raise typer.Exit(1)


@batches.command("cancel")
def batches_cancel(
    batch_id: Annotated[str, typer.Argument(help="The batch to cancel.", metavar="BATCH_ID")],
    provider: Provider = None,
    base_url: BaseUrl = None,
) -> None:
    """Cancel a running batch; 'batches collect' afterwards stores whatever it finished."""
    with open_project() as proj:
        row = proj.cancel_batch(batch_id, coder=state.coder, provider=provider, base_url=base_url)
    say(f"batch {row['id']} is {row['status']}; 'coder-assist batches collect {row['id']}' stores what it finished")
