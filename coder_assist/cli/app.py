"""The ``coder-assist`` root command: global options, and one command group per module."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import (
    analyses, audit, batches, categories, codebook, coding, evaluate, exchange, frameworks, ingest, mapping, memos, project,
    review, saturation, waves,
)  # fmt: skip
from ._common import state
from ._root_group import RootGroup

app = typer.Typer(
    name="coder-assist",
    cls=RootGroup,
    help="LLM-assisted qualitative coding and grounded theory for interview transcripts.\n\n"
    "Every suggestion waits for a named human's decision; everything runs offline by default. "
    "--project/-p, --coder and --debug may also follow the command, e.g. accept 5 --coder ann.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    project: Annotated[
        Path, typer.Option("--project", "-p", envvar="CODER_ASSIST_PROJECT", help="Project directory.")
    ] = Path("."),
    coder: Annotated[
        Optional[str], typer.Option("--coder", envvar="CODER_ASSIST_CODER", help="Who is acting (recorded in the audit trail).")
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", envvar="CODER_ASSIST_DEBUG", help="Show the traceback of an unexpected error.")
    ] = False,
) -> None:
    state.project = project
    state.coder = coder
    state.debug = debug


# In the order of the work; each module's commands (and its group, if it has one) go in as they are.
for _module in (project, ingest, coding, batches, review, codebook, categories, frameworks, mapping, memos, analyses, saturation,
                waves, evaluate, exchange, audit):  # fmt: skip
    app.add_typer(_module.commands)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="coder-assist")


if __name__ == "__main__":
    sys.exit(main())
