"""Construct mapping: map, links (list, accept, reject)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ._common import BaseUrl, Json, Model, Note, RichProgress, open_project, plural, print_json, quoted, say, state

commands = typer.Typer()
links = typer.Typer(help="Construct links: list the suggestions (default), confirm or reject them.")
commands.add_typer(links, name="links")
LinkIds = Annotated[list[int], typer.Argument(help="Link suggestion ids (see 'links').", metavar="ID...")]


@commands.command("map")
def map_cmd(
    framework: Annotated[str, typer.Option(help="Framework id, e.g. ivpd.")],
    level: Annotated[str, typer.Option(help="segment, code or category.")] = "code",
    threshold: Annotated[Optional[float], typer.Option(
        help="Abstain when the best top-level score is less than this above ordinary talk (default: calibrated).")] = None,
    provider: Annotated[Optional[str], typer.Option(help="offline (similarity) or openai (the model chooses).")] = None,
    model: Model = None,
    base_url: BaseUrl = None,
) -> None:
    """Propose links from segments, codes or categories to a framework's constructs; abstains when nothing fits."""
    with open_project() as proj:
        r = proj.map(framework, level=level, threshold=threshold, coder=state.coder, provider=provider, model=model,
                     base_url=base_url, progress=RichProgress())  # fmt: skip
    say(f"{plural(r.items, level)}: {plural(r.linked, 'link')} proposed, {r.abstained} abstained, {r.skipped} skipped "
        f"(already mapped by the same method) (threshold {r.threshold:.2f})"
        + ("; confirm with 'coder-assist links accept ID'" if r.linked else ""))  # fmt: skip


@links.callback(invoke_without_command=True)
def links_list(
    ctx: typer.Context,
    status: Annotated[Optional[str], typer.Option(help="proposed, accepted or rejected (default: all).")] = None,
    framework: Annotated[Optional[str], typer.Option(help="Only links to this framework.")] = None,
    as_json: Json = False,
) -> None:
    """List construct-link suggestions."""
    if ctx.invoked_subcommand:
        return
    with open_project() as proj:
        rows = proj.link_suggestion_rows(status, framework, with_targets=True)
    if as_json:
        return print_json(rows)
    for r in rows:
        target = r["target_label"] if r["level"] == "segment" else f"{r['target']} {quoted(r['target_label'])}"
        say(f"#{r['id']} {r['status']:<9} {r['level']} {target} -> {r['framework']}.{r['construct']} "
            f"({r['confidence']:.2f})")  # fmt: skip


@links.command("accept")
def links_accept(ids: LinkIds) -> None:
    """Confirm construct links (all or none)."""
    with open_project() as proj:
        done = proj.decide_link(ids, "accept", coder=state.coder)
    for sid, link_id in zip(ids, done):
        say(f"link suggestion {sid} confirmed as construct link {link_id}")


@links.command("reject")
def links_reject(ids: LinkIds, note: Note = None) -> None:
    """Reject construct links (all or none)."""
    with open_project() as proj:
        proj.decide_link(ids, "reject", coder=state.coder, note=note)
    say(f"{plural(len(ids), 'link suggestion')} rejected: {', '.join(str(i) for i in ids)}")
