"""What every transcript parser returns: speaker turns with clean text, nothing more."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RawTurn:
    """One speaker turn as parsed from a file, before offsets exist."""

    speaker: str | None
    """Speaker label as it should be shown (``None`` when the file has no labels)."""
    text: str
    """Turn text with source markup removed; paragraphs inside a turn joined by a single ``\\n``."""
    start: float | None = None
    """Start time in seconds, when the format carries one."""
    end: float | None = None
    """End time in seconds, when the format carries one."""
    role: str | None = None
    """Role when the format says it (``interviewer``, ``respondent``, AMI ``PM`` ...)."""
    label: str | None = None
    """The label exactly as written in the file, when ``speaker`` was canonicalised from it."""


@dataclass
class ParsedTranscript:
    """A parsed file: its turns, what format it was, and anything the user should be told."""

    turns: list[RawTurn]
    format: str
    """One of ``txt``, ``md``, ``vtt``, ``srt``, ``docx``, ``json``."""
    encoding: str
    """How the bytes were decoded (``utf-8``, ``utf-8-sig``, ``utf-16``, ``cp1252``; ``docx`` for Word)."""
    labelled: bool
    """Whether speaker labels were found (``False``: one unlabelled speaker)."""
    warnings: list[str] = field(default_factory=list)
