"""Plain text and Markdown transcripts: find speaker labels at line starts and build turns.

A candidate label (``Name:``, ``**Name:**``, ``[00:01:02] Name:``, an ALL-CAPS name alone on
its line ...) counts only if it is short, not sentence-like, and is a role label or recurs.
Bracketed timestamps are removed from turn text (a leading one becomes ``start``); Markdown
also loses escapes, headings and rules. The label logic is shared: Word files reuse
:func:`split_turns`, subtitle formats reuse :func:`find_label` and :func:`accepted_keys`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from coder_assist.ingest.formats.model import RawTurn

TIMECODE = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
_BRACKET_TS = rf"\\?\[\s*{TIMECODE}\s*\\?\]"
_LEAD_TS = rf"(?:{_BRACKET_TS}|\(\s*{TIMECODE}\s*\)|{TIMECODE})"
# Bounded, non-overlapping quantifiers keep matching linear on long or odd lines.
_LABEL_RE = re.compile(
    rf"^(?:(?P<ts>{_LEAD_TS})\s+)?"
    r"(?P<open>\*\*|__)?"
    r"(?P<name>[^\W_](?:[^:*\[\]<>\\]{0,60}?[^\s:*\[\]<>\\])?)"
    rf"(?:[ \t]*(?P<ts2>{_BRACKET_TS}))?"
    r"(?:[ \t]*(?P<close1>\*\*|__))?"
    r"[ \t]*[:：]"
    r"(?:(?P<close2>\*\*|__)|(?=\s)|$)"
    r"(?P<rest>.*)$"
)
_LABEL_SCAN = 200
_CAPS_RE = re.compile(r"[^\W_][\w .'’-]*")
_INLINE_TS_RE = re.compile(rf"(?<![ \t])[ \t]*{_BRACKET_TS}")
_LEADING_TS_RE = re.compile(rf"^\s*(?P<ts>{_BRACKET_TS})\s*")
_MD_ESCAPE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")
_MD_HEADING_RE = re.compile(r"^\s{0,3}#{1,6}(?:\s|$)")
_MD_RULE_RE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_ROLE_RE = re.compile(r"^(?P<base>[^\W\d_]+)\.?\s*(?P<num>\d+)?$")

MAX_LABEL_WORDS = 5
MAX_LABEL_CHARS = 40

_INTERVIEWER = ("Interviewer", "interviewer")
_RESPONDENT = ("Respondent", "respondent")
_CANONICAL: dict[str, tuple[str, str]] = {
    **dict.fromkeys(["q", "question", "pergunta", "pregunta"], _INTERVIEWER),
    **dict.fromkeys(["interviewer", "entrevistador", "entrevistadora"], _INTERVIEWER),
    **dict.fromkeys(["a", "answer", "resposta", "respuesta"], _RESPONDENT),
    **dict.fromkeys(["respondent", "interviewee", "entrevistado", "entrevistada"], _RESPONDENT),
}
_PERSON_ROLES = {"interviewer", "entrevistador", "entrevistadora", "respondent", "interviewee",
                 "entrevistado", "entrevistada"}
_NUMBERED_QUESTIONS = {"q", "question", "pergunta", "pregunta"}
_NAMED_ROLES = {"moderator": "moderator", "moderador": "moderator", "moderadora": "moderator",
                "facilitator": "moderator", "facilitador": "moderator", "facilitadora": "moderator"}
_NUMBERED_ROLES: dict[str, str | None] = {"participant": "participant", "participante": "participant",
                                          "p": "participant", "speaker": None, "hablante": None,
                                          "falante": None}
_SENTENCE_WORDS = frozenset(
    "is are was were be been am has have had do does did says said say asks asked means include includes "
    "including follows following reads like note example here there this that these those which what why "
    "how when where because but so then if the a an of to for and or with in on at by from as it i we you "
    "they he she my our your their e.g i.e é são foi era diz disse como que porque mas então es son dijo "
    "pero entonces".split()
)
_NOT_NAMES = frozenset("ok okay yes no yeah yep hmm uh um end the end".split())


@dataclass(frozen=True)
class Label:
    """A speaker label found at the start of a line."""

    raw: str
    """The label as written, markup removed and whitespace collapsed."""
    speaker: str
    role: str | None
    known_role: bool
    own_line: bool
    """A numbered question label (``Pergunta 3: ...``) that covers only its own line."""
    rest: str = ""
    start: float | None = None
    bold: bool = False
    """Written as a Markdown bold label (``**Name:**``), a strong sign of a speaker."""

    @property
    def key(self) -> str:
        """What counts as "the same label" when checking that a label recurs."""
        return self.raw.casefold()


def to_seconds(stamp: str) -> float:
    """``01:02:03.5`` / ``04:01`` / ``00:00:01,000`` -> seconds (two fields are minutes:seconds)."""
    parts = stamp.strip().replace(",", ".").split(":")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return seconds


def _stamp_seconds(stamp: str | None) -> float | None:
    if not stamp:
        return None
    match = re.search(TIMECODE, stamp)
    return to_seconds(match.group(0)) if match else None


def plausible_name(name: str) -> bool:
    """Short, has a letter, and not the start of a sentence such as ``The answer is``."""
    words = name.split()
    if not words or len(words) > MAX_LABEL_WORDS or len(name) > MAX_LABEL_CHARS:
        return False
    if name[0].isdigit() or name.casefold() in _NOT_NAMES:
        return False
    lower = [w for w in words if w[0].islower()]
    if any(w.rstrip(".,") in _SENTENCE_WORDS for w in lower):
        return False
    return not (len(words) >= 3 and len(lower) * 2 > len(words))


def classify_label(raw: str, rest: str, start: float | None) -> Label:
    """Make a :class:`Label`, canonicalising role labels (``Q``/``Pergunta 3`` -> ``Interviewer``)."""
    folded = raw.casefold().replace("(a)", "a").replace("(o)", "o")
    match = _ROLE_RE.match(folded)
    base, num = (match.group("base"), match.group("num")) if match else ("", None)
    if base in _CANONICAL:
        speaker, role = _CANONICAL[base]
        if num and base in _PERSON_ROLES:
            speaker = raw
        own_line = bool(num) and base in _NUMBERED_QUESTIONS and bool(rest)
        return Label(raw, speaker, role, True, own_line, rest, start)
    if base in _NAMED_ROLES and not num:
        return Label(raw, raw, _NAMED_ROLES[base], True, False, rest, start)
    if base in _NUMBERED_ROLES and num:
        return Label(raw, raw, _NUMBERED_ROLES[base], True, False, rest, start)
    return Label(raw, raw, None, False, False, rest, start)


def find_label(line: str) -> Label | None:
    """Return the speaker label a line starts with (``Name: text`` shapes), or ``None``."""
    line = line.strip()
    match = _LABEL_RE.match(line[:_LABEL_SCAN])
    if not match:
        return None
    if match.group("open") and not (match.group("close1") or match.group("close2")):
        return None
    name = " ".join(match.group("name").split())
    if not plausible_name(name):
        return None
    start = _stamp_seconds(match.group("ts") or match.group("ts2"))
    label = classify_label(name, (match.group("rest") + line[_LABEL_SCAN:]).strip(), start)
    return replace(label, bold=True) if match.group("open") else label


def _caps_label(line: str) -> Label | None:
    """An ALL-CAPS name alone on its line (``INTERVIEWER``, ``JOHN SMITH``)."""
    name = " ".join(line.split())
    if not _CAPS_RE.fullmatch(name) or name.upper() != name or sum(c.isalpha() for c in name) < 2:
        return None
    return classify_label(name, "", None) if plausible_name(name) else None


_PARTICLES = frozenset("de da do dos das del van von der den la le di du bin al y e".split())
_NOT_SPEAKERS = frozenset(
    "note notes example update summary edit source translation transcript background context date time "
    "location place title subject re ps nb warning important tip caveat disclaimer keywords agenda break".split()
)


def _one_off_speaker(label: Label) -> bool:
    """A label seen once that is still a speaker once the document is known to be labelled:
    a bold Markdown label, or a proper name of two to four capitalised words (``Tom Berg``)."""
    words = label.raw.split()
    if label.key in _NOT_SPEAKERS or not words[0][:1].isupper():
        return False
    if label.bold:
        return True
    return 2 <= len(words) <= 4 and all(w[:1].isupper() or w.casefold() in _PARTICLES for w in words)


def accepted_keys(labels: Iterable[Label | None], known: Iterable[str] = ()) -> set[str]:
    """Keys of labels that are role labels, occur at least twice, or are ``known`` names; in a
    document that has such labels, also one-off labels that look like a speaker's name."""
    found = [label for label in labels if label is not None]
    counts = Counter(label.key for label in found)
    sure = {name.casefold() for name in known}
    keys = {label.key for label in found if label.known_role or counts[label.key] >= 2 or label.key in sure}
    if keys:
        keys |= {label.key for label in found if _one_off_speaker(label)}
    return keys


def clean_text(text: str, markdown: bool = False) -> tuple[str, float | None]:
    """Remove bracketed timestamps (returning a leading one in seconds) and Markdown escapes."""
    lead = _LEADING_TS_RE.match(text)
    start = _stamp_seconds(lead.group("ts")) if lead else None
    text = _INLINE_TS_RE.sub("", text)
    if markdown:
        text = _MD_ESCAPE_RE.sub(r"\1", text)
    return text.strip(), start


@dataclass
class _Turn:
    speaker: str | None
    role: str | None = None
    label: str | None = None
    start: float | None = None
    own_line: bool = False
    lines: list[str] = field(default_factory=list)

    def add(self, text: str, markdown: bool) -> None:
        cleaned, start = clean_text(text, markdown)
        if self.start is None and not any(self.lines):
            self.start = start
        self.lines.append(cleaned)

    def done(self) -> RawTurn | None:
        text = "\n".join(line for line in self.lines if line)
        if not text:
            return None
        return RawTurn(self.speaker, text, self.start, None, self.role, self.label)


def _line_labels(lines: list[str], known: Iterable[str]) -> list[Label | None]:
    labels: list[Label | None] = [find_label(line) for line in lines]
    for i, line in enumerate(lines):
        if labels[i] is None and line.strip():
            caps = _caps_label(line)
            following = next((j for j in range(i + 1, len(lines)) if lines[j].strip()), None)
            if caps and following is not None and find_label(lines[following]) is None:
                labels[i] = caps
    keys = accepted_keys(labels, known)
    return [label if label is not None and label.key in keys else None for label in labels]


def _unlabelled(lines: list[str], markdown: bool) -> list[RawTurn]:
    turns: list[RawTurn] = []
    current = _Turn(None)
    for line in [*lines, ""]:
        if line.strip():
            current.add(line, markdown)
            continue
        turn = current.done()
        if turn:
            turns.append(turn)
        current = _Turn(None)
    return turns


def split_turns(text: str, markdown: bool = False, known: Iterable[str] = ()) -> tuple[list[RawTurn], bool]:
    """Split text into speaker turns; returns ``(turns, labelled)``.

    Unlabelled lines continue the current turn; after a numbered question label they start a
    ``Respondent`` turn, unless the file has answer labels of its own. Without any accepted
    label, each blank-line paragraph is one turn. Labels named in ``known`` (e.g. from a
    Speaker | Text table) are accepted even when they occur once.
    """
    lines = text.split("\n")
    if markdown:
        lines = ["" if _MD_HEADING_RE.match(ln) or _MD_RULE_RE.match(ln) else ln for ln in lines]
    labels = _line_labels(lines, known)
    if not any(labels):
        return _unlabelled(lines, markdown), False
    # Numbered questions cover only their own line unless the file labels the answers itself.
    own_lines = not any(label and label.role == "respondent" for label in labels)
    turns: list[RawTurn] = []
    current: _Turn | None = None

    def flush() -> None:
        turn = current.done() if current else None
        if turn:
            turns.append(turn)

    for line, label in zip(lines, labels):
        if label is not None:
            flush()
            shown = label.raw if label.raw != label.speaker else None
            current = _Turn(label.speaker, label.role, shown, label.start, label.own_line and own_lines)
            current.add(label.rest, markdown)
        elif line.strip():
            if current is None or current.own_line:
                flush()
                current = _Turn(None) if current is None else _Turn(*_RESPONDENT)
            current.add(line, markdown)
    flush()
    return turns, True
