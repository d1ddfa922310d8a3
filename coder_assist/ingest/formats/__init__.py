"""Transcript file formats: bytes in, :class:`ParsedTranscript` out, or an :class:`InputError`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from coder_assist.ingest.decode import decode_bytes
from coder_assist.errors import InputError
from coder_assist.ingest.formats.docx import parse_docx
from coder_assist.ingest.formats.jsonturns import parse_json
from coder_assist.ingest.formats.model import ParsedTranscript, RawTurn
from coder_assist.ingest.formats.plain import split_turns
from coder_assist.ingest.formats.srt import parse_srt
from coder_assist.ingest.formats.vtt import parse_vtt

__all__ = ["SUPPORTED", "ParsedTranscript", "RawTurn", "parse_bytes"]

_FORMAT = {".txt": "txt", ".md": "md", ".markdown": "md", ".vtt": "vtt", ".srt": "srt", ".docx": "docx",
           ".json": "json"}
SUPPORTED = {".txt", ".md", ".markdown", ".vtt", ".srt", ".docx", ".json"}
_SHOWN = ", ".join(_FORMAT)
_TextParser = Callable[[str, "Path | str"], tuple[list[RawTurn], bool]]
_TEXT_PARSERS: dict[str, _TextParser] = {
    "txt": lambda text, _path: split_turns(text),
    "md": lambda text, _path: split_turns(text, markdown=True),
    "vtt": parse_vtt,
    "srt": parse_srt,
    "json": parse_json,
}


def parse_bytes(path: Path | str, data: bytes) -> ParsedTranscript:
    """Parse the bytes of a transcript file, choosing the parser by the (lower-cased) extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(path, f"unsupported file type '{suffix or '(none)'}' (supported: {_SHOWN})")
    fmt = _FORMAT[suffix]
    warnings: list[str] = []
    if fmt == "docx":
        if not data.strip():
            raise InputError(path, "file is empty")
        turns, labelled = parse_docx(data, path)
        encoding = "docx"
    else:
        text, encoding, warnings = decode_bytes(data, path)
        turns, labelled = _TEXT_PARSERS[fmt](text, path)
    if not turns or not any(turn.text.strip() for turn in turns):
        raise InputError(path, "no transcript text found")
    return ParsedTranscript(turns, fmt, encoding, labelled, warnings)
