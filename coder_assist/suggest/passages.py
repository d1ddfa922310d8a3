"""Quoted passages in memos: found, checked against the transcripts, refused or marked unverified.

A memo can present a participant's words without the exact anchor syntax («exact words»
[source@start:end]); those passages are checked too (:func:`checked_body`, :func:`unverified`):

- A *quoted passage* is text between quotation marks within one paragraph (a single line break
  inside is allowed): « », » «, ‹ ›, “ ”, „ “, „ ”, ” ”, " ", ‘ ’, ' ' (an ASCII or curly single
  quote opens only at the start of a word and closes only at the end of one, so apostrophes are
  not quotes), and the lookalikes ≪ ≫, 《 》, ⟪ ⟫, ＂ ＂. An opening mark with no closing mark in its
  paragraph quotes the rest of the paragraph (single quotes excepted: they may be apostrophes).
- A Markdown *block quote* (``> ...`` lines) holding no quotation marks is a quoted passage when
  it is attributed: it, its last line or the line right after it names a transcript, a speaker
  label or participant id, says participant/respondent/interviewee/informant, or carries a
  ``[...]`` reference. A trailing reference, ``— attribution`` or ``(attribution)`` is not part of it.
- A quoted passage is a *participant's passage* when it has 4 words or more, or is followed by a
  ``[...]`` reference with an at sign or ``n:n`` in it (an attempted anchor), unless it is exactly
  the name of a code or category, or introduced as a term right before it in the same sentence
  ("we call this", "the code", "so-called", "labelled"). Shorter quotes are the researcher's own
  terms (scare quotes).
- A passage anchored as ``«quote» [source@start:end]`` is checked at its offsets
  (:func:`verify_citations`). Any other participant's passage is verified when its words, after
  folding case, quotes, dashes, punctuation and spaces (:func:`grounding.locate`, exact or
  normalized; never fuzzy: a paraphrase is not a quote), are in one turn of a current transcript.
- A passage that does not verify refuses the memo (one line naming the first one and the anchor
  syntax), unless it is already followed by ``[unverified quote]`` or the memo is saved with
  ``allow_unverified``, which adds that mark after each one. Model drafts get the mark the same way.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

from ..errors import CoderAssistError
from .grounding import ANCHOR, locate

#: The mark an unverified passage carries in a saved memo (and so in every export).
UNVERIFIED = "[unverified quote]"
MIN_PASSAGE_WORDS = 4
#: Opening mark -> closing marks. Single quotes are handled at word edges (see ``_opens``).
QUOTES = {"«": "»", "»": "«»", "‹": "›", "“": "”", "„": "“”", "”": "”", '"': '"', "‘": "’", "'": "'",
          "≪": "≫", "《": "》", "⟪": "⟫", "＂": "＂"}  # fmt: skip
_WORD_EDGE_QUOTES = "'‘»”"
_PARAGRAPH = re.compile(r"(?:^[^\S\n]*\S[^\n]*(?:\n|\Z))+", re.M)
_BLOCK_MARK = re.compile(r"^[^\S\n]*>+[^\S\n]?", re.M)
_REF = re.compile(r"[^\S\n]*(\[[^\]\n]*\])")
_ANCHOR_LIKE = re.compile(r"[@＠﹫]|\d\s*[:：]\s*\d")
_REFS_AT_END = re.compile(r"(?:\s*\[[^\]\n]*\])+\s*$")
_TAIL = re.compile(r"\s+[—–-]{1,2}\s+[^—–]*$|\s*\([^()]*\)\s*$")
_WORDS = re.compile(r"\w+")
#: Words by which a researcher introduces a quoted phrase as a term of the analysis, not as talk.
_TERM_CUE = re.compile(r"(?i)\b(?:(?:we|i|i'd|we'd|i would|we would)\s+call(?:ed)?(?:\s+(?:this|it|that|them))?|so-called"
                       r"|(?:the|a|our|my)\s+(?:term|label|code|category|concept|heading|name)|coded\s+(?:as|under)"
                       r"|labell?ed(?:\s+as)?)\s*$")
_PEOPLE_WORDS = re.compile(r"(?i)\b(?:participants?|respondents?|interviewees?|informants?)\b")


@dataclass(frozen=True)
class Passage:
    """A stretch of a memo presented as someone's words: ``text`` between ``start`` and ``end``
    (offsets into the memo body, quotation marks included)."""

    start: int
    end: int
    text: str
    closed: bool = True
    ref: str = ""
    """The ``[...]`` reference right after it, when that is an attempted (malformed) anchor."""

    def describe(self) -> str:
        words = " ".join(self.text.split())
        shown = words if len(words) <= 80 else words[:77] + "..."
        return f"“{shown}”" + ("" if self.closed else " (no closing quotation mark)") + \
            (f" followed by {self.ref}, which is not an anchor" if self.ref else "")  # fmt: skip


def _opens(text: str, i: int) -> bool:
    """Whether the mark at ``i`` opens a quote (single quotes and reversed marks at a word start only)."""
    if text[i] not in _WORD_EDGE_QUOTES:
        return True
    before = text[i - 1] if i else " "
    return (before.isspace() or before in "([{—–-/") and i + 1 < len(text) and not text[i + 1].isspace()


def _close(text: str, i: int) -> int | None:
    """The index of the mark closing the quote opened at ``i`` (in the same paragraph), or None."""
    closers = QUOTES[text[i]]
    for j in range(i + 1, len(text)):
        if text[j] in closers:
            if text[i] in "'‘" and (text[j - 1].isspace() or (j + 1 < len(text) and text[j + 1].isalnum())):
                continue  # an apostrophe inside the quote (don't, the '90s)
            return j
    return None


def _quotes(body: str, start: int, text: str) -> list[Passage]:
    """The quoted passages of one paragraph (``text``, block marks blanked, at ``start`` in ``body``)."""
    out: list[Passage] = []
    i = 0
    while i < len(text):
        if text[i] in QUOTES and _opens(text, i):
            j = _close(text, i)
            if j is None:
                if text[i] not in "'‘":
                    out.append(Passage(start + i, start + len(text.rstrip()), text[i + 1 :], closed=False))
                    break
            else:
                ref = _REF.match(body, start + j + 1)
                anchor_like = ref.group(1) if ref and _ANCHOR_LIKE.search(ref.group(1)) else ""
                out.append(Passage(start + i, start + j + 1, text[i + 1 : j], ref=anchor_like))
                i = j + 1
                continue
        i += 1
    return out


def _blocks(body: str, start: int, text: str, names: Collection[str]) -> list[Passage]:
    """Attributed block quotes of one paragraph with no quotation marks of their own."""
    out = []
    lines = text.splitlines(keepends=True)
    offset, k = 0, 0
    while k < len(lines):
        if not _BLOCK_MARK.match(lines[k]):
            offset, k = offset + len(lines[k]), k + 1
            continue
        first = k
        while k < len(lines) and _BLOCK_MARK.match(lines[k]):
            k += 1
        raw = "".join(lines[first:k])
        block = _BLOCK_MARK.sub("", raw)
        after = lines[k] if k < len(lines) else ""
        if not any(ch in QUOTES for ch in block) and _attributed(block.splitlines()[-1] + " " + after, names):
            out.append(Passage(start + offset, start + offset + len(raw.rstrip()), _said(block, names)))
        offset += len(raw)
    return out


def _said(block: str, names: Collection[str]) -> str:
    """A block quote's words without its trailing references and attribution (``— who``, ``(who)``)."""
    text = _REFS_AT_END.sub("", " ".join(block.split()))
    tail = _TAIL.search(text)
    if tail and len(_WORDS.findall(tail.group())) <= 8 and _attributed(tail.group(), names):
        text = text[: tail.start()]
    return text.strip()


def _attributed(text: str, names: Collection[str]) -> bool:
    """Whether ``text`` names a transcript, speaker or participant, or carries a ``[...]`` reference."""
    if "[" in text or _PEOPLE_WORDS.search(text):
        return True
    words = {w.casefold() for w in _WORDS.findall(text)}
    folded = text.casefold()
    return any((n in words) if n.isalnum() else (n in folded) for n in names)


def memo_passages(body: str, names: Collection[str] = ()) -> list[Passage]:
    """Every quoted passage and attributed block quote of a memo, in order (see the module
    docstring); ``names`` are the transcripts, speakers and participant ids that attribute a block."""
    body = unicodedata.normalize("NFC", body)
    out: list[Passage] = []
    for para in _PARAGRAPH.finditer(body):
        text = _BLOCK_MARK.sub(lambda m: " " * len(m.group()), para.group())
        out += _quotes(body, para.start(), text)
        out += _blocks(body, para.start(), para.group(), names)
    return sorted(out, key=lambda p: p.start)


def _names(conn: sqlite3.Connection) -> set[str]:
    """What attributes a block quote: transcript names and stems, speaker labels and their parts of
    three letters or more, participant ids."""
    docs = {str(r[0]).casefold() for r in conn.execute("SELECT name FROM documents WHERE current = 1")}
    people = {str(r[0]).casefold() for r in conn.execute(
        "SELECT DISTINCT speaker FROM turns WHERE speaker IS NOT NULL UNION SELECT id FROM participants")}  # fmt: skip
    parts = {w for n in people for w in n.split() if len(w) >= 3}
    return {n for n in docs | {d.rsplit(".", 1)[0] for d in docs} | people | parts if len(n) >= 2}


def _terms(conn: sqlite3.Connection) -> set[str]:
    """Code and category names: quoted, they are the researcher's terms."""
    rows = conn.execute("SELECT label FROM codes UNION SELECT name FROM categories").fetchall()
    names = {" ".join(r[0].split()).casefold() for r in rows}
    return names | {n.strip("\"'“”‘’") for n in names}


def _turns(conn: sqlite3.Connection) -> list[tuple[set[str], str]]:
    """The turns of current transcripts (a whole text when it has none), with their folded words."""
    out = []
    for doc in conn.execute("SELECT id, text FROM documents WHERE current = 1"):
        spans = conn.execute("SELECT start, end FROM turns WHERE document_id = ?", (doc["id"],)).fetchall()
        for text in [doc["text"][a:b] for a, b in spans] or [doc["text"]]:
            out.append(({w.casefold() for w in _WORDS.findall(text)}, text))
    return out


def _verified(passage: str, turns: list[tuple[set[str], str]]) -> bool:
    words = {w.casefold() for w in _WORDS.findall(passage)}
    return any(words <= seen and locate(passage, text, threshold=1.01).grounded for seen, text in turns)


def unverified(conn: sqlite3.Connection, body: str, *, marked: bool = True) -> list[Passage]:
    """The participant's passages of ``body`` that carry no anchor and are in no transcript
    (with ``marked=False``, only those not yet marked ``[unverified quote]``)."""
    body = unicodedata.normalize("NFC", body)
    anchored = {m.start() for m in ANCHOR.finditer(body)}
    terms = _terms(conn)
    candidates = [p for p in memo_passages(body, _names(conn)) if p.start not in anchored
                  and (marked or not _is_marked(body, p)) and _is_participants(p, terms)
                  and not _named_as_a_term(body, p)]  # fmt: skip
    turns = _turns(conn) if candidates else []
    return [p for p in candidates if not _verified(" ".join(p.text.split()), turns)]


def _is_marked(body: str, p: Passage) -> bool:
    return body[p.start : p.end].rstrip().endswith(UNVERIFIED) or body[p.end :].lstrip(" \t").startswith(UNVERIFIED)


def _named_as_a_term(body: str, p: Passage) -> bool:
    """The researcher introduces the quoted words as a term ("we call this ...", "the code ...",
    "so-called ..."), in the same sentence right before it; an attempted anchor still counts."""
    before = re.split(r"[.!?\n]", body[max(0, p.start - 60) : p.start])[-1]
    return not p.ref and bool(_TERM_CUE.search(before))


def _is_participants(p: Passage, terms: set[str]) -> bool:
    """Presented as someone's words: an attempted anchor, or 4 words or more that are not a code's name."""
    words = " ".join(p.text.split())
    return bool(p.ref) or (len(_WORDS.findall(words)) >= MIN_PASSAGE_WORDS and words.casefold() not in terms)


def mark_unverified(body: str, passages: list[Passage]) -> str:
    """``body`` with ``[unverified quote]`` after each passage."""
    body = unicodedata.normalize("NFC", body)
    for p in sorted(passages, key=lambda p: p.end, reverse=True):
        body = f"{body[: p.end]} {UNVERIFIED}{body[p.end :]}"
    return body


def checked_body(conn: sqlite3.Connection, body: str, *, allow_unverified: bool = False) -> str:
    """The memo body to save. Refuses (``CoderAssistError``) a memo with an unmarked participant's
    passage that is in no transcript; with ``allow_unverified``, marks each ``[unverified quote]``."""
    found = unverified(conn, body, marked=False)
    if not found:
        return body
    if not allow_unverified:
        raise CoderAssistError(
            f"memo not saved: {len(found)} quoted passage(s) are in no transcript; first: {found[0].describe()}. "
            "Cite a participant's words as «exact words» [source@start:end], or save with --allow-unverified "
            f"to mark them {UNVERIFIED}")  # fmt: skip
    return mark_unverified(body, found)
