"""``Vectors``: the embedder and the chroma index of one project, kept in step with SQLite.

Indexing is resumable: segments are embedded and written in batches of ``EMBED_BATCH``, and a
batch enters ``index_state`` right after chroma has it (also when the run then fails or is
interrupted), so a re-run continues where the last one stopped; upserts never duplicate a
vector. An index that holds fewer vectors than ``index_state`` records (``index/`` deleted, the
database copied without it) is noticed: indexing drops the records chroma lacks and re-adds
those segments, and a search refuses with a message naming ``reindex`` instead of answering
from a partial index.
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
#: The current segments recorded as indexed with an embedder (the parameter).
_RECORDED = ("FROM index_state i JOIN segments s ON s.id = i.segment_id JOIN documents d ON d.id = s.document_id"
             " WHERE d.current = 1 AND i.embedder = ?")  # fmt: skip


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
        self._complete = False

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
                                       self.store.config.index.url, audit.project_key(self.conn))  # fmt: skip
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

    def recorded(self) -> int:
        """Current segments ``index_state`` records as indexed with this embedder."""
        return self.conn.execute(f"SELECT count(*) {_RECORDED}", (self.embedder.name,)).fetchone()[0]

    def indexed(self) -> int:
        """Current segments really in the index: those recorded that chroma holds (for ``status``)."""
        recorded, present = self.recorded(), self.index.count()
        if present >= recorded:
            return recorded
        held = self.index.ids()
        return sum(1 for (sid,) in self.conn.execute(f"SELECT i.segment_id {_RECORDED}", (self.embedder.name,))
                   if sid in held)  # fmt: skip

    def _forget_missing(self) -> int:
        """Drop the ``index_state`` records of segments chroma does not hold (index deleted or
        damaged); returns how many. Vectors chroma holds beyond the records are re-upserted."""
        name = self.embedder.name
        held = self.index.ids() if self.index.count() else set()
        recorded = [r[0] for r in self.conn.execute("SELECT segment_id FROM index_state WHERE embedder = ?", (name,))]
        lost = [sid for sid in recorded if sid not in held]
        if lost:
            with transaction(self.conn):
                self.conn.executemany("DELETE FROM index_state WHERE segment_id = ? AND embedder = ?",
                                      [(sid, name) for sid in lost])  # fmt: skip
        return len(lost)

    def ensure_complete(self) -> None:
        """Refuse to answer from an index that lacks segments ``index_state`` records as indexed;
        the records are corrected first, so ``status`` shows the real state afterwards."""
        if self._complete:
            return
        recorded, present = self.recorded(), self.index.count()
        if present < recorded:
            lost = self._forget_missing()
            raise ProjectError(
                f"{self.store.root / INDEX_DIR}: the vector index lacks {lost} of {recorded} indexed segments"
                " (deleted or damaged); run 'coder-assist reindex' to rebuild it"
            )
        self._complete = True

    def index_pending(self, progress: Progress | None = None) -> int:
        """Embed and index current segments not yet in the index; resumable after a crash."""
        progress = progress or NoProgress()
        name = self.embedder.name
        if self.recorded() > self.index.count():
            self._forget_missing()  # the index was deleted or copied without the database
        rows = queries.segment_rows(
            self.conn, "AND NOT EXISTS (SELECT 1 FROM index_state i WHERE i.segment_id = s.id AND i.embedder = ?)", (name,)
        )
        if not rows:
            return 0
        progress.begin("embedding", len(rows))
        batches = [rows[i : i + EMBED_BATCH] for i in range(0, len(rows), EMBED_BATCH)]
        # Chroma writes batch n on a worker thread while the model embeds batch n+1; a batch is
        # recorded in index_state as soon as chroma has it, so a crash loses at most the batches
        # in flight.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending: tuple[Future[None], list[sqlite3.Row]] | None = None
            try:
                for batch in batches:
                    vectors = self.embedder.embed([r["text"] for r in batch])
                    if pending:
                        done, pending = pending, None
                        self._record_indexed(*done, name, progress)
                    pending = (pool.submit(self.index.upsert, [r["id"] for r in batch], vectors,
                                           [queries.segment_meta(r) for r in batch]), batch)  # fmt: skip
            except BaseException:
                if pending and pending[0].exception() is None:  # chroma has it: keep that progress
                    self._record_indexed(*pending, name, progress)
                raise
            if pending:
                self._record_indexed(*pending, name, progress)
        progress.end()
        return len(rows)

    def _record_indexed(self, upsert: "Future[None]", batch: list[sqlite3.Row], embedder: str,
                        progress: Progress) -> None:  # fmt: skip
        upsert.result()
        now = utcnow()
        with transaction(self.conn):
            self.conn.executemany(
                "INSERT OR REPLACE INTO index_state (segment_id, embedder, indexed_at) VALUES (?, ?, ?)",
                [(r["id"], embedder, now) for r in batch],
            )
        progress.advance(len(batch))

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
        self.ensure_complete()
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
        self.ensure_complete()
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
