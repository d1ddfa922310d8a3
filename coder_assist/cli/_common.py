"""What every command module shares: the global options' values, the two consoles, terminal-safe
printing, the error boundary, opening the project, JSON output, the progress bar, and option types
used by many commands."""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text
from typer.exceptions import TyperException

from ..errors import CoderAssistError
from ..suggest.secrets import known_keys, scrub
from ..project import Project
from ..store.context import DB_NAME

out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
F = TypeVar("F", bound=Callable[..., Any])


class State:
    """The global options (``--project/-p``, ``--coder``, ``--debug``) of this invocation, wherever they were given.

    The attribute names are the root options' parameter names: ``_root_group.RootGroup`` sets them by name."""

    project: Path = Path(".")
    coder: str | None = None
    debug: bool = False


state = State()

#: What a terminal could act on rather than show: C0 and C1 control characters (ESC starts colour
#: and cursor sequences, CR overwrites a line), bidi embeddings, overrides and isolates, line and
#: paragraph separators, and lone surrogates (a file name's invalid UTF-8 bytes, or a stray escape).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str, keep: str = "") -> str:
    """``text`` safe to print: each unsafe character not in ``keep`` as a visible escape (``\\x1b``,
    ``\\n``, ``\\u202e``), a surrogate-escaped byte as the byte (``\\udcff`` -> ``\\xff``)."""
    return _UNSAFE.sub(lambda m: m.group() if m.group() in keep else _escape(m.group()), text)


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's surrogateescape of a byte that is not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def cell(value: object) -> Text:
    """A table cell or panel line that shows ``value`` as it is: no markup, nothing unsafe."""
    return Text(printable(str(value)))


def say(text: str, *, block: bool = False) -> None:
    """One line on stdout, as it is (brackets are not markup), control characters in it shown
    escaped, so no name in it can start, overwrite or colour a line. ``block``: a report, memo or
    table printed on purpose as several lines; its line breaks are kept."""
    out.print(printable(text, keep="\n\t" if block else "\t"), markup=False)


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
    """One warning line on stderr (line breaks in it shown escaped)."""
    err.print(f"warning: {printable(text)}", markup=False)


def fail(text: str) -> None:
    """One error line on stderr (line breaks in it shown escaped)."""
    err.print(f"error: {printable(text)}", markup=False)


def handled(fn: F, command: str = "") -> F:
    """The error boundary of ``command``: every exception out of ``fn`` becomes one line on stderr.

    A library error exits 1 with its message, as does an operating-system error (``PATH: reason``)
    and a project database that is locked or damaged; anything else is unexpected and exits 2;
    Ctrl-C prints "interrupted" and exits 130. ``--debug`` (``CODER_ASSIST_DEBUG=1``) re-raises
    instead, for the traceback. Nothing is committed here: a failed command's open transaction is
    rolled back when its project is closed on the way out."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, TyperException):  # typer's own: --help, usage errors, exit codes
            raise
        except KeyboardInterrupt:
            err.print("interrupted", markup=False)
            raise typer.Exit(130) from None
        except BrokenPipeError:  # the reader went away (``| head``): typer's main ends quietly
            raise
        except Exception as exc:
            if state.debug:
                raise
            fail(_describe(exc, command))
            expected = isinstance(exc, (CoderAssistError, OSError, sqlite3.DatabaseError))
            raise typer.Exit(1 if expected else 2) from None

    return wrapper  # type: ignore[return-value]


def _describe(exc: Exception, command: str) -> str:
    """The one line for an exception that reached the boundary."""
    if isinstance(exc, CoderAssistError):
        return str(exc)
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        return f"{exc.filename}: {reason}" if exc.filename is not None else reason
    database = state.project / DB_NAME
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return f"{database}: the project database is locked by another process; try again when it has finished"
    if isinstance(exc, sqlite3.DatabaseError):
        return f"{database}: the project database cannot be used ({exc})"
    reason = scrub(str(exc), known_keys()) or ""  # an SDK's message may quote the request's key
    reason = f": {reason[:300]}{'...' if len(reason) > 300 else ''}" if reason else ""
    return (f"unexpected {type(exc).__name__} while running '{command or 'coder-assist'}'{reason} "
            "(run with --debug or CODER_ASSIST_DEBUG=1 for the traceback)")  # fmt: skip


def open_project() -> Project:
    """The project named by ``--project`` (default: the current directory)."""
    return Project.open(state.project)


def print_json(data: Any) -> None:
    """``data`` as indented JSON; unsafe characters (only ever inside strings) as ``\\uXXXX`` escapes."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    say(_UNSAFE.sub(lambda m: m.group() if m.group() in "\n" else f"\\u{ord(m.group()):04x}", text), block=True)


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
