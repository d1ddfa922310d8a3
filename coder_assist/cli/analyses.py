"""Per-case analyses: posture, ivpd, analyses (accept, reject)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ._common import Json, Note, OnlyCase, open_project, plural, print_json, say, state

commands = typer.Typer()
analyses = typer.Typer(help="Proposed posture and IVPD analyses: confirm or reject.", no_args_is_help=True)
commands.add_typer(analyses, name="analyses")
AnalysisIds = Annotated[list[int], typer.Argument(help="Analysis ids (printed by 'posture' and 'ivpd').", metavar="ID...")]


@commands.command()
def posture(case: OnlyCase = None, as_json: Json = False) -> None:
    """Propose each case's value strategies (buyer and supplier), its cell in the 3x3 posture grid,
    what each side can do, and the dyadic competences in play. Offline similarity; confirm by hand."""
    with open_project() as proj:
        ids = proj.propose_postures(case, coder=state.coder)
        rows = proj.analyses("posture")
    _show([r for r in rows if r["id"] in ids], "posture", as_json)


@commands.command()
def ivpd(case: OnlyCase = None, as_json: Json = False) -> None:
    """Compare how buyer-side groups perceive the supplier's value on each IVPD dimension, with
    evidence, signs of dissonance or alignment, and the supplier side for contrast."""
    with open_project() as proj:
        ids = proj.propose_ivpd(case, coder=state.coder)
        rows = proj.analyses("ivpd")
    _show([r for r in rows if r["id"] in ids], "ivpd", as_json)


def _show(rows: list[dict[str, Any]], kind: str, as_json: bool) -> None:
    from ..theory.analysis import render_ivpd, render_posture

    if as_json:
        return print_json(rows)
    for r in rows:
        say(f"#{r['id']} ({r['status']})")
        say((render_posture if kind == "posture" else render_ivpd)(r["payload"]), block=True)
    if rows:
        say(f"confirm with: coder-assist analyses accept {' '.join(str(r['id']) for r in rows)}")


@analyses.command("accept")
def analyses_accept(ids: AnalysisIds, note: Note = None) -> None:
    """Confirm proposed analyses (all or none)."""
    with open_project() as proj:
        confirmed = proj.decide_analysis(ids, "accept", coder=state.coder, note=note)
        rows = {r["id"]: r for r in proj.analyses()}
    for sid, cid in zip(ids, confirmed):
        say(f"analysis suggestion {sid} confirmed ({rows[sid]['kind']}, case {rows[sid]['case_id']}; "
            f"confirmed analysis {cid})")  # fmt: skip


@analyses.command("reject")
def analyses_reject(ids: AnalysisIds, note: Note = None) -> None:
    """Reject proposed analyses (all or none)."""
    with open_project() as proj:
        proj.decide_analysis(ids, "reject", coder=state.coder, note=note)
    say(f"{plural(len(ids), 'analysis suggestion')} rejected: {', '.join(str(i) for i in ids)}")
