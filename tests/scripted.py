"""An in-process scripted LLM provider for unit tests (in the spirit of simonw/llm's MockModel).

``ScriptedProvider`` satisfies both ``Provider`` (coding runs) and ``StructuredProvider``
(category naming, construct mapping, memo drafts, evaluation) and never touches the network. It
is *not* a ``HeuristicProvider`` (it has no ``source_sha256``), so a coding run renders the real
versioned prompt for it and redacts it exactly as it would for an OpenAI-compatible endpoint.

Replies come from a queue filled with :meth:`ScriptedProvider.enqueue`; each item is

- a pydantic model instance: the parsed reply (it must be an instance of the schema asked for);
- a ``dict``: validated into the schema asked for (a dict that does not validate comes back as
  invalid output, like a model that broke the schema);
- a ``str``: raw text that did not parse (``proposal=None``, ``raw=text``, ``error=...``);
- a ``ProviderReply``: returned as it is;
- an ``Exception`` instance: raised from ``propose``/``structured`` (a provider breaking its
  "never raise" contract, or an interrupt).

When the queue is empty the ``default(schema_cls, system, user)`` callable given to the
constructor answers (it may return any of the forms above); without one the call fails with an
``AssertionError`` naming the schema. Every call is recorded in :attr:`ScriptedProvider.history`.

    scripted = ScriptedProvider()
    scripted.enqueue({"codes": [{"label": "Checking invoices", "in_vivo": False, "quote": "every invoice",
                                 "rationale": "r", "reused_code": None}]})
    proj.code(provider=scripted, limit=1)
    assert "SEGMENT" in scripted.history[0].user
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from coder_assist.suggest.providers import CodeProposal, CodingInput, ProviderReply, Usage

Reply = BaseModel | dict | str | ProviderReply | BaseException
Default = Callable[[type[BaseModel], str, str], Reply]

_SEGMENT = re.compile(r"SEGMENT \(speaker: [^\n]*\):\n(?P<segment>.*)\Z", re.S)


@dataclass
class Call:
    """One request the provider received, exactly as it would have gone over the wire."""

    kind: str
    """``propose`` (a coding run) or ``structured`` (categorize, map, memos, evaluation)."""
    system: str
    user: str
    schema: str
    """Name of the schema asked for (``CodeProposal`` for ``propose``)."""
    segment: str | None = None
    """For ``propose``: the segment text of the ``CodingInput`` (the unredacted local copy)."""
    segment_id: str | None = None

    @property
    def text(self) -> str:
        """Everything sent: system and user message."""
        return self.system + "\n" + self.user


class ScriptedProvider:
    """A provider whose replies are scripted by the test; see the module docstring."""

    def __init__(self, *replies: Reply, default: Default | None = None, name: str = "scripted",
                 model: str = "scripted-1", remote: bool = True, base_host: str | None = "api.example.invalid",
                 prompt_id: str = "initial-coding", params: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.name = name
        self.model = model
        self.remote = remote
        self.base_host = base_host
        self.prompt_id = prompt_id
        self.default = default
        self._params = dict(params or {})
        self._queue: deque[Reply] = deque(replies)
        self.history: list[Call] = []

    def __repr__(self) -> str:
        return f"<ScriptedProvider {self.name}/{self.model} remote={self.remote} queued={len(self._queue)} calls={len(self.history)}>"

    # -- scripting ---------------------------------------------------------------------------
    def enqueue(self, *replies: Reply) -> ScriptedProvider:
        """Queue replies, answered in order before the ``default`` is consulted."""
        self._queue.extend(replies)
        return self

    @property
    def pending(self) -> int:
        """Queued replies not yet used."""
        return len(self._queue)

    def calls(self, kind: str | None = None, schema: str | None = None) -> list[Call]:
        """Recorded calls, optionally of one kind and/or schema name."""
        return [c for c in self.history if (kind is None or c.kind == kind) and (schema is None or c.schema == schema)]

    def sent_texts(self) -> list[str]:
        """Every system and user message sent so far."""
        return [t for c in self.history for t in (c.system, c.user)]

    # -- the Provider / StructuredProvider protocols -----------------------------------------
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    def propose(self, item: CodingInput) -> ProviderReply:
        """Code one segment: the run has rendered (and, where it applies, redacted) ``item.system``
        and ``item.user``; those are what a real provider would send."""
        assert item.system and item.user, "the coding run did not render a prompt for this provider"
        self.history.append(Call("propose", item.system, item.user, CodeProposal.__name__, item.text, item.segment_id))
        return self._answer(CodeProposal, item.system, item.user)

    def structured(self, system: str, user: str, schema_cls: type[BaseModel]) -> ProviderReply:
        self.history.append(Call("structured", system, user, schema_cls.__name__))
        return self._answer(schema_cls, system, user)

    # -- internals ---------------------------------------------------------------------------
    def _answer(self, schema_cls: type[BaseModel], system: str, user: str) -> ProviderReply:
        if self._queue:
            reply = self._queue.popleft()
        elif self.default is not None:
            reply = self.default(schema_cls, system, user)
        else:
            raise AssertionError(
                f"ScriptedProvider {self.name!r}: no scripted reply left for a {schema_cls.__name__} request "
                f"(call {len(self.history)}); enqueue() one or pass default="
            )
        return self._to_reply(reply, schema_cls, system, user)

    @staticmethod
    def _to_reply(reply: Reply, schema_cls: type[BaseModel], system: str, user: str) -> ProviderReply:
        usage = Usage(prompt_tokens=len((system + " " + user).split()), estimated=True)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, ProviderReply):
            return reply
        if isinstance(reply, str):
            return ProviderReply(None, reply, usage, error="invalid output: scripted raw text")
        if isinstance(reply, dict):
            raw = json.dumps(reply, ensure_ascii=False)
            try:
                reply = schema_cls.model_validate(reply)
            except ValidationError as exc:
                return ProviderReply(None, raw, usage, error=f"invalid output: {exc.errors()[0]['msg']}")
        if isinstance(reply, BaseModel):
            if not isinstance(reply, schema_cls):
                raise AssertionError(f"scripted reply is a {type(reply).__name__}, but a {schema_cls.__name__} was asked for")
            raw = reply.model_dump_json()
            usage.completion_tokens = len(raw.split())
            return ProviderReply(reply, raw, usage)  # type: ignore[arg-type]
        raise AssertionError(f"cannot use a {type(reply).__name__} as a scripted reply")


def segment_of(user: str) -> str:
    """The SEGMENT part of a rendered coding prompt (as sent: redacted where redaction applies)."""
    m = _SEGMENT.search(user)
    assert m, "not a coding prompt: no 'SEGMENT (speaker: ...):' part"
    return m.group("segment").strip()
