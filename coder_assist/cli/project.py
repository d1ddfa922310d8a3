"""The project itself: init, status, plugins."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..project import Project
from ._common import Json, open_project, plural, print_json, say, state

commands = typer.Typer()


@commands.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the project in.", metavar="DIR")],
    name: Annotated[Optional[str], typer.Option(help="Project name (default: the directory name).")] = None,
    embedder: Annotated[Optional[str], typer.Option(help="minilm (default, offline), openai, or a plug-in's.")] = None,
    store: Annotated[Optional[str], typer.Option(
        help="postgresql://user@host:port/database for a database shared by a team (password from PGPASSWORD or "
        "~/.pgpass, never the config); default: project.db in DIR.", metavar="URL")] = None,
) -> None:
    """Create a project: project.db (SQLite) or a PostgreSQL database, index/ (chroma) and coder-assist.toml."""
    with Project.init(directory, name=name, coder=state.coder, embedder=embedder, store=store) as proj:
        say(f"Created project {proj.config.project.name!r} in {directory}" + (f" (store: {store})" if store else ""))
        say(f"  config: {directory / 'coder-assist.toml'}  (provider: {proj.config.provider.name}, "
            f"embedder: {proj.config.embedder.name})")  # fmt: skip


@commands.command("migrate-store")
def migrate_store(
    to: Annotated[str, typer.Option("--to", help="postgresql://user@host:port/database: an empty database (password "
                                    "from PGPASSWORD or ~/.pgpass).", metavar="URL")],
) -> None:
    """Move this project's database from project.db to a PostgreSQL server, for a team: every table
    copied in one transaction, counts and the audit chain checked there, then the config switched."""
    report = open_project().migrate_store(to, coder=state.coder)
    total = sum(report.counts.values())
    say(f"copied {plural(total, 'row')} in {plural(len(report.counts), 'table')} to {report.url}; counts and the"
        " audit chain verified there")  # fmt: skip
    say(f"  store.url is now {report.url}; the SQLite file is kept as {report.kept}")


@commands.command("grant-coder")
def grant_coder(role: Annotated[str, typer.Argument(help="The database role a team member connects as.", metavar="ROLE")]) -> None:
    """On a PostgreSQL store, run by its owner: let ROLE read and write the project as coder-assist
    does, without the right to create, alter or drop anything (so not the guard triggers either)."""
    with open_project() as proj:
        proj.grant_coder(role)
    say(f"{role} may now work on this project; it cannot change the schema or its guards")


@commands.command()
def status(as_json: Json = False) -> None:
    """What the project holds: documents, segments, what the index really holds, participants,
    suggestions, codes, coding runs, audit events."""
    with open_project() as proj:
        info = proj.status()
    if as_json:
        return print_json(info)
    for key, value in info.items():
        if key in ("suggestions", "runs"):
            value = ", ".join(f"{v} {k}" for k, v in sorted(value.items())) or "none"
        say(f"{key:>18}: {value}")
    if info["indexed"] < info["segments"]:
        say(f"{info['segments'] - info['indexed']} segments are not indexed yet: run 'coder-assist reindex'")


@commands.command()
def plugins(as_json: Json = False) -> None:
    """List loaded plug-ins and the embedders, LLM providers and frameworks they provide."""
    from ..plugins import embedder_factories, framework_factories, plugin_names, provider_factories

    info = {"plugins": plugin_names(), "embedders": sorted(embedder_factories()), "providers": sorted(provider_factories()),
            "frameworks (plug-in)": sorted(framework_factories())}  # fmt: skip
    if as_json:
        return print_json(info)
    for key, values in info.items():
        say(f"{key + ':':<22}" + (", ".join(values) or "-"))
