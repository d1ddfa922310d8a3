"""The command line documents itself: every command is in README's command reference and has help."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.core import TyperGroup

from coder_assist.cli import app

from .conftest import ROOT


def commands() -> Iterator[tuple[str, Any]]:
    """Every command and sub-command reachable from the root, by full name ("memo draft")."""

    def walk(group: TyperGroup, prefix: str) -> Iterator[tuple[str, Any]]:
        for name, command in group.commands.items():
            yield prefix + name, command
            if isinstance(command, TyperGroup):
                yield from walk(command, prefix + name + " ")

    return walk(typer.main.get_command(app), "")


ALL = dict(commands())


def reference() -> str:
    """README's "## Command reference" section, up to the next second-level heading."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "\n## Command reference\n" in text, "README.md has no '## Command reference' section"
    section = text.split("\n## Command reference\n", 1)[1]
    return section.split("\n## ", 1)[0]


def test_the_walk_finds_groups_and_sub_commands():
    assert {"init", "accept", "codes", "codes add", "memo draft", "audit log", "frameworks validate"} <= set(ALL)


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_command_is_in_the_readme_reference(name):
    # As a code span that starts with the full name: `memo draft --category C`, `codes`.
    assert re.search(r"`%s[ `]" % re.escape(name), reference()), f"README's command reference lacks `{name}`"


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_command_has_help_and_so_does_every_visible_parameter(name):
    command = ALL[name]
    assert (command.help or "").strip(), f"{name} has no help text"
    for param in command.params:
        if not getattr(param, "hidden", False):
            assert (getattr(param, "help", None) or "").strip(), f"{name}: {param.name} has no help text"
