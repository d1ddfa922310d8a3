"""The built-in providers, registered through the same hook a third-party plug-in uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...hookspecs import hookimpl
from .offline import OfflineProvider
from .openai_compat import OpenAICompatProvider


@hookimpl
def register_providers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("offline", lambda cfg: OfflineProvider(language=cfg.language))
    register("openai", lambda cfg: OpenAICompatProvider(
        cfg.model, cfg.base_url, temperature=cfg.temperature, seed=cfg.seed, timeout=cfg.timeout,
        max_attempts=cfg.max_attempts, method=cfg.structured_output, concurrency=cfg.concurrency, rpm=cfg.rpm,
        tpm=cfg.tpm,
    ))  # fmt: skip
