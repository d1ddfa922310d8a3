"""JSON transcripts: a list of turn objects (or ``{"turns": [...]}``), e.g. DialogStudio AMI acts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from coder_assist.errors import InputError
from coder_assist.ingest.formats.model import RawTurn
from coder_assist.ingest.formats.plain import TIMECODE, to_seconds
from coder_assist.ingest.formats.vtt import Fragment, merge_fragments

LIST_KEYS = ("turns", "utterances", "segments", "dialogue")
SPEAKER_KEYS = ("speaker", "name", "participant", "role")
TEXT_KEYS = ("text", "content", "utterance", "transcript")
START_KEYS = ("start", "starttime", "start_time", "begin")
END_KEYS = ("end", "endtime", "end_time")
_DROPPED_MARKUP_RE = re.compile(r"(?<!\s)\s*<disfmarker>\s*")
_MARKUP_RE = re.compile(r"<(\w+)\s*/?>")


def _items(data: Any, path: str | Path) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in LIST_KEYS:
            if isinstance(data.get(key), list):
                return data[key]
    expected = "/".join(LIST_KEYS)
    raise InputError(path, f"JSON has no list of turns (expected a list or an object with {expected})")


def _first(item: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((item[key] for key in keys if item.get(key) not in (None, "")), None)


def _seconds(value: Any, what: str, index: int, path: str | Path) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        if re.fullmatch(TIMECODE, text):
            return to_seconds(text)
    raise InputError(path, f"item at index {index}: {what} time {text[:30]!r} is not a number of seconds")


def _clean(text: str) -> str:
    """Drop ``<disfmarker>``; show other markup such as ``<vocalsound>`` as ``[vocalsound]``."""
    return _MARKUP_RE.sub(r"[\1]", _DROPPED_MARKUP_RE.sub(" ", text)).strip()


def _fragment(item: Any, index: int, path: str | Path) -> Fragment:
    if not isinstance(item, dict):
        raise InputError(path, f"item at index {index} is not a JSON object")
    text = _first(item, TEXT_KEYS)
    if text is not None and not isinstance(text, str):
        raise InputError(path, f"item at index {index}: text is not a string")
    if text is None and not any(key in item for key in TEXT_KEYS):
        raise InputError(path, f"item at index {index} has no text field ({'/'.join(TEXT_KEYS)})")
    attributes = item.get("attributes") if isinstance(item.get("attributes"), dict) else {}
    speaker = _first(attributes, ("participant",)) or _first(item, SPEAKER_KEYS)
    role = _first(attributes, ("role",)) or _first(item, ("role",))
    return Fragment(
        str(speaker).strip() if speaker is not None else None,
        _clean(text or ""),
        _seconds(_first(item, START_KEYS), "start", index, path),
        _seconds(_first(item, END_KEYS), "end", index, path),
        str(role) if role is not None else None,
    )


def parse_json(text: str, path: str | Path) -> tuple[list[RawTurn], bool]:
    """Parse JSON text into speaker turns (consecutive items by one speaker merged).

    Errors name the offending item by its 0-based index in the list of turns.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise InputError(path, f"malformed JSON at {where}: {error.msg}") from None
    fragments = [_fragment(item, index, path) for index, item in enumerate(_items(data, path))]
    turns = merge_fragments(fragments)
    return turns, any(turn.speaker is not None for turn in turns)
