"""WebVTT subtitles: voice tags give speakers; cue fragments are merged into speaker turns.

Also holds what SubRip and JSON reuse: :class:`Fragment`, :func:`line_label`,
:func:`fill_speakers`, :func:`merge_fragments` and :func:`timing_warnings`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from coder_assist.errors import InputError
from coder_assist.ingest.formats.model import RawTurn
from coder_assist.ingest.formats.plain import (
    Label,
    accepted_keys,
    classify_label,
    find_label,
    plausible_name,
    to_seconds,
)

_TIME = r"(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3}"
_TIMING_RE = re.compile(rf"^(?P<start>{_TIME})[ \t]+-->[ \t]+(?P<end>{_TIME})(?:[ \t].*)?$")
_HEADER_RE = re.compile(r"^WEBVTT(?:[ \t]|$)")
_SKIPPED_BLOCK_RE = re.compile(r"^(?:NOTE|STYLE|REGION)(?:[ \t]|$)")
_VOICE_RE = re.compile(r"<v(?:\.[^\s>]*)?(?:[ \t](?P<name>[^>]*))?>")
_TAG_RE = re.compile(r"<[^<>]*>")
_BRACKET_LABEL_RE = re.compile(r"^\[(?P<name>[^\]\[]{1,40})\]\s*(?P<rest>\S.*)$")
_ANNOTATIONS = frozenset(
    "music applause laughter laughs laughing inaudible crosstalk silence noise sighs pause "
    "unintelligible background chuckles coughs".split()
)


@dataclass
class Fragment:
    """A piece of a turn: one cue line, subtitle line or JSON item."""

    speaker: str | None
    text: str
    start: float | None = None
    end: float | None = None
    role: str | None = None


def line_label(line: str) -> Label | None:
    """A subtitle speaker label: ``Name: text``, ``- Name: text`` or ``[Name] text``."""
    line = re.sub(r"^-\s+", "", line.strip())
    match = _BRACKET_LABEL_RE.match(line)
    if match:
        name = " ".join(match.group("name").split())
        if name[0].isupper() and plausible_name(name) and name.casefold() not in _ANNOTATIONS:
            return classify_label(name, match.group("rest"), None)
        return None
    return find_label(line)


def fill_speakers(fragments: list[Fragment], label_of: Callable[[str], Label | None] | None) -> None:
    """Take speakers from line labels (when ``label_of`` is given), then let unlabelled fragments
    continue the previous speaker."""
    if label_of is not None:
        labels = [label_of(fragment.text) for fragment in fragments]
        keys = accepted_keys(labels)
        for fragment, label in zip(fragments, labels):
            if label is not None and label.key in keys:
                fragment.speaker, fragment.role, fragment.text = label.speaker, label.role, label.rest.strip()
    speaker: str | None = None
    role: str | None = None
    for fragment in fragments:
        if fragment.speaker is None:
            fragment.speaker, fragment.role = speaker, role
        speaker, role = fragment.speaker, fragment.role


def merge_fragments(fragments: Iterable[Fragment]) -> list[RawTurn]:
    """Merge consecutive non-empty fragments with the same speaker (joined by one space)."""
    turns: list[RawTurn] = []
    for piece in fragments:
        if not piece.text:
            continue
        last = turns[-1] if turns else None
        if last is not None and last.speaker == piece.speaker:
            last.text = f"{last.text} {piece.text}"
            last.end = piece.end if piece.end is not None else last.end
        else:
            turns.append(RawTurn(piece.speaker, piece.text, piece.start, piece.end, piece.role))
    return turns


_SHOWN_TIMING_WARNINGS = 5


def timing_warnings(cues: list[tuple[str, float, float]]) -> list[str]:
    """Warnings for cues (``(name, start, end)``, in file order) that end before they start or
    start before the cue before them; the file is still ingested in file order."""
    found: list[str] = []
    previous: float | None = None
    for name, start, end in cues:
        if end < start:
            found.append(f"{name} ends before it starts ({start:g}s --> {end:g}s)")
        if previous is not None and start < previous:
            found.append(f"{name} starts at {start:g}s, before the one before it ({previous:g}s): out of order")
        previous = start
    shown = found[:_SHOWN_TIMING_WARNINGS]
    if len(found) > len(shown):
        shown.append(f"{len(found) - len(shown)} more timing problems like these")
    return shown


def clean_cue_text(text: str) -> str:
    """Remove markup tags and unescape HTML entities."""
    return html.unescape(_TAG_RE.sub("", text)).strip()


def _voice_fragments(line: str, start: float, end: float) -> tuple[list[Fragment], bool]:
    """Split one cue line at its voice tags; returns the fragments and whether a tag was seen."""
    fragments: list[Fragment] = []
    speaker: str | None = None
    position = 0
    for match in _VOICE_RE.finditer(line):
        fragments.append(Fragment(speaker, clean_cue_text(line[position : match.start()]), start, end))
        name = " ".join((match.group("name") or "").split()).rstrip(":").strip()
        speaker = name or None
        position = match.end()
    fragments.append(Fragment(speaker, clean_cue_text(line[position:]), start, end))
    return fragments, position > 0


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Blank-line separated blocks with the 1-based line number of their first line."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for number, line in enumerate([*lines, ""], start=1):
        if line.strip():
            if not current:
                blocks.append((number, current))
            current.append(line.strip())
        else:
            current = []
    return blocks


def parse_vtt(text: str, path: str | Path) -> tuple[list[RawTurn], bool, list[str]]:
    """Parse WebVTT text into merged speaker turns; returns ``(turns, labelled, warnings)``."""
    lines = text.split("\n")
    if not _HEADER_RE.match(lines[0]):
        raise InputError(path, "malformed WebVTT: missing WEBVTT header")
    fragments: list[Fragment] = []
    has_voices = False
    cues = 0
    timings: list[tuple[str, float, float]] = []
    for number, block in _blocks(lines)[1:]:
        if "-->" not in block[0] and _SKIPPED_BLOCK_RE.match(block[0]):
            continue
        cues += 1
        at = 0 if "-->" in block[0] else 1
        if at >= len(block) or "-->" not in block[at]:
            raise InputError(path, f"malformed WebVTT: cue {cues} (line {number}) has no timing line")
        timing = _TIMING_RE.match(block[at])
        if not timing:
            where = f"cue {cues} (line {number + at})"
            raise InputError(path, f"malformed WebVTT: {where} has a bad timing line {block[at]!r:.60}")
        start, end = to_seconds(timing.group("start")), to_seconds(timing.group("end"))
        timings.append((f"cue {cues} (line {number + at})", start, end))
        for line in block[at + 1 :]:
            pieces, voiced = _voice_fragments(line, start, end)
            fragments.extend(pieces)
            has_voices = has_voices or voiced
    if cues == 0:
        raise InputError(path, "malformed WebVTT: no cues found")
    fill_speakers(fragments, None if has_voices else line_label)
    turns = merge_fragments(fragments)
    return turns, any(turn.speaker is not None for turn in turns), timing_warnings(timings)
