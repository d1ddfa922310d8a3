"""The built-in embedders, registered through the same hook a third-party plug-in uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .embedders import HashEmbedder, MiniLMEmbedder, OpenAIEmbedder
from .hookspecs import hookimpl
from .providers.offline import OfflineProvider
from .providers.openai_compat import OpenAICompatProvider


@hookimpl
def register_embedders(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("minilm", lambda cfg: MiniLMEmbedder(batch_size=cfg.batch_size))
    register("openai", lambda cfg: OpenAIEmbedder(model=cfg.model, base_url=cfg.base_url))
    register("hash", lambda cfg: HashEmbedder())


@hookimpl
def register_providers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("offline", lambda cfg: OfflineProvider(language=cfg.language))
    register("openai", lambda cfg: OpenAICompatProvider(
        cfg.model, cfg.base_url, temperature=cfg.temperature, seed=cfg.seed, timeout=cfg.timeout,
        max_attempts=cfg.max_attempts, method=cfg.structured_output,
    ))  # fmt: skip
