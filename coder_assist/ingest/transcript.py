"""Render parsed turns into the stored, normalized document text with code-point offsets.

The stored text is what every offset in the project points into. Labelled transcripts are
rendered as ``Speaker: text`` paragraphs separated by a blank line; unlabelled ones as the
paragraphs alone. Text is NFC with ``\\n`` line ends.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from .formats.model import ParsedTranscript


@dataclass(frozen=True)
class TurnSpan:
    """A turn placed in the document text; ``start``/``end`` delimit the turn's text only."""

    idx: int
    speaker: str | None
    role: str | None
    label: str | None
    start: int
    end: int
    time_start: float | None
    time_end: float | None


def _clean(s: str) -> str:
    return unicodedata.normalize("NFC", s.replace("\r\n", "\n").replace("\r", "\n")).strip()


def render(parsed: ParsedTranscript) -> tuple[str, list[TurnSpan]]:
    """Return the normalized document text and where each non-empty turn sits in it."""
    parts: list[str] = []
    spans: list[TurnSpan] = []
    pos = 0
    for turn in parsed.turns:
        text = _clean(turn.text)
        if not text:
            continue
        if parts:
            parts.append("\n\n")
            pos += 2
        speaker = _clean(turn.speaker) if turn.speaker else None
        if parsed.labelled and speaker:
            prefix = f"{speaker}: "
            parts.append(prefix)
            pos += len(prefix)
        parts.append(text)
        spans.append(
            TurnSpan(len(spans), speaker, turn.role, turn.label, pos, pos + len(text), turn.start, turn.end)
        )
        pos += len(text)
    return "".join(parts), spans
