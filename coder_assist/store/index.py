"""The chroma vector index of segments: derived from SQLite and rebuildable at any time.

One collection per embedder (``segments__<embedder>``), cosine space, precomputed vectors only,
so chroma's own downloading embedder is never called. Embedded (``PersistentClient`` under
``index/``) by default; a chroma server when the config names an ``index.url``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import numpy as np

from ..errors import ServerError

F = TypeVar("F", bound=Callable[..., Any])
BATCH = 1000  # below chroma's max batch (5461), large enough to amortise its overhead


def _client(path: Path, url: str = "") -> Any:
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if url:
        u = urlparse(url)
        try:
            return chromadb.HttpClient(host=u.hostname or "127.0.0.1", port=u.port or 8000, ssl=u.scheme == "https",
                                       settings=settings)  # fmt: skip
        except Exception as exc:  # chroma raises ValueError, httpx errors, ... for a server it cannot use
            raise ServerError(f"chroma server at {url} is not reachable: {exc or type(exc).__name__} (index.url)") from exc
    return chromadb.PersistentClient(path=str(path), settings=settings)


def collection_name(embedder_name: str, project: str = "") -> str:
    """``segments__<embedder>``; on a shared chroma server prefixed with the project's key
    (``p<12 hex>__segments__<embedder>``), so projects on one server never mix their segments."""
    name = "segments__" + re.sub(r"[^A-Za-z0-9_-]", "-", embedder_name)[:50]
    return f"p{project[:12]}__{name}"[:63] if project else name


def _served(method: F) -> F:
    """A call that reaches a chroma server: a server that stops answering is one ServerError."""

    @functools.wraps(method)
    def call(self: SegmentIndex, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            if self.url and _is_transport_error(exc):
                raise ServerError(f"chroma server at {self.url} stopped answering: {exc or type(exc).__name__} "
                                  "(index.url)") from exc  # fmt: skip
            raise

    return call  # type: ignore[return-value]


def _is_transport_error(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, (httpx.TransportError, ConnectionError))


class SegmentIndex:
    """Add, delete, update and query segment vectors in one embedder's collection."""

    def __init__(self, path: Path, embedder_name: str, dimension: int, url: str = "", project: str = "") -> None:
        """``project`` (the project's key) names the collection on a server (``url``); the embedded
        index under ``path`` belongs to one project already."""
        self.client = _client(path, url)
        self.url = url
        self.name = collection_name(embedder_name, project if url else "")
        self._open(embedder_name, dimension)

    @_served
    def _open(self, embedder_name: str, dimension: int) -> None:
        self.collection = self.client.get_or_create_collection(
            self.name,
            embedding_function=None,
            metadata={"embedder": embedder_name, "dimension": dimension},
            configuration={"hnsw": {"space": "cosine"}},
        )

    @_served
    def count(self) -> int:
        return self.collection.count()

    @_served
    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metas: Sequence[dict]) -> None:
        """Add or replace vectors. Texts stay in SQLite: chroma would only index them again."""
        for i in range(0, len(ids), BATCH):
            self.collection.upsert(
                ids=list(ids[i : i + BATCH]),
                embeddings=vectors[i : i + BATCH],
                metadatas=[_clean_meta(m) for m in metas[i : i + BATCH]],
            )

    @_served
    def update_metadata(self, ids: Sequence[str], metas: Sequence[dict]) -> None:
        for i in range(0, len(ids), BATCH):
            self.collection.update(ids=list(ids[i : i + BATCH]), metadatas=[_clean_meta(m) for m in metas[i : i + BATCH]])

    @_served
    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), BATCH):
            self.collection.delete(ids=ids[i : i + BATCH])

    @_served
    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """(segment id, cosine similarity) pairs, best first."""
        if self.count() == 0:
            return []
        res = self.collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=k,
            where=where or None,
            include=["distances"],
        )
        return [(sid, 1.0 - float(d)) for sid, d in zip(res["ids"][0], res["distances"][0])]

    @_served
    def ids(self, page: int = 10_000) -> set[str]:
        """Every segment id the collection holds (paged: chroma caps one read)."""
        held: set[str] = set()
        while True:
            got = self.collection.get(include=[], limit=page, offset=len(held))["ids"]
            held.update(got)
            if len(got) < page:
                return held

    @_served
    def reset(self) -> None:
        """Drop and recreate the collection (used by reindex)."""
        meta = self.collection.metadata
        self.client.delete_collection(self.name)
        self.collection = self.client.get_or_create_collection(
            self.name, embedding_function=None, metadata=meta, configuration={"hnsw": {"space": "cosine"}}
        )


def _clean_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Chroma metadata takes str/int/float/bool only, and no None."""
    return {k: v for k, v in meta.items() if v is not None and v != ""}


def where_clause(filters: dict[str, Any]) -> dict[str, Any] | None:
    """Build chroma's ``where`` from equality filters, skipping the unset ones."""
    terms = [{k: v} for k, v in filters.items() if v is not None]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else {"$and": terms}
