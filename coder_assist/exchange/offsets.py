"""Which unit a REFI-QDA file counted text positions in, and conversion to code points.

The standard says Unicode code points, but NVivo for Windows and QualCoder count UTF-16 code
units, and tools disagree on whether a CRLF line end counts as one or two. Four readings are
considered over the decoded text (BOM removed, original line ends):

- ``codepoint-crlf``: code points, CRLF = 2 (the literal reading of the spec);
- ``utf16-crlf``: UTF-16 code units, CRLF = 2 (NVivo for Windows, QualCoder);
- ``codepoint``: code points over the LF-normalized text (ATLAS.ti);
- ``utf16``: UTF-16 code units over the LF-normalized text.

Readings that cannot differ on a text collapse onto the plainer name (no CRLF: ``-crlf`` drops;
no character outside the BMP: ``utf16`` becomes ``codepoint``). The reading under which most
selections fall on word boundaries wins; a tie is broken by the producing tool, then by the spec.
Every reading maps to code points in the LF-normalized text; :class:`NfcMap` then carries them
into that text's NFC form, which is what the project stores (as ingest does).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass

UNITS = ("codepoint", "utf16", "codepoint-crlf", "utf16-crlf")
SPEC_UNIT = "codepoint-crlf"

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_LINE_END = re.compile(r"\r\n?")

DESCRIPTIONS = {
    "codepoint": "Unicode code points",
    "utf16": "UTF-16 code units",
    "codepoint-crlf": "Unicode code points with CRLF counted as 2",
    "utf16-crlf": "UTF-16 code units with CRLF counted as 2",
}


def normalize_newlines(raw: str) -> str:
    """CRLF and lone CR become LF."""
    return raw.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class TextFacts:
    """Where, in the LF-normalized text, a character counts two units under some reading."""

    length: int
    crlf: tuple[int, ...]
    """Indices of the ``\\n`` that stand for a CRLF."""
    astral: tuple[int, ...]
    """Indices of the characters outside the BMP (two UTF-16 code units)."""


def text_facts(raw: str) -> TextFacts:
    """Facts about ``raw`` (BOM removed, original line ends) needed by every reading."""
    crlf: list[int] = []
    removed = 0
    for m in _LINE_END.finditer(raw):
        if m.end() - m.start() == 2:
            crlf.append(m.start() - removed)
            removed += 1
    norm = normalize_newlines(raw)
    astral = tuple(m.start() for m in _ASTRAL.finditer(norm))
    return TextFacts(len(norm), tuple(crlf), astral)


def canonical_unit(unit: str, facts: TextFacts) -> str:
    """The plainest name of a reading that gives the same positions on this text."""
    if unit not in UNITS:
        raise ValueError(f"unknown offset unit {unit!r}")
    if not facts.crlf:
        unit = unit.removesuffix("-crlf")
    if not facts.astral:
        unit = unit.replace("utf16", "codepoint")
    return unit


class PositionMap:
    """Converts positions counted in one reading to code points in the LF-normalized text."""

    def __init__(self, facts: TextFacts, unit: str) -> None:
        if unit not in UNITS:
            raise ValueError(f"unknown offset unit {unit!r}")
        wide: list[int] = []
        if unit.endswith("-crlf"):
            wide.extend(facts.crlf)
        if unit.startswith("utf16"):
            wide.extend(facts.astral)
        wide.sort()
        self.unit = unit
        self.length = facts.length
        self._wide = wide
        self._wide_units = [k + i for i, k in enumerate(wide)]
        """Unit position at which each two-unit character starts."""
        self.total = facts.length + len(wide)
        """Length of the text in this reading's units."""

    def locate(self, pos: int) -> tuple[int, bool] | None:
        """``(index, exact)``: the character at or containing ``pos``; None when out of range.

        ``exact`` is False when ``pos`` falls inside a two-unit character (a surrogate pair, or
        between the CR and the LF of a CRLF).
        """
        if pos < 0 or pos > self.total:
            return None
        before = bisect_right(self._wide_units, pos - 2)  # two-unit characters wholly before pos
        if before < len(self._wide_units) and self._wide_units[before] == pos - 1:
            return self._wide[before], False
        return pos - before, True

    def span(self, start: int, end: int) -> tuple[int, int] | None:
        """Code-point span for ``[start, end)``, snapped outward; None if out of range, reversed or empty."""
        a = self.locate(start)
        b = self.locate(end)
        if a is None or b is None:
            return None
        s = a[0]
        e = b[0] if b[1] else b[0] + 1
        if e <= s:
            return None
        return s, e


def _clean(text: str, k: int) -> bool:
    """True when index ``k`` does not split a word (``str.isalnum`` on both sides)."""
    if k <= 0 or k >= len(text):
        return True
    return not (text[k - 1].isalnum() and text[k].isalnum())


def score(text: str, pmap: PositionMap, spans: list[tuple[int, int]]) -> int:
    """How many spans are in range, non-empty, hit no two-unit character and split no word."""
    hits = 0
    for start, end in spans:
        a = pmap.locate(start)
        b = pmap.locate(end)
        if a is None or b is None or not (a[1] and b[1]) or b[0] <= a[0]:
            continue
        if _clean(text, a[0]) and _clean(text, b[0]):
            hits += 1
    return hits


def preference(origin: str | None) -> tuple[str, ...]:
    """Readings in the order a tie should be broken for a file made by ``origin``."""
    tool = (origin or "").lower()
    if "nvivo" in tool or "qualcoder" in tool:
        return ("utf16-crlf", "utf16", "codepoint-crlf", "codepoint")
    if "atlas" in tool:
        return ("codepoint", "utf16", "codepoint-crlf", "utf16-crlf")
    return (SPEC_UNIT, "codepoint", "utf16-crlf", "utf16")


def detect_unit(raw: str, spans: list[tuple[int, int]], origin: str | None) -> tuple[str, dict]:
    """Choose the reading for the positions ``spans`` in ``raw`` (BOM removed, original line ends).

    Returns the reading's name and details: ``scores`` (per distinct reading), ``total``,
    ``decided_by`` (``only``, ``heuristic``, ``origin`` or ``spec``), ``crlf`` and ``astral`` counts.
    """
    facts = text_facts(raw)
    norm = normalize_newlines(raw)
    distinct = list(dict.fromkeys(canonical_unit(u, facts) for u in UNITS))
    scores = {u: score(norm, PositionMap(facts, u), spans) if spans else 0 for u in distinct}
    info: dict = {
        "scores": scores,
        "total": len(spans),
        "crlf": len(facts.crlf),
        "astral": len(facts.astral),
    }
    if len(distinct) == 1:
        info["decided_by"] = "only"
        return distinct[0], info
    best = max(scores.values())
    tied = [u for u in distinct if scores[u] == best]
    if len(tied) == 1:
        info["decided_by"] = "heuristic"
        return tied[0], info
    tool = (origin or "").lower()
    info["decided_by"] = "origin" if any(t in tool for t in ("nvivo", "qualcoder", "atlas")) else "spec"
    for unit in preference(origin):
        name = canonical_unit(unit, facts)
        if name in tied:
            return name, info
    return tied[0], info  # pragma: no cover - preference() lists every unit


def converter(raw: str, unit: str) -> PositionMap:
    """A map from positions in ``unit`` over ``raw`` to code points in the LF-normalized text."""
    return PositionMap(text_facts(raw), unit)


def describe_choice(source: str, unit: str, info: dict) -> str:
    """One warning line stating the reading chosen for ``source`` and why."""
    scores = info["scores"]
    line = (
        f"source {source}: positions read as {DESCRIPTIONS[unit]} "
        f"({scores.get(unit, 0)}/{info['total']} selections on word boundaries"
    )
    others = [f"{n} as {DESCRIPTIONS[u]}" for u, n in scores.items() if u != unit]
    if others:
        line += ", against " + ", ".join(others)
    line += ")"
    if info.get("decided_by") == "origin":
        line += "; tie broken by the producing tool"
    elif info.get("decided_by") == "spec":
        line += "; tie: the spec's literal reading kept"
    return line


# Hangul vowels and trailing consonants have combining class 0 but compose with what precedes them.
_JAMO_TAIL = re.compile("[\u1160-\u11ff\ud7b0-\ud7ff]")


class NfcMap:
    """The NFC form of a text and the map of code-point positions into it.

    The text is cut where a character starts a new composition unit (combining class 0, not a
    Hangul vowel or tail); each unit is normalised on its own, so a position at a unit boundary
    maps exactly and one inside a unit (between a letter and its accent) snaps outward."""

    def __init__(self, text: str) -> None:
        self.changed = not unicodedata.is_normalized("NFC", text)
        if not self.changed:
            self.text = text
            return
        cuts = [i for i, ch in enumerate(text) if i == 0 or (unicodedata.combining(ch) == 0 and not _JAMO_TAIL.match(ch))]
        cuts.append(len(text))
        pieces = [unicodedata.normalize("NFC", text[a:b]) for a, b in zip(cuts, cuts[1:])]
        self._old = cuts
        self._new = [0]
        for piece in pieces:
            self._new.append(self._new[-1] + len(piece))
        self.text = "".join(pieces)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """``[start, end)`` in the original text as a span of the NFC text, snapped outward."""
        if not self.changed:
            return start, end
        a = bisect_right(self._old, start) - 1
        b = bisect_right(self._old, end) - 1
        new_end = self._new[b] if self._old[b] == end else self._new[b + 1]
        return self._new[a], max(new_end, self._new[a] + 1)
