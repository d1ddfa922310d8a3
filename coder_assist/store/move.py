"""``migrate-store``: copy a project's SQLite database to a PostgreSQL one, verified, then switch.

Every table is copied row for row, ids included, in one PostgreSQL transaction (foreign keys
deferred, the guard triggers passed as a decision and a ledger append would pass them), so the
copy is all or nothing. Then the counts of every table and the audit chain are checked on the
target (the chain must verify and end at the same entry, the folder's anchor included) before
the config's ``store.url`` is switched; the SQLite file is kept, renamed, as the way back. The
project is closed afterwards: open it again, now on the server.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import CoderAssistError
from . import audit
from .config import CONFIG_NAME, StoreSection
from .context import ANCHOR_NAME, DB_NAME, StoreContext
from .db import transaction
from .postgres import PgConnection, identity_tables


@dataclass
class MoveReport:
    url: str
    counts: dict[str, int] = field(default_factory=dict)
    kept: str = ""
    """Where the SQLite file now is (renamed, kept as the way back)."""


def tables(conn: sqlite3.Connection) -> list[str]:
    """The project's tables, in the order they were created (the migration bookkeeping excluded)."""
    return [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '_migrations'"
        " ORDER BY rowid")]  # fmt: skip


def move(store: StoreContext, url: str, actor: str) -> MoveReport:
    """Copy ``store`` (on SQLite) to the empty PostgreSQL database at ``url``, verify, switch."""
    source = store.conn
    if store.config.store.url:
        raise CoderAssistError(f"this project is on {store.config.store.url} already")
    try:
        StoreSection(url=url)  # a postgresql:// URL without a password in it
    except ValueError as exc:
        raise CoderAssistError(f"--to: {' '.join(str(exc).split())}") from None
    target = PgConnection(url, anchor_path=store.root / ANCHOR_NAME)
    try:
        if target.execute("SELECT count(*) FROM events").fetchone()[0]:
            raise CoderAssistError(f"{url}: the database already holds a project; migrate-store needs an empty one")
        report = MoveReport(url)
        raw = target._conn  # the copy runs as one plain transaction, not through the steps' scopes
        with raw.transaction():
            raw.execute("SET CONSTRAINTS ALL DEFERRED")
            raw.execute("SELECT set_config('coder_assist.human', '1', true), set_config('coder_assist.ledger', '1', true)")
            for table in tables(source):
                report.counts[table] = _copy(source, raw, table)
            for table in identity_tables():
                raw.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(max(id), 1), max(id) IS NOT NULL)"
                            f" FROM {table}")  # fmt: skip
        _check(source, target, store.root / ANCHOR_NAME, report.counts)
    except BaseException:
        target.close()
        raise
    # Switch: the event on the server, the config names the database, the SQLite file is kept renamed.
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    kept = store.root / f"{DB_NAME}.before-migrate-store-{stamp}"
    try:
        with transaction(target):
            audit.append(target, actor, "migrate-store", {"to": url, "counts": report.counts, "kept": kept.name})
    finally:
        target.close()
    store.config.store = StoreSection(url=url)
    store.config.save(store.root / CONFIG_NAME)
    source.close()
    (store.root / DB_NAME).rename(kept)
    for suffix in ("-wal", "-shm"):
        Path(str(store.root / DB_NAME) + suffix).unlink(missing_ok=True)
    report.kept = str(kept)
    return report


def _copy(source: sqlite3.Connection, raw: object, table: str) -> int:
    cur = source.execute(f"SELECT * FROM {table}")
    columns = [d[0] for d in cur.description]
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
    rows = [tuple(r) for r in cur.fetchall()]
    if rows:
        with raw.cursor() as c:  # type: ignore[attr-defined]
            c.executemany(sql, rows)
    return len(rows)


def _check(source: sqlite3.Connection, target: PgConnection, anchor: Path, counts: dict[str, int]) -> None:
    """The same number of rows in every table, and the same intact chain, or nothing is switched."""
    for table, n in counts.items():
        got = target.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if got != n:
            raise CoderAssistError(f"migrate-store: {table} has {got} rows on the server, {n} here; nothing switched")
    breaks = audit.verify(target, anchor)
    if breaks:
        raise CoderAssistError(f"migrate-store: the copied audit chain does not verify ({breaks[0].reason}); nothing switched")
    head = lambda c: tuple(c.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone() or ())  # noqa: E731
    if head(source) != head(target):
        raise CoderAssistError("migrate-store: the copied ledger does not end at the same entry; nothing switched")
