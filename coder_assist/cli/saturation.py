"""Theoretical saturation: saturation."""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import Json, open_project, plural, print_json, say

commands = typer.Typer()


@commands.command()
def saturation(
    as_json: Json = False,
    window: Annotated[int, typer.Option(help="Interviews the plateau signal looks back over.")] = 3,
) -> None:
    """New initial codes and categories per interview and per wave, with a plateau signal."""
    with open_project() as proj:
        s = proj.saturation(window)
    if as_json:
        return print_json(vars(s))
    for r in s.interviews:
        say(f"wave {r['wave'] or '-'}  {r['document'][:40]:<40} +{r['new_codes']:<3} codes ({r['cumulative_codes']:>4})"
            f"  +{plural(r['new_categories'], 'category')} ({r['cumulative_categories']})")  # fmt: skip
    for w in s.waves:
        say(f"wave {w['wave'] or '-'}: {plural(w['interviews'], 'interview')}, {plural(w['new_codes'], 'new code')}, "
            f"{plural(w['new_categories'], 'new category')}")  # fmt: skip
    say(s.signal)
