"""LLM providers. They only ever write suggestions; the codebook changes by human decision."""

from __future__ import annotations

import os

from ...store.config import ProviderSection
from ...errors import CoderAssistError
from ...plugins import provider_factories
from .base import CodeProposal, CodingInput, ProposedCode, Provider, ProviderReply, SimilarSegment, Usage

__all__ = [
    "CodeProposal", "CodingInput", "ProposedCode", "Provider", "ProviderReply", "SimilarSegment", "Usage",
    "get_provider", "resolve_name",
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
