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


# The engine's side (issue: suggestion engine). Providers write coding_runs, llm_calls and
# suggestions only. codes and codings form the researcher's codebook: they change only through a
# human decision or an explicit manual command, never from provider code.
migration(
    "m002_suggestions",
    """
    CREATE TABLE codes (
        id INTEGER PRIMARY KEY,
        label TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'initial',
        definition TEXT,
        parent_id INTEGER REFERENCES codes (id),
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    );
    CREATE UNIQUE INDEX codes_label ON codes (label) WHERE active = 1;

    CREATE TABLE codings (
        id INTEGER PRIMARY KEY,
        code_id INTEGER NOT NULL REFERENCES codes (id),
        segment_id TEXT NOT NULL REFERENCES segments (id),
        document_id INTEGER NOT NULL REFERENCES documents (id),
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        suggestion_id INTEGER REFERENCES suggestions (id),
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    );
    CREATE INDEX codings_segment ON codings (segment_id);

    CREATE TABLE coding_runs (
        id TEXT PRIMARY KEY,
        work_key TEXT NOT NULL,
        actor TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        base_host TEXT,
        prompt_id TEXT NOT NULL,
        prompt_version TEXT NOT NULL,
        prompt_sha256 TEXT NOT NULL,
        params TEXT NOT NULL,
        redaction TEXT NOT NULL,
        selection TEXT NOT NULL,
        status TEXT NOT NULL,
        counts TEXT NOT NULL DEFAULT '{}',
        started_at TEXT NOT NULL,
        finished_at TEXT
    );

    CREATE TABLE llm_calls (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES coding_runs (id),
        segment_id TEXT NOT NULL REFERENCES segments (id),
        work_key TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        attempts INTEGER NOT NULL,
        input_sha256 TEXT NOT NULL,
        context_ids TEXT NOT NULL,
        similar_ids TEXT NOT NULL,
        redacted INTEGER NOT NULL,
        raw_response TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        tokens_estimated INTEGER NOT NULL,
        latency_ms INTEGER,
        cost_usd REAL,
        created_at TEXT NOT NULL,
        UNIQUE (segment_id, work_key)
    );

    CREATE TABLE suggestions (
        id INTEGER PRIMARY KEY,
        call_id INTEGER NOT NULL REFERENCES llm_calls (id),
        run_id TEXT NOT NULL REFERENCES coding_runs (id),
        segment_id TEXT NOT NULL REFERENCES segments (id),
        kind TEXT NOT NULL,
        label TEXT NOT NULL,
        in_vivo INTEGER NOT NULL,
        quote TEXT NOT NULL,
        start INTEGER,
        end INTEGER,
        grounding TEXT NOT NULL,
        grounding_score REAL NOT NULL,
        rationale TEXT NOT NULL,
        reused_code_id INTEGER REFERENCES codes (id),
        reused_label TEXT,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX suggestions_segment ON suggestions (segment_id);
    CREATE INDEX suggestions_status ON suggestions (status)
    """,
)


# Human decisions (issue: human confirmation and audit trail). A decision is never deleted: undo
# is a new decision that reverses an earlier one. The guard triggers make the codebook and the
# suggestions' status writable only inside a decision scope (see db.ProjectConnection), and the
# ledger and decisions append-only.
_GUARD = "SELECT RAISE(ABORT, 'the codebook changes only through a human decision (coder-assist decisions API)')"
migration(
    "m003_decisions",
    f"""
    ALTER TABLE suggestions ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE codings ADD COLUMN decision_id INTEGER REFERENCES decisions (id);
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        suggestion_id INTEGER REFERENCES suggestions (id),
        action TEXT NOT NULL,
        coder TEXT NOT NULL,
        at TEXT NOT NULL,
        from_status TEXT,
        to_status TEXT,
        label TEXT,
        start INTEGER,
        end INTEGER,
        code_id INTEGER REFERENCES codes (id),
        created_code INTEGER NOT NULL DEFAULT 0,
        reverses INTEGER REFERENCES decisions (id),
        note TEXT
    );
    CREATE INDEX decisions_suggestion ON decisions (suggestion_id);
    CREATE TRIGGER codes_guard_insert BEFORE INSERT ON codes WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER codes_guard_update BEFORE UPDATE ON codes WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER codes_guard_delete BEFORE DELETE ON codes WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER codings_guard_insert BEFORE INSERT ON codings WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER codings_guard_update BEFORE UPDATE ON codings WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER codings_guard_delete BEFORE DELETE ON codings WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER suggestions_guard_status BEFORE UPDATE OF status, version ON suggestions
        WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER decisions_append_only_u BEFORE UPDATE ON decisions BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
    CREATE TRIGGER decisions_append_only_d BEFORE DELETE ON decisions BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
    CREATE TRIGGER events_append_only_u BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'the audit ledger is append-only'); END;
    CREATE TRIGGER events_append_only_d BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'the audit ledger is append-only'); END
    """,
)


# From codes to theory (issue: categories, frameworks, memos). Engine output goes to
# category_suggestions, link_suggestions and memo_drafts; confirmed results live in categories,
# category_members, construct_links and memos, which only a human decision may write.
migration(
    "m004_theory",
    f"""
    ALTER TABLE decisions ADD COLUMN target TEXT;
    CREATE TABLE category_suggestions (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        name TEXT NOT NULL,
        definition TEXT NOT NULL,
        properties TEXT NOT NULL,
        member_code_ids TEXT NOT NULL,
        medoid_code_id INTEGER REFERENCES codes (id),
        top_terms TEXT NOT NULL,
        params TEXT NOT NULL,
        raw_response TEXT,
        status TEXT NOT NULL DEFAULT 'proposed',
        version INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE categories (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        definition TEXT,
        properties TEXT NOT NULL DEFAULT '{{}}',
        suggestion_id INTEGER REFERENCES category_suggestions (id),
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    );
    CREATE TABLE category_members (
        category_id INTEGER NOT NULL REFERENCES categories (id),
        code_id INTEGER NOT NULL REFERENCES codes (id),
        active INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (category_id, code_id)
    );
    CREATE TABLE link_suggestions (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        framework TEXT NOT NULL,
        construct TEXT,
        level TEXT NOT NULL,
        target TEXT NOT NULL,
        confidence REAL NOT NULL,
        rationale TEXT NOT NULL,
        evidence TEXT NOT NULL,
        abstained INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'proposed',
        version INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE construct_links (
        id INTEGER PRIMARY KEY,
        framework TEXT NOT NULL,
        construct TEXT NOT NULL,
        level TEXT NOT NULL,
        target TEXT NOT NULL,
        suggestion_id INTEGER REFERENCES link_suggestions (id),
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    );
    CREATE TABLE memos (
        id INTEGER PRIMARY KEY,
        subject TEXT NOT NULL,
        version INTEGER NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        citations TEXT NOT NULL DEFAULT '[]',
        draft_id INTEGER,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        UNIQUE (subject, version)
    );
    CREATE TRIGGER categories_guard_i BEFORE INSERT ON categories WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER categories_guard_u BEFORE UPDATE ON categories WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER category_members_guard_i BEFORE INSERT ON category_members WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER category_members_guard_u BEFORE UPDATE ON category_members WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER construct_links_guard_i BEFORE INSERT ON construct_links WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER construct_links_guard_u BEFORE UPDATE ON construct_links WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER memos_guard_i BEFORE INSERT ON memos WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER memos_guard_u BEFORE UPDATE ON memos BEGIN SELECT RAISE(ABORT, 'memo versions are append-only: save a new version'); END;
    CREATE TRIGGER category_suggestions_guard BEFORE UPDATE OF status, version ON category_suggestions
        WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER link_suggestions_guard BEFORE UPDATE OF status, version ON link_suggestions
        WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END
    """,
)


# Memo drafts (engine output, offered for acceptance) and analysis proposals (dyad postures,
# IVPD comparisons), confirmed by a person into memos and confirmed_analyses.
migration(
    "m005_memo_drafts_and_analyses",
    f"""
    CREATE TABLE memo_drafts (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        citations TEXT NOT NULL,
        ungrounded INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'proposed',
        version INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE analysis_suggestions (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        case_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'proposed',
        version INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE confirmed_analyses (
        id INTEGER PRIMARY KEY,
        suggestion_id INTEGER NOT NULL REFERENCES analysis_suggestions (id),
        kind TEXT NOT NULL,
        case_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    );
    CREATE TRIGGER memo_drafts_guard BEFORE UPDATE OF status, version ON memo_drafts
        WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER analysis_suggestions_guard BEFORE UPDATE OF status, version ON analysis_suggestions
        WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER confirmed_analyses_guard_i BEFORE INSERT ON confirmed_analyses WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END;
    CREATE TRIGGER confirmed_analyses_guard_u BEFORE UPDATE ON confirmed_analyses WHEN ca_human_decision() = 0 BEGIN {_GUARD}; END
    """,
)


# Interviewer detection (issue 9): who asks in a labelled transcript, proposed at ingest and
# confirmed or rejected by a named coder. One row per document name and speaker, so a decision
# carries over to a new version of the file and detecting again never adds a second row. The
# row is the source of truth; ingest.roles writes its effect into turns.role (see that module).
migration(
    "m006_speaker_roles",
    """
    CREATE TABLE speaker_roles (
        id INTEGER PRIMARY KEY,
        document TEXT NOT NULL,
        speaker TEXT NOT NULL,
        role TEXT NOT NULL,
        score REAL,
        evidence TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'confirmed', 'rejected')),
        proposed_by TEXT NOT NULL,
        proposed_at TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT,
        note TEXT,
        UNIQUE (document, speaker)
    );
    CREATE INDEX speaker_roles_speaker ON speaker_roles (speaker)
    """,
)


# Initial coding through a provider's batch API (issue 10): one row per submitted batch, keyed by
# the provider's batch id, so status, collect and cancel work from another process or another day.
# The segments' results are written as usual (llm_calls, suggestions) by collect, one transaction
# per segment, under the batch's work key; a batch never writes the codebook. ``inputs`` keeps
# per segment what the prompt showed (context and similar segment ids), ``redaction`` the
# placeholders the sent text used (local only, to restore the replies), ``collected_at`` is set
# once every line of the batch's output and error files has been stored.
migration(
    "m007_batches",
    """
    CREATE TABLE batches (
        id TEXT PRIMARY KEY,
        work_key TEXT NOT NULL,
        run_id TEXT NOT NULL REFERENCES coding_runs (id),
        actor TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        base_host TEXT,
        prompt_id TEXT NOT NULL,
        prompt_version TEXT NOT NULL,
        prompt_sha256 TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        input_file_id TEXT NOT NULL,
        segment_ids TEXT NOT NULL,
        inputs TEXT NOT NULL DEFAULT '{}',
        redaction TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL,
        output_file_id TEXT,
        error_file_id TEXT,
        counts TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        collected_at TEXT
    );
    CREATE INDEX batches_work_key ON batches (work_key)
    """,
)


# REFI-QDA exchange (issue 11). ``exchange_ids`` keeps the GUID an object had in an imported file
# (kind: code, document, user, participant, category, memo, variable, selection, coding), so an
# export writes it again and a round trip keeps identities; objects without one get a stable
# uuid5 on export. ``name`` is the object's name in the file when ours differs (a duplicate code
# name made unique on import) and ``local_name`` the name we gave it then: while ours is unchanged,
# the export writes the file's name again. ``imports`` records every import; ``imported_codings`` what an
# imported coding carried in the other tool (its selection, that selection's description, where
# tools put provenance) so that it is exported again unchanged. ``codes.color`` holds colours.
migration(
    "m008_exchange",
    """
    CREATE TABLE exchange_ids (
        kind TEXT NOT NULL,
        local_id TEXT NOT NULL,
        guid TEXT NOT NULL,
        name TEXT,
        local_name TEXT,
        PRIMARY KEY (kind, local_id)
    );
    CREATE UNIQUE INDEX exchange_ids_guid ON exchange_ids (kind, guid);
    CREATE TABLE imports (
        id INTEGER PRIMARY KEY,
        file TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        kind TEXT NOT NULL,
        origin TEXT,
        project_name TEXT,
        counts TEXT NOT NULL DEFAULT '{}',
        warnings TEXT NOT NULL DEFAULT '[]',
        imported_at TEXT NOT NULL,
        imported_by TEXT NOT NULL
    );
    CREATE TABLE imported_codings (
        coding_id INTEGER PRIMARY KEY REFERENCES codings (id),
        import_id INTEGER NOT NULL REFERENCES imports (id),
        selection_guid TEXT,
        selection_name TEXT,
        description TEXT
    );
    ALTER TABLE codes ADD COLUMN color TEXT
    """,
)


# Hardening (issue 12). ``events`` accepts an INSERT only while ``ca_ledger_write()`` says the
# library is appending (``audit.append``; see db.ProjectConnection), so another program opening
# the file cannot add entries, chained correctly or not. This keeps honest tools from writing
# the ledger; it proves nothing against someone who drops the trigger: the hash chain and the
# anchor file show what such a person changed. ``coding_runs`` records the process that owns a
# run (pid, host, the process's start time against pid reuse), so a run whose process is gone
# can be marked ``interrupted``.
migration(
    "m009_hardening",
    """
    CREATE TRIGGER events_guard_insert BEFORE INSERT ON events WHEN ca_ledger_write() = 0
        BEGIN SELECT RAISE(ABORT, 'the audit ledger is written only by coder-assist'); END;
    ALTER TABLE coding_runs ADD COLUMN pid INTEGER;
    ALTER TABLE coding_runs ADD COLUMN host TEXT;
    ALTER TABLE coding_runs ADD COLUMN process_started TEXT
    """,
)
