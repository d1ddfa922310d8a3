"""The project itself: init, status, plugins."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..project import Project
from ._common import Json, open_project, print_json, say, state

commands = typer.Typer()


@commands.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the project in.", metavar="DIR")],
    name: Annotated[Optional[str], typer.Option(help="Project name (default: the directory name).")] = None,
    embedder: Annotated[Optional[str], typer.Option(help="minilm (default, offline), openai, or a plug-in's.")] = None,
) -> None:
    """Create a project: project.db (SQLite), index/ (chroma) and coder-assist.toml."""
    with Project.init(directory, name=name, coder=state.coder, embedder=embedder) as proj:
        say(f"Created project {proj.config.project.name!r} in {directory}")
        say(f"  config: {directory / 'coder-assist.toml'}  (provider: {proj.config.provider.name}, "
            f"embedder: {proj.config.embedder.name})")  # fmt: skip


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
