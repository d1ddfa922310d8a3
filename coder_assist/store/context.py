"""``StoreContext``: what a step needs of an open project store (folder, connection, configuration)."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CoderAssistError, ProjectError
from . import audit
from .config import CONFIG_NAME, Config
from .db import ProjectConnection, connect, transaction

DB_NAME = "project.db"
ANCHOR_NAME = "audit.anchor"
INDEX_DIR = "index"


@dataclass
class StoreContext:
    """The project folder, its database connection and configuration. Steps receive this (and an
    embedder, vectors or a framework where they need one), never the whole ``Project``."""

    root: Path
    conn: ProjectConnection
    config: Config

    @classmethod
    def create(cls, root: Path, config: Config) -> StoreContext:
        """Create the project folder, its config file, database and first audit entry."""
        if (root / DB_NAME).exists() or (root / CONFIG_NAME).exists():
            raise ProjectError(f"{root}: already a coder-assist project")
        if root.exists() and not root.is_dir():
            raise ProjectError(f"{root}: exists and is not a directory")
        root.mkdir(parents=True, exist_ok=True)
        (root / INDEX_DIR).mkdir(exist_ok=True)
        config.save(root / CONFIG_NAME)
        store = cls(root, _connect(root, config), config)
        with transaction(store.conn):
            audit.append(store.conn, default_actor(config.project.coder), "project-init",
                         {"name": config.project.name, "config": config.model_dump()})  # fmt: skip
        return store

    @classmethod
    def open(cls, root: Path) -> StoreContext:
        """Open an existing project; a hand edit of the config file goes into the audit trail."""
        if not (root / CONFIG_NAME).is_file():
            raise ProjectError(f"{root}: not a coder-assist project (run 'coder-assist init {root}')")
        config = Config.load(root / CONFIG_NAME)
        if not config.store.url and not (root / DB_NAME).is_file():
            raise ProjectError(f"{root}: not a coder-assist project (run 'coder-assist init {root}')")
        store = cls(root, _connect(root, config, create=False), config)
        store._record_config_change()
        return store

    def _last_recorded_config(self) -> dict[str, Any]:
        row = self.conn.execute(
            "SELECT payload FROM events WHERE type IN ('project-init', 'config-change') ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return json.loads(row["payload"])["config"] if row else {}

    def _record_config_change(self) -> None:
        """Config edits (usually by hand in the TOML file) go into the audit trail when next seen."""
        current = json.loads(json.dumps(self.config.model_dump()))
        if self._last_recorded_config() == current:
            return  # the usual case: no write lock taken just for opening the project
        with transaction(self.conn):
            last = self._last_recorded_config()  # again under the lock: another process may have recorded it
            if last == current:
                return
            changed = {
                f"{section}.{key}": [last.get(section, {}).get(key) if isinstance(last.get(section), dict) else None, value]
                for section, values in current.items() if isinstance(values, dict)
                for key, value in values.items()
                if not isinstance(last.get(section), dict) or last[section].get(key) != value
            }  # fmt: skip
            audit.append(self.conn, self.actor(), "config-change", {"config": current, "changed": changed})

    def decider(self, coder: str | None = None) -> str | None:
        """The named coder for a decision: explicit, ``CODER_ASSIST_CODER`` or the project default.
        Unlike :meth:`actor` there is no fallback: decisions need a person's name."""
        return coder or os.environ.get("CODER_ASSIST_CODER") or self.config.project.coder or None

    def actor(self, coder: str | None = None) -> str:
        """Who is acting: explicit coder, ``CODER_ASSIST_CODER``, the project default, the OS user."""
        return coder or os.environ.get("CODER_ASSIST_CODER") or default_actor(self.config.project.coder)


def named_coder(coder: str | None) -> str:
    """The coder's name for a decision, stripped; a decision without a person's name is refused."""
    if not coder or not coder.strip():
        raise CoderAssistError(
            "a decision needs a named coder: pass --coder, set CODER_ASSIST_CODER, or set project.coder in coder-assist.toml"
        )
    return coder.strip()


def default_actor(default: str) -> str:
    """The configured coder, else the OS user (for events; decisions never fall back to it)."""
    if default:
        return default
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "unknown"


def _connect(root: Path, config: Config, create: bool = True) -> ProjectConnection:
    """The project database: ``project.db`` in the folder, or the PostgreSQL database of
    ``store.url``; the audit anchor stays in the folder, beside the config, either way."""
    if config.store.url:
        from .postgres import PgConnection

        return PgConnection(config.store.url, anchor_path=root / ANCHOR_NAME)  # type: ignore[return-value]
    conn = connect(root / DB_NAME, create=create)
    conn.anchor_path = root / ANCHOR_NAME
    return conn
