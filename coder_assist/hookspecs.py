"""Plug-in hooks. A plug-in package declares an entry point in group ``coder_assist``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("coder_assist")
hookimpl = pluggy.HookimplMarker("coder_assist")


@hookspec
def register_embedders(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register embedder factories: ``register(name, factory)``; the factory takes the config section."""


@hookspec
def register_providers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register LLM providers: ``register(name, factory)``; the factory receives the ``[provider]``
    config section and returns an object following ``coder_assist.suggest.providers.Provider``."""


@hookspec
def register_frameworks(register: Callable[[str, Callable[[], Any]], None]) -> None:
    """Register construct frameworks: ``register(id, factory)``; the factory returns a
    ``coder_assist.theory.frameworks.Framework`` or the path of a framework YAML file."""
