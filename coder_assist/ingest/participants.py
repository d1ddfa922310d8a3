"""Participant attributes from a CSV: side, role category, sector, organisation, case ...

Rows are matched to transcripts by the ``speaker`` label. Importing again adds new participants
and updates the columns the file has, leaving other attributes as they were. Every row is checked
against :class:`ParticipantRow` (sizes, one participant id and speaker per row) before anything
is written. Cells are kept as written, including ones a spreadsheet would read as a formula
(``=``, ``+``, ``-``, ``@``): they are neutralised where a CSV is written
(:func:`coder_assist.store.csvsafe.csv_safe`).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..store.db import utcnow
from .decode import decode_bytes
from ..errors import InputError
from .limits import MAX_CSV_CELL_CHARS, MAX_CSV_COLUMNS, MAX_CSV_ROWS

FIELDS = ("id", "speaker", "side", "role_category", "role_title", "sector", "organisation", "experience", "case_id")
_ALIASES = {
    "participant_id": "id", "participant": "id", "pid": "id", "id": "id",
    "speaker": "speaker", "label": "speaker", "speaker_label": "speaker", "name": "speaker",
    "side": "side", "b/s": "side",
    "role_category": "role_category", "role_cat": "role_category", "rolecat": "role_category",
    "role_title": "role_title", "role": "role_title", "title": "role_title",
    "sector": "sector", "industry": "sector",
    "organisation": "organisation", "organization": "organisation", "org": "organisation",
    "company": "organisation", "firm": "organisation",
    "experience": "experience", "exp": "experience", "experience_band": "experience",
    "case": "case_id", "case_id": "case_id", "dyad": "case_id", "dyad_id": "case_id",
}  # fmt: skip
_SIDES = {
    "b": "buyer", "buyer": "buyer", "customer": "buyer", "client": "buyer",
    "s": "supplier", "supplier": "supplier", "vendor": "supplier", "seller": "supplier", "provider": "supplier",
    "researcher": "researcher", "interviewer": "researcher", "moderator": "researcher",
}  # fmt: skip


@dataclass
class AttributeReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def speakers_changed(self) -> list[str]:
        return self.added + self.updated


_Cell = Annotated[str, Field(max_length=MAX_CSV_CELL_CHARS)]


class ParticipantRow(BaseModel):
    """One participants CSV row: a non-empty id, cells within the size limit, extra columns kept."""

    model_config = ConfigDict(extra="allow", strict=True)
    __pydantic_extra__: dict[str, _Cell]

    id: Annotated[str, Field(min_length=1, max_length=MAX_CSV_CELL_CHARS)]
    speaker: _Cell = ""


def _row(cols: list[str], values: list[str], path: Path, line_no: int) -> dict[str, str]:
    """The row as ``{field: value}`` (id defaulting to the speaker), validated by :class:`ParticipantRow`."""
    row = {c: v.strip() for c, v in zip(cols, values)}
    row["id"] = row.get("id") or row.get("speaker", "")
    if not row["id"]:
        raise InputError(path, f"line {line_no}: empty participant id and speaker")
    try:
        ParticipantRow.model_validate(row)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        raise InputError(path, f"line {line_no}: column {first['loc'][0]!r}: {first['msg']}") from None
    return row


def _records(text: str, path: Path) -> Iterator[tuple[int, list[str]]]:
    """The CSV rows with their line numbers; a malformed one is an ``InputError`` naming its line."""
    reader = csv.reader(io.StringIO(text))
    try:
        for values in reader:
            yield reader.line_num, values
    except csv.Error as error:
        raise InputError(path, f"line {reader.line_num}: malformed CSV ({error})") from None


def _key(column: str) -> str:
    return column.strip().lower().replace(" ", "_").replace("-", "_")


def read_csv(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    """Parse and validate the file; returns (rows keyed by field name + extras, warnings)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from exc
    text, _, warnings = decode_bytes(data, path)
    records = _records(text, path)
    _, header = next(records, (1, None))
    if not header or not any(h.strip() for h in header):
        raise InputError(path, "no header row")
    if len(header) > MAX_CSV_COLUMNS:
        raise InputError(path, f"{len(header)} columns (limit {MAX_CSV_COLUMNS})")
    cols = [_ALIASES.get(_key(h), _key(h)) for h in header]
    if "id" not in cols and "speaker" not in cols:
        raise InputError(path, "needs a 'participant_id' or 'speaker' column")
    dupes = {c for c in cols if cols.count(c) > 1 and c}
    if dupes:
        raise InputError(path, f"duplicate column {sorted(dupes)[0]!r}")
    rows: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    ids: dict[str, int] = {}
    for line_no, values in records:
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(cols):
            raise InputError(path, f"line {line_no}: {len(values)} fields, header has {len(cols)}")
        if len(rows) >= MAX_CSV_ROWS:
            raise InputError(path, f"over {MAX_CSV_ROWS:,} participant rows (limit per file)")
        row = _row(cols, values, path, line_no)
        if row["id"] in ids:
            raise InputError(path, f"lines {ids[row['id']]} and {line_no}: duplicate participant id {row['id']!r}")
        ids[row["id"]] = line_no
        who = row.get("speaker") or row["id"]
        if who in seen:
            raise InputError(path, f"line {line_no}: speaker {who!r} already on line {seen[who]}")
        seen[who] = line_no
        if "side" in row and row["side"]:
            side = _SIDES.get(row["side"].lower())
            if side is None:
                warnings.append(f"{path}: line {line_no}: unknown side {row['side']!r} kept as written")
            row["side"] = side or row["side"]
        rows.append(row)
    if not rows:
        raise InputError(path, "no participant rows")
    return rows, warnings


def upsert(conn: sqlite3.Connection, path: Path, rows: list[dict[str, str]]) -> AttributeReport:
    """Write rows inside the caller's transaction; a speaker claimed by another id is an error."""
    report = AttributeReport()
    now = utcnow()
    for row in rows:
        existing = conn.execute("SELECT * FROM participants WHERE id = ?", (row["id"],)).fetchone()
        # A file without a speaker column updates attributes only; new participants default to their id.
        row = {**row, "speaker": row.get("speaker") or (existing["speaker"] if existing else row["id"])}
        clash = conn.execute(
            "SELECT id FROM participants WHERE speaker = ? AND id != ?", (row["speaker"], row["id"])
        ).fetchone()
        if clash:
            raise InputError(path, f"speaker {row['speaker']!r} already belongs to participant {clash[0]!r}")
        known = {k: v for k, v in row.items() if k in FIELDS}
        extra = {k: v for k, v in row.items() if k not in FIELDS}
        if existing is None:
            values = {f: known.get(f) or None for f in FIELDS}
            values["id"], values["speaker"] = row["id"], row["speaker"]
            conn.execute(
                f"INSERT INTO participants ({', '.join(FIELDS)}, extra, updated_at) VALUES ({', '.join('?' * len(FIELDS))}, ?, ?)",
                (*values.values(), json.dumps(extra, ensure_ascii=False, sort_keys=True), now),
            )
            report.added.append(row["speaker"])
            continue
        merged_extra = {**json.loads(existing["extra"]), **extra}
        changes = {f: (v or None) for f, v in known.items() if f != "id" and (v or None) != existing[f]}
        if not changes and merged_extra == json.loads(existing["extra"]):
            continue
        sets = ", ".join(f"{f} = ?" for f in changes)
        conn.execute(
            f"UPDATE participants SET {sets + ', ' if sets else ''}extra = ?, updated_at = ? WHERE id = ?",
            (*changes.values(), json.dumps(merged_extra, ensure_ascii=False, sort_keys=True), now, row["id"]),
        )
        report.updated.append(row["speaker"])
        if "speaker" in changes:
            report.updated.append(existing["speaker"])
    return report
