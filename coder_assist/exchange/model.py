"""The REFI-QDA exchange model: what a .qdpx project or .qdc codebook holds, tool-neutral.

The reader fills it from a file, the writer turns it into one, and the project side
(``collect`` and ``load``) maps it to and from the store. Every text position here is a
Unicode code point into ``Source.text``, end exclusive, whatever unit the file used: the
reader converts (see ``offsets``) and the writer writes code points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

VariableType = Literal["Text", "Boolean", "Integer", "Float", "Date", "DateTime"]
VariableScalar = str | int | float | bool | None


@dataclass
class User:
    guid: str
    name: str | None = None
    id: str | None = None


@dataclass
class Code:
    guid: str
    name: str
    codable: bool = True
    color: str | None = None
    """``#RRGGBB`` (a ``#RGB`` read from a file is expanded)."""
    description: str | None = None
    children: list[Code] = field(default_factory=list)
    note_guids: list[str] = field(default_factory=list)


@dataclass
class Coding:
    guid: str
    code_guid: str
    user_guid: str | None = None
    created: str | None = None
    """``xsd:dateTime`` text as written in the file (``2026-12-05T09:00:00Z``)."""
    note_guids: list[str] = field(default_factory=list)


@dataclass
class Selection:
    """A ``PlainTextSelection``: a span of its source's text and the codings on it."""

    guid: str
    start: int
    end: int
    name: str | None = None
    description: str | None = None
    user_guid: str | None = None
    created: str | None = None
    codings: list[Coding] = field(default_factory=list)
    note_guids: list[str] = field(default_factory=list)


@dataclass
class VariableValue:
    variable_guid: str
    value: VariableScalar


@dataclass
class Variable:
    guid: str
    name: str
    type: VariableType = "Text"
    description: str | None = None


@dataclass
class Source:
    """A ``TextSource``. ``text`` has no BOM and ``\\n`` line ends."""

    guid: str
    name: str
    text: str
    description: str | None = None
    selections: list[Selection] = field(default_factory=list)
    codings: list[Coding] = field(default_factory=list)
    """Codings of the whole source (no selection)."""
    variables: list[VariableValue] = field(default_factory=list)
    note_guids: list[str] = field(default_factory=list)
    user_guid: str | None = None
    created: str | None = None
    path: str | None = None
    """``plainTextPath`` as found in the file (reader) or to write (writer)."""
    offset_unit: str = "codepoint"
    """How the file counted positions: ``codepoint``, ``utf16``, ``codepoint-crlf``, ``utf16-crlf``
    (``-crlf``: a CRLF line end counted as two). Reader output; the writer always writes code points."""


@dataclass
class Case:
    guid: str
    name: str | None = None
    description: str | None = None
    variables: list[VariableValue] = field(default_factory=list)
    source_guids: list[str] = field(default_factory=list)
    code_guids: list[str] = field(default_factory=list)


@dataclass
class Note:
    """A ``Note`` (a memo): a text source of its own. What it is about is given by the
    ``NoteRef``/``MemberNote`` elements that point at it from other objects."""

    guid: str
    name: str | None
    text: str
    description: str | None = None
    user_guid: str | None = None
    created: str | None = None


@dataclass
class Set:
    guid: str
    name: str
    description: str | None = None
    code_guids: list[str] = field(default_factory=list)
    source_guids: list[str] = field(default_factory=list)
    note_guids: list[str] = field(default_factory=list)


@dataclass
class Link:
    guid: str
    origin_guid: str
    target_guid: str
    name: str | None = None
    direction: str | None = None


@dataclass
class RefiProject:
    """A ``.qdpx`` project (or, with only ``codes`` and ``sets``, a ``.qdc`` codebook)."""

    name: str
    origin: str | None = None
    users: list[User] = field(default_factory=list)
    codes: list[Code] = field(default_factory=list)
    """Top-level codes; the hierarchy is ``Code.children``."""
    variables: list[Variable] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    sets: list[Set] = field(default_factory=list)
    description: str | None = None
    note_guids: list[str] = field(default_factory=list)
    creating_user_guid: str | None = None
    created: str | None = None
    warnings: list[str] = field(default_factory=list)
    """What the reader passed over or had to guess (spec section 7: data-loss warnings)."""


def walk_codes(codes: list[Code], parent: Code | None = None):
    """Every code with its parent (None at the top), depth first, parents before children."""
    for c in codes:
        yield c, parent
        yield from walk_codes(c.children, c)


def norm_guid(guid: str) -> str:
    """GUIDs compare case-insensitively and may come wrapped in braces."""
    return guid.strip().strip("{}").lower()
