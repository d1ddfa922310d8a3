"""Deciding suggestions: review (interactive, bulk, from a decisions CSV), accept, reject, undo, trace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import CoderAssistError
from ..project import Project
from ._common import Json, Note, open_project, plural, print_json, say, state
from ._review_loop import interactive

commands = typer.Typer()
Ids = Annotated[list[int], typer.Argument(help="Suggestion ids.", metavar="ID...")]


@commands.command()
def review(
    accept_where: Annotated[Optional[str], typer.Option(help="Accept every open, grounded suggestion matching EXPR.", metavar="EXPR")] = None,
    reject_where: Annotated[Optional[str], typer.Option(help="Reject every open suggestion matching EXPR.", metavar="EXPR")] = None,
    defer_where: Annotated[Optional[str], typer.Option(help="Defer every open suggestion matching EXPR.", metavar="EXPR")] = None,
    from_file: Annotated[Optional[Path], typer.Option("--from", help="Apply decisions from a CSV: id, action, label, span, into, note.")] = None,
    where: Annotated[Optional[str], typer.Option(help="Interactive review of only the suggestions matching EXPR.", metavar="EXPR")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before a bulk decision.")] = False,
    note: Annotated[Optional[str], typer.Option(help="Note recorded with bulk decisions.")] = None,
) -> None:
    """Review suggestions: interactively (single keys), in bulk, or from a decisions file.

    EXPR is 'field op value' joined by 'and'; fields: provider, model, label, status, wave, side,
    role_category, speaker, source, case, run, grounded, grounding, score, in_vivo; operators
    = != ~ (contains) !~ < <= > >=. Example: --accept-where "provider=offline and wave=1 and
    side=buyer and grounded=true". Ungrounded suggestions are never accepted in bulk.
    """
    for option, expr in (("--accept-where", accept_where), ("--reject-where", reject_where),
                         ("--defer-where", defer_where), ("--where", where)):  # fmt: skip
        if expr is not None and not expr.strip():
            raise CoderAssistError(f"{option}: empty filter expression (expected field op value, e.g. wave=1)")
    bulk = [(a, e) for a, e in (("accept", accept_where), ("reject", reject_where), ("defer", defer_where)) if e is not None]
    if len(bulk) + bool(from_file) > 1:
        raise CoderAssistError("give one of --accept-where, --reject-where, --defer-where or --from")
    with open_project() as proj:
        if from_file:
            decisions = proj.apply_decisions_csv(from_file, coder=state.coder)
            say(f"applied {len(decisions)} decisions from {from_file} as {proj.decider(state.coder)}")
        elif bulk:
            _decide_in_bulk(proj, *bulk[0], yes=yes, note=note)
        else:
            session = proj.review(coder=state.coder, where=where)
            if session.done:
                say("nothing to review")
            else:
                interactive(session)


def _decide_in_bulk(proj: Project, action: str, expr: str, *, yes: bool, note: str | None) -> None:
    """Show what EXPR matches, ask (unless ``yes``), then decide them all in one go."""
    who = proj.decider(state.coder)
    rows = proj.bulk_preview(expr, action)
    past = {"accept": "accepted", "reject": "rejected", "defer": "deferred"}.get(action, action)
    say(f"{plural(len(rows), 'open suggestion')} match; they would be {past} as {who}:")
    for r in rows[:10]:
        say(f"  #{r['id']} {r['label']}  ({r['speaker']}, {r['source']})")
    if len(rows) > 10:
        say(f"  ... and {len(rows) - 10} more")
    if not rows:
        return
    if not who:  # before asking: the answer would be wasted
        raise CoderAssistError("a decision needs a named coder: pass --coder, set CODER_ASSIST_CODER, or set project.coder")
    if not yes and not typer.confirm(f"{action.capitalize()} these {len(rows)}?", default=False):
        say("nothing changed")
        raise typer.Exit(1)
    decided = proj.decide_where(expr, action, coder=state.coder, note=note)
    say(f"{plural(len(decided), 'suggestion')} {past}")


@commands.command()
def accept(ids: Ids, note: Note = None) -> None:
    """Accept suggestions as proposed (all or none)."""
    with open_project() as proj:
        ds = proj.accept(ids, coder=state.coder, note=note)
    for d in ds:
        say(f"#{d.suggestion_id} accepted by {d.coder} (decision {d.id}, coding {d.coding_id})")


@commands.command()
def reject(ids: Ids, note: Annotated[Optional[str], typer.Option(help="Why (recorded with the decision).")] = None) -> None:
    """Reject suggestions (all or none)."""
    with open_project() as proj:
        ds = proj.reject(ids, coder=state.coder, note=note)
    for d in ds:
        say(f"#{d.suggestion_id} rejected by {d.coder} (decision {d.id})")


@commands.command()
def undo(decision: Annotated[Optional[int], typer.Argument(help="Decision id (default: your latest).")] = None) -> None:
    """Reverse a decision with a new decision; nothing is deleted."""
    with open_project() as proj:
        d = proj.undo(decision, coder=state.coder)
    say(f"decision {d.id}: suggestion #{d.suggestion_id} back to {d.to_status}")


@commands.command()
def trace(coding: Annotated[int, typer.Argument(help="Coding id.", metavar="CODING_ID")], as_json: Json = False) -> None:
    """From a coding back to the decision, the suggestion, the model and prompt, and the input."""
    with open_project() as proj:
        t = proj.trace(coding)
    if as_json:
        return print_json(t)
    c, d, s = t["coding"], t["decision"], t.get("suggestion")
    say(f"coding {c['id']}: '{c['code']}' on {c['source']} [{c['start']}:{c['end']}] {c['speaker']}: \"{c['text']}\"")
    say(f"  decided by {d.get('coder')} at {d.get('at')} ({d.get('action')}{', note: ' + d['note'] if d.get('note') else ''})")
    if s:
        say(f"  suggested by {s['provider']} {s['model']} in run {s['run_id']} at {s['created_at']}")
        say(f"  prompt {s['prompt_id']} v{s['prompt_version']} sha256 {s['prompt_sha256'][:16]}…; "
            f"params {json.dumps(s['params'])}; input sha256 {s['input_sha256'][:16]}…")  # fmt: skip
        say(f"  original label '{s['label']}', grounding {s['grounding']}")
    else:
        say("  coded by hand (no suggestion)")
    if t["undone_by"]:
        say(f"  undone by {t['undone_by']['coder']} at {t['undone_by']['at']}")
