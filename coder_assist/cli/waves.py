"""Interview waves: wave report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from ..theory.waves import render_html, render_text
from ._common import Json, open_project, print_json, say

commands = typer.Typer()
wave = typer.Typer(help="Interview waves: what a wave changed in the codebook and the theory.", no_args_is_help=True)
commands.add_typer(wave, name="wave")


@wave.command("report")
def wave_report(
    number: Annotated[int, typer.Argument(help="The wave, as given to 'ingest --wave'.", metavar="N")],
    as_json: Json = False,
    html: Annotated[Optional[Path], typer.Option("--html", help="Also write the report as a self-contained HTML file.",
                                                 metavar="FILE")] = None,  # fmt: skip
    window: Annotated[int, typer.Option(help="Interviews the saturation plateau signal looks back over.")] = 3,
    limit: Annotated[int, typer.Option(help="Entries per list and table in the text report (0: all).")] = 20,
) -> None:
    """What wave N changed: new codes and categories, prevalence by wave and side, codes that stopped
    appearing, saturation, and how coders decided the codebook's proposals."""
    with open_project() as proj:
        r = proj.wave_report(number, window)
        name = proj.config.project.name
    if html is not None:
        try:
            html.write_text(render_html(r, f"{name}: wave {number} report" if name else ""), encoding="utf-8")
        except OSError as exc:
            raise InputError(html, f"cannot write: {exc.strerror or exc}") from None
    if as_json:
        return print_json(r.to_dict())
    say(render_text(r, limit), block=True)
    if html is not None:
        say(f"wrote {html}")
