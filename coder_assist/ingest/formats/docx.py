"""Word (.docx) transcripts: paragraph and table text, then the plain-text label logic.

A .docx is checked before its XML is parsed into a tree: entry count, total and XML sizes and
compression ratios from the zip directory (``zipfile`` never yields more than an entry's declared
size), then a streaming count of paragraphs. Only then does python-docx read it.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

from coder_assist.errors import InputError
from coder_assist.ingest.formats.model import RawTurn
from coder_assist.ingest.formats.plain import TIMECODE, split_turns
from coder_assist.ingest.limits import (
    DOCX_RATIO_MIN_SIZE,
    MAX_DOCX_ENTRIES,
    MAX_DOCX_PARAGRAPHS,
    MAX_DOCX_RATIO,
    MAX_DOCX_UNCOMPRESSED,
    MAX_DOCX_XML,
)

_HEADERS = {"speaker", "name", "who", "participant", "falante", "orador", "hablante", "text", "utterance",
            "transcript", "content", "turn", "texto", "fala", "transcrição", "time", "timestamp", "start",
            "tempo", "tiempo"}
_TIMECODE_RE = re.compile(rf"\[?({TIMECODE})\]?")


def _row_line(cells: list[str], speakers: set[str]) -> str:
    """``Speaker | Text`` or ``Time | Speaker | Text`` -> ``[time] Speaker: Text``; else cell lines."""
    stamp = ""
    if len(cells) == 3 and (match := _TIMECODE_RE.fullmatch(cells[0])):
        stamp, cells = f"[{match.group(1)}] ", cells[1:]
    if len(cells) == 2 and cells[0] and cells[1]:
        name = " ".join(cells[0].rstrip(":").split())
        speakers.add(name)
        return f"{stamp}{name}: {cells[1]}"
    return "\n".join(cell for cell in cells if cell)


def _table_lines(table: Any, speakers: set[str]) -> list[str]:
    """Table rows as lines, adding the first-column names of speaker tables to ``speakers``."""
    lines: list[str] = []
    for index, row in enumerate(table.rows):
        cells = [cell.text.strip() for cell in row.cells]
        if index == 0 and all(cell.casefold() in _HEADERS for cell in cells):
            continue
        lines.extend([_row_line(cells, speakers), ""])
    return lines


_ZIP_ERRORS = (OSError, EOFError, ValueError, NotImplementedError, RuntimeError, zlib.error)
"""What zipfile and its decompressors raise on a damaged archive besides ``BadZipFile``."""
_PARAGRAPH_TAG = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}p"
_XML_SUFFIXES = (".xml", ".rels")
_MB = 1_000_000


def _is_xml(info: zipfile.ZipInfo) -> bool:
    return info.filename.lower().endswith(_XML_SUFFIXES)


def check_directory(infos: list[zipfile.ZipInfo], path: str | Path) -> None:
    """Refuse a .docx from its zip directory alone: too many entries, too large, or a zip bomb."""
    if len(infos) > MAX_DOCX_ENTRIES:
        raise InputError(path, f".docx has {len(infos):,} zip entries (limit {MAX_DOCX_ENTRIES:,})")
    for info in infos:
        if info.file_size > DOCX_RATIO_MIN_SIZE and info.file_size > MAX_DOCX_RATIO * max(info.compress_size, 1):
            raise InputError(path, f".docx entry {info.filename!r} expands {info.file_size / _MB:,.1f} MB from "
                                   f"{info.compress_size:,} bytes (ratio limit {MAX_DOCX_RATIO:g}:1): "
                                   "looks like a zip bomb")  # fmt: skip
    total = sum(info.file_size for info in infos)
    if total > MAX_DOCX_UNCOMPRESSED:
        raise InputError(path, f".docx expands to {total / _MB:,.1f} MB (limit {MAX_DOCX_UNCOMPRESSED / _MB:,.0f} MB)")
    xml = sum(info.file_size for info in infos if _is_xml(info))
    if xml > MAX_DOCX_XML:
        raise InputError(path, f".docx holds {xml / _MB:,.1f} MB of XML (limit {MAX_DOCX_XML / _MB:,.0f} MB)")


def count_paragraphs(archive: zipfile.ZipFile, path: str | Path) -> int:
    """Paragraphs in every XML part, by a streaming parse that keeps no tree; refused over the limit."""
    from lxml import etree  # lazy, like python-docx, which depends on it

    count = 0
    for info in archive.infolist():
        if not info.filename.lower().endswith(".xml"):
            continue
        with archive.open(info) as stream:
            events = etree.iterparse(stream, events=("end",), tag=_PARAGRAPH_TAG, resolve_entities=False,
                                     no_network=True, load_dtd=False, huge_tree=False)  # fmt: skip
            for _, element in events:
                count += 1
                if count > MAX_DOCX_PARAGRAPHS:
                    raise InputError(path, f".docx has over {MAX_DOCX_PARAGRAPHS:,} paragraphs (limit per file)")
                element.clear(keep_tail=True)
                while element.getprevious() is not None:
                    del element.getparent()[0]
    return count


def _preflight(data: bytes, path: str | Path) -> None:
    """The checks made before python-docx parses anything (see the module docstring)."""
    from lxml import etree

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            check_directory(archive.infolist(), path)
            count_paragraphs(archive, path)
    except InputError:
        raise
    except zipfile.BadZipFile:
        raise InputError(path, "not a valid .docx file (bad zip)") from None
    except (etree.XMLSyntaxError, *_ZIP_ERRORS) as error:
        raise InputError(path, f"not a valid .docx file ({type(error).__name__})") from None


def docx_text(data: bytes, path: str | Path) -> tuple[str, set[str]]:
    """The text of a .docx (one paragraph or table row per blank-line separated block) and the
    speaker names found in ``Speaker | Text`` (or ``Time | Speaker | Text``) tables."""
    import docx  # lazy: python-docx is only needed for Word files
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    _preflight(data, path)
    try:
        document = docx.Document(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InputError(path, "not a valid .docx file (bad zip)") from None
    except (KeyError, SyntaxError, PackageNotFoundError, *_ZIP_ERRORS) as error:
        raise InputError(path, f"not a valid .docx file ({type(error).__name__})") from None
    lines: list[str] = []
    speakers: set[str] = set()
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            lines.extend(_table_lines(block, speakers))
        else:
            lines.extend([block.text, ""])
    return "\n".join(lines), speakers


def parse_docx(data: bytes, path: str | Path) -> tuple[list[RawTurn], bool, list[str]]:
    """Parse a Word file into turns with the same rules as plain text; returns ``(turns, labelled, warnings)``."""
    text, speakers = docx_text(data, path)
    return (*split_turns(text, known=speakers), [])
