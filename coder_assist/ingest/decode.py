"""Turn the bytes of a text transcript into clean Unicode text, or refuse them with a reason."""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path

from coder_assist.errors import InputError

CP1252_WARNING = "decoded as cp1252 (not valid UTF-8); check accented characters"
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")
_MAX_CONTROL_RATIO = 0.05


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


def decode_bytes(data: bytes, path: str | Path) -> tuple[str, str, list[str]]:
    """Decode ``data`` and return ``(text, encoding, warnings)``.

    Tries a UTF-8 BOM, a UTF-16 BOM, strict UTF-8, then cp1252 (with a warning). The text is
    normalised to ``\\n`` line ends and Unicode NFC. Raises :class:`InputError` for empty,
    binary or undecodable data.
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
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n")).lstrip("\ufeff")
    if not text.strip():
        raise InputError(path, "file is empty")
    return text, encoding, warnings
