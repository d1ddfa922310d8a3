"""``Vectors``: the embedder and the chroma index of one project, kept in step with SQLite.

Indexing is resumable: a batch enters ``index_state`` only once chroma has it, and an index that
holds fewer vectors than ``index_state`` records (deleted, copied without the database, a crash)
is refilled from the database.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import CoderAssistError, ProjectError
from ..plugins import embedder_factories
from ..progress import NoProgress, Progress
from . import audit, queries
from .config import CONFIG_NAME, EmbedderSection
from .context import INDEX_DIR, StoreContext
from .db import transaction, utcnow
from .embedders import Embedder
from .index import SegmentIndex, where_clause

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


@dataclass(frozen=True)
class CodedNeighbour:
    """An already-coded segment close to a text (constant comparison)."""

    segment_id: str
    text: str
    codes: list[str]
    score: float


def make_embedder(section: EmbedderSection) -> Embedder:
    """The configured embedder, from the plug-in registry."""
    factories = embedder_factories()
    if section.name not in factories:
        raise ProjectError(f"unknown embedder {section.name!r} in {CONFIG_NAME} (known: {', '.join(sorted(factories))})")
    return factories[section.name](section)


class Vectors:
    """Embedding, indexing and similarity search over a project's current segments."""

    def __init__(self, store: StoreContext, embedder: Embedder | None = None) -> None:
        self.store = store
        self._embedder = embedder
        self._index: SegmentIndex | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        return self.store.conn

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.store.config.embedder)
        return self._embedder

    @property
    def index(self) -> SegmentIndex:
        if self._index is None:
            self._index = SegmentIndex(self.store.root / INDEX_DIR, self.embedder.name, self.embedder.dimension,
                                       self.store.config.index.url)  # fmt: skip
        return self._index

    # -- keeping the index in step ------------------------------------------------------------
    def exists(self) -> bool:
        return self.conn.execute("SELECT 1 FROM index_state LIMIT 1").fetchone() is not None

    def refresh_metadata(self, where: str, params: tuple) -> None:
        """Rewrite the index metadata of the matching indexed segments after attributes change."""
        if not self.exists():
            return
        rows = queries.segment_rows(self.conn, where + " AND s.id IN (SELECT segment_id FROM index_state)", params)
        if rows:
            self.index.update_metadata([r["id"] for r in rows], [queries.segment_meta(r) for r in rows])

    def delete(self, segment_ids: list[str]) -> None:
        if segment_ids:
            self.index.delete(segment_ids)

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
        rows = queries.segment_rows(
            self.conn, "AND NOT EXISTS (SELECT 1 FROM index_state i WHERE i.segment_id = s.id AND i.embedder = ?)", (name,)
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
                                       [queries.segment_meta(r) for r in batch]), batch)  # fmt: skip
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

    def reindex(self, actor: str, progress: Progress | None = None) -> int:
        """Drop the vector index and rebuild it from the database."""
        self.index.reset()
        with transaction(self.conn):
            self.conn.execute("DELETE FROM index_state")
            audit.append(self.conn, actor, "reindex", {"embedder": self.embedder.name})
        return self.index_pending(progress)

    # -- similarity ---------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, **filters: Any) -> list[SearchHit]:
        """Segments most similar to ``query``, optionally filtered by attributes (side, wave ...)."""
        if not query.strip():
            raise CoderAssistError("empty search query")
        ranked = self.index.query(self.embedder.embed([query])[0], k, where_clause(filters))
        if not ranked:
            return []
        rows = {r["id"]: r for r in queries.segment_rows(
            self.conn, f"AND s.id IN ({','.join('?' * len(ranked))})", tuple(sid for sid, _ in ranked)
        )}  # fmt: skip
        return [
            SearchHit(sid, round(score, 4), r["text"], r["name"], r["speaker"], r["start"], r["end"], r["wave"],
                      r["side"], r["role_category"], r["case_id"])
            for sid, score in ranked if (r := rows.get(sid)) is not None
        ]  # fmt: skip

    def similar(self, text: str, k: int) -> list[tuple[str, float]]:
        """Ids and cosine similarity of the ``k`` indexed segments closest to ``text``."""
        return self.index.query(self.embedder.embed([text])[0], k)

    def coded_neighbours(self, text: str, k: int, exclude: str | None = None, pool: int = 4) -> list[CodedNeighbour]:
        """The ``k`` closest segments that already carry codes (searching ``k * pool`` neighbours)."""
        out = []
        for sid, score in self.similar(text, k * pool):
            if sid == exclude:
                continue
            labels = queries.codes_of_segment(self.conn, sid)
            if labels:
                seg_text = self.conn.execute("SELECT text FROM segments WHERE id = ?", (sid,)).fetchone()[0]
                out.append(CodedNeighbour(sid, seg_text, labels, score))
            if len(out) == k:
                break
        return out
