"""Turn the bytes of a text transcript into clean Unicode text, or refuse them with a reason."""

from __future__ import annotations

import codecs
import re
import unicodedata
from pathlib import Path

from coder_assist.errors import InputError

CP1252_WARNING = "decoded as cp1252 (not valid UTF-8); check accented characters"
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")
_MAX_CONTROL_RATIO = 0.05
_LINE_BREAKS = re.compile("\r\n?|[\f\v\x85]")
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def _bomless_utf16(data: bytes) -> str | None:
    """Return ``utf-16-le``/``utf-16-be`` when NUL bytes sit only in every other byte (text without BOM)."""
    if len(data) < 4 or len(data) % 2:
        return None
    even, odd = data[0::2], data[1::2]
    if all(even) and odd.count(0) * 2 >= len(odd):
        return "utf-16-le"
    if all(odd) and even.count(0) * 2 >= len(even):
        return "utf-16-be"
    return None


def _looks_binary(text: str) -> bool:
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS)
    return controls > 0 and controls / len(text) > _MAX_CONTROL_RATIO


def _count(what: str, matches: list[str]) -> str:
    shown = ", ".join(sorted({f"U+{ord(ch):04X}" for ch in matches})[:5])
    return f"{len(matches)} {what}{'s' if len(matches) != 1 else ''} ({shown})"


def clean_text(text: str, path: str | Path) -> tuple[str, list[str]]:
    """The one rule for characters no transcript should hold; returns ``(text, warnings)``.

    Line ends (``\\r\\n``, ``\\r``) and the line-break controls form feed, vertical tab and NEL
    become ``\\n``. Other C0 and C1 control characters (and DEL) are *replaced* by a space, with
    a warning that counts them: a stray character from an export should not cost a whole file.
    A lone surrogate (e.g. a JSON ``"\\ud800"`` escape) is *refused* with an :class:`InputError`:
    it is not Unicode text and means the file was damaged. The result is NFC. Text with many
    control characters is refused earlier, as binary, by :func:`decode_bytes`.
    """
    if surrogate := _SURROGATES.search(text):
        raise InputError(path, f"text holds a lone surrogate U+{ord(surrogate.group()):04X} (not valid Unicode text)")
    text = _LINE_BREAKS.sub("\n", text)
    warnings: list[str] = []
    if controls := _CONTROLS.findall(text):
        text = _CONTROLS.sub(" ", text)
        warnings.append(f"replaced {_count('control character', controls)} by spaces")
    return unicodedata.normalize("NFC", text), warnings


def decode_bytes(data: bytes, path: str | Path) -> tuple[str, str, list[str]]:
    """Decode ``data`` and return ``(text, encoding, warnings)``.

    Tries a UTF-8 BOM, a UTF-16 BOM, strict UTF-8, then cp1252 (with a warning). The text is
    normalised to ``\\n`` line ends and Unicode NFC, and stray control characters are replaced
    (:func:`clean_text`). Raises :class:`InputError` for empty, binary or undecodable data.
    """
    if not data.strip():
        raise InputError(path, "file is empty")
    warnings: list[str] = []
    encoding: str
    if data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif b"\x00" in data:
        bomless = _bomless_utf16(data)
        if bomless is None:
            raise InputError(path, "looks like a binary file (contains NUL bytes)")
        encoding = bomless
    else:
        try:
            data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1252"
            warnings.append(CP1252_WARNING)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise InputError(path, "not valid UTF-8/UTF-16/cp1252 text") from None
    if _looks_binary(text):
        raise InputError(path, "looks like a binary file (too many control characters)")
    text, cleaned = clean_text(text, path)
    text = text.lstrip("\ufeff")
    warnings += cleaned
    if not text.strip():
        raise InputError(path, "file is empty")
    return text, encoding, warnings
