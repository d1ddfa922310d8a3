"""Transcript file formats: bytes in, :class:`ParsedTranscript` out, or an :class:`InputError`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from coder_assist.errors import InputError
from coder_assist.ingest.decode import clean_text, decode_bytes
from coder_assist.ingest.formats.docx import parse_docx
from coder_assist.ingest.formats.jsonturns import parse_json
from coder_assist.ingest.formats.model import ParsedTranscript, RawTurn
from coder_assist.ingest.formats.plain import split_turns
from coder_assist.ingest.formats.srt import parse_srt
from coder_assist.ingest.formats.vtt import parse_vtt
from coder_assist.ingest.limits import MAX_LINES_PER_FILE, MAX_TURN_CHARS, MAX_TURNS_PER_FILE

__all__ = ["SUPPORTED", "ParsedTranscript", "RawTurn", "parse_bytes"]

_FORMAT = {".txt": "txt", ".md": "md", ".markdown": "md", ".vtt": "vtt", ".srt": "srt", ".docx": "docx",
           ".json": "json"}
SUPPORTED = {".txt", ".md", ".markdown", ".vtt", ".srt", ".docx", ".json"}
_SHOWN = ", ".join(_FORMAT)
_Parsed = tuple[list[RawTurn], bool, list[str]]
"""What a parser returns: turns, whether speaker labels were found, warnings."""
_TextParser = Callable[[str, "Path | str"], _Parsed]
_TEXT_PARSERS: dict[str, _TextParser] = {
    "txt": lambda text, _path: (*split_turns(text), []),
    "md": lambda text, _path: (*split_turns(text, markdown=True), []),
    "vtt": parse_vtt,
    "srt": parse_srt,
    "json": parse_json,
}


def _clean_turn(turn: RawTurn, path: Path | str, warnings: list[str]) -> RawTurn:
    """A turn whose text and labels went through :func:`clean_text` (the one character rule)."""
    def clean(value: str | None) -> str | None:
        if value is None:
            return None
        cleaned, found = clean_text(value, path)
        warnings.extend(found)
        return cleaned.strip() or None

    return replace(turn, text=clean(turn.text) or "", speaker=clean(turn.speaker), role=clean(turn.role),
                   label=clean(turn.label))  # fmt: skip


def _check_limits(turns: list[RawTurn], path: Path | str) -> None:
    """Refuse a file over the turn or character limits."""
    if len(turns) > MAX_TURNS_PER_FILE:
        raise InputError(path, f"{len(turns):,} speaker turns, over the limit of {MAX_TURNS_PER_FILE:,} per file")
    for index, turn in enumerate(turns, start=1):
        if len(turn.text) > MAX_TURN_CHARS:
            raise InputError(path, f"turn {index} has {len(turn.text):,} characters, over the limit of "
                                   f"{MAX_TURN_CHARS:,} per turn")  # fmt: skip


def _one_each(warnings: list[str]) -> list[str]:
    return list(dict.fromkeys(warnings))


def parse_bytes(path: Path | str, data: bytes) -> ParsedTranscript:
    """Parse the bytes of a transcript file, choosing the parser by the (lower-cased) extension.

    Every format's turns pass the same checks: the turn and character limits of
    :mod:`coder_assist.ingest.limits` and :func:`~coder_assist.ingest.decode.clean_text`.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(path, f"unsupported file type '{suffix or '(none)'}' (supported: {_SHOWN})")
    fmt = _FORMAT[suffix]
    if fmt == "docx":
        if not data.strip():
            raise InputError(path, "file is empty")
        turns, labelled, warnings = parse_docx(data, path)
        encoding = "docx"
    else:
        text, encoding, warnings = decode_bytes(data, path)
        lines = text.count("\n") + 1
        if lines > MAX_LINES_PER_FILE:
            raise InputError(path, f"{lines:,} lines, over the limit of {MAX_LINES_PER_FILE:,} per file")
        turns, labelled, found = _TEXT_PARSERS[fmt](text, path)
        warnings = warnings + found
    _check_limits(turns, path)
    cleaned: list[str] = []
    turns = [turn for turn in (_clean_turn(turn, path, cleaned) for turn in turns) if turn.text]
    if not turns:
        raise InputError(path, "no transcript text found")
    return ParsedTranscript(turns, fmt, encoding, labelled, _one_each(warnings + cleaned))
