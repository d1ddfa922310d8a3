"""Exchange with other CAQDAS tools through REFI-QDA: export qdpx|qdc, import qdpx|qdc."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..exchange import ExportReport, ImportReport
from ._common import Json, RichProgress, open_project, plural, print_json, say, state, warn

commands = typer.Typer()
export = typer.Typer(help="Write the project or its codebook as REFI-QDA for NVivo, ATLAS.ti, MAXQDA, QualCoder.",
                     no_args_is_help=True)  # fmt: skip
import_ = typer.Typer(help="Read a REFI-QDA project or codebook from another tool into this project.", no_args_is_help=True)
commands.add_typer(export, name="export")
commands.add_typer(import_, name="import")

File = Annotated[Path, typer.Argument(help="The file to write.", metavar="FILE")]
Source = Annotated[Path, typer.Argument(help="The file to read.", metavar="FILE")]


def _exported(r: ExportReport, as_json: bool) -> None:
    if as_json:
        return print_json(r.__dict__)
    c = r.counts
    what = [plural(c.get("codes", 0), "code"), plural(c.get("sets", 0), "category", "categories")]
    if r.kind == "qdpx":
        what = [plural(c["sources"], "source"), *what, plural(c["codings"], "coding"), plural(c["cases"], "case"),
                plural(c["notes"], "memo"), plural(c["users"], "user")]  # fmt: skip
    say(f"wrote {r.path} ({', '.join(what)}); valid against the REFI-QDA {'project' if r.kind == 'qdpx' else 'codebook'} schema")
    for w in r.warnings:
        warn(w)


def _imported(r: ImportReport, as_json: bool) -> None:
    if as_json:
        return print_json(r.__dict__)
    if r.already:
        say(f"{r.file}: {r.already}")
        return
    c = r.counts
    say(f"imported {r.file} from {r.origin or 'an unnamed tool'} as decisions of {state.coder or 'the project coder'}:")
    say(f"  {plural(c['codes'], 'code')} added, {c['codes_matched']} already here; "
        f"{plural(c['categories'], 'category', 'categories')} from sets")  # fmt: skip
    if r.kind == "qdpx":
        say(f"  {plural(c['sources'], 'source')} added, {c['sources_matched']} already here; "
            f"{plural(c['codings'], 'coding')} added, {c['codings_matched']} already here")  # fmt: skip
        say(f"  {plural(c['participants'], 'participant')} from cases, {plural(c['memos'], 'memo')} from notes")
        for name, unit in r.offset_units.items():
            if unit != "codepoint":
                say(f"  {name}: positions read as {unit.replace('-crlf', ' with CRLF counted as 2')}")
    for w in r.warnings:
        warn(w)


@export.command("qdpx")
def export_qdpx(file: File, as_json: Json = False) -> None:
    """The whole project: sources, codes, codings with their provenance, categories as sets,
    participants as cases, memos as notes, coders as users."""
    with open_project() as proj:
        _exported(proj.export_qdpx(file, coder=state.coder), as_json)


@export.command("qdc")
def export_qdc(file: File, as_json: Json = False) -> None:
    """The codebook only: codes with hierarchy, definitions and colours; categories as sets."""
    with open_project() as proj:
        _exported(proj.export_qdc(file, coder=state.coder), as_json)


@import_.command("qdpx")
def import_qdpx(file: Source, as_json: Json = False) -> None:
    """A project from NVivo, ATLAS.ti, MAXQDA, QualCoder ...: its codings stay the original coders'.
    Needs --coder: the import is recorded as that person's decision."""
    with open_project() as proj:
        _imported(proj.import_qdpx(file, coder=state.coder, progress=None if as_json else RichProgress()), as_json)


@import_.command("qdc")
def import_qdc(file: Source, as_json: Json = False) -> None:
    """A codebook: codes (matched by name where they exist) and sets as categories. Needs --coder."""
    with open_project() as proj:
        _imported(proj.import_qdc(file, coder=state.coder), as_json)
