"""Numbered, append-only schema migrations. Never edit one that has shipped; add a new one."""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = []


def migration(name: str, sql: str) -> None:
    """Register a migration; names are ``mNNN_description`` and run in registration order."""
    MIGRATIONS.append((name, sql))


# Documents are versions of a source file: a changed file of the same name becomes a new
# version and the old one (with anything coded on it) is kept but no longer current.
# Offsets everywhere are Unicode code points into documents.text (NFC, "\n" line ends).
migration(
    "m001_initial",
    """
    CREATE TABLE documents (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        format TEXT NOT NULL,
        encoding TEXT NOT NULL,
        labelled INTEGER NOT NULL,
        text TEXT NOT NULL,
        text_sha256 TEXT NOT NULL,
        wave INTEGER,
        case_id TEXT,
        ingested_at TEXT NOT NULL,
        ingested_by TEXT NOT NULL,
        current INTEGER NOT NULL DEFAULT 1,
        UNIQUE (name, version)
    );
    CREATE UNIQUE INDEX documents_one_current ON documents (name) WHERE current = 1;
    CREATE INDEX documents_sha256 ON documents (sha256);

    CREATE TABLE turns (
        id INTEGER PRIMARY KEY,
        document_id INTEGER NOT NULL REFERENCES documents (id),
        idx INTEGER NOT NULL,
        speaker TEXT,
        role TEXT,
        label TEXT,
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        time_start REAL,
        time_end REAL,
        UNIQUE (document_id, idx)
    );

    CREATE TABLE segments (
        id TEXT PRIMARY KEY,
        document_id INTEGER NOT NULL REFERENCES documents (id),
        turn_id INTEGER NOT NULL REFERENCES turns (id),
        idx INTEGER NOT NULL,
        speaker TEXT,
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        text TEXT NOT NULL,
        n_tokens INTEGER NOT NULL,
        UNIQUE (document_id, idx)
    );
    CREATE INDEX segments_speaker ON segments (speaker);

    CREATE TABLE participants (
        id TEXT PRIMARY KEY,
        speaker TEXT NOT NULL UNIQUE,
        side TEXT,
        role_category TEXT,
        role_title TEXT,
        sector TEXT,
        organisation TEXT,
        experience TEXT,
        case_id TEXT,
        extra TEXT NOT NULL DEFAULT '{}',
        updated_at TEXT NOT NULL
    );

    CREATE TABLE index_state (
        segment_id TEXT PRIMARY KEY REFERENCES segments (id),
        embedder TEXT NOT NULL,
        indexed_at TEXT NOT NULL
    );

    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )
    """,
)
