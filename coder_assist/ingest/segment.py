"""Split turns into sentence-bounded segments for line-by-line initial coding.

A segment never crosses a turn or a paragraph, holds whole sentences (a single over-long sentence
is cut at a clause or word boundary), and stays within ``max_tokens`` word-pieces. Sentences are
packed evenly, so a paragraph of five short sentences does not end with a one-word segment.
For every segment ``text == document_text[start:end]``.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

from ..store.tokens import TokenCounter, default_counter
from .transcript import TurnSpan

_PARAGRAPH = re.compile(r"[^\n]+")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_LAST_WORD = re.compile(r"(\w+)\W*$")
_CLAUSE_BREAK = re.compile(r"[,;:–—]\s|\s")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st no vs etc eg ie e.g i.e approx inc ltd co jr sr dept fig vol cf al sr sra".split()
)


@dataclass(frozen=True)
class Segment:
    """A piece of one turn: offsets into the document text, its text and token count."""

    id: str
    turn_idx: int
    idx: int
    speaker: str | None
    start: int
    end: int
    text: str
    n_tokens: int


def segment_id(doc_sha256: str, start: int, end: int) -> str:
    """Stable id from the source file's hash and the offsets."""
    return hashlib.sha256(f"{doc_sha256}:{start}:{end}".encode()).hexdigest()[:20]


def sentence_spans(text: str, start: int, end: int) -> list[list[tuple[int, int]]]:
    """Sentences of ``text[start:end]``, grouped by paragraph, as absolute (start, end) spans."""
    paragraphs = []
    for para in _PARAGRAPH.finditer(text, start, end):
        p0, p1 = para.span()
        spans, cut = [], p0
        for m in _SENTENCE_END.finditer(text, p0, p1):
            nxt = _next_visible(text, m.end(), p1)
            if nxt is None:
                break
            if text[nxt].islower() or _is_abbreviation(text, cut, m):
                continue
            spans.append((cut, m.end()))
            cut = nxt
        spans.append((cut, p1))
        spans = [s for s in (_strip(text, a, b) for a, b in spans) if s[1] > s[0]]
        if spans:
            paragraphs.append(spans)
    return paragraphs


def _next_visible(text: str, i: int, limit: int) -> int | None:
    while i < limit and text[i].isspace():
        i += 1
    return i if i < limit else None


def _is_abbreviation(text: str, cut: int, m: re.Match[str]) -> bool:
    if not m.group().startswith("."):
        return False
    word = _LAST_WORD.search(text, cut, m.start() + 1)
    if not word:
        return False
    w = word.group(1)
    return w.lower() in _ABBREVIATIONS or (len(w) == 1 and w.isupper())


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _split_long(text: str, span: tuple[int, int], n_tokens: int, max_tokens: int) -> list[tuple[int, int]]:
    """Cut one over-long sentence into roughly equal pieces at clause or word boundaries."""
    a, b = span
    pieces = math.ceil(n_tokens / max_tokens)
    target = (b - a) / pieces
    out, cur = [], a
    for k in range(1, pieces):
        ideal = int(a + k * target)
        lo = max(cur + 1, ideal - int(target / 3))
        window = list(_CLAUSE_BREAK.finditer(text, lo, min(b, ideal + int(target / 3))))
        clause = [m for m in window if not m.group().isspace()]
        best = min(clause or window, key=lambda m: abs(m.end() - ideal), default=None)
        cut = best.end() if best else ideal
        if cut <= cur or cut >= b:
            continue
        out.append(_strip(text, cur, cut))
        cur = cut
    out.append(_strip(text, cur, b))
    return [s for s in out if s[1] > s[0]]


def _fit(
    text: str, span: tuple[int, int], n: int, max_tokens: int, counter: TokenCounter, depth: int = 0
) -> list[tuple[tuple[int, int], int]]:
    """The span itself if it fits, else its pieces, split again until each fits (or is one word)."""
    if n <= max_tokens or depth > 8:
        return [(span, n)]
    pieces = _split_long(text, span, n, max_tokens)
    if len(pieces) < 2:
        return [(span, n)]
    out = []
    for piece, k in zip(pieces, counter.count_many([text[a:b] for a, b in pieces])):
        out += _fit(text, piece, k, max_tokens, counter, depth + 1)
    return out


def _pack(spans: list[tuple[int, int]], counts: list[int], max_tokens: int) -> list[tuple[int, int, int]]:
    """Group consecutive sentences into pieces of about equal size, each within ``max_tokens``."""
    total = sum(counts)
    target = total / math.ceil(total / max_tokens) if total else max_tokens
    groups: list[tuple[int, int, int]] = []
    g_start, g_end, g_tok = spans[0][0], spans[0][1], counts[0]
    for (a, b), n in zip(spans[1:], counts[1:]):
        if g_tok + n <= max_tokens and (g_tok + n / 2) <= target:
            g_end, g_tok = b, g_tok + n
        else:
            groups.append((g_start, g_end, g_tok))
            g_start, g_end, g_tok = a, b, n
    groups.append((g_start, g_end, g_tok))
    return groups


def segment_turns(
    text: str,
    turns: list[TurnSpan],
    doc_sha256: str,
    max_tokens: int = 64,
    counter: TokenCounter | None = None,
) -> list[Segment]:
    """Segment every turn of a rendered document."""
    counter = counter or default_counter()
    per_turn = [sentence_spans(text, t.start, t.end) for t in turns]
    flat = [s for paras in per_turn for para in paras for s in para]
    counts = iter(counter.count_many([text[a:b] for a, b in flat]))

    segments: list[Segment] = []

    def emit(turn: TurnSpan, groups: list[tuple[int, int, int]]) -> None:
        for a, b, n in groups:
            segments.append(Segment(segment_id(doc_sha256, a, b), turn.idx, len(segments), turn.speaker, a, b, text[a:b], n))

    for turn, paragraphs in zip(turns, per_turn):
        for para in paragraphs:
            run: list[tuple[int, int]] = []
            run_n: list[int] = []
            for span in para:
                n = next(counts)
                if n <= max_tokens:
                    run.append(span)
                    run_n.append(n)
                    continue
                # An over-long sentence: flush the whole sentences before it, then its pieces alone.
                if run:
                    emit(turn, _pack(run, run_n, max_tokens))
                    run, run_n = [], []
                emit(turn, [(a, b, k) for (a, b), k in _fit(text, span, n, max_tokens, counter)])
            if run:
                emit(turn, _pack(run, run_n, max_tokens))
    return segments
