"""The tamper-evident audit trail: audit verify, log, export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import Json, fail, open_project, print_json, say, state

commands = typer.Typer()
audit = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
commands.add_typer(audit, name="audit")


@audit.command("verify")
def audit_verify() -> None:
    """Check the hash chain and the anchor file; names every place the chain breaks."""
    with open_project() as proj:
        breaks = proj.verify_audit()
        entries = proj.audit_entries()
    if not breaks:
        say(f"audit trail intact: {entries} entries, hash chain and anchor verified")
        return
    for b in breaks:
        fail(f"entry {b.seq}: {b.reason}" if b.seq else f"anchor: {b.reason}")
    raise typer.Exit(1)


@audit.command("log")
def audit_log(
    since: Annotated[Optional[str], typer.Option(help="ISO date or time, e.g. 2026-11-01.")] = None,
    actor: Annotated[Optional[str], typer.Option("--by", "--coder", help="Only this actor (here --coder filters too).")] = None,
    type_: Annotated[Optional[str], typer.Option("--type", help="ingest, coding-run-start, suggestions, decision, codebook ...")] = None,
    as_json: Json = False,
) -> None:
    """Show audit entries."""
    with open_project() as proj:
        rows = proj.audit_log(since=since, coder=actor, type_=type_)
    if as_json:
        return print_json(rows)
    for r in rows:
        summary = ", ".join(f"{k}={v}" for k, v in list(r["payload"].items())[:5])
        say(f"{r['seq']:>6} {r['at'][:19]} {r['actor']:<12} {r['type']:<18} {summary}"[:200])


@audit.command("export")
def audit_export(file: Annotated[Path, typer.Argument(help="Where to write the ledger.", metavar="FILE.jsonl")]) -> None:
    """Write the whole ledger as JSON lines, hashes included."""
    with open_project() as proj:
        n = proj.export_audit(file, coder=state.coder)
    say(f"wrote {n} entries to {file}")
