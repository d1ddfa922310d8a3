"""What every command module shares: the global options' values, the two consoles, the error
wrapper, opening the project, JSON output, the progress bar, and option types used by many commands."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import CoderAssistError
from ..project import Project

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


class State:
    """The global options (``--project/-p``, ``--coder``) of this invocation, wherever they were given.

    The attribute names are the root options' parameter names: ``_root_group.RootGroup`` sets them by name."""

    project: Path = Path(".")
    coder: str | None = None


state = State()


def say(text: str) -> None:
    """One line (or block) of plain text on stdout; brackets are printed as they are."""
    out.print(text, markup=False)


def plural(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun, singular for 1 (``plural(1, "code")`` -> "1 code", ``plural(7, "category")``
    -> "7 categories"). English rules for the usual endings; pass ``plural`` for anything else."""
    return f"{n} {noun if n == 1 else plural or plural_of(noun)}"


def plural_of(noun: str) -> str:
    """The plural of a noun (the last word of it): category -> categories, analysis -> analyses,
    match -> matches, code -> codes."""
    if noun.endswith("sis"):
        return noun[:-2] + "es"
    if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    return noun + "s"


def quoted(name: str) -> str:
    """A name in single quotes, unless it is already quoted (in-vivo labels carry their own)."""
    return name if name[:1] in "\"'«“" and len(name) > 1 else f"'{name}'"


def warn(text: str) -> None:
    err.print(f"warning: {text}", markup=False)


def fail(text: str) -> None:
    err.print(f"error: {text}", markup=False)


def handled(fn: F) -> F:
    """Turn library errors into a one-line message on stderr and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CoderAssistError as exc:
            fail(str(exc))
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def open_project() -> Project:
    """The project named by ``--project`` (default: the current directory)."""
    return Project.open(state.project)


def print_json(data: Any) -> None:
    say(json.dumps(data, indent=2, ensure_ascii=False, default=str))


class RichProgress:
    """The library's progress interface drawn with rich on stderr."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: Any = None

    def begin(self, label: str, total: int) -> None:
        if total > 1:
            self._bar = Progress(
                TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=err,
            )  # fmt: skip
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def end(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


# Options and arguments that several commands share, with one help text each.
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
Note = Annotated[Optional[str], typer.Option(help="Recorded with the decision.")]
Model = Annotated[Optional[str], typer.Option(help="Model name for the provider.")]
BaseUrl = Annotated[Optional[str], typer.Option(help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1.")]
OnlyWave = Annotated[Optional[int], typer.Option(help="Only this wave.")]
OnlyCase = Annotated[Optional[str], typer.Option(help="Only this case.")]
OnlySource = Annotated[Optional[str], typer.Option(help="Only this document.")]
