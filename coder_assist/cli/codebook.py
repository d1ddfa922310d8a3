"""The codebook: codes (the tree), codes add, rename, merge, delete, apply."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from ._common import Json, open_project, plural, print_json, say, state

commands = typer.Typer()
codes = typer.Typer(help="The codebook: list codes (default) or edit it by hand.")
commands.add_typer(codes, name="codes")


@codes.callback(invoke_without_command=True)
def codes_list(ctx: typer.Context, as_json: Json = False) -> None:
    """List codes as a tree with counts of codings per side and per wave."""
    if ctx.invoked_subcommand:
        return
    with open_project() as proj:
        rows = proj.code_rows()
    if as_json:
        return print_json(rows)
    if not rows:
        say("no codes yet: accept suggestions with 'coder-assist review'")
    _print_tree(rows)


def _print_tree(rows: list[dict[str, Any]]) -> None:
    """Each code under its parent (a code whose parent is not listed goes at the top level)."""
    children: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        children.setdefault(r["parent_id"], []).append(r)
    known = {r["id"] for r in rows}

    def show(r: dict[str, Any], depth: int) -> None:
        sides = ", ".join(f"{k} {v}" for k, v in sorted(r["by_side"].items()))
        waves = ", ".join(f"{_wave(k)} {v}" for k, v in sorted(r["by_wave"].items(), key=_wave_order))
        say(f"{'  ' * depth}{r['label']}  [{r['codings']}{'; ' + sides if sides else ''}{'; ' + waves if waves else ''}]")
        for child in children.get(r["id"], []):
            show(child, depth + 1)

    for r in rows:
        if r["parent_id"] is None or r["parent_id"] not in known:
            show(r, 0)


def _wave(key: str) -> str:
    """A per-wave count's heading: w1, w2 ... and "no wave" for documents ingested without one."""
    return f"w{key}" if key.lstrip("-").isdigit() else "no wave"


def _wave_order(item: tuple[str, int]) -> tuple[int, int, str]:
    key = item[0]
    return (0, int(key), "") if key.lstrip("-").isdigit() else (1, 0, key)


@codes.command("add")
def codes_add(
    label: Annotated[str, typer.Argument(help="The new code's label.")],
    definition: Annotated[Optional[str], typer.Option(help="What the code means and when to use it.")] = None,
    parent: Annotated[Optional[str], typer.Option(help="Parent code label.")] = None,
) -> None:
    """Add a code by hand."""
    with open_project() as proj:
        proj.add_code(label, definition=definition, parent=parent, coder=state.coder)
    say(f"added code '{label}'")


@codes.command("rename")
def codes_rename(
    old: Annotated[str, typer.Argument(help="The code's label now.")],
    new: Annotated[str, typer.Argument(help="Its new label.")],
) -> None:
    """Rename a code (its codings follow)."""
    with open_project() as proj:
        proj.rename_code(old, new, coder=state.coder)
    say(f"renamed '{old}' to '{new}'")


@codes.command("merge")
def codes_merge(
    sources: Annotated[list[str], typer.Argument(help="Labels of the codes to merge.", metavar="CODE...")],
    into: Annotated[str, typer.Option(help="The code that absorbs them.")],
) -> None:
    """Merge codes into another; their codings move, the merged codes are retired."""
    with open_project() as proj:
        n = proj.merge_codes(sources, into, coder=state.coder)
    say(f"merged {plural(len(sources), 'code')} into '{into}' ({plural(n, 'coding')} moved)")


@codes.command("delete")
def codes_delete(label: Annotated[str, typer.Argument(help="Label of the code to retire.")]) -> None:
    """Retire a code and its codings (kept in the history, no longer active)."""
    with open_project() as proj:
        n = proj.delete_code(label, coder=state.coder)
    say(f"retired '{label}' and {plural(n, 'coding')}")


@codes.command("apply")
def codes_apply(
    label: Annotated[str, typer.Argument(help="The code (created if new).")],
    segment: Annotated[str, typer.Option(help="Segment id (see 'segments').")],
    span: Annotated[Optional[str], typer.Option(help="Exact words from the segment (default: all of it).")] = None,
) -> None:
    """Code a span by hand (the code is created if new)."""
    with open_project() as proj:
        cid = proj.apply_code(label, segment, span=span, coder=state.coder)
    say(f"coding {cid}: '{label}' on segment {segment}")
