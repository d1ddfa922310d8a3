"""Theory and reflexive memos: memo draft, drafts, accept, reject, write, show, export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import CoderAssistError, InputError
from ._common import BaseUrl, Json, Model, Note, RichProgress, open_project, plural, print_json, say, state

commands = typer.Typer()
memo = typer.Typer(help="Theory memos: draft from the data, accept or edit, write your own, show, export.", no_args_is_help=True)
commands.add_typer(memo, name="memo")
Draft = Annotated[int, typer.Argument(help="Memo draft id (see 'memo drafts').", metavar="DRAFT")]
Subject = Annotated[str, typer.Argument(help="The memo's subject, e.g. 'category:Contesting the bill'.")]
AllowUnverified = Annotated[bool, typer.Option(
    "--allow-unverified", help="Save quoted passages that are in no transcript, each marked [unverified quote].")]


@memo.command("draft")
def memo_draft(
    category: Annotated[Optional[str], typer.Option(help="A confirmed category (name or id).")] = None,
    construct: Annotated[Optional[str], typer.Option(help="framework.construct, e.g. ivpd.locus.")] = None,
    case: Annotated[Optional[str], typer.Option(help="A case id.")] = None,
    provider: Annotated[Optional[str], typer.Option(help="offline (assembled from the data) or openai (the model writes).")] = None,
    model: Model = None,
    base_url: BaseUrl = None,
) -> None:
    """Draft a memo from the coded data; every quote is anchored and verified. It waits for you to accept it."""
    with open_project() as proj:
        draft_id = proj.draft_memo(category=category, construct=construct, case=case, coder=state.coder,
                                   provider=provider, model=model, base_url=base_url, progress=RichProgress())  # fmt: skip
        d = proj.memo_draft(draft_id)
    say(d["body"], block=True)
    say(f"draft {draft_id} ({plural(len(d['citations']), 'anchored quote')}, {d['ungrounded']} not found); accept with "
        f"'coder-assist memo accept {draft_id}' (add --file F to accept your edited version)")  # fmt: skip


@memo.command("drafts")
def memo_drafts(as_json: Json = False) -> None:
    """List memo drafts."""
    with open_project() as proj:
        rows = proj.memo_drafts()
    if as_json:
        return print_json(rows)
    for r in rows:
        say(f"#{r['id']} {r['status']:<9} {r['subject']}  ({plural(len(r['citations']), 'quote')})")


@memo.command("accept")
def memo_accept(
    draft: Draft,
    file: Annotated[Optional[Path], typer.Option(help="Your edited version of the draft.")] = None,
    note: Note = None,
    allow_unverified: AllowUnverified = False,
) -> None:
    """Accept a draft (or your edited version of it) as the next memo version."""
    body = _read(file) if file else None
    with open_project() as proj:
        memo_id = proj.accept_memo(draft, body=body, coder=state.coder, note=note, allow_unverified=allow_unverified)
        m = next(x for x in proj.memos() if x["id"] == memo_id)
    say(f"draft {draft} accepted: memo '{m['subject']}' version {m['version']} saved "
        f"({plural(len(m['citations']), 'verified quote')})")  # fmt: skip


@memo.command("reject")
def memo_reject(draft: Draft, note: Note = None) -> None:
    """Reject a memo draft."""
    with open_project() as proj:
        proj.reject_memo(draft, coder=state.coder, note=note)
    say(f"memo draft {draft} rejected")


@memo.command("write")
def memo_write(
    subject: Subject,
    file: Annotated[Path, typer.Option(help="Markdown file with your memo.")],
    kind: Annotated[str, typer.Option(help="reflexive or theory.")] = "reflexive",
    allow_unverified: AllowUnverified = False,
) -> None:
    """Save a memo you wrote. Quotes anchored as «words» [source@start:end] are verified at their
    offsets; any other quoted passage of 4 words or more must be in a transcript."""
    body = _read(file)
    with open_project() as proj:
        memo_id = proj.write_memo(subject, body, kind=kind, coder=state.coder, allow_unverified=allow_unverified)
        m = next(x for x in proj.memos() if x["id"] == memo_id)
    say(f"memo '{subject}' version {m['version']} saved")


@memo.command("show")
def memo_show(
    subject: Subject,
    version: Annotated[Optional[int], typer.Option(help="This version (default: the latest).")] = None,
) -> None:
    """Print a memo (latest version unless --version)."""
    with open_project() as proj:
        rows = proj.memos(subject)
    if not rows:
        raise CoderAssistError(f"no memo {subject!r}")
    m = next((r for r in rows if r["version"] == version), None) if version else rows[-1]
    if m is None:
        raise CoderAssistError(f"memo {subject!r} has no version {version}")
    say(m["body"], block=True)
    say(f"({m['subject']} v{m['version']}, {m['kind']}, by {m['created_by']} at {m['created_at'][:19]})")


@memo.command("export")
def memo_export(folder: Annotated[Path, typer.Argument(help="Folder for one Markdown file per memo (latest versions).")]) -> None:
    """Export the latest version of every memo as Markdown."""
    with open_project() as proj:
        n = proj.export_memos(folder, coder=state.coder)
    say(f"exported {plural(n, 'memo')} to {folder}")


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(file, f"cannot read: {exc}") from None
