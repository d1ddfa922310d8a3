"""``StoreContext``: what a step needs of an open project store (folder, connection, configuration)."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .db import ProjectConnection

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

    def decider(self, coder: str | None = None) -> str | None:
        """The named coder for a decision: explicit, ``CODER_ASSIST_CODER`` or the project default.
        Unlike :meth:`actor` there is no fallback: decisions need a person's name."""
        return coder or os.environ.get("CODER_ASSIST_CODER") or self.config.project.coder or None

    def actor(self, coder: str | None = None) -> str:
        """Who is acting: explicit coder, ``CODER_ASSIST_CODER``, the project default, the OS user."""
        return coder or os.environ.get("CODER_ASSIST_CODER") or default_actor(self.config.project.coder)


def default_actor(default: str) -> str:
    """The configured coder, else the OS user (for events; decisions never fall back to it)."""
    if default:
        return default
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "unknown"
