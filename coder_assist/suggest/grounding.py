"""Locate a quoted passage in a segment and anchor it to code-point offsets.

Three tries, in order: the exact string; the same after folding case, quotes, dashes, punctuation
and whitespace; then the best-aligned window of words (fuzzy, above ``threshold``). What none of
them finds is ungrounded and must never be offered as fact.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher

from ..store import queries

FUZZY_THRESHOLD = 0.85
_WORD = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)
_FOLD = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "."})


@dataclass(frozen=True)
class Grounding:
    """Where a quote sits in the document (absolute offsets), and how it was found."""

    method: str
    """``exact``, ``normalized``, ``fuzzy`` or ``ungrounded``."""
    start: int | None = None
    end: int | None = None
    score: float = 0.0

    @property
    def grounded(self) -> bool:
        return self.method != "ungrounded"


UNGROUNDED = Grounding("ungrounded")


def _normalized(text: str) -> tuple[str, list[int]]:
    """Fold case and punctuation, collapse whitespace; return the string and, per character,
    the index of the original character it came from."""
    out: list[str] = []
    where: list[int] = []
    space = True
    for i, ch in enumerate(text):
        ch = unicodedata.normalize("NFC", ch).translate(_FOLD)
        if ch.isalnum():
            out.append(ch.casefold())
            where.append(i)
            space = False
        elif not space:  # punctuation and whitespace both become one space
            out.append(" ")
            where.append(i)
            space = True
    while out and out[-1] == " ":
        out.pop()
        where.pop()
    return "".join(out), where


def locate(quote: str, text: str, base: int = 0, threshold: float = FUZZY_THRESHOLD) -> Grounding:
    """Find ``quote`` in ``text`` (a segment starting at document offset ``base``)."""
    quote = quote.strip().strip("\"'“”‘’").strip()
    if not quote:
        return UNGROUNDED
    i = text.find(quote)
    if i >= 0:
        return Grounding("exact", base + i, base + i + len(quote), 1.0)

    norm_text, where = _normalized(text)
    norm_quote, _ = _normalized(quote)
    if norm_quote:
        j = norm_text.find(norm_quote)
        if j >= 0:
            start, end = where[j], where[j + len(norm_quote) - 1] + 1
            return Grounding("normalized", base + start, base + end, 1.0)

    return _fuzzy(quote, text, base, threshold)


def _fuzzy(quote: str, text: str, base: int, threshold: float) -> Grounding:
    """Best window of whole words whose folded form is at least ``threshold`` similar."""
    words = [(m.start(), m.end(), m.group().casefold()) for m in _WORD.finditer(text)]
    q_words = [w.casefold() for w in _WORD.findall(quote)]
    if not words or not q_words:
        return UNGROUNDED
    target = " ".join(q_words)
    n = len(q_words)
    best: tuple[float, int, int] = (0.0, 0, 0)
    matcher = SequenceMatcher(autojunk=False)
    matcher.set_seq2(target)
    for size in range(max(1, int(n * 0.7)), min(len(words), int(n * 1.3) + 1) + 1):
        for k in range(0, len(words) - size + 1):
            matcher.set_seq1(" ".join(w for _, _, w in words[k : k + size]))
            if matcher.real_quick_ratio() <= best[0] or matcher.quick_ratio() <= best[0]:
                continue
            score = matcher.ratio()
            if score > best[0]:
                best = (score, k, k + size)
    score, a, b = best
    if score < threshold:
        return UNGROUNDED
    return Grounding("fuzzy", base + words[a][0], base + words[b - 1][1], round(score, 3))


#: An anchored quote in a memo or analysis text: ``«quote» ... [source@start:end]``.
ANCHOR = re.compile(r"«(?P<quote>[^«»\n]+)»[^\n\[]*\[(?P<source>[^@\]\n]+)@(?P<start>\d+):(?P<end>\d+)\]")


def verify_citations(conn: sqlite3.Connection, body: str) -> list[str]:
    """Problems with a text's anchored quotes (empty when every quote equals the current
    document text at its offsets)."""
    problems = []
    texts: dict[str, str | None] = {}
    for m in ANCHOR.finditer(body):
        src, a, b = m.group("source").strip(), int(m.group("start")), int(m.group("end"))
        if src not in texts:
            texts[src] = queries.document_text(conn, src)
        text = texts[src]
        if text is None:
            problems.append(f"{src}@{a}:{b}: no such document")
        elif text[a:b] != m.group("quote"):
            problems.append(f"{src}@{a}:{b}: the quote is not the transcript text at those offsets")
    return problems
