"""What a provider receives and returns. Providers only ever produce suggestions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from ...errors import CoderAssistError


class AuthenticationFailed(CoderAssistError):
    """The endpoint refused the credentials (HTTP 401 or 403). Not retried: every further request
    would be refused the same way. The message names the endpoint, never the key."""


class ProposedCode(BaseModel):
    """One grounded-theory initial code for the segment."""

    label: str = Field(description="Short action-oriented label in gerund form, or the participant's words in double quotes for an in-vivo code.")
    in_vivo: bool = Field(description="True when the label is the participant's own words.")
    quote: str = Field(description="The exact words from the SEGMENT the code rests on, copied character for character.")
    rationale: str = Field(description="One sentence on why the code fits this segment.")
    reused_code: str | None = Field(description="The exact label of an existing code that was reused, or null for a new code.")


class CodeProposal(BaseModel):
    """Initial codes proposed for one interview segment (0 to 3)."""

    codes: list[ProposedCode] = Field(description="0 to 3 codes for the segment.")


@dataclass(frozen=True)
class SimilarSegment:
    """An already-coded segment shown for constant comparison."""

    segment_id: str
    text: str
    codes: list[str]
    score: float


@dataclass
class CodingInput:
    """Everything a provider may use to code one segment."""

    segment_id: str
    text: str
    speaker: str | None
    source: str
    context: str
    similar: list[SimilarSegment]
    codebook: list[str]
    system: str = ""
    user: str = ""
    entities: dict[str, str] = field(default_factory=dict)
    """Mentions the project knows (participants' names, organisations) -> an abstraction such as
    "the supplier" or "the chief financial officer". Filled for local providers only (never for a
    remote one); nothing renders it into a prompt."""
    earlier_labels: list[str] = field(default_factory=list)
    """Labels proposed earlier for the same work key (runs before this one), in proposal order;
    local providers only (constant comparison within one piece of work)."""


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False


@dataclass
class ProviderReply:
    """The outcome of one segment: a parsed proposal, or an error, and always the raw text."""

    proposal: CodeProposal | None
    raw: str
    usage: Usage = field(default_factory=Usage)
    latency_ms: int = 0
    attempts: int = 1
    error: str | None = None


@runtime_checkable
class Provider(Protocol):
    name: str
    model: str
    base_host: str | None
    """Host of the endpoint, or ``None`` when nothing leaves this machine."""
    remote: bool
    """True when text is sent to a host that is not this machine (redaction applies)."""
    prompt_id: str
    """The prompt file this provider renders (the offline provider names its heuristics)."""

    def params(self) -> dict[str, Any]:
        """Parameters that change the output (temperature, seed ...): part of the run's identity."""
        ...

    def propose(self, item: CodingInput) -> ProviderReply:
        """Code one segment. Must not raise for model or transport faults: return ``error``
        (refused credentials raise :class:`AuthenticationFailed`: the whole run would fail)."""
        ...


@runtime_checkable
class StructuredProvider(Protocol):
    """A provider that can answer any structured request (category naming, mapping, memos)."""

    name: str
    model: str
    remote: bool

    def structured(self, system: str, user: str, schema_cls: type[BaseModel]) -> ProviderReply:
        """One request whose reply is parsed into ``schema_cls`` (``reply.proposal``)."""
        ...


@runtime_checkable
class HeuristicProvider(Protocol):
    """A provider with no prompt file: the sha256 of its own source stands in for the prompt's."""

    def source_sha256(self) -> str: ...
