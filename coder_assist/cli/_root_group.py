"""The root command group: global options anywhere on the line, every error as a one-line message."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import typer
from typer.core import TyperGroup

from ._common import handled, state


class RootGroup(TyperGroup):
    """The root group's own options (``--project/-p``, ``--coder``) are accepted after any
    command or sub-command too: ``coder-assist accept 5 --coder ann``, ``memo accept 3 -p DIR``.

    Every command and group below the root gets a hidden copy of each root option, minus the
    flags it declares itself; the copy stores its value in :data:`state`, as the root callback
    does for options given before the command. So a command's own option keeps its meaning
    (``audit log --coder ann`` filters the log). A later value wins over an earlier one.
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for command in _below(self):
            taken = {flag for param in command.params for flag in (*param.opts, *param.secondary_opts)}
            for option in self.params:
                flags = [flag for flag in option.opts if flag not in taken]
                if flags and option.name:
                    command.params.append(_hidden_copy(option, flags))

    def invoke(self, ctx: typer.Context) -> Any:
        return handled(super().invoke, self._command_name(ctx))(ctx)

    def _command_name(self, ctx: typer.Context) -> str:
        """The (sub-)command the rest of the line names, e.g. ``frameworks validate``, for messages."""
        words: list[str] = []
        command: Any = self
        for arg in [*getattr(ctx, "_protected_args", []), *ctx.args]:
            found = command.get_command(ctx, arg) if isinstance(command, TyperGroup) else None
            if found is None:
                break
            words.append(arg)
            command = found
        return " ".join(words)


def _below(group: TyperGroup) -> Iterator[Any]:
    for command in group.commands.values():
        yield command
        if isinstance(command, TyperGroup):
            yield from _below(command)


def _hidden_copy(option: Any, flags: list[str]) -> Any:
    """``option`` with only ``flags``, not in the help, not passed to the command, no default or
    environment variable (those are the root's), setting ``state.<option name>`` when given."""
    name = option.name

    def remember(_ctx: Any, _param: Any, value: Any) -> Any:
        if value is not None and value is not False:  # a flag not given does not undo the root's
            setattr(state, name, value)
        return value

    twin = copy.copy(option)
    twin.name, twin.opts, twin.secondary_opts = f"global_{name}", flags, []
    twin.hidden, twin.expose_value, twin.default, twin.envvar, twin.required = True, False, None, None, False
    twin.callback = remember
    return twin
