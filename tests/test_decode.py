"""Tests for coder_assist.ingest.decode: encodings, normalisation and refusing bad bytes."""

from __future__ import annotations

import codecs
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coder_assist.ingest.decode import CP1252_WARNING, decode_bytes
from coder_assist.errors import InputError

SAMPLE = "Café – naïve"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (SAMPLE.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + SAMPLE.encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + SAMPLE.encode("utf-16-le"), "utf-16"),
        (codecs.BOM_UTF16_BE + SAMPLE.encode("utf-16-be"), "utf-16"),
    ],
)
def test_unicode_encodings_give_identical_text(data: bytes, encoding: str) -> None:
    text, used, warnings = decode_bytes(data, "t.txt")
    assert text == SAMPLE
    assert used == encoding
    assert warnings == []


def test_cp1252_fallback_gives_identical_text_with_warning() -> None:
    data = SAMPLE.encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text, used, warnings = decode_bytes(data, "t.txt")
    assert text == SAMPLE
    assert used == "cp1252"
    assert warnings == [CP1252_WARNING]
    assert "cp1252" in warnings[0]


def test_utf16_without_bom_is_recognised_not_called_binary() -> None:
    text, used, _ = decode_bytes("Olá, tudo bem?\n".encode("utf-16-le"), "t.txt")
    assert text == "Olá, tudo bem?\n"
    assert used == "utf-16-le"


def test_line_endings_become_lf() -> None:
    text, _, _ = decode_bytes(b"one\r\ntwo\rthree\n", "t.txt")
    assert text == "one\ntwo\nthree\n"
    assert "\r" not in text


def test_nfc_normalisation() -> None:
    text, _, _ = decode_bytes("Cafe\u0301".encode("utf-8"), "t.txt")
    assert text == "Café"
    assert len(text) == 4


def test_no_leading_bom_character_remains() -> None:
    text, _, _ = decode_bytes(codecs.BOM_UTF8 + codecs.BOM_UTF8 + b"hello", "t.txt")
    assert text == "hello"


@pytest.mark.parametrize(
    "data", [b"", b"   \n\t \r\n", codecs.BOM_UTF8, codecs.BOM_UTF16_LE + " \n".encode("utf-16-le")]
)
def test_empty_or_whitespace_only_is_refused(data: bytes) -> None:
    with pytest.raises(InputError) as error:
        decode_bytes(data, "empty.txt")
    assert "empty" in error.value.reason
    assert str(error.value).startswith("empty.txt: ")


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
        b"hello\x00world\x00\x00\x01",
        bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17]) * 10 + b"some text",
    ],
)
def test_binary_data_is_refused(data: bytes) -> None:
    with pytest.raises(InputError) as error:
        decode_bytes(data, "image.txt")
    assert "binary" in error.value.reason


def test_undecodable_bytes_are_refused() -> None:
    # 0x81 and 0x8d are undefined in cp1252 and invalid as UTF-8.
    with pytest.raises(InputError) as error:
        decode_bytes(b"abc \x81\x8d def", "odd.txt")
    assert "not valid UTF-8/UTF-16/cp1252" in error.value.reason


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff"), min_size=1
).filter(lambda s: s.strip())


@settings(max_examples=60, deadline=None)
@given(text=_TEXT, codec=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_any_text_round_trips_nfc(text: str, codec: str) -> None:
    decoded, _, warnings = decode_bytes(text.encode(codec), "t.txt")
    assert decoded == unicodedata.normalize("NFC", text)
    assert warnings == []
