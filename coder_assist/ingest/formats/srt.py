"""SubRip subtitles: numbered blocks; speakers from ``Name:``, ``- Name:`` or ``[Name]`` at a line start."""

from __future__ import annotations

import re
from pathlib import Path

from coder_assist.errors import InputError
from coder_assist.ingest.formats.model import RawTurn
from coder_assist.ingest.formats.plain import to_seconds
from coder_assist.ingest.formats.vtt import (
    Fragment,
    clean_cue_text,
    fill_speakers,
    line_label,
    merge_fragments,
    timing_warnings,
)

_TIME = r"\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}"
_TIMING_RE = re.compile(rf"^(?P<start>{_TIME})[ \t]*-->[ \t]*(?P<end>{_TIME})(?:[ \t].*)?$")
_ASS_TAG_RE = re.compile(r"\{\\[^}]*\}")
_DIALOGUE_DASH_RE = re.compile(r"^-\s+")


def parse_srt(text: str, path: str | Path) -> tuple[list[RawTurn], bool, list[str]]:
    """Parse SubRip text into merged speaker turns; returns ``(turns, labelled, warnings)``.

    Blocks out of order (by number or start time) and cues that end before they start are
    warned about and kept in file order.
    """
    fragments: list[Fragment] = []
    timings: list[tuple[str, float, float]] = []
    numbers: list[int] = []
    blocks = [block.strip().split("\n") for block in re.split(r"\n(?:[ \t]*\n)+", text.strip())]
    for ordinal, block in enumerate(blocks, start=1):
        block = [line.strip() for line in block]
        numbered = block[0].isdigit()
        name = block[0] if numbered else str(ordinal)
        at = 1 if numbered else 0
        if at >= len(block) or "-->" not in block[at]:
            raise InputError(path, f"malformed SRT: block {name} has no timing line")
        timing = _TIMING_RE.match(block[at])
        if not timing:
            raise InputError(path, f"malformed SRT: block {name} has a bad timing line {block[at]!r:.60}")
        start, end = to_seconds(timing.group("start")), to_seconds(timing.group("end"))
        timings.append((f"block {name}", start, end))
        numbers += [int(name)] if numbered and name.isascii() and len(name) < 19 else []
        for line in block[at + 1 :]:
            line = _DIALOGUE_DASH_RE.sub("", _ASS_TAG_RE.sub("", line))
            fragments.append(Fragment(None, clean_cue_text(line), start, end))
    fill_speakers(fragments, line_label)
    turns = merge_fragments(fragments)
    return turns, any(turn.speaker is not None for turn in turns), _numbering_warnings(numbers) + timing_warnings(timings)


def _numbering_warnings(numbers: list[int]) -> list[str]:
    """One warning when block numbers do not increase (a block moved or pasted twice)."""
    back = [(a, b) for a, b in zip(numbers, numbers[1:]) if b <= a]
    if not back:
        return []
    a, b = back[0]
    more = f" ({len(back) - 1} more)" if len(back) > 1 else ""
    return [f"SRT blocks out of order: block {b} follows block {a}{more}; kept in file order"]
