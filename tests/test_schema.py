"""The migrated database schema, pinned against ``tests/schema_snapshot.json``.

A migration that changes the schema must update the snapshot in the same change:

    UPDATE_SCHEMA_SNAPSHOT=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_schema.py

rewrites the file from a freshly migrated database; review its diff before committing.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

from coder_assist.store.db import applied_migrations, connect, migrate
from coder_assist.store.migrations import MIGRATIONS

SNAPSHOT = Path(__file__).resolve().parent / "schema_snapshot.json"
REGENERATE = "UPDATE_SCHEMA_SNAPSHOT=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_schema.py"


def schema_of(conn: sqlite3.Connection) -> dict[str, Any]:
    """Tables (columns, foreign keys), indexes and triggers by name, and the applied migrations."""
    master = conn.execute("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_stat%' ORDER BY name").fetchall()
    tables: dict[str, Any] = {}
    for r in (r for r in master if r["type"] == "table"):
        name = r["name"]
        tables[name] = {
            "columns": [{"name": c["name"], "type": c["type"], "notnull": bool(c["notnull"]), "default": c["dflt_value"],
                         "pk": c["pk"]} for c in conn.execute(f"PRAGMA table_info('{name}')")],  # fmt: skip
            "foreign_keys": sorted([f["from"], f["table"], f["to"]] for f in conn.execute(f"PRAGMA foreign_key_list('{name}')")),
        }
    indexes: dict[str, Any] = {}
    for table in tables:
        for ix in conn.execute(f"PRAGMA index_list('{table}')"):
            cols = [c["name"] for c in conn.execute(f"PRAGMA index_info('{ix['name']}')")]
            indexes[ix["name"]] = {"table": table, "columns": cols, "unique": bool(ix["unique"]),
                                   "origin": ix["origin"], "partial": bool(ix["partial"])}  # fmt: skip
    triggers = {r["name"]: r["tbl_name"] for r in master if r["type"] == "trigger"}
    return {
        "migrations": applied_migrations(conn),
        "tables": tables,
        "indexes": dict(sorted(indexes.items())),
        "triggers": dict(sorted(triggers.items())),
    }


def dump(schema: dict[str, Any]) -> str:
    """The snapshot text: one line per column, foreign key, index and trigger (readable diffs)."""
    one = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731
    lines = ["{", f' "migrations": {one(schema["migrations"])},', ' "tables": {']
    tables = list(schema["tables"].items())
    for i, (name, t) in enumerate(tables):
        cols = ",\n".join(f"    {one(c)}" for c in t["columns"])
        fks = ",\n".join(f"    {one(f)}" for f in t["foreign_keys"])
        lines.append(f"  {one(name)}: {{\n   \"columns\": [\n{cols}\n   ],\n   \"foreign_keys\": [{chr(10) + fks + chr(10) + '   ' if fks else ''}]\n  }}"
                     + ("," if i < len(tables) - 1 else ""))
    lines.append(" },")
    for key in ("indexes", "triggers"):
        items = ",\n".join(f"  {one(k)}: {one(v)}" for k, v in schema[key].items())
        lines.append(f' {one(key)}: {{\n{items}\n }}' + ("," if key == "indexes" else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _diff(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Readable differences, one per changed migration list, table, index or trigger."""
    out = []
    if expected.get("migrations") != actual["migrations"]:
        out.append(f"migrations: {expected.get('migrations')} -> {actual['migrations']}")
    for kind in ("tables", "indexes", "triggers"):
        old, new = expected.get(kind, {}), actual[kind]
        out += [f"{kind}: added {n}" for n in sorted(set(new) - set(old))]
        out += [f"{kind}: removed {n}" for n in sorted(set(old) - set(new))]
        for n in sorted(set(old) & set(new)):
            if old[n] == new[n]:
                continue
            if kind != "tables":
                out.append(f"{kind}: changed {n}: {old[n]} -> {new[n]}")
                continue
            was, now = ({c["name"]: c for c in t["columns"]} for t in (old[n], new[n]))
            out += [f"tables: {n}: column added {now[c]}" for c in now if c not in was]
            out += [f"tables: {n}: column removed {was[c]}" for c in was if c not in now]
            out += [f"tables: {n}: column changed {was[c]} -> {now[c]}" for c in now if c in was and was[c] != now[c]]
            if [c for c in was if c in now] != [c for c in now if c in was]:
                out.append(f"tables: {n}: column order {list(was)} -> {list(now)}")
            if old[n]["foreign_keys"] != new[n]["foreign_keys"]:
                out.append(f"tables: {n}: foreign keys {old[n]['foreign_keys']} -> {new[n]['foreign_keys']}")
    return out


def test_migrated_schema_matches_the_snapshot(tmp_path):
    conn = connect(tmp_path / "project.db")
    try:
        actual = schema_of(conn)
    finally:
        conn.close()
    if os.environ.get("UPDATE_SCHEMA_SNAPSHOT") == "1":
        SNAPSHOT.write_text(dump(actual), encoding="utf-8")
    assert SNAPSHOT.is_file(), f"no schema snapshot at {SNAPSHOT}; create it with:\n    {REGENERATE}"
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    changes = _diff(expected, actual)
    assert not changes, (
        "the migrated schema differs from tests/schema_snapshot.json:\n  " + "\n  ".join(changes)
        + f"\nIf a migration changed it on purpose, regenerate the snapshot and review its diff:\n    {REGENERATE}"
    )
    assert expected == actual  # anything _diff does not itemise


def test_snapshot_covers_every_registered_migration():
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    names = [name for name, _ in MIGRATIONS]
    assert expected["migrations"] == names, f"a migration was added or renamed; regenerate with:\n    {REGENERATE}"
    assert len(set(names)) == len(names) and all(re.fullmatch(r"m\d{3}_\w+", n) for n in names)
    assert [int(n[1:4]) for n in names] == list(range(1, len(names) + 1))  # numbered in order, none skipped


def test_migrating_again_is_a_no_op(tmp_path):
    path = tmp_path / "project.db"
    conn = connect(path)
    before = schema_of(conn)
    rows = conn.execute("SELECT id, name, applied_at FROM _migrations ORDER BY id").fetchall()
    assert migrate(conn) == []  # on the same connection
    conn.close()
    conn = connect(path)  # and on reopening, which migrates on open
    try:
        assert migrate(conn) == []
        assert schema_of(conn) == before
        assert [tuple(r) for r in conn.execute("SELECT id, name, applied_at FROM _migrations ORDER BY id")] == [tuple(r) for r in rows]
        assert [r[1] for r in rows] == [name for name, _ in MIGRATIONS]
    finally:
        conn.close()


def test_a_schema_change_is_caught_and_named(tmp_path, monkeypatch):
    """What a migration without a snapshot update looks like: the test names the change."""
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert json.loads(dump(expected)) == expected  # the snapshot format round-trips
    monkeypatch.setattr("coder_assist.store.db.MIGRATIONS", [*MIGRATIONS, ("m999_probe", """
        ALTER TABLE codes ADD COLUMN colour TEXT DEFAULT 'red';
        CREATE INDEX codes_colour ON codes (colour);
        CREATE TRIGGER codes_probe BEFORE DELETE ON codes BEGIN SELECT 1; END
    """)])  # fmt: skip
    conn = connect(tmp_path / "project.db")
    try:
        changes = _diff(expected, schema_of(conn))
    finally:
        conn.close()
    assert changes[0].startswith("migrations:") and "m999_probe" in changes[0]
    assert "indexes: added codes_colour" in changes and "triggers: added codes_probe" in changes
    assert "tables: codes: column added {'name': 'colour', 'type': 'TEXT', 'notnull': False, 'default': \"'red'\", 'pk': 0}" in changes
