"""Resource limits of ingest, checked before the work they bound (listed in the README).

The file-size limit itself is configurable (``ingest.max_file_mb``); these are fixed bounds that
keep a hostile or broken file from using unbounded memory or time. Each is a module constant
with its own docstring so the list can be generated.
"""

from __future__ import annotations

import ast
from pathlib import Path

MB = 1_000_000

MAX_FILES_PER_CALL = 5_000
"""Files one ``ingest`` call may take (after folders are expanded); more is refused, nothing ingested."""

MAX_DOCX_ENTRIES = 2_000
"""Entries in a .docx zip (a Word document has a few dozen)."""

MAX_DOCX_UNCOMPRESSED = 200 * MB
"""Total uncompressed size of a .docx's entries, from the zip directory, before any entry is read."""

MAX_DOCX_XML = 40 * MB
"""Uncompressed size of a .docx's XML parts (what the parser turns into a tree), from the zip directory."""

MAX_DOCX_RATIO = 100.0
"""Largest compression ratio (uncompressed / compressed) of a .docx entry over ``DOCX_RATIO_MIN_SIZE``."""

DOCX_RATIO_MIN_SIZE = 1 * MB
"""Entries at most this large (uncompressed) are not ratio-checked: small XML compresses well."""

MAX_DOCX_PARAGRAPHS = 100_000
"""Paragraphs (``w:p``, in the body and in tables) in a .docx, counted by a streaming scan before parsing."""

MAX_LINES_PER_FILE = 1_000_000
"""Lines in a decoded text transcript (.txt .md .vtt .srt .json), checked before parsing."""

MAX_TURNS_PER_FILE = 50_000
"""Speaker turns (JSON items, or parsed turns of any format) in one file."""

MAX_TURN_CHARS = 200_000
"""Characters in one speaker turn (JSON text field, or a parsed turn of any format)."""

MAX_JSON_DEPTH = 32
"""Nesting depth of arrays and objects in a JSON transcript, checked on the text before it is parsed."""

MAX_JSON_NUMBER_CHARS = 40
"""Characters in one JSON number (Python refuses integers over 4,300 digits; no time needs 40)."""

MAX_JSON_LABEL_CHARS = 200
"""Characters in a JSON speaker or role value."""

MAX_CSV_ROWS = 100_000
"""Rows in a participants CSV."""

MAX_CSV_COLUMNS = 200
"""Columns in a participants CSV."""

MAX_CSV_CELL_CHARS = 10_000
"""Characters in one participants CSV cell (Python's csv module stops at 131,072)."""

MAX_FOLDER_DEPTH = 32
"""Folder levels a folder ingest descends; deeper folders are skipped with a warning."""


def documented() -> list[tuple[str, int | float, str]]:
    """Every limit as ``(name, value, docstring)``, in file order (for the README's list)."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    found: list[tuple[str, int | float, str]] = []
    for node, after in zip(tree.body, tree.body[1:]):
        if isinstance(node, ast.Assign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            name = node.targets[0].id  # type: ignore[attr-defined]
            found.append((name, globals()[name], " ".join(str(after.value.value).split())))
    return found
