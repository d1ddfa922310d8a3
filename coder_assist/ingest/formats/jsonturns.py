"""JSON transcripts: a list of turn objects (or ``{"turns": [...]}``), e.g. DialogStudio AMI acts.

The input is checked strictly before anything is kept: nesting depth on the text before it is
parsed, the length of every number while parsing (no NaN or Infinity), then each item against
:class:`JsonTurn` (text a string, speaker and role a string or a number, finite times, sizes).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo

from coder_assist.errors import InputError
from coder_assist.ingest.formats.model import RawTurn
from coder_assist.ingest.formats.plain import TIMECODE, to_seconds
from coder_assist.ingest.formats.vtt import Fragment, merge_fragments
from coder_assist.store.jsonsafe import nesting_depth
from coder_assist.ingest.limits import (
    MAX_JSON_DEPTH,
    MAX_JSON_NUMBER_CHARS,
    MAX_JSON_LABEL_CHARS,
    MAX_TURN_CHARS,
    MAX_TURNS_PER_FILE,
)

LIST_KEYS = ("turns", "utterances", "segments", "dialogue")
SPEAKER_KEYS = ("speaker", "name", "participant", "role")
TEXT_KEYS = ("text", "content", "utterance", "transcript")
START_KEYS = ("start", "starttime", "start_time", "begin")
END_KEYS = ("end", "endtime", "end_time")
_DROPPED_MARKUP_RE = re.compile(r"(?<!\s)\s*<disfmarker>\s*")
_MARKUP_RE = re.compile(r"<(\w+)\s*/?>")
_KINDS = {list: "a list", dict: "an object", bool: "true/false"}


class _Refused(ValueError):
    """A value the JSON parser hooks refuse (too long a number, NaN, Infinity)."""


def _label(value: Any, info: ValidationInfo) -> str | None:
    """A speaker or role: a string, or a number shown as written; never a list, object or boolean."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        if len(value) > MAX_JSON_LABEL_CHARS:
            raise ValueError(f"{info.field_name} has {len(value):,} characters (limit {MAX_JSON_LABEL_CHARS})")
        return value
    raise ValueError(f"{info.field_name} is {_KINDS.get(type(value), type(value).__name__)}, not a string")


def _seconds(value: Any, info: ValidationInfo) -> float | None:
    """A time in seconds: a number, or a string holding one or a time code (``00:01:02.5``)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            if not re.fullmatch(TIMECODE, text):
                raise ValueError(f"{info.field_name} time {text[:30]!r} is not a number of seconds") from None
            seconds = to_seconds(text)
    else:
        raise ValueError(f"{info.field_name} time is {_KINDS.get(type(value), type(value).__name__)}, not a number")
    if not math.isfinite(seconds):
        raise ValueError(f"{info.field_name} time {value!r:.30} is not a finite number of seconds")
    return seconds


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("text is not a string")
    return value


_Label = Annotated[str | None, BeforeValidator(_label)]
_Seconds = Annotated[float | None, BeforeValidator(_seconds)]


class JsonTurn(BaseModel):
    """One item of a JSON transcript, its keys already mapped from the accepted names."""

    model_config = ConfigDict(frozen=True)

    speaker: _Label = None
    text: Annotated[str, BeforeValidator(_text), Field(max_length=MAX_TURN_CHARS)] = ""
    start: _Seconds = None
    end: _Seconds = None
    role: _Label = None


def _number(text: str) -> str:
    if len(text) > MAX_JSON_NUMBER_CHARS:
        raise _Refused(f"number {text[:20]}... has {len(text):,} characters (limit {MAX_JSON_NUMBER_CHARS})")
    return text


def _float(text: str) -> float:
    value = float(_number(text))
    if not math.isfinite(value):
        raise _Refused(f"number {text[:30]} is out of range")
    return value


def _constant(text: str) -> Any:
    raise _Refused(f"{text} is not a JSON number")


def load_json(text: str, path: str | Path) -> Any:
    """``json.loads`` within the limits: depth checked first, numbers bounded, NaN/Infinity refused."""
    if nesting_depth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:  # before the recursive parser meets it
        raise InputError(path, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, parse_int=lambda s: int(_number(s)), parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise InputError(path, f"malformed JSON at {where}: {error.msg}") from None
    except _Refused as error:
        raise InputError(path, f"malformed JSON: {error}") from None


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


def _clean(text: str) -> str:
    """Drop ``<disfmarker>``; show other markup such as ``<vocalsound>`` as ``[vocalsound]``."""
    return _MARKUP_RE.sub(r"[\1]", _DROPPED_MARKUP_RE.sub(" ", text)).strip()


def _turn(item: Any, index: int, path: str | Path) -> JsonTurn:
    """Validate one item against :class:`JsonTurn`; errors name the item by its 0-based index."""
    if not isinstance(item, dict):
        raise InputError(path, f"item at index {index} is not a JSON object")
    if _first(item, TEXT_KEYS) is None and not any(key in item for key in TEXT_KEYS):
        raise InputError(path, f"item at index {index} has no text field ({'/'.join(TEXT_KEYS)})")
    attributes = item.get("attributes") if isinstance(item.get("attributes"), dict) else {}
    text = _first(item, TEXT_KEYS)
    fields = {
        "speaker": _first(attributes, ("participant",)) or _first(item, SPEAKER_KEYS),
        "text": "" if text is None else text,
        "start": _first(item, START_KEYS),
        "end": _first(item, END_KEYS),
        "role": _first(attributes, ("role",)) or _first(item, ("role",)),
    }
    try:
        return JsonTurn(**fields)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] != "value_error":
            message = f"{'.'.join(map(str, first['loc']))}: {message}"
        raise InputError(path, f"item at index {index}: {message}") from None


def parse_json(text: str, path: str | Path) -> tuple[list[RawTurn], bool, list[str]]:
    """Parse JSON text into speaker turns (consecutive items by one speaker merged).

    Errors name the offending item by its 0-based index in the list of turns.
    """
    items = _items(load_json(text, path), path)
    if len(items) > MAX_TURNS_PER_FILE:
        raise InputError(path, f"{len(items):,} JSON items, over the limit of {MAX_TURNS_PER_FILE:,} turns per file")
    fragments = []
    for index, item in enumerate(items):
        turn = _turn(item, index, path)
        speaker = turn.speaker.strip() if turn.speaker is not None else None
        fragments.append(Fragment(speaker, _clean(turn.text), turn.start, turn.end, turn.role))
    turns = merge_fragments(fragments)
    return turns, any(turn.speaker is not None for turn in turns), []
