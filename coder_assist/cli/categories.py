"""Focused coding: categorize, categories (list, accept, reject), lineage."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from ._common import BaseUrl, Json, Model, Note, RichProgress, open_project, plural, print_json, quoted, say, state

commands = typer.Typer()
categories = typer.Typer(help="Focused categories: list proposals and confirmed categories, confirm or reject.")
commands.add_typer(categories, name="categories")
Suggestion = Annotated[int, typer.Argument(help="Category suggestion id (see 'categories').", metavar="ID")]


@commands.command()
def categorize(
    wave: Annotated[Optional[int], typer.Option(help="Only codes applied in this wave.")] = None,
    threshold: Annotated[Optional[float], typer.Option(help="Cosine distance at which clusters stop merging (default: the number of categories is chosen from the data).")] = None,
    provider: Annotated[Optional[str], typer.Option(help="offline (medoid naming) or openai (the model names and defines).")] = None,
    model: Model = None,
    base_url: BaseUrl = None,
) -> None:
    """Focused coding: cluster accepted initial codes into proposed categories, for you to confirm."""
    with open_project() as proj:
        r = proj.categorize(wave=wave, threshold=threshold, coder=state.coder, provider=provider, model=model,
                            base_url=base_url, progress=RichProgress())  # fmt: skip
        rows = proj.category_suggestion_rows() if r.run_id else []
    alone = len(r.unclustered)
    say(f"{plural(r.codes, 'accepted code')} -> {plural(r.categories, 'proposed category')} "
        f"({plural(alone, 'code')} {'stands' if alone == 1 else 'stand'} alone; "
        + (f"threshold {threshold})" if threshold is not None else "number of categories chosen from the data)"))  # fmt: skip
    if r.in_categories:
        say(f"  {plural(r.in_categories, 'code')} already in confirmed categories left out")
    if r.already_proposed:
        say(f"  {plural(r.already_proposed, 'cluster')} not proposed again (the same codes are proposed already, or were rejected)")
    for c in rows:
        if c["run_id"] == r.run_id:
            say(f"  #{c['id']} {c['name']}: {', '.join(c['properties']['members'])}")
    if r.categories:
        say("confirm with: coder-assist categories accept ID [--name NAME] (or reject ID)")


@categories.callback(invoke_without_command=True)
def categories_list(ctx: typer.Context, as_json: Json = False) -> None:
    """List category proposals and their status."""
    if ctx.invoked_subcommand:
        return
    with open_project() as proj:
        rows = proj.category_suggestion_rows()
    if as_json:
        return print_json(rows)
    for c in rows:
        say(f"#{c['id']} {c['status']:<9} {_category(c)}  ({plural(len(c['member_code_ids']), 'code')}; "
            f"terms: {', '.join(c['top_terms'])})")  # fmt: skip


def _category(c: dict[str, Any]) -> str:
    """A proposal's name, or for a confirmed one the category made from it, under its current name."""
    if c["category_id"] is None:
        return c["name"]
    retired = "" if c["category_active"] else " (retired)"
    return f"-> category {c['category_id']} {_named(c)}{retired}"


def _named(c: dict[str, Any]) -> str:
    """The confirmed category's name in quotes, and the proposed name when a person changed it."""
    proposed = f" (proposed as {quoted(c['name'])})" if c["category_name"] != c["name"] else ""
    return quoted(c["category_name"]) + proposed


@categories.command("accept")
def categories_accept(
    suggestion: Suggestion,
    name: Annotated[Optional[str], typer.Option(help="Your name for it.")] = None,
    definition: Annotated[Optional[str], typer.Option(help="Your definition of it.")] = None,
) -> None:
    """Confirm a proposed category (optionally renamed and redefined)."""
    with open_project() as proj:
        cid = proj.decide_category(suggestion, "edit" if (name or definition) else "accept", name=name,
                                   definition=definition, coder=state.coder)  # fmt: skip
        c = next(x for x in proj.category_suggestion_rows() if x["id"] == suggestion)
    say(f"suggestion {suggestion} confirmed as category {cid} {_named(c)}")


@categories.command("reject")
def categories_reject(suggestion: Suggestion, note: Note = None) -> None:
    """Reject a proposed category."""
    with open_project() as proj:
        proj.decide_category(suggestion, "reject", coder=state.coder, note=note)
    say(f"category suggestion {suggestion} rejected")


@commands.command()
def lineage(as_json: Json = False) -> None:
    """Initial code -> focused category -> construct."""
    with open_project() as proj:
        rows = proj.lineage()
    if as_json:
        return print_json(rows)
    current = object()
    for r in rows:
        if r["category"] != current:
            current = r["category"]
            say(f"{current or '(no category yet)'}")
        links = f"  -> {', '.join(r['constructs'])}" if r["constructs"] else ""
        say(f"    {r['label']} [{r['codings']}]{links}")
