"""The built-in embedders, registered through the same hook a third-party plug-in uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .embedders import HashEmbedder, MiniLMEmbedder, OpenAIEmbedder
from .hookspecs import hookimpl


@hookimpl
def register_embedders(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("minilm", lambda cfg: MiniLMEmbedder(batch_size=cfg.batch_size))
    register("openai", lambda cfg: OpenAIEmbedder(model=cfg.model, base_url=cfg.base_url))
    register("hash", lambda cfg: HashEmbedder())
