"""LLM providers. They only ever write suggestions; the codebook changes by human decision."""

from __future__ import annotations

import os

from ...store.config import ProviderSection
from ...errors import CoderAssistError
from ...plugins import provider_factories
from .base import (
    AuthenticationFailed, CodeProposal, CodingInput, HeuristicProvider, ProposedCode, Provider, ProviderReply,
    SimilarSegment, StructuredProvider, Usage,
)  # fmt: skip

__all__ = [
    "AuthenticationFailed", "CodeProposal", "CodingInput", "HeuristicProvider", "ProposedCode", "Provider",
    "ProviderReply", "SimilarSegment", "StructuredProvider", "Usage", "get_provider", "resolve_name", "resolve_provider",
]  # fmt: skip


def resolve_name(section: ProviderSection) -> str:
    """``auto`` means openai when an endpoint or key is configured, else the offline provider."""
    if section.name != "auto":
        return section.name
    configured = section.base_url or os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
    return "openai" if configured else "offline"


def get_provider(section: ProviderSection) -> Provider:
    """Build the configured provider (after ``--provider/--model/--base-url`` overrides)."""
    factories = provider_factories()
    name = resolve_name(section)
    if name not in factories:
        raise CoderAssistError(f"unknown provider {name!r} (known: {', '.join(sorted(factories))})")
    return factories[name](section)


def resolve_provider(
    section: ProviderSection, provider: str | Provider | None = None, model: str | None = None,
    base_url: str | None = None,
) -> Provider:  # fmt: skip
    """A provider object as given, or built from the config section with the non-empty overrides."""
    if provider is not None and not isinstance(provider, str):
        return provider
    return get_provider(overridden(section, provider, model, base_url))


def overridden(section: ProviderSection, name: str | None, model: str | None, base_url: str | None) -> ProviderSection:
    """The ``[provider]`` section with ``--provider/--model/--base-url`` applied."""
    overrides = {"name": name, "model": model, "base_url": base_url}
    return section.model_copy(update={k: v for k, v in overrides.items() if v})
