"""The decision sheet: open suggestions as a CSV to decide in a spreadsheet, then ``review --from``.

The first columns are the ones ``review --from`` reads (``id, action, label, span, into, note,
version``); ``action`` is left empty for the researcher to fill (rows left empty are skipped),
``version`` is the version of the suggestion written out, so a suggestion that someone else
decided in the meantime is a conflict, not an overwrite. The other columns are context (the
suggested label, quote, speaker, side, the segment's text, the rationale) and are not read back.

Every cell is neutralised against formula injection (``store.csvsafe``): transcript text and
participant attributes that start with ``=``, ``+``, ``-`` or ``@`` are written with a leading
apostrophe, so a spreadsheet shows them as text instead of running them. The file is UTF-8 with
a byte-order mark (so spreadsheet programs read it as UTF-8) and is written atomically.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..store.csvsafe import csv_safe
from ..store.files import atomic_write

#: Columns ``review --from`` reads back, in order.
DECISION_COLUMNS = ("id", "action", "label", "span", "into", "note", "version")
#: Context columns, for the person deciding; ignored on the way back.
CONTEXT_COLUMNS = ("suggested_label", "in_vivo", "quote", "source", "speaker", "side", "role_category", "wave",
                   "segment", "rationale", "grounding", "provider", "model")  # fmt: skip


def sheet_rows(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Suggestion rows (as from ``review.queries.suggestion_rows``) as sheet rows, segment text added."""
    texts = {}
    ids = sorted({r["segment_id"] for r in rows})
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        marks = ",".join("?" * len(part))
        texts.update(conn.execute(f"SELECT id, text FROM segments WHERE id IN ({marks})", part).fetchall())
    return [
        {"id": r["id"], "action": "", "label": "", "span": "", "into": "", "note": "", "version": r["version"],
         "suggested_label": r["label"], "in_vivo": "yes" if r["in_vivo"] else "no", "quote": r["quote"],
         "source": r["source"], "speaker": r["speaker"], "side": r["side"], "role_category": r["role_category"],
         "wave": r["wave"], "segment": texts.get(r["segment_id"], ""), "rationale": r["rationale"],
         "grounding": r["grounding"], "provider": r["provider"], "model": r["model"]}
        for r in rows
    ]  # fmt: skip


def render(rows: list[dict[str, Any]]) -> str:
    """The sheet as CSV text, every cell neutralised."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(DECISION_COLUMNS + CONTEXT_COLUMNS)
    for row in rows:
        writer.writerow([csv_safe("" if row.get(c) is None else str(row[c])) for c in DECISION_COLUMNS + CONTEXT_COLUMNS])
    return buf.getvalue()


def write_sheet(conn: sqlite3.Connection, path: Path, rows: list[dict[str, Any]]) -> int:
    """Write the decision sheet for ``rows`` to ``path`` (atomically); returns the number of rows."""
    text = render(sheet_rows(conn, rows))
    try:
        atomic_write(path, text.encode("utf-8-sig"))
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from None
    return len(rows)
