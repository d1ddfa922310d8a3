"""Structured-output schemas for the theory steps (category naming, memo drafting)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CategoryProposal(BaseModel):
    """A focused category accounting for a cluster of initial codes."""

    name: str = Field(description="Short analytic label for the category.")
    definition: str = Field(description="Two or three sentences: what it covers and what it does not.")
    properties: list[str] = Field(description="Characteristics of the category, grounded in the codes.")
    dimensions: list[str] = Field(description="Ranges along which the properties vary.")


class Citation(BaseModel):
    """A claim and the exact words from one passage that support it."""

    passage: str = Field(description="Passage id, such as E3 or N1.")
    quote: str = Field(description="Exact words copied from that passage.")
    claim: str = Field(description="What this passage shows, in one sentence.")


class MemoSections(BaseModel):
    """The sections of a grounded-theory memo draft."""

    definition: str = Field(description="A working definition of the subject.")
    properties: list[str] = Field(description="Properties and their dimensions.")
    comparison: str = Field(description="Variation across buyer and supplier, role categories and waves.")
    negative_cases: str = Field(description="What the disconfirming or differently-coded passages show.")
    citations: list[Citation] = Field(description="Claims with exact supporting quotes.")
    open_questions: list[str] = Field(description="What the data leaves unresolved.")
    theoretical_sampling: list[str] = Field(description="Whom to ask next and what to ask.")


class LinkProposal(BaseModel):
    """The construct an item belongs to, or null to abstain."""

    construct_id: str | None = Field(description="The construct id exactly as listed, or null when none fits.")
    confidence: float = Field(description="From 0 to 1.")
    rationale: str = Field(description="One sentence naming the cue that fits.")
    evidence_quote: str = Field(description="Exact words from the item's passages that show the construct.")
