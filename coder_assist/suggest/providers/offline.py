"""The offline provider: deterministic heuristics, no model, no network.

For each segment it takes YAKE key phrases, finds the nearest verb in the same sentence and
turns the pair into a gerund-style label ("Shipping for retail clients"), with the exact words it
rests on as the quote; it also offers the participant's own strongest multi-word phrase as an
in-vivo code. A label whose content words overlap an existing code reuses that code (constant
comparison). Every rationale says that it comes from these heuristics, not from a model.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Any

from .base import CodeProposal, CodingInput, ProposedCode, ProviderReply, Usage

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*", re.UNICODE)
_SENTENCE = re.compile(r"[^.!?…]+[.!?…]*")
_IRREGULAR = {
    "said": "saying", "says": "saying", "say": "saying", "told": "telling", "tells": "telling",
    "made": "making", "makes": "making", "took": "taking", "takes": "taking", "got": "getting",
    "gets": "getting", "lost": "losing", "loses": "losing", "paid": "paying", "pays": "paying",
    "felt": "feeling", "feels": "feeling", "thought": "thinking", "thinks": "thinking", "knew": "knowing",
    "knows": "knowing", "brought": "bringing", "brings": "bringing", "sent": "sending", "spent": "spending",
    "found": "finding", "finds": "finding", "gave": "giving", "gives": "giving", "saw": "seeing",
    "sees": "seeing", "came": "coming", "comes": "coming", "went": "going", "goes": "going",
    "kept": "keeping", "keeps": "keeping", "held": "holding", "holds": "holding", "built": "building",
    "builds": "building", "bought": "buying", "buys": "buying", "sold": "selling", "sells": "selling",
    "left": "leaving", "leaves": "leaving", "met": "meeting", "meets": "meeting", "ran": "running",
    "runs": "running", "won": "winning", "wins": "winning", "set": "setting", "sets": "setting",
    "put": "putting", "puts": "putting", "cut": "cutting", "cuts": "cutting", "let": "letting",
    "wrote": "writing", "writes": "writing", "chose": "choosing", "chooses": "choosing", "fought": "fighting",
    "taught": "teaching", "understood": "understanding", "understands": "understanding",
    "wants": "wanting", "needs": "needing", "expects": "expecting", "trusts": "trusting",
    "asks": "asking", "looks": "looking", "works": "working", "helps": "helping", "shows": "showing",
    "seems": "seeming", "becomes": "becoming", "became": "becoming", "begins": "beginning",
    "began": "beginning", "rings": "ringing", "rang": "ringing", "fixes": "fixing", "blames": "blaming",
    "measures": "measuring", "promises": "promising", "delivers": "delivering", "matters": "mattering",
    "ship": "shipping", "shipping": "shipping", "load": "loading", "loading": "loading",
}  # fmt: skip
_NOT_VERBS = frozenset(
    "need red bed shed bred feed seed speed weed hundred interested tired used based related supposed "
    "indeed need". split()
)
_STOP = frozenset(
    "the a an and or but of to in on at for with by from as is are was were be been it its this that these "
    "those we our you your they their he she his her i me my us them there here what which who how why when "
    "so just very really quite then than also not no yes yeah well okay ok".split()
)
_MIN_WORDS = 5


def _gerund(word: str) -> str | None:
    w = word.lower()
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if w.endswith("ing") and len(w) > 5:
        return w
    if len(w) > 4 and w.endswith("ed") and w not in _NOT_VERBS:
        if w.endswith("ied"):
            return w[:-3] + "ying"
        if w.endswith("eed"):
            return w[:-1] + "ing"
        return w[:-2] + "ing"
    return None


def _content(label: str) -> set[str]:
    return {w.lower()[:6] for w in _WORD.findall(label) if w.lower() not in _STOP and len(w) > 2}


class OfflineProvider:
    """Key phrases, verbs and the participant's own words; labelled as offline in every rationale."""

    name = "offline"
    base_host = None
    remote = False
    prompt_id = "offline-heuristics"

    def __init__(self, language: str = "en", max_codes: int = 2) -> None:
        self.language = language
        self.max_codes = max_codes
        self.model = "yake+gerund-heuristics"
        self._extractor: Any = None

    def params(self) -> dict[str, Any]:
        return {"language": self.language, "max_codes": self.max_codes}

    @staticmethod
    def source_sha256() -> str:
        """The heuristics' own source: recorded as the 'prompt' hash so any change shows."""
        return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()

    def _keyphrases(self, text: str) -> list[tuple[str, float]]:
        if self._extractor is None:
            import yake

            self._extractor = yake.KeywordExtractor(lan=self.language, n=3, top=8, dedupLim=0.7)
        return [(k, float(s)) for k, s in self._extractor.extract_keywords(text)]

    def propose(self, item: CodingInput) -> ProviderReply:
        t0 = time.perf_counter()
        text = item.text
        codes: list[ProposedCode] = []
        if len(_WORD.findall(text)) >= _MIN_WORDS:
            phrases = [(k, s) for k, s in self._keyphrases(text) if not set(k.lower().split()) <= _STOP]
            action = self._action_code(text, phrases, item.codebook)
            if action:
                codes.append(action)
            vivo = self._in_vivo_code(text, phrases, {c.quote for c in codes})
            if vivo and len(codes) < self.max_codes:
                codes.append(vivo)
        proposal = CodeProposal(codes=codes[: self.max_codes])
        words = len(text.split())
        return ProviderReply(
            proposal, proposal.model_dump_json(),
            Usage(prompt_tokens=round(words * 1.3), completion_tokens=0, estimated=True),
            latency_ms=round((time.perf_counter() - t0) * 1000),
        )  # fmt: skip

    def _action_code(self, text: str, phrases: list[tuple[str, float]], codebook: list[str]) -> ProposedCode | None:
        words = list(_WORD.finditer(text))
        for phrase, score in phrases:
            at = text.lower().find(phrase.lower())
            if at < 0:
                continue
            end = at + len(phrase)
            sentence = next((m for m in _SENTENCE.finditer(text) if m.start() <= at < m.end()), None)
            lo, hi = (sentence.start(), sentence.end()) if sentence else (0, len(text))
            inside = [m for m in words if at <= m.start() < end]
            first = next(i for i, m in enumerate(words) if m.start() >= at)
            last = first + len(inside) - 1
            own = next(((m, g) for m in inside if (g := _gerund(m.group()))), None)
            before = [(m, g) for m in words[max(0, first - 6) : first] if m.start() >= lo and (g := _gerund(m.group()))]
            after = [(m, g) for m in words[last + 1 : last + 4] if m.end() <= hi and (g := _gerund(m.group()))]
            obj = text[at:end]
            if at == lo or (sentence and text[lo:at].strip() == ""):
                obj = obj[:1].lower() + obj[1:] if obj[1:2].islower() else obj
            if own:
                m, gerund = own
                rest, subject = text[m.end() : end].strip(), text[at : m.start()].strip()
                if not (rest or subject):
                    continue  # a lone verb says nothing
                label = f"{gerund.capitalize()} {rest}" if rest else f"{subject[:1].upper()}{subject[1:]} {gerund}"
                start, stop = at, end
            elif before:
                m, gerund = before[-1]
                label, start, stop = f"{gerund.capitalize()} {obj}", m.start(), end
            elif after:
                m, gerund = after[0]
                label, start, stop = f"{obj[:1].upper()}{obj[1:]} {gerund}", at, m.end()
            else:
                continue
            reused = next((c for c in codebook if len(_content(c) & _content(label)) * 2 >= len(_content(label) | _content(c))), None)
            return ProposedCode(
                label=reused or label, in_vivo=False, quote=text[start:stop], reused_code=reused,
                rationale=f"Offline heuristic: '{phrase}' is a key phrase of this segment (YAKE {score:.3f}) "
                f"and '{m.group()}' the nearest verb{'; reuses an existing code with the same content words' if reused else ''}.",
            )  # fmt: skip
        return None

    def _in_vivo_code(self, text: str, phrases: list[tuple[str, float]], taken: set[str]) -> ProposedCode | None:
        for phrase, score in phrases:
            if len(phrase.split()) < 2:
                continue
            at = text.lower().find(phrase.lower())
            if at < 0:
                continue
            words = text[at : at + len(phrase)]
            if words in taken:
                continue
            return ProposedCode(
                label=f'"{words}"', in_vivo=True, quote=words, reused_code=None,
                rationale=f"Offline heuristic: the participant's own words, the segment's strongest multi-word key phrase (YAKE {score:.3f}).",
            )  # fmt: skip
        return None
