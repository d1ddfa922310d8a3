"""Word (.docx) transcripts: paragraph and table text, then the plain-text label logic."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

from coder_assist.errors import InputError
from coder_assist.ingest.formats.model import RawTurn
from coder_assist.ingest.formats.plain import TIMECODE, split_turns

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


def docx_text(data: bytes, path: str | Path) -> tuple[str, set[str]]:
    """The text of a .docx (one paragraph or table row per blank-line separated block) and the
    speaker names found in ``Speaker | Text`` (or ``Time | Speaker | Text``) tables."""
    import docx  # lazy: python-docx is only needed for Word files
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InputError(path, "not a valid .docx file (bad zip)") from None
    except (KeyError, ValueError, SyntaxError, PackageNotFoundError) as error:
        raise InputError(path, f"not a valid .docx file ({type(error).__name__})") from None
    lines: list[str] = []
    speakers: set[str] = set()
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            lines.extend(_table_lines(block, speakers))
        else:
            lines.extend([block.text, ""])
    return "\n".join(lines), speakers


def parse_docx(data: bytes, path: str | Path) -> tuple[list[RawTurn], bool]:
    """Parse a Word file into turns with the same rules as plain text."""
    text, speakers = docx_text(data, path)
    return split_turns(text, known=speakers)
