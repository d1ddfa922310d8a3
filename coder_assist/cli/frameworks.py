"""Construct frameworks: frameworks list, show, validate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import Json, fail, open_project, print_json, say

commands = typer.Typer()
frameworks = typer.Typer(help="Construct frameworks: built-in, project (frameworks/*.yaml) and plug-ins.", no_args_is_help=True)
commands.add_typer(frameworks, name="frameworks")


@frameworks.command("list")
def frameworks_list(as_json: Json = False) -> None:
    """List the available frameworks."""
    with open_project() as proj:
        found = proj.frameworks()
    rows = [{"id": f.id, "name": f.name, "version": f.version, "constructs": len(f.constructs)} for f in found.values()]
    if as_json:
        return print_json(rows)
    for r in rows:
        say(f"{r['id']:<24} v{r['version']:<6} {r['constructs']:>3} constructs  {r['name']}")


@frameworks.command("show")
def frameworks_show(
    framework_id: Annotated[str, typer.Argument(help="Framework id (see 'frameworks list').", metavar="ID")],
    as_json: Json = False,
) -> None:
    """Show a framework's constructs with definitions and cues."""
    with open_project() as proj:
        f = proj.framework(framework_id)
    if as_json:
        return print_json(f.model_dump())
    say(f"{f.name} ({f.id} v{f.version})\n{f.description}\nSource: {f.source_note}\n", block=True)
    for c in f.constructs:
        say(f"{c.id}: {c.name}{f'  (under {c.parent})' if c.parent else ''}")
        say(f"    {c.definition}")
        say(f"    use when: {'; '.join(c.include)}")
        say(f"    not when: {'; '.join(c.exclude)}")


@frameworks.command("validate")
def frameworks_validate(file: Annotated[Path, typer.Argument(help="A framework YAML file.", metavar="FILE.yaml")]) -> None:
    """Check a framework file against the schema and the known frameworks."""
    from ..theory.frameworks import builtin_frameworks, check_references, load_framework

    f = load_framework(file)
    problems = check_references({**builtin_frameworks(), f.id: f})
    problems = [p for p in problems if p.startswith(f.id) or f.id in p]
    for p in problems:
        fail(f"{file}: {p}")
    if problems:
        raise typer.Exit(1)
    say(f"{file}: framework {f.id!r} is valid ({len(f.constructs)} constructs)")
