"""Who asks the questions: proposing the interviewer (host, moderator) of a labelled transcript.

Without a participants CSV naming the researcher, a podcast host or an oral historian labelled by
name ("Adam Stacoviak:") would be coded like the people interviewed. At ingest this module looks
at each labelled document and, when it is clear, *proposes* who the interviewer is. A proposal
is not a fact: the researcher confirms or rejects it (``coder-assist speakers confirm|reject``).

When a document is examined
    Only labelled documents with at least two *main* speakers (``MIN_TURNS`` turns and
    ``MIN_TURN_SHARE`` of the document's turns; a one-off audience question is not one), and
    only if nothing says who asks already: no turn has the role ``interviewer``/``moderator``
    (``Q:``/``Pergunta``/``Interviewer:`` labels, JSON roles), no speaker is literally
    ``Interviewer``/``Moderator``, and no speaker has a participant row whose side or role says
    researcher/interviewer/moderator. A candidate is a main speaker whose turns carry no role
    from the file (AMI's ``PM``/``ME`` are roles already) and who has no participant row with a
    side (a row saying ``buyer`` says who they are).

The signals, per candidate ``s`` against the *reference* speaker ``r`` (the other main speaker
with the most words: the interviewee, the busiest focus-group participant)
    * question share ``q``: the share of a speaker's turns that ask, i.e. one of the turn's last
      two sentences ends in ``?`` or opens like a question (``what did``, ``how do``, ``do you``,
      ``can you tell``, ``tell us about``; ``o que``, ``qual``, ``quantos``, ``você acha``,
      ``como foi`` ...), in English and Portuguese;
    * brevity: ``1 - avg_words(s) / avg_words(r)`` (0 when ``s`` talks longer);
    * a self-introduction or a framing of the guest in one of the first three turns
      (``welcome to``, ``my guest today``, ``I'm Adam``, ``I'm X and I'm interviewing``, ``this is X with``,
      ``today I'll be talking to``, ``oral history``, ``bem-vindo``, ``eu sou ... e estou
      entrevistando`` ...);
    * speaking first;
    * a series: speaking in two or more current documents with different other speakers (a
      host meets a new guest each episode; a participant re-interviewed meets the same people).

The rule
    ``s`` is proposed when it asks clearly more than ``r``: ``q(s) >= MIN_QUESTION_SHARE``,
    ``q(s) >= 2 q(r)`` and ``q(s) - q(r) >= MIN_QUESTION_LEAD``, and its score reaches
    ``THRESHOLD``::

        score = 0.40 * min(1, (q(s) - q(r)) / 0.3) + 0.25 * brevity + 0.15 * intro
              + 0.10 * first + 0.10 * series

    In a two-speaker interview at most one speaker can pass (one dominant asker). Several can in
    a show with two hosts. With three or more main speakers, every main speaker left answering
    must ask in at most ``MAX_ANSWERER_QUESTION_SHARE`` of their turns, or nobody is proposed: in a
    focus group the others answer, in a meeting they ask too. The role proposed is ``moderator``
    when two or more main speakers are left answering (a focus group), else ``interviewer``. A
    meeting where everyone asks about as much and talks about as long (AMI) gets no proposal.

Where the truth lives
    ``speaker_roles`` (one row per document name and speaker: proposed role, score, evidence,
    status ``proposed``/``confirmed``/``rejected``, who decided and when) is the source of truth.
    Its effect on coding is written into ``turns.role`` of that speaker's turns in every version
    of the document, in the same transaction, so the one coding rule
    (``store.queries.PARTICIPANT_TALK``) needs no change: a proposed or confirmed row sets the
    role (the turns stay uncoded by default), a rejected row clears it (they are coded again on
    the next run). Roles the file gave are never touched. A row is keyed by document *name*, so
    a decision carries over to a new version of the file, and detecting again (re-ingest) never
    adds a second row. Proposals are recorded in the audit trail as ``speaker-role-proposed``,
    decisions as ``speaker-role`` events by the named coder, in the same transaction.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..errors import CoderAssistError
from ..store import audit
from ..store.context import named_coder
from ..store.db import transaction, utcnow

MIN_TURNS = 4
MIN_TURN_SHARE = 0.05
MIN_QUESTION_SHARE = 0.25
MIN_QUESTION_LEAD = 0.15
MAX_ANSWERER_QUESTION_SHARE = 0.2
THRESHOLD = 0.5
WEIGHTS = {"questions": 0.40, "brevity": 0.25, "intro": 0.15, "first": 0.10, "series": 0.10}
RESEARCHER_WORDS = frozenset({"researcher", "interviewer", "moderator", "facilitator"})
ASKING_ROLES = ("interviewer", "moderator")
STATUSES = ("proposed", "confirmed", "rejected")

_SENTENCE_END = re.compile(r"(?<=[.?!…])[\"'”’)\]]*\s+|\n+")
_EN_AUX = (
    r"do|does|did|is|are|was|were|can|could|would|will|should|have|has|had|may|might|shall|"
    r"isn't|aren't|don't|doesn't|didn't|wasn't|weren't|won't|wouldn't|couldn't|can't|haven't|hasn't"
)
_EN_SUBJECT = r"you|it|he|she|they|we|i|there|that|this|these|those|your|the|a|an|any|anyone|anybody|people|someone"
_QUESTION_START = re.compile(
    rf"^(?:(?:so|and|but|now|okay|ok|well|then|also|right|yeah),?\s+)*(?:"
    rf"(?:{_EN_AUX})\s+(?:{_EN_SUBJECT})\b"
    rf"|(?:what|why|how|when|where|who|which|whose|whom)(?:'s|'re|'d|\s+(?:{_EN_AUX}|about|kind|sort|made|led|"
    rf"happened|else|exactly|much|many|long|often|come)\b)"
    r"|tell (?:me|us) (?:about|more|how|what|why)|talk (?:to )?(?:me|us) (?:about|through)"
    r"|walk (?:me|us) through|describe\b"
    r"|o que\b|por ?que\b|qual\b|quais\b|quant[oa]s?\b|quem\b|será que\b"
    r"|(?:como|quando|onde)\s+(?:você|vocês|foi|é|era|seria|funciona)\b"
    r"|(?:você|vocês)\s+(?:acha|pode|poderia|consegue|sabe|conhece|lembra|já|gostaria|teve)\b"
    r"|(?:conte|fale|descreva)(?:-me)?\b"
    r")",
    re.IGNORECASE,
)
_INTRO = re.compile(
    r"\bwelcome (?:back )?to\b|\bwelcome,? everyone\b|\bmy guests? (?:today|this week|is|are|on)\b"
    r"|\bour (?:special )?guests? (?:today|is|are)\b|\bjoining (?:me|us) (?:today|now|is|are)\b|\bwith me (?:today|is|are)\b"
    r"|\bI'?m \w+(?: \w+)?,? and I'?m (?:interviewing|talking (?:to|with)|speaking (?:to|with)|here with)\b"
    r"|\bthis is \w+(?: \w+)? (?:with|and I'?m with)\b|\btoday I'?(?:ll| will) be (?:talking|speaking) (?:to|with)\b"
    r"|\b(?:an? )?oral history\b|\binterview(?:ing)? with\b|\blet'?s hear it for\b|\bthanks? (?:you )?for (?:joining|coming on)\b"
    r"|\beu sou .{1,60}\be (?:estou|vou) (?:entrevistando|conversar)\b|\bbem[- ]vind[oa]s?\b"
    r"|\bhoje (?:eu )?(?:vou conversar|converso|estou conversando|vamos conversar) com\b"
    r"|\b(?:nosso|nossa|meu|minha) convidad[oa]\b|\bobrigad[oa] por (?:aceitar|participar)\b",
    re.IGNORECASE,
)

#: "I'm Adam", "I am Elisabetta Mori", "Eu sou a Ana": a capitalised name right after (case-sensitive).
_SELF_INTRO = re.compile(r"\b(?:I'?m|I am|[Mm]y name is|[Ee]u sou(?: [oa])?|[Mm]eu nome é) [A-ZÀ-Ý][\w'’-]+")


def is_question(sentence: str) -> bool:
    """Ends in ``?`` or opens like a question or an interview prompt (English, Portuguese)."""
    s = sentence.strip().strip("\"'“”‘’()[]*_ ")
    return bool(s) and (s.endswith("?") or _QUESTION_START.match(s) is not None)


def asks(text: str) -> bool:
    """A turn asks when one of its last two sentences is a question."""
    sentences = [s for s in _SENTENCE_END.split(text) if s and s.strip()]
    return any(is_question(s) for s in sentences[-2:])


@dataclass
class SpeakerStats:
    """What the rule looks at for one speaker of one document."""

    speaker: str
    turns: int
    words: int
    asking: int
    """Turns that ask."""
    first: bool
    intro: str | None
    """The introduction phrase found in one of the speaker's first three turns."""
    file_role: str | None
    """A role the file gave this speaker's turns (``interviewer``, AMI ``PM`` ...)."""
    series: bool = False
    main: bool = False

    @property
    def question_share(self) -> float:
        return self.asking / self.turns if self.turns else 0.0

    @property
    def avg_words(self) -> float:
        return self.words / self.turns if self.turns else 0.0


@dataclass
class Detection:
    """A proposed asking role for one speaker of one document."""

    document: str
    speaker: str
    role: str
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    """The ``speaker_roles`` row, once stored."""

    def reason(self) -> str:
        """Why, in a few words: ``71% of turns are questions, Cat Allman 0%, ..., speaks first``."""
        e = self.evidence
        if "question_share" not in e:
            return str(e.get("rule", ""))
        parts = [f"{e['question_share']:.0%} of turns are questions, {e['reference']} {e['reference_question_share']:.0%}"]
        if e.get("brevity", 0) >= 0.3:
            parts.append(f"turns of {e['avg_words']:.0f} words against {e['reference_avg_words']:.0f}")
        if e.get("intro"):
            parts.append(f"introduces the conversation: {e['intro']!r}")
        if e.get("first"):
            parts.append("speaks first")
        if e.get("series"):
            parts.append(f"speaks in {e['series_documents']} documents with different guests")
        return ", ".join(parts)


# -- reading the turns -----------------------------------------------------------------------------
def _turns(conn: sqlite3.Connection, document_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT t.idx, t.speaker, t.role, substr(d.text, t.start + 1, t.end - t.start) AS text"
        " FROM turns t JOIN documents d ON d.id = t.document_id WHERE t.document_id = ? ORDER BY t.idx",
        (document_id,),
    ).fetchall()


def speaker_stats(conn: sqlite3.Connection, document_id: int, detected: dict[str, str] | None = None) -> list[SpeakerStats]:
    """Per-speaker signals of one document, in order of first turn. ``detected``: speaker ->
    role written from ``speaker_roles`` (so a detected role is not taken for a role from the file)."""
    detected = detected or {}
    stats: dict[str, SpeakerStats] = {}
    seen_turns: dict[str, int] = defaultdict(int)
    rows = [r for r in _turns(conn, document_id) if r["speaker"]]
    for n, r in enumerate(rows):
        who = r["speaker"]
        s = stats.get(who)
        if s is None:
            s = stats[who] = SpeakerStats(who, 0, 0, 0, n == 0, None, None)
        s.turns += 1
        s.words += len(r["text"].split())
        s.asking += asks(r["text"])
        if r["role"] and detected.get(who) != r["role"]:
            s.file_role = s.file_role or r["role"]
        if s.intro is None and seen_turns[who] < 3:
            match = _INTRO.search(r["text"]) or _SELF_INTRO.search(r["text"])
            s.intro = match.group(0) if match else None
        seen_turns[who] += 1
    for s in stats.values():
        s.main = s.turns >= MIN_TURNS and s.turns >= MIN_TURN_SHARE * len(rows)
    _mark_series(conn, document_id, stats)
    return list(stats.values())


def _mark_series(conn: sqlite3.Connection, document_id: int, stats: dict[str, SpeakerStats]) -> None:
    """A speaker in two or more current documents whose other speakers differ."""
    if not stats:
        return
    marks = ",".join("?" * len(stats))
    rows = conn.execute(
        f"SELECT DISTINCT t.document_id, t.speaker FROM turns t JOIN documents d ON d.id = t.document_id"
        f" WHERE (d.current = 1 OR d.id = ?) AND d.labelled = 1 AND t.document_id IN"
        f" (SELECT document_id FROM turns WHERE speaker IN ({marks}))",
        (document_id, *stats),
    ).fetchall()
    by_doc: dict[int, set[str]] = defaultdict(set)
    for r in rows:
        if r["speaker"]:
            by_doc[r["document_id"]].add(r["speaker"])
    for s in stats.values():
        companies = {frozenset(people - {s.speaker}) for people in by_doc.values() if s.speaker in people}
        s.series = len(companies) >= 2


def _researcher_speakers(conn: sqlite3.Connection, speakers: list[str]) -> tuple[set[str], set[str]]:
    """(speakers a participant row names researcher, speakers a participant row gives another side)."""
    if not speakers:
        return set(), set()
    marks = ",".join("?" * len(speakers))
    researchers, sided = set(), set()
    for r in conn.execute(f"SELECT speaker, side, role_category, role_title FROM participants WHERE speaker IN ({marks})", speakers):
        words = {(r[k] or "").strip().casefold() for k in ("side", "role_category", "role_title")}
        if words & RESEARCHER_WORDS:
            researchers.add(r["speaker"])
        elif r["side"]:
            sided.add(r["speaker"])
    return researchers, sided


# -- the rule --------------------------------------------------------------------------------------
def detect(conn: sqlite3.Connection, document_id: int) -> list[Detection]:
    """The interviewer(s) the rule proposes for one document (reads only). See the module docstring."""
    doc = conn.execute("SELECT name, labelled FROM documents WHERE id = ?", (document_id,)).fetchone()
    if doc is None or not doc["labelled"]:
        return []
    detected = _detected_roles(conn, doc["name"])
    stats = speaker_stats(conn, document_id, detected)
    if any(s.speaker in ("Interviewer", "Moderator") or s.file_role in ASKING_ROLES for s in stats):
        return []
    researchers, sided = _researcher_speakers(conn, [s.speaker for s in stats])
    if researchers:
        return []
    main = [s for s in stats if s.main]
    if len(main) < 2:
        return []
    found: list[tuple[SpeakerStats, SpeakerStats, float, dict[str, float]]] = []
    for s in main:
        if s.file_role or s.speaker in sided:
            continue
        ref = max((o for o in main if o is not s), key=lambda o: o.words)
        q, qr = s.question_share, ref.question_share
        if q < MIN_QUESTION_SHARE or q < 2 * qr or q - qr < MIN_QUESTION_LEAD:
            continue
        parts = {
            "questions": min(1.0, (q - qr) / 0.3),
            "brevity": max(0.0, 1 - s.avg_words / ref.avg_words) if ref.avg_words else 0.0,
            "intro": float(s.intro is not None), "first": float(s.first), "series": float(s.series),
        }  # fmt: skip
        score = round(sum(WEIGHTS[k] * v for k, v in parts.items()), 3)
        if score >= THRESHOLD:
            found.append((s, ref, score, parts))
    answering = [s for s in main if all(s is not f[0] for f in found)]
    if len(main) >= 3 and any(s.question_share > MAX_ANSWERER_QUESTION_SHARE for s in answering):
        return []  # a meeting: the others ask too
    role = "moderator" if len(answering) >= 2 else "interviewer"
    return [
        Detection(doc["name"], s.speaker, role, score, {
            "question_share": round(s.question_share, 3), "turns": s.turns, "avg_words": round(s.avg_words, 1),
            "reference": ref.speaker, "reference_question_share": round(ref.question_share, 3),
            "reference_avg_words": round(ref.avg_words, 1), "brevity": round(parts["brevity"], 3),
            "intro": s.intro, "first": s.first, "series": s.series,
            "series_documents": _series_count(conn, s.speaker) if s.series else None, "rule": "roles.v1",
        })  # fmt: skip
        for s, ref, score, parts in found
    ]


def _series_count(conn: sqlite3.Connection, speaker: str) -> int:
    return conn.execute(
        "SELECT count(DISTINCT t.document_id) FROM turns t JOIN documents d ON d.id = t.document_id"
        " WHERE d.current = 1 AND t.speaker = ?", (speaker,),
    ).fetchone()[0]  # fmt: skip


def _detected_roles(conn: sqlite3.Connection, name: str) -> dict[str, str]:
    """Speaker -> role this module wrote into the turns of document ``name`` (proposed or confirmed)."""
    return {r[0]: r[1] for r in conn.execute(
        "SELECT speaker, role FROM speaker_roles WHERE document = ? AND status != 'rejected'", (name,))}  # fmt: skip


# -- proposals at ingest ---------------------------------------------------------------------------
def propose(conn: sqlite3.Connection, document_ids: list[int], actor: str) -> list[Detection]:
    """Detect in each document, store new proposals, and write every standing row's effect into
    the turns of these documents, in one transaction. Returns the new proposals (a speaker
    already proposed, confirmed or rejected for a document name is never proposed again)."""
    new: list[Detection] = []
    with transaction(conn):
        for document_id in dict.fromkeys(document_ids):
            name = conn.execute("SELECT name FROM documents WHERE id = ?", (document_id,)).fetchone()[0]
            for det in detect(conn, document_id):
                exists = conn.execute(
                    "SELECT 1 FROM speaker_roles WHERE document = ? AND speaker = ?", (name, det.speaker)
                ).fetchone()
                if exists:
                    continue
                det.id = conn.execute(
                    "INSERT INTO speaker_roles (document, speaker, role, score, evidence, proposed_by, proposed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (name, det.speaker, det.role, det.score, json.dumps(det.evidence, ensure_ascii=False, sort_keys=True),
                     actor, utcnow()),
                ).lastrowid  # fmt: skip
                new.append(det)
            for row in conn.execute("SELECT * FROM speaker_roles WHERE document = ? AND status != 'rejected'", (name,)).fetchall():
                _set_role(conn, row, on=True)
        if new:
            audit.append(conn, actor, "speaker-role-proposed", {"proposals": [
                {"id": d.id, "document": d.document, "speaker": d.speaker, "role": d.role, "score": d.score, "evidence": d.evidence}
                for d in new
            ]})  # fmt: skip
    return new


def warning(det: Detection, only_one: bool = True) -> str:
    """The ingest report's line for a new proposal."""
    target = _quote(det.document) if only_one else str(det.id)
    return (
        f"{det.document}: '{det.speaker}' looks like the {det.role} (score {det.score:.2f}: {det.reason()}); "
        f"their turns will not be coded — confirm with 'coder-assist speakers confirm {target}' "
        f"or reject with 'coder-assist speakers reject {target}'"
    )


def warnings(new: list[Detection]) -> list[str]:
    per_doc = defaultdict(int)
    for d in new:
        per_doc[d.document] += 1
    return [warning(d, per_doc[d.document] == 1) for d in new]


def _quote(text: str) -> str:
    return text if re.fullmatch(r"[\w.@+/-]+", text) else f'"{text}"'


def _set_role(conn: sqlite3.Connection, row: sqlite3.Row, on: bool) -> None:
    """Write a row's effect into the turns of every version of its document: the detected role on
    the speaker's turns that have no role (``on``), or clear the role this module wrote."""
    docs = "SELECT id FROM documents WHERE name = ?"
    if on:
        conn.execute(
            f"UPDATE turns SET role = ? WHERE speaker = ? AND role IS NULL AND document_id IN ({docs})",
            (row["role"], row["speaker"], row["document"]),
        )
    else:
        conn.execute(
            f"UPDATE turns SET role = NULL WHERE speaker = ? AND role = ? AND document_id IN ({docs})",
            (row["speaker"], row["role"], row["document"]),
        )


# -- decisions -------------------------------------------------------------------------------------
_TO_STATUS = {"confirm": "confirmed", "reject": "rejected"}


def decide(conn: sqlite3.Connection, targets: list[str | int], action: str, coder: str | None, *,
           note: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Confirm or reject speaker roles, all or nothing. A target is a proposal id, a document name
    (its proposals) or a speaker label (their proposals in every document; a speaker never
    proposed gets a row per current document they speak in, so a missed interviewer can be
    marked and a speaker can be kept from ever being proposed). Returns the rows changed."""
    if action not in _TO_STATUS:
        raise CoderAssistError(f"unknown speaker action {action!r} (confirm, reject)")
    who, to_status = named_coder(coder), _TO_STATUS[action]
    if not targets:
        raise CoderAssistError("name a document, a speaker or a proposal id (see 'coder-assist speakers')")
    changed: list[dict[str, Any]] = []
    with transaction(conn):
        ids: dict[int, None] = {}
        for target in targets:
            ids.update(dict.fromkeys(_resolve(conn, target, who)))
        now = utcnow()
        for rid in ids:
            row = conn.execute("SELECT * FROM speaker_roles WHERE id = ?", (rid,)).fetchone()
            if row["status"] == to_status:
                continue
            conn.execute(
                "UPDATE speaker_roles SET status = ?, decided_by = ?, decided_at = ?, note = ? WHERE id = ?",
                (to_status, who, now, note, rid),
            )
            _set_role(conn, row, on=to_status == "confirmed")
            changed.append({"id": rid, "document": row["document"], "speaker": row["speaker"], "role": row["role"],
                            "from": row["status"], "to": to_status})  # fmt: skip
        if changed:
            audit.append(conn, who, "speaker-role", {"action": action, "note": note, "rows": changed})
    return changed


def _resolve(conn: sqlite3.Connection, target: str | int, who: str) -> list[int]:
    """Row ids a target names; raises (before anything is written) when it names nothing."""
    text = str(target).strip()
    if text.isdigit():
        if conn.execute("SELECT 1 FROM speaker_roles WHERE id = ?", (int(text),)).fetchone() is None:
            raise CoderAssistError(f"no speaker role proposal {text} (see 'coder-assist speakers')")
        return [int(text)]
    if conn.execute("SELECT 1 FROM documents WHERE name = ?", (text,)).fetchone():
        rows = [r[0] for r in conn.execute("SELECT id FROM speaker_roles WHERE document = ? ORDER BY id", (text,))]
        if not rows:
            raise CoderAssistError(f"{text}: no speaker was proposed as interviewer; name the speaker instead")
        return rows
    rows = [r[0] for r in conn.execute("SELECT id FROM speaker_roles WHERE speaker = ? ORDER BY id", (text,))]
    if rows:
        return rows
    docs = conn.execute(
        "SELECT d.name, max(t.role) AS role FROM turns t JOIN documents d ON d.id = t.document_id"
        " WHERE d.current = 1 AND t.speaker = ? GROUP BY d.name ORDER BY d.name", (text,),
    ).fetchall()  # fmt: skip
    if not docs:
        raise CoderAssistError(f"no document or speaker named {text!r} (see 'coder-assist speakers')")
    given = [d for d in docs if d["role"]]
    if given:
        raise CoderAssistError(f"{given[0]['name']}: the file already gives {text!r} the role {given[0]['role']!r}")
    out = []
    for d in docs:
        out.append(conn.execute(
            "INSERT INTO speaker_roles (document, speaker, role, score, evidence, status, proposed_by, proposed_at)"
            " VALUES (?, ?, 'interviewer', NULL, ?, 'proposed', ?, ?)",
            (d["name"], text, json.dumps({"rule": "named by a coder"}), who, utcnow()),
        ).lastrowid)  # fmt: skip
    return out


# -- listing ---------------------------------------------------------------------------------------
def speakers(conn: sqlite3.Connection, document: str | None = None) -> list[dict[str, Any]]:
    """Speakers of each current document: turns, question share, average turn length, the role
    their turns have, where it comes from (``file``, or the detection's status ``proposed``,
    ``confirmed``; ``rejected`` leaves no role), and the proposal (id, score, evidence, decider)."""
    where, params = ("AND name = ?", (document,)) if document else ("", ())
    docs = conn.execute(f"SELECT id, name FROM documents WHERE current = 1 {where} ORDER BY name", params).fetchall()
    if document and not docs:
        raise CoderAssistError(f"no document named {document!r}")
    out = []
    for d in docs:
        rows = {r["speaker"]: r for r in conn.execute("SELECT * FROM speaker_roles WHERE document = ?", (d["name"],))}
        detected = {s: r["role"] for s, r in rows.items() if r["status"] != "rejected"}
        for s in speaker_stats(conn, d["id"], detected):
            r = rows.get(s.speaker)
            role = s.file_role or (detected.get(s.speaker))
            out.append({
                "document": d["name"], "speaker": s.speaker, "turns": s.turns,
                "question_share": round(s.question_share, 3), "avg_words": round(s.avg_words, 1),
                "role": role, "role_from": "file" if s.file_role else (r["status"] if r else None),
                "proposal": r["id"] if r else None, "status": r["status"] if r else None,
                "score": r["score"] if r else None, "proposed_role": r["role"] if r else None,
                "decided_by": r["decided_by"] if r else None, "decided_at": r["decided_at"] if r else None,
                "evidence": json.loads(r["evidence"]) if r else None,
            })  # fmt: skip
    return out


def proposals(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every ``speaker_roles`` row, evidence parsed."""
    rows = conn.execute("SELECT * FROM speaker_roles ORDER BY document, id").fetchall()
    return [{**dict(r), "evidence": json.loads(r["evidence"])} for r in rows]

