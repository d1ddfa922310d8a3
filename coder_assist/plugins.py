"""The plug-in manager: built-ins are registered like third-party plug-ins."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

import pluggy

from . import hookspecs

#: Built-ins, registered by module path like an entry point (so this module imports no layer).
DEFAULT_PLUGINS = ("coder_assist.store.embedders", "coder_assist.suggest.providers.builtin")

pm = pluggy.PluginManager("coder_assist")
pm.add_hookspecs(hookspecs)
_loaded = False


def load_plugins() -> pluggy.PluginManager:
    """Register the built-ins and (outside tests) installed entry points; safe to call twice."""
    global _loaded
    if _loaded:
        return pm
    _loaded = True
    for module in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(module), name=module)
    if not getattr(sys, "_called_from_test", False) and os.environ.get("CODER_ASSIST_NO_PLUGINS") != "1":
        pm.load_setuptools_entrypoints("coder_assist")
    return pm


def embedder_factories() -> dict[str, Callable[..., Any]]:
    """Name -> factory for every registered embedder."""
    found: dict[str, Callable[..., Any]] = {}
    load_plugins().hook.register_embedders(register=lambda name, factory: found.setdefault(name, factory))
    return found


def provider_factories() -> dict[str, Callable[..., Any]]:
    """Name -> factory for every registered LLM provider."""
    found: dict[str, Callable[..., Any]] = {}
    load_plugins().hook.register_providers(register=lambda name, factory: found.setdefault(name, factory))
    return found


def framework_factories() -> dict[str, Callable[..., Any]]:
    """Id -> factory for every construct framework registered by a plug-in."""
    found: dict[str, Callable[..., Any]] = {}
    load_plugins().hook.register_frameworks(register=lambda name, factory: found.setdefault(name, factory))
    return found


def plugin_names() -> list[str]:
    """Names of the registered plug-ins (for ``coder-assist plugins``)."""
    load_plugins()
    return sorted(name for name, _ in pm.list_name_plugin())
