"""Pseudonymise text before it leaves the machine, and restore the originals in the results.

Identifiers come from the participants table (speaker names, their parts, organisations) plus
configurable extra names and regular expressions (e-mail addresses and phone numbers by default).
Each distinct identifier gets a stable placeholder such as ``[PERSON_3]``; the mapping stays local.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..store.tokens import default_counter

DEFAULT_PATTERNS = {
    "EMAIL": r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    "PHONE": r"(?<!\w)\+?\d[\d ()-]{7,}\d(?!\w)",
}
_ROLE_WORDS = frozenset(
    "interviewer moderator respondent participant speaker facilitator question answer q a "
    "pergunta resposta unknown".split()
)
_GENERIC_ORG_WORDS = frozenset("the global national regional royal general first united international city county".split())
_PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9]*_\d+\]")  # any kind: custom patterns name their own


@dataclass
class Redactor:
    """Replaces known identifiers with placeholders; ``restore`` undoes it."""

    people: list[str] = field(default_factory=list)
    organisations: list[str] = field(default_factory=list)
    patterns: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PATTERNS))
    _forward: dict[str, str] = field(default_factory=dict, init=False)
    _back: dict[str, str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        terms: list[tuple[str, str]] = []
        for name in self.people:
            if name.casefold() in _ROLE_WORDS:
                continue
            terms.append((name, "PERSON"))
            terms += [(part, "PERSON") for part in name.split() if len(part) >= 3 and part[0].isupper()]
        for org in self.organisations:
            if len(org) >= 3:
                terms.append((org, "ORG"))
                first = org.split()[0]
                if len(first) >= 4 and first[0].isupper() and first.casefold() not in _GENERIC_ORG_WORDS:
                    terms.append((first, "ORG"))  # "Northwind" for "Northwind Logistics"
        seen: dict[str, str] = {}
        counts: dict[str, int] = {}
        for term, kind in terms:
            if term not in seen:
                counts[kind] = counts.get(kind, 0) + 1
                seen[term] = f"[{kind}_{counts[kind]}]"
        # Longest first, so "Priya Natarajan" wins over "Priya".
        for term in sorted(seen, key=len, reverse=True):
            self._forward[term] = seen[term]
            self._back.setdefault(seen[term], term)
        self._folded = {t.casefold(): t for t in self._forward}
        self._common: dict[str, bool] = {}  # differently-cased matches that are common words
        # Case-insensitive, and "_" separates words, so "nw05_okafor_cfo.md" and the case id
        # "northwind-facilities" are caught; a differently-cased single word that is a common
        # vocabulary word ("will" for "Will", "rose" for "Rose") is left alone.
        self._names = (
            re.compile("|".join(rf"(?<![^\W_]){re.escape(t)}(?![^\W_])" for t in self._forward), re.IGNORECASE)
            if self._forward else None
        )  # fmt: skip
        self._patterns = [(kind, re.compile(rx)) for kind, rx in self.patterns.items()]

    @property
    def active(self) -> bool:
        return bool(self._forward or self._patterns)

    def redact(self, text: str) -> str:
        """Text with every known identifier replaced by its placeholder."""
        for kind, rx in self._patterns:  # first, so a name inside an e-mail address stays in it
            text = rx.sub(lambda m, kind=kind: self._placeholder(kind, m.group()), text)
        if self._names is not None:
            text = self._names.sub(self._name_placeholder, text)
        return text

    def _name_placeholder(self, m: re.Match[str]) -> str:
        found = m.group()
        if found in self._forward:
            return self._forward[found]
        if " " not in found:
            if found not in self._common:
                self._common[found] = default_counter().is_vocabulary_word(found)
            if self._common[found]:
                return found
        return self._forward[self._folded[found.casefold()]]

    def _placeholder(self, kind: str, value: str) -> str:
        for ph, original in self._back.items():
            if original == value:
                return ph
        ph = f"[{kind}_{sum(p.startswith(f'[{kind}_') for p in self._back) + 1}]"
        self._back[ph] = value
        return ph

    def restore(self, text: str) -> str:
        """Put the original identifiers back."""
        return _PLACEHOLDER.sub(lambda m: self._back.get(m.group(), m.group()), text)

    def summary(self) -> dict[str, int]:
        """How many identifiers of each kind are known (for the provenance record; no values)."""
        kinds: dict[str, int] = {}
        for ph in self._back:
            kind = ph[1:].split("_")[0]
            kinds[kind] = kinds.get(kind, 0) + 1
        return kinds


def from_participants(rows: Iterable[dict], extra_names: Iterable[str] = (), patterns: dict[str, str] | None = None) -> Redactor:
    """A redactor for a project's participants (speaker labels and organisations)."""
    rows = list(rows)
    people = [r["speaker"] for r in rows if r.get("speaker")] + list(extra_names)
    orgs = sorted({r["organisation"] for r in rows if r.get("organisation")})
    return Redactor(people, orgs, dict(DEFAULT_PATTERNS if patterns is None else patterns))


def redactor_for(privacy: Any, participants: Iterable[dict], remote: bool) -> Redactor | None:
    """The redactor the ``[privacy]`` section asks for when sending to a provider, or ``None``:
    ``always`` redacts, ``auto`` redacts for remote hosts, ``never`` sends text as it is."""
    mode = privacy.redact
    if mode == "always" or (mode == "auto" and remote):
        return from_participants(participants, privacy.extra_names, {**DEFAULT_PATTERNS, **privacy.patterns})
    return None


def restore_all(redactor: Redactor, value: Any) -> Any:
    """Restore placeholders in every string of a JSON-like value."""
    if isinstance(value, str):
        return redactor.restore(value)
    if isinstance(value, list):
        return [restore_all(redactor, v) for v in value]
    if isinstance(value, dict):
        return {k: restore_all(redactor, v) for k, v in value.items()}
    return value
