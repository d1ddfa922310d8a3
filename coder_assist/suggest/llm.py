"""The one path every LLM step takes for a structured request: redact per ``[privacy]``, render
the versioned prompt, call, restore the placeholders, and keep the prompt's identity for the record.

Coding runs redact their per-segment prompts the same way (``redact.redactor_for``); categorize,
mapping, memos and evaluation go through :class:`StructuredCaller`, so no step can send an
unredacted participant name to a remote host. The raw reply and error are scrubbed of credentials
(``secrets.scrub_reply``) whatever the provider, since callers store them and put them in the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from .prompts import PromptTemplate, load_prompt
from .providers import StructuredProvider
from .redact import Redactor, redactor_for, restore_all
from .secrets import scrub_reply


@dataclass
class StructuredResult:
    """One structured call: the parsed fields with identifiers restored (``None`` on failure)."""

    fields: dict[str, Any] | None
    raw: str
    error: str
    prompt: PromptTemplate


class StructuredCaller:
    """Structured calls to one provider under one privacy setting."""

    def __init__(self, provider: StructuredProvider, privacy: Any, participants: Iterable[dict] = ()) -> None:
        self.provider = provider
        self.redactor: Redactor | None = redactor_for(privacy, list(participants), provider.remote)
        self._redacted: dict[str, str] = {}  # the static system part repeats across items: redact it once

    def _redact(self, text: str) -> str:
        assert self.redactor is not None
        if text not in self._redacted:
            if len(self._redacted) > 64:
                self._redacted.clear()
            self._redacted[text] = self.redactor.redact(text)
        return self._redacted[text]

    @property
    def redacted(self) -> bool:
        return self.redactor is not None

    def call(self, prompt_id: str, schema: type[BaseModel], **slots: str) -> StructuredResult:
        prompt = load_prompt(prompt_id)
        system, user = prompt.render(**slots)
        if self.redactor is not None:
            system, user = self._redact(system), self.redactor.redact(user)
        reply = scrub_reply(self.provider.structured(system, user, schema), [getattr(self.provider, "api_key", None)])
        if reply.proposal is None:
            return StructuredResult(None, reply.raw, reply.error or "no reply", prompt)
        fields = reply.proposal.model_dump()
        if self.redactor is not None:
            fields = restore_all(self.redactor, fields)
        return StructuredResult(fields, reply.raw, "", prompt)
