"""Suggestions: providers (offline and LLM), prompts, quote grounding, redaction, coding runs.
Nothing here writes the codebook; a person decides (see ``review``)."""
