"""``Project``: the library and notebook API over one project directory.

A project directory holds ``project.db`` (SQLite, the source of truth), ``index/`` (chroma,
derived and rebuildable) and ``coder-assist.toml`` (configuration).
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .ingest import participants as _participants, pipeline as _ingest
from .store import audit
from .store.config import CONFIG_NAME, Config
from .store.db import connect, transaction, utcnow
from .store.embedders import Embedder
from .errors import CoderAssistError, InputError, ProjectError
from .store.index import SegmentIndex, where_clause
from .suggest.coding import RunReport, provenance_of, run_coding
from .review.decisions import (
    Decision, add_code, apply_code, decide, delete_code, human_decision, merge_codes, rename_code, undo,
)
from .review.decisions import read_decisions_csv
from .review.where import FROM as WHERE_FROM
from .review.where import compile_where
from .plugins import embedder_factories
from .suggest.providers import Provider, get_provider, resolve_name
from .progress import NoProgress, Progress
from .store.tokens import default_counter

DB_NAME = "project.db"
ANCHOR_NAME = "audit.anchor"
INDEX_DIR = "index"
EMBED_BATCH = 1024


@dataclass
class SearchHit:
    """One ranked segment."""

    segment_id: str
    score: float
    text: str
    source: str
    speaker: str | None
    start: int
    end: int
    wave: int | None
    side: str | None
    role_category: str | None
    case: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IngestReport:
    files: list[_ingest.FileResult] = field(default_factory=list)
    failures: list[InputError] = field(default_factory=list)
    indexed: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


class Project:
    """An open project. Use ``Project.init(path)`` to create one and ``Project.open(path)`` after."""

    def __init__(self, root: Path, conn: sqlite3.Connection, config: Config, embedder: Embedder | None = None) -> None:
        self.root = root
        self.conn = conn
        self.config = config
        self._embedder = embedder
        self._index: SegmentIndex | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def init(
        cls, root: str | Path, *, name: str | None = None, coder: str | None = None,
        embedder: str | None = None, provider: str | None = None,
    ) -> "Project":  # fmt: skip
        """Create a project directory (it may exist but must not already be a project)."""
        root = Path(root)
        if (root / DB_NAME).exists() or (root / CONFIG_NAME).exists():
            raise ProjectError(f"{root}: already a coder-assist project")
        if root.exists() and not root.is_dir():
            raise ProjectError(f"{root}: exists and is not a directory")
        config = Config()
        config.project.name = name or root.resolve().name
        config.project.coder = coder or ""
        if embedder:
            if embedder not in embedder_factories():
                raise ProjectError(f"unknown embedder {embedder!r} (known: {', '.join(sorted(embedder_factories()))})")
            config.embedder.name = embedder
        if provider:
            config.provider.name = provider
        root.mkdir(parents=True, exist_ok=True)
        (root / INDEX_DIR).mkdir(exist_ok=True)
        config.save(root / CONFIG_NAME)
        conn = connect(root / DB_NAME)
        conn.anchor_path = root / ANCHOR_NAME
        with transaction(conn):
            audit.append(conn, _actor(config.project.coder), "project-init", {"name": config.project.name, "config": config.model_dump()})
        return cls(root, conn, config)

    @classmethod
    def open(cls, root: str | Path, *, embedder: Embedder | None = None) -> "Project":
        """Open an existing project; ``embedder`` overrides the configured one (tests, notebooks)."""
        root = Path(root)
        if not (root / CONFIG_NAME).is_file() or not (root / DB_NAME).is_file():
            raise ProjectError(f"{root}: not a coder-assist project (run 'coder-assist init {root}')")
        config = Config.load(root / CONFIG_NAME)
        conn = connect(root / DB_NAME)
        conn.anchor_path = root / ANCHOR_NAME
        proj = cls(root, conn, config, embedder)
        proj._record_config_change()
        return proj

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

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Project {self.config.project.name!r} at {self.root}>"

    def _repr_html_(self) -> str:
        from .notebook import project_html

        return project_html(self)

    def review(self, *, coder: str | None = None, where: str | None = None) -> Any:
        """A review session over the open suggestions (see :class:`coder_assist.review.ReviewSession`)."""
        from .review.session import ReviewSession

        who = self.decider(coder)
        if not who:
            raise CoderAssistError("review needs a named coder: --coder, CODER_ASSIST_CODER or project.coder")
        return ReviewSession(self, who, where)

    def review_widget(self, *, coder: str | None = None, where: str | None = None) -> Any:
        """The Jupyter review widget (ipywidgets) over :meth:`review`."""
        from .notebook import ReviewWidget

        return ReviewWidget(self.review(coder=coder, where=where))

    # -- components --------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            factories = embedder_factories()
            name = self.config.embedder.name
            if name not in factories:
                raise ProjectError(f"unknown embedder {name!r} in {CONFIG_NAME} (known: {', '.join(sorted(factories))})")
            self._embedder = factories[name](self.config.embedder)
        return self._embedder

    @property
    def index(self) -> SegmentIndex:
        if self._index is None:
            self._index = SegmentIndex(
                self.root / INDEX_DIR, self.embedder.name, self.embedder.dimension, self.config.index.url
            )
        return self._index

    def decider(self, coder: str | None = None) -> str | None:
        """The named coder for a decision: explicit, ``CODER_ASSIST_CODER`` or the project default.
        Unlike :meth:`actor` there is no fallback: decisions need a person's name."""
        return coder or os.environ.get("CODER_ASSIST_CODER") or self.config.project.coder or None

    def actor(self, coder: str | None = None) -> str:
        """Who is acting: explicit coder, ``CODER_ASSIST_CODER``, the project default, the OS user."""
        return coder or os.environ.get("CODER_ASSIST_CODER") or _actor(self.config.project.coder)

    # -- ingest ----------------------------------------------------------------------------
    def ingest(
        self, paths: list[str | Path] | str | Path, *, wave: int | None = None, case: str | None = None,
        name: str | None = None, attributes: str | Path | None = None, coder: str | None = None,
        progress: Progress | None = None, index: bool = True,
    ) -> IngestReport:  # fmt: skip
        """Ingest files or folders; bad files are reported in ``failures`` and skipped."""
        progress = progress or NoProgress()
        report = IngestReport()
        actor = self.actor(coder)
        if attributes is not None:
            report.warnings += self.import_attributes(attributes, coder=coder).warnings
        files = _ingest.expand([Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)])
        if name and len(files) != 1:
            raise CoderAssistError("--name needs exactly one file")
        max_bytes = int(self.config.ingest.max_file_mb * 1_000_000)
        stale: list[str] = []
        progress.begin("ingesting", len(files))
        for path in files:
            try:
                prep = _ingest.prepare(path, max_bytes, self.config.segmentation.max_tokens, default_counter(), name)
                result, superseded = _ingest.store(self.conn, prep, actor, wave, case)
                report.files.append(result)
                stale += superseded
                if result.status == "updated" and index and self._index_exists():
                    self._refresh_metadata("AND d.id = ?", (result.document_id,))
            except InputError as exc:
                report.failures.append(exc)
            progress.advance()
        progress.end()
        if index:
            if stale:
                self.index.delete(stale)
            report.indexed = self.index_pending(progress=progress)
        return report

    def import_attributes(self, csv_path: str | Path, *, coder: str | None = None) -> _participants.AttributeReport:
        """Add or update participant attributes from a CSV, and refresh the index metadata."""
        path = Path(csv_path)
        rows, warnings = _participants.read_csv(path)
        with transaction(self.conn):
            report = _participants.upsert(self.conn, path, rows)
            report.warnings += warnings
            if report.speakers_changed:
                audit.append(self.conn, self.actor(coder), "attributes", {
                    "path": str(path), "added": report.added, "updated": report.updated,
                })  # fmt: skip
        if report.speakers_changed and self._index_exists():
            speakers = report.speakers_changed
            self._refresh_metadata(f"AND s.speaker IN ({','.join('?' * len(speakers))})", tuple(speakers))
        return report

    # -- index -----------------------------------------------------------------------------
    def _segment_rows(self, where: str = "", params: tuple = ()) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT s.id, s.text, s.speaker, s.start, s.end, s.idx, d.id AS document_id, d.name, d.version,"
            " d.wave, COALESCE(d.case_id, p.case_id) AS case_id, p.id AS participant, p.side, p.role_category,"
            " t.idx AS turn"
            " FROM segments s JOIN documents d ON d.id = s.document_id JOIN turns t ON t.id = s.turn_id"
            " LEFT JOIN participants p ON p.speaker = s.speaker"
            f" WHERE d.current = 1 {where} ORDER BY d.id, s.idx",
            params,
        ).fetchall()

    @staticmethod
    def _meta(row: sqlite3.Row) -> dict[str, Any]:
        return {
            "source": row["name"], "document_id": row["document_id"], "version": row["version"],
            "speaker": row["speaker"], "participant": row["participant"], "side": row["side"],
            "role_category": row["role_category"], "wave": row["wave"], "case": row["case_id"],
            "turn": row["turn"], "start": row["start"], "end": row["end"],
        }  # fmt: skip

    def _index_exists(self) -> bool:
        return self.conn.execute("SELECT 1 FROM index_state LIMIT 1").fetchone() is not None

    def _refresh_metadata(self, where: str, params: tuple) -> None:
        """Rewrite the index metadata of the matching indexed segments after attributes change."""
        rows = self._segment_rows(where + " AND s.id IN (SELECT segment_id FROM index_state)", params)
        if rows:
            self.index.update_metadata([r["id"] for r in rows], [self._meta(r) for r in rows])

    def index_pending(self, progress: Progress | None = None) -> int:
        """Embed and index current segments not yet in the index; resumable after a crash."""
        progress = progress or NoProgress()
        name = self.embedder.name
        recorded = self.conn.execute(
            "SELECT count(*) FROM index_state i JOIN segments s ON s.id = i.segment_id"
            " JOIN documents d ON d.id = s.document_id WHERE d.current = 1 AND i.embedder = ?", (name,)
        ).fetchone()[0]
        if recorded != self.index.count():
            # The index was deleted, copied without the database, or a crash left it half-written:
            # re-add everything (upserts are idempotent).
            with transaction(self.conn):
                self.conn.execute("DELETE FROM index_state WHERE embedder = ?", (name,))
        rows = self._segment_rows(
            "AND NOT EXISTS (SELECT 1 FROM index_state i WHERE i.segment_id = s.id AND i.embedder = ?)", (name,)
        )
        if not rows:
            return 0
        progress.begin("embedding", len(rows))
        batches = [rows[i : i + EMBED_BATCH] for i in range(0, len(rows), EMBED_BATCH)]
        # Chroma writes batch n on a worker thread while the model embeds batch n+1; a batch is
        # recorded in index_state only after chroma has it, so a crash loses nothing.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending: tuple[Future[None], list[sqlite3.Row]] | None = None
            for batch in batches:
                vectors = self.embedder.embed([r["text"] for r in batch])
                if pending:
                    self._record_indexed(*pending, name)
                    progress.advance(len(pending[1]))
                pending = (pool.submit(self.index.upsert, [r["id"] for r in batch], vectors,
                                       [self._meta(r) for r in batch]), batch)  # fmt: skip
            if pending:
                self._record_indexed(*pending, name)
                progress.advance(len(pending[1]))
        progress.end()
        return len(rows)

    def _record_indexed(self, upsert: "Future[None]", batch: list[sqlite3.Row], embedder: str) -> None:
        upsert.result()
        now = utcnow()
        with transaction(self.conn):
            self.conn.executemany(
                "INSERT OR REPLACE INTO index_state (segment_id, embedder, indexed_at) VALUES (?, ?, ?)",
                [(r["id"], embedder, now) for r in batch],
            )

    def reindex(self, progress: Progress | None = None, coder: str | None = None) -> int:
        """Drop the vector index and rebuild it from the database."""
        self.index.reset()
        with transaction(self.conn):
            self.conn.execute("DELETE FROM index_state")
            audit.append(self.conn, self.actor(coder), "reindex", {"embedder": self.embedder.name})
        return self.index_pending(progress)

    # -- queries ---------------------------------------------------------------------------
    def search(
        self, query: str, k: int = 10, *, side: str | None = None, wave: int | None = None,
        speaker: str | None = None, case: str | None = None, source: str | None = None,
        role_category: str | None = None,
    ) -> list[SearchHit]:  # fmt: skip
        """Segments most similar to ``query``, optionally filtered by attributes."""
        if not query.strip():
            raise CoderAssistError("empty search query")
        where = where_clause({
            "side": side, "wave": wave, "speaker": speaker, "case": case, "source": source,
            "role_category": role_category,
        })  # fmt: skip
        vector = self.embedder.embed([query])[0]
        ranked = self.index.query(vector, k, where)
        if not ranked:
            return []
        rows = {r["id"]: r for r in self._segment_rows(
            f"AND s.id IN ({','.join('?' * len(ranked))})", tuple(sid for sid, _ in ranked)
        )}  # fmt: skip
        return [
            SearchHit(sid, round(score, 4), r["text"], r["name"], r["speaker"], r["start"], r["end"], r["wave"],
                      r["side"], r["role_category"], r["case_id"])
            for sid, score in ranked if (r := rows.get(sid)) is not None
        ]  # fmt: skip

    # -- suggestions -------------------------------------------------------------------------
    def code(
        self, *, provider: str | Provider | None = None, model: str | None = None, base_url: str | None = None,
        wave: int | None = None, source: str | None = None, limit: int | None = None, dry_run: bool = False,
        coder: str | None = None, progress: Progress | None = None, framework: str | None = None,
    ) -> RunReport:  # fmt: skip
        """Initial coding: the provider proposes codes for each segment, as suggestions only.
        With ``framework`` the coding is deductive, straight into that framework's constructs."""
        fw = self.framework(framework) if framework else None
        if provider is None or isinstance(provider, str):
            overrides = {"name": provider, "model": model, "base_url": base_url}
            section = self.config.provider.model_copy(update={k: v for k, v in overrides.items() if v})
            if fw is not None and resolve_name(section) == "offline":
                from .theory.mapping import calibrated_threshold
                from .suggest.providers.deductive import DeductiveOfflineProvider

                provider = DeductiveOfflineProvider(fw, self.embedder, calibrated_threshold(fw.id, self.embedder.name))
            else:
                provider = get_provider(section)
                if fw is not None:
                    provider.prompt_id = "deductive-coding"
        return run_coding(self, provider, self.actor(coder), wave=wave, source=source, limit=limit,
                          dry_run=dry_run, progress=progress, framework=fw)  # fmt: skip

    def suggestion_rows(
        self, status: str | None = None, run_id: str | None = None, where: str | None = None,
        ids: list[int] | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Suggestions with segment, speaker, attributes, grounding and provider, as dicts.
        ``where`` takes the bulk filter language (see :mod:`coder_assist.where`)."""
        conds, params = [], []
        if status:
            conds.append("s.status = ?")
            params.append(status)
        if run_id:
            conds.append("s.run_id = ?")
            params.append(run_id)
        if where:
            sql, more = compile_where(where)
            conds.append(sql)
            params += more
        if ids is not None:
            conds.append(f"s.id IN ({','.join('?' * len(ids))})")
            params += ids
        rows = self.conn.execute(
            "SELECT s.id, s.label, s.in_vivo, s.quote, s.start, s.end, s.grounding, s.grounding_score, s.rationale,"
            " s.reused_label, s.status, s.version, s.segment_id, seg.speaker, p.side, p.role_category, d.name AS source,"
            " d.wave, COALESCE(d.case_id, p.case_id) AS \"case\", r.provider, r.model, s.run_id, s.created_at"
            f" {WHERE_FROM} {'WHERE ' + ' AND '.join(conds) if conds else ''} ORDER BY s.id",
            params,
        ).fetchall()
        return [dict(r) | {"in_vivo": bool(r["in_vivo"])} for r in rows]

    def suggestions(self, status: str | None = None, run_id: str | None = None, where: str | None = None) -> Any:
        """Suggestions as a pandas DataFrame (see :meth:`suggestion_rows` for the fields)."""
        return _frame(self.suggestion_rows(status, run_id, where), index="id")

    # -- decisions (a named coder is required for each) -----------------------------------------
    def _decide_all(self, ids: int | list[int], action: str, coder: str | None, note: str | None) -> list[Decision]:
        who = self.decider(coder)
        with human_decision(self.conn, who):  # all or nothing
            return [decide(self.conn, i, action, who, note=note) for i in _ids(ids)]

    def accept(self, ids: int | list[int], *, coder: str | None = None, note: str | None = None) -> list[Decision]:
        """Accept suggestions as proposed: the code (new or existing) is applied to the quoted span.
        Several ids are decided together: if one fails, none is."""
        return self._decide_all(ids, "accept", coder, note)

    def reject(self, ids: int | list[int], *, coder: str | None = None, note: str | None = None) -> list[Decision]:
        return self._decide_all(ids, "reject", coder, note)

    def defer(self, ids: int | list[int], *, coder: str | None = None, note: str | None = None) -> list[Decision]:
        return self._decide_all(ids, "defer", coder, note)

    def apply_decisions_csv(self, path: str | Path, *, coder: str | None = None) -> list[Decision]:
        """Decisions from a CSV (``id, action, label, span, into, note``), all or nothing."""
        rows = read_decisions_csv(Path(path))
        who = self.decider(coder)
        out = []
        with human_decision(self.conn, who):
            for line_no, r in rows:
                try:
                    if r["action"] == "undo":
                        out.append(undo(self.conn, who, int(r["id"]), r["note"]))
                    else:
                        out.append(decide(self.conn, int(r["id"]), r["action"], who, label=r["label"], span=r["span"],
                                          into=r["into"], note=r["note"]))  # fmt: skip
                except CoderAssistError as exc:
                    raise InputError(path, f"line {line_no}: {exc}") from None
        return out

    def edit(self, suggestion_id: int, *, label: str | None = None, span: str | tuple[int, int] | None = None,
             coder: str | None = None, note: str | None = None) -> Decision:  # fmt: skip
        """Accept with a changed label and/or span (``*`` = the whole segment, or exact words from it)."""
        return decide(self.conn, suggestion_id, "edit", self.decider(coder), label=label, span=span, note=note)

    def merge(self, suggestion_id: int, into: str, *, coder: str | None = None, note: str | None = None) -> Decision:
        """Accept the suggestion as an instance of an existing code."""
        return decide(self.conn, suggestion_id, "merge", self.decider(coder), into=into, note=note)

    def undo(self, decision_id: int | None = None, *, coder: str | None = None) -> Decision:
        """Reverse a decision (default: your latest one still in force)."""
        return undo(self.conn, self.decider(coder), decision_id)

    def decide_where(self, where: str, action: str, *, coder: str | None = None, note: str | None = None) -> list[Decision]:
        """Bulk accept/reject/defer every open suggestion matching ``where``; ungrounded ones are never
        accepted in bulk. All or nothing: a conflict leaves everything as it was."""
        if action not in ("accept", "reject", "defer"):
            raise CoderAssistError("bulk decisions are accept, reject or defer")
        rows = self.bulk_preview(where, action)
        who = self.decider(coder)
        out = []
        with human_decision(self.conn, who):  # one transaction: nested decisions join it
            for r in rows:
                out.append(decide(self.conn, r["id"], action, who, note=note, expected_version=r["version"]))
        return out

    def bulk_preview(self, where: str, action: str) -> list[dict[str, Any]]:
        """The open suggestions a bulk decision would touch."""
        rows = [r for r in self.suggestion_rows(where=where) if r["status"] in ("proposed", "deferred")]
        if action == "accept":
            rows = [r for r in rows if r["start"] is not None]
        return rows

    # -- codebook ----------------------------------------------------------------------------------
    def code_rows(self) -> list[dict[str, Any]]:
        """Active codes with their parent and counts of active codings per side and wave."""
        rows = self.conn.execute(
            "SELECT c.id, c.label, c.kind, c.parent_id, c.definition, c.created_by, p.side, d.wave, count(g.id) AS n"
            " FROM codes c LEFT JOIN codings g ON g.code_id = c.id AND g.active = 1"
            " LEFT JOIN segments seg ON seg.id = g.segment_id LEFT JOIN documents d ON d.id = seg.document_id"
            " LEFT JOIN participants p ON p.speaker = seg.speaker WHERE c.active = 1"
            " GROUP BY c.id, p.side, d.wave ORDER BY c.label"
        ).fetchall()
        codes: dict[int, dict[str, Any]] = {}
        for r in rows:
            c = codes.setdefault(r["id"], {k: r[k] for k in ("id", "label", "kind", "parent_id", "definition", "created_by")}
                                 | {"codings": 0, "by_side": {}, "by_wave": {}})  # fmt: skip
            if r["n"]:
                c["codings"] += r["n"]
                side, wave = r["side"] or "unknown", str(r["wave"]) if r["wave"] is not None else "none"
                c["by_side"][side] = c["by_side"].get(side, 0) + r["n"]
                c["by_wave"][wave] = c["by_wave"].get(wave, 0) + r["n"]
        return sorted(codes.values(), key=lambda c: (-c["codings"], c["label"]))

    def codes(self) -> Any:
        """Codes as a pandas DataFrame, one column per side and per wave."""
        flat = []
        for c in self.code_rows():
            row = {k: c[k] for k in ("id", "label", "kind", "parent_id", "codings", "definition")}
            row |= {f"side:{k}": v for k, v in c["by_side"].items()} | {f"wave:{k}": v for k, v in c["by_wave"].items()}
            flat.append(row)
        return _frame(flat, index="id").fillna({c: 0 for c in _count_columns(flat)})

    def add_code(self, label: str, *, definition: str | None = None, parent: str | None = None, coder: str | None = None) -> int:
        return add_code(self.conn, label, self.decider(coder), definition, parent)

    def rename_code(self, old: str, new: str, *, coder: str | None = None) -> int:
        return rename_code(self.conn, old, new, self.decider(coder))

    def merge_codes(self, sources: list[str], into: str, *, coder: str | None = None) -> int:
        return merge_codes(self.conn, sources, into, self.decider(coder))

    def delete_code(self, label: str, *, coder: str | None = None) -> int:
        return delete_code(self.conn, label, self.decider(coder))

    def apply_code(self, label: str, segment_id: str, *, span: str | tuple[int, int] | None = None,
                   coder: str | None = None) -> int:  # fmt: skip
        """Manual coding of a span of a segment (default: the whole segment)."""
        return apply_code(self.conn, label, segment_id, self.decider(coder), span)

    def trace(self, coding_id: int) -> dict[str, Any]:
        """From a coding back to its decision, suggestion, model, prompt version and input."""
        row = self.conn.execute(
            "SELECT g.*, c.label AS code, d.name AS source, seg.speaker, substr(d.text, g.start + 1, g.end - g.start)"
            " AS text FROM codings g JOIN codes c ON c.id = g.code_id JOIN documents d ON d.id = g.document_id"
            " JOIN segments seg ON seg.id = g.segment_id WHERE g.id = ?",
            (coding_id,),
        ).fetchone()
        if row is None:
            raise CoderAssistError(f"no coding {coding_id}")
        out: dict[str, Any] = {"coding": dict(row)}
        if row["decision_id"]:
            out["decision"] = dict(self.conn.execute("SELECT * FROM decisions WHERE id = ?", (row["decision_id"],)).fetchone())
        else:
            out["decision"] = dict(self.conn.execute(
                "SELECT * FROM decisions WHERE action = 'codebook:apply' AND code_id = ? AND coder = ? ORDER BY id",
                (row["code_id"], row["created_by"])).fetchone() or {})  # fmt: skip
        if row["suggestion_id"]:
            out["suggestion"] = self.provenance(row["suggestion_id"])
        later = self.conn.execute("SELECT * FROM decisions WHERE reverses = ?", (row["decision_id"],)).fetchone() if row["decision_id"] else None
        out["undone_by"] = dict(later) if later else None
        return out

    # -- focused coding and lineage ----------------------------------------------------------------
    def _provider(self, provider: str | Provider | None, model: str | None = None, base_url: str | None = None) -> Provider:
        if provider is not None and not isinstance(provider, str):
            return provider
        overrides = {"name": provider, "model": model, "base_url": base_url}
        return get_provider(self.config.provider.model_copy(update={k: v for k, v in overrides.items() if v}))

    def categorize(self, *, wave: int | None = None, threshold: float | None = None, coder: str | None = None,
                   provider: str | Provider | None = None, model: str | None = None, base_url: str | None = None) -> Any:  # fmt: skip
        """Cluster accepted initial codes into proposed categories (suggestions only); an LLM
        provider names and defines them, the offline one uses the medoid code and top terms."""
        from .theory.categorize import DISTANCE_THRESHOLD, categorize

        return categorize(self, wave=wave, threshold=threshold or DISTANCE_THRESHOLD, coder=coder,
                          provider=self._provider(provider, model, base_url))  # fmt: skip

    def category_suggestion_rows(self, status: str | None = None) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT * FROM category_suggestions" + (" WHERE status = ?" if status else "") + " ORDER BY id",
            (status,) if status else (),
        ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            for key in ("properties", "member_code_ids", "top_terms", "params"):
                d[key] = json.loads(d[key])
            out.append(d)
        return out

    def decide_category(self, suggestion_id: int, action: str = "accept", *, name: str | None = None,
                        definition: str | None = None, coder: str | None = None, note: str | None = None) -> int | None:  # fmt: skip
        """Confirm (accept, or edit with a new name/definition) or reject a proposed category."""
        from .review.decisions import decide_category

        return decide_category(self.conn, suggestion_id, action, self.decider(coder), name=name,
                               definition=definition, note=note)  # fmt: skip

    # -- construct frameworks ---------------------------------------------------------------------
    def frameworks(self) -> dict[str, Any]:
        """Built-in, project (``frameworks/*.yaml``) and plug-in frameworks, by id."""
        from .theory.frameworks import find_frameworks

        return find_frameworks(self.root)

    def framework(self, framework_id: str) -> Any:
        found = self.frameworks()
        if framework_id not in found:
            raise CoderAssistError(f"unknown framework {framework_id!r} (known: {', '.join(sorted(found))})")
        return found[framework_id]

    def map(self, framework: str, *, level: str = "code", threshold: float | None = None, coder: str | None = None,
            provider: str | Provider | None = None, model: str | None = None, base_url: str | None = None) -> Any:  # fmt: skip
        """Propose construct links for segments, codes or categories (suggestions only)."""
        from .theory.mapping import map_constructs

        return map_constructs(self, self.framework(framework), level, threshold, coder, self._provider(provider, model, base_url))

    def link_suggestion_rows(self, status: str | None = None, framework: str | None = None) -> list[dict[str, Any]]:
        conds, params = [], []
        for cond, value in (("status = ?", status), ("framework = ?", framework)):
            if value:
                conds.append(cond)
                params.append(value)
        rows = self.conn.execute(
            f"SELECT * FROM link_suggestions {'WHERE ' + ' AND '.join(conds) if conds else ''} ORDER BY id", params
        ).fetchall()
        return [dict(r) | {"evidence": json.loads(r["evidence"])} for r in rows]

    def decide_link(self, suggestion_id: int, action: str = "accept", *, coder: str | None = None,
                    note: str | None = None) -> int | None:  # fmt: skip
        from .review.decisions import decide_link

        return decide_link(self.conn, suggestion_id, action, self.decider(coder), note)

    def evaluate_gold(self, gold_path: str | Path, framework: str | None = None, provider: str | Provider | None = None,
                      model: str | None = None, base_url: str | None = None) -> list[Any]:  # fmt: skip
        """Score construct mapping (offline, or an LLM provider) against a labelled JSONL set, per framework."""
        from .theory.mapping import evaluate, evaluate_llm, load_gold

        records = load_gold(gold_path)
        ids = sorted({r["framework"] for r in records}) if framework is None else [framework]
        prov = self._provider(provider, model, base_url) if provider not in (None, "offline") else None
        if prov is not None and hasattr(prov, "structured"):
            return [evaluate_llm(self.framework(f), prov, [r for r in records if r["framework"] == f]) for f in ids]
        return [evaluate(self.framework(f), self.embedder, [r for r in records if r["framework"] == f]) for f in ids]

    # -- memos -------------------------------------------------------------------------------------
    def draft_memo(self, *, category: str | None = None, construct: str | None = None, case: str | None = None,
                   coder: str | None = None, provider: str | Provider | None = None, model: str | None = None,
                   base_url: str | None = None) -> int:  # fmt: skip
        """Draft a theory memo (a suggestion) for a confirmed category, a construct or a case."""
        from .theory.memos import draft_memo

        return draft_memo(self, category=category, construct=construct, case=case, coder=coder,
                          provider=self._provider(provider, model, base_url))  # fmt: skip

    def memo_drafts(self, status: str | None = None) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM memo_drafts" + (" WHERE status = ?" if status else "") + " ORDER BY id",
                                 (status,) if status else ()).fetchall()  # fmt: skip
        return [dict(r) | {"citations": json.loads(r["citations"])} for r in rows]

    def accept_memo(self, draft_id: int, *, body: str | None = None, coder: str | None = None, note: str | None = None) -> int:
        """Accept a draft, as it is or edited (``body``), as the next version of its subject's memo."""
        from .theory.memos import save_memo

        d = self.conn.execute("SELECT subject, body FROM memo_drafts WHERE id = ?", (draft_id,)).fetchone()
        if d is None:
            raise CoderAssistError(f"no memo draft {draft_id}")
        return save_memo(self, d["subject"], body if body is not None else d["body"], self.decider(coder),
                         draft_id=draft_id, note=note)  # fmt: skip

    def reject_memo(self, draft_id: int, *, coder: str | None = None, note: str | None = None) -> None:
        from .theory.memos import reject_draft

        reject_draft(self, draft_id, self.decider(coder), note)

    def write_memo(self, subject: str, body: str, *, kind: str = "reflexive", coder: str | None = None) -> int:
        """Save a memo a researcher wrote (reflexive, or a new version of a theory memo)."""
        from .theory.memos import save_memo

        return save_memo(self, subject, body, self.decider(coder), kind=kind)

    def memos(self, subject: str | None = None) -> list[dict[str, Any]]:
        """Memo versions, newest last."""
        rows = self.conn.execute("SELECT * FROM memos" + (" WHERE subject = ?" if subject else "") + " ORDER BY subject, version",
                                 (subject,) if subject else ()).fetchall()  # fmt: skip
        return [dict(r) | {"citations": json.loads(r["citations"])} for r in rows]

    # -- dyad postures and IVPD analyses ----------------------------------------------------------
    def propose_postures(self, case: str | None = None, *, coder: str | None = None) -> list[int]:
        """Each case's dominant value strategies per side, its cell in the 3x3 posture grid, and the
        dyadic competences in play (suggestions for a person to confirm)."""
        from .theory.analysis import propose_postures

        return propose_postures(self, case, coder)

    def propose_ivpd(self, case: str | None = None, *, coder: str | None = None) -> list[int]:
        """Per case and IVPD dimension, how buyer-side groups read the supplier's value, against the supplier side."""
        from .theory.analysis import propose_ivpd

        return propose_ivpd(self, case, coder)

    def analyses(self, kind: str | None = None, case: str | None = None) -> list[dict[str, Any]]:
        from .theory.analysis import analysis_rows

        return analysis_rows(self, kind, case)

    def confirm_analysis(self, suggestion_id: int, action: str = "accept", *, coder: str | None = None,
                         note: str | None = None) -> int | None:  # fmt: skip
        from .theory.analysis import confirm_analysis

        return confirm_analysis(self, suggestion_id, self.decider(coder), note, action)

    def export_memos(self, folder: str | Path, *, coder: str | None = None) -> int:
        """Write the latest version of every memo as Markdown, one file per subject."""
        import re

        latest = {m["subject"]: m for m in self.memos()}
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for subject, m in latest.items():
            (folder / (re.sub(r"[^\w.-]+", "_", subject) + ".md")).write_text(m["body"], encoding="utf-8")
        with transaction(self.conn):
            audit.append(self.conn, self.actor(coder), "memo-export", {"folder": str(folder), "memos": len(latest)})
        return len(latest)

    def saturation(self, window: int = 3, share: float = 0.05) -> Any:
        """New codes and categories per interview and per wave, and a plateau signal."""
        from .theory.saturation import saturation

        return saturation(self, window, share)

    def lineage(self) -> list[dict[str, Any]]:
        """Initial code -> focused category -> construct, for every active code."""
        rows = self.conn.execute(
            "SELECT c.id, c.label, cat.id AS category_id, cat.name AS category,"
            " (SELECT count(*) FROM codings g WHERE g.code_id = c.id AND g.active = 1) AS codings"
            " FROM codes c LEFT JOIN category_members m ON m.code_id = c.id AND m.active = 1"
            " LEFT JOIN categories cat ON cat.id = m.category_id AND cat.active = 1"
            " WHERE c.active = 1 ORDER BY cat.name IS NULL, cat.name, c.label"
        ).fetchall()
        links = self.conn.execute("SELECT framework, construct, level, target FROM construct_links WHERE active = 1").fetchall()
        by_target: dict[tuple[str, str], list[str]] = {}
        for link in links:
            by_target.setdefault((link["level"], link["target"]), []).append(f"{link['framework']}.{link['construct']}")
        return [
            dict(r) | {"constructs": sorted(set(by_target.get(("code", str(r["id"])), [])
                                                + by_target.get(("category", str(r["category_id"])), [])))}
            for r in rows
        ]  # fmt: skip

    # -- audit ---------------------------------------------------------------------------------
    def verify_audit(self) -> list[audit.ChainBreak]:
        """Check the hash chain and the anchor file; empty means intact."""
        return audit.verify(self.conn, self.root / ANCHOR_NAME)

    def audit_log(self, *, since: str | None = None, coder: str | None = None, type_: str | None = None) -> list[dict[str, Any]]:
        conds, params = [], []
        for cond, value in (("at >= ?", since), ("actor = ?", coder), ("type = ?", type_)):
            if value:
                conds.append(cond)
                params.append(value)
        rows = self.conn.execute(
            f"SELECT seq, at, actor, type, payload, prev_hash, hash FROM events {'WHERE ' + ' AND '.join(conds) if conds else ''}"
            " ORDER BY seq", params,
        ).fetchall()  # fmt: skip
        return [dict(r) | {"payload": json.loads(r["payload"])} for r in rows]

    def export_audit(self, path: str | Path, *, coder: str | None = None) -> int:
        """Write the whole ledger as JSON lines (with hashes, so it can be verified elsewhere)."""
        rows = self.audit_log()
        tmp = Path(path).with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        tmp.replace(path)
        with transaction(self.conn):
            audit.append(self.conn, self.actor(coder), "audit-export", {"path": str(path), "entries": len(rows)})
        return len(rows)

    def provenance(self, suggestion_id: int) -> dict[str, Any]:
        """How a suggestion came about: provider, model, prompt hash, parameters, raw reply ..."""
        try:
            return provenance_of(self.conn, suggestion_id)
        except KeyError:
            raise CoderAssistError(f"no suggestion {suggestion_id}") from None

    def failed_calls(self) -> list[dict[str, Any]]:
        """Segments whose last call failed, with the reason and the raw text."""
        rows = self.conn.execute(
            "SELECT c.segment_id, c.error, c.attempts, c.raw_response, c.run_id FROM llm_calls c"
            " WHERE c.status = 'failed' ORDER BY c.id"
        ).fetchall()
        return [dict(r) for r in rows]

    def documents(self, all_versions: bool = False) -> list[dict[str, Any]]:
        """Ingested documents (current versions unless ``all_versions``)."""
        rows = self.conn.execute(
            "SELECT d.id, d.name, d.version, d.current, d.format, d.encoding, d.wave, d.case_id AS "
            "\"case\", d.path, d.sha256, d.ingested_at, d.ingested_by, length(d.text) AS chars,"
            " (SELECT count(*) FROM turns t WHERE t.document_id = d.id) AS turns,"
            " (SELECT count(*) FROM segments s WHERE s.document_id = d.id) AS segments,"
            " (SELECT group_concat(DISTINCT t.speaker) FROM turns t WHERE t.document_id = d.id) AS speakers"
            f" FROM documents d {'' if all_versions else 'WHERE d.current = 1'} ORDER BY d.name, d.version"
        )
        out = []
        for r in rows:
            d = dict(r)
            d["current"] = bool(d["current"])
            d["speakers"] = sorted((d["speakers"] or "").split(",")) if d["speakers"] else []
            out.append(d)
        return out

    def document_text(self, name: str, version: int | None = None) -> str:
        """The stored normalized text that all offsets point into."""
        sql = "SELECT text FROM documents WHERE name = ? AND " + ("version = ?" if version else "current = 1")
        row = self.conn.execute(sql, (name, version) if version else (name,)).fetchone()
        if row is None:
            raise CoderAssistError(f"no document named {name!r}")
        return row[0]

    def segments(self, source: str | None = None) -> list[dict[str, Any]]:
        """Current segments with their attributes, in document order."""
        rows = self._segment_rows("AND d.name = ?", (source,)) if source else self._segment_rows()
        return [{"id": r["id"], "text": r["text"], **self._meta(r)} for r in rows]

    def participants(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM participants ORDER BY case_id, side, id").fetchall()
        return [{**{k: r[k] for k in r.keys() if k != "extra"}, **json.loads(r["extra"])} for r in rows]

    def status(self) -> dict[str, Any]:
        """Counts of what the project holds, and whether the index is complete."""
        one = lambda sql: self.conn.execute(sql).fetchone()[0]  # noqa: E731
        segments = one("SELECT count(*) FROM segments s JOIN documents d ON d.id = s.document_id WHERE d.current = 1")
        indexed = one(
            "SELECT count(*) FROM index_state i JOIN segments s ON s.id = i.segment_id "
            "JOIN documents d ON d.id = s.document_id WHERE d.current = 1"
        )
        by_status = dict(self.conn.execute("SELECT status, count(*) FROM suggestions GROUP BY status").fetchall())
        return {
            "project": self.config.project.name, "root": str(self.root),
            "documents": one("SELECT count(*) FROM documents WHERE current = 1"),
            "document_versions": one("SELECT count(*) FROM documents"),
            "segments": segments, "indexed": indexed,
            "participants": one("SELECT count(*) FROM participants"),
            "suggestions": by_status,
            "decisions": one("SELECT count(*) FROM decisions"),
            "codes": one("SELECT count(*) FROM codes WHERE active = 1"),
            "codings": one("SELECT count(*) FROM codings WHERE active = 1"),
            "events": one("SELECT count(*) FROM events"),
            "embedder": self.config.embedder.name, "provider": self.config.provider.name,
        }  # fmt: skip


def _actor(default: str) -> str:
    if default:
        return default
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "unknown"


def _ids(ids: int | list[int]) -> list[int]:
    return [ids] if isinstance(ids, int) else [int(i) for i in ids]


def _count_columns(rows: list[dict[str, Any]]) -> list[str]:
    return sorted({k for r in rows for k in r if k.startswith(("side:", "wave:"))})


def _frame(rows: list[dict[str, Any]], index: str) -> Any:
    import pandas as pd

    frame = pd.DataFrame(rows)
    return frame.set_index(index) if index in frame.columns else frame
