"""Keep API keys and bearer tokens out of everything the project stores.

A misbehaving endpoint or gateway can echo the request's ``Authorization`` header in an error
body, and that body would otherwise reach ``llm_calls.error``/``raw_response``, the audit ledger
and ``audit export``. :func:`scrub` is the one rule, applied wherever a provider's error or reply
is kept: the configured key itself (exact string), ``Bearer``/``Basic`` credentials (8 characters
or more with a digit, an inner capital or ``=`` in them, so "basic training" stays), ``sk-...``
style keys, and ``api_key=...`` / ``"api_key": "..."`` style fields (also ``api-key``,
``x-api-key``, ``access_token``, ``client_secret``, ``password``) become ``[REDACTED]``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

from .providers.base import ProviderReply

MASK = "[REDACTED]"
#: Shorter configured values are not scrubbed as exact strings (they would mask ordinary words).
MIN_SECRET = 8
_PATTERNS = (
    re.compile(r"\b((?i:bearer|basic))(\s+)(?=[\w.~+/-]*(?:\d|[a-z][A-Z]|=))[\w.~+/=-]{8,}"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),
    re.compile(r"""(?ix)(["']?\b(?:x-)?(?:api[_-]?key|access[_-]?token|client[_-]?secret|secret[_-]?key|password)["']?
                   \s*[:=]\s*["']?)([^"'\s,;&}\]]+)"""),
)


def scrub(text: str | None, secrets: Iterable[str | None] = ()) -> str | None:
    """``text`` with every credential replaced by ``[REDACTED]`` (``None`` stays ``None``)."""
    if not text:
        return text
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _PATTERNS[1].sub(MASK, text)
    return _PATTERNS[2].sub(lambda m: m.group(1) + MASK, text)


def scrub_reply(reply: ProviderReply, secrets: Iterable[str | None] = ()) -> ProviderReply:
    """The reply with its raw text and error scrubbed of ``secrets`` and of the keys in the environment
    (the parsed proposal is left as it is)."""
    secrets = [*secrets, *known_keys()]
    raw, error = scrub(reply.raw, secrets), scrub(reply.error, secrets)
    if raw == reply.raw and error == reply.error:
        return reply
    return replace(reply, raw=raw or "", error=error)


def known_keys() -> list[str]:
    """Keys this process may send (the environment variables the providers and embedders read)."""
    return [v for k in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY") if (v := os.environ.get(k))]


def safe_url(url: str) -> str:
    """An endpoint URL fit for a message: no user:password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:  # a port that is not a number
        netloc = host
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")) or "the endpoint"
