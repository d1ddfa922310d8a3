"""The single-key review loop: one suggestion on screen at a time, one key per decision."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer
from rich.panel import Panel
from rich.text import Text

from ..errors import CoderAssistError
from ._common import fail, out, printable, say

if TYPE_CHECKING:  # types only: the session comes from Project.review()
    from ..review.session import ReviewItem, ReviewSession

KEYS = "[a]ccept [r]eject [e]dit label [s]pan [m]erge [d]efer [n]ext [u]ndo [q]uit"


def item_view(item: ReviewItem) -> Panel:
    """One suggestion for the terminal: the segment with the quote highlighted, who said it,
    what is proposed and why, and similar coded segments. Fits 80 columns."""
    s, p = item.suggestion, item.participant
    start, end = item.quote_span or (0, 0)
    text = item.segment_text
    body = _text(text[:start])
    body.append(printable(text[start:end], keep="\n\t"), style="bold reverse")
    body.append(printable(text[end:], keep="\n\t"))
    attrs = ", ".join(str(x) for x in (p.get("side"), p.get("role_category"), s.get("case"),
                                       f"wave {s['wave']}" if s.get("wave") else None) if x)  # fmt: skip
    head = _text(f"{s['speaker'] or 'unlabelled'}{f' ({attrs})' if attrs else ''} in {s['source']}", style="bold")
    label = Text("\nCode: ", style="bold").append(printable(s["label"]), style="bold cyan")
    label.append("  in-vivo" if s["in_vivo"] else "")
    if s.get("reused_label"):
        label.append(printable(f"  (reuses '{s['reused_label']}')"))
    lines = [head, Text(""), body, label, _text(f"Why:  {s['rationale']}")]
    if item.quote_span is None:
        lines.append(Text("Quote not found in the transcript: edit the span or reject.", style="bold red"))
        lines.append(_text(f"Quote: \"{s['quote']}\""))
    lines.append(_text(f"From: {s['provider']} {s['model']} · grounding {s['grounding']}", style="dim"))
    for sim in item.similar:
        lines.append(_text(f"Similar ({sim['score']:.2f}): \"{sim['text'][:120]}\" -> {'; '.join(sim['codes'])}", style="dim"))
    title = f"suggestion #{s['id']} · {item.position}/{item.total} · {s['status']}"
    return Panel(Text("\n").join(lines), title=title, title_align="left", width=80)


def _text(value: str, style: str = "") -> Text:
    """Text shown as it is: line breaks and tabs kept, other control characters escaped."""
    return Text(printable(value, keep="\n\t"), style=style)


def read_key() -> str:
    """One key press on a terminal; otherwise the next non-blank character of stdin ('q' at end)."""
    if sys.stdin.isatty():
        return typer.getchar()
    while True:
        ch = sys.stdin.read(1)
        if ch == "":
            return "q"
        if not ch.isspace() or ch == " ":
            return ch


def interactive(session: ReviewSession) -> None:
    """Single-key review loop; prompts read a line for labels, spans, codes and notes."""
    while not session.done:
        item = session.current()
        assert item is not None
        out.print(item_view(item), soft_wrap=False)
        say(KEYS)
        key = read_key().lower()
        say("")
        try:
            if key == "a":
                session.accept()
            elif key == "r":
                session.reject(typer.prompt("Reason (optional)", default="", show_default=False) or None)
            elif key == "e":
                session.edit_label(typer.prompt("New label"))
            elif key == "s":
                session.edit_span(typer.prompt("Exact words from the segment, or * for all of it"))
            elif key == "m":
                codes = session.existing_codes()
                for n, c in enumerate(codes[:30], 1):
                    say(f"  {n:>2}. {c}")
                choice = typer.prompt("Merge into (number or label)")
                session.merge(codes[int(choice) - 1] if choice.isdigit() and 0 < int(choice) <= len(codes) else choice)
            elif key == "d":
                session.defer()
            elif key in ("n", " "):
                session.skip()
            elif key == "u":
                d = session.undo()
                say(f"undid decision {d.id}: back to {d.to_status}")
            elif key in ("q", "\x03", "\x04"):
                break
            else:
                say(KEYS)
        except CoderAssistError as exc:
            fail(str(exc))
    say(("Review finished. " if session.done else "Review stopped. ") + session.summary())
