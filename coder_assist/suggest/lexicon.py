"""Word lists and small rules of the offline provider: gerunds from verb lemmas, fillers, light
verbs, backchannel, common words (for in-vivo distinctiveness), and the abstractions that stand
in for the names the project knows (participants, their roles and organisations)."""

from __future__ import annotations

import re
from typing import Any

_VOWELS = set("aeiou")
#: Gerunds that the spelling rules below would get wrong.
IRREGULAR_GERUNDS = {
    "be": "being", "see": "seeing", "flee": "fleeing", "agree": "agreeing", "free": "freeing",
    "lie": "lying", "die": "dying", "tie": "tying", "vie": "vying", "dye": "dyeing", "eye": "eyeing",
    "singe": "singeing", "age": "ageing", "canoe": "canoeing", "hoe": "hoeing", "shoe": "shoeing",
}  # fmt: skip
#: Two-syllable verbs stressed on the last syllable: their final consonant doubles.
DOUBLING = frozenset(
    "admit begin commit compel control deter emit equip forbid forget occur omit permit prefer "
    "propel rebut recur refer regret remit submit transfer upset patrol".split()
)


def gerund(lemma: str) -> str:
    """``understand`` -> ``understanding``, ``stop`` -> ``stopping``, ``make`` -> ``making``,
    ``lie`` -> ``lying``, ``see`` -> ``seeing``, ``panic`` -> ``panicking``."""
    w = lemma.lower()
    if w in IRREGULAR_GERUNDS:
        return IRREGULAR_GERUNDS[w]
    if not w.isalpha() or len(w) < 2:
        return w + "ing"
    if w.endswith("ie"):
        return w[:-2] + "ying"
    if w.endswith("ee") or w.endswith("ye") or w.endswith("oe"):
        return w + "ing"
    if w.endswith("e") and len(w) > 2:
        return w[:-1] + "ing"
    if w.endswith("ic"):
        return w + "king"
    groups = len(re.findall(r"[aeiou]+", w))
    cvc = len(w) >= 3 and w[-1] not in _VOWELS | set("wxy") and w[-2] in _VOWELS and w[-3] not in _VOWELS
    if cvc and (groups == 1 or w in DOUBLING):
        return w + w[-1] + "ing"
    return w + "ing"


#: Multi-word fillers and discourse markers, dropped from labels and in-vivo phrases.
FILLER_PHRASES = (
    "kind of", "sort of", "a lot of", "lots of", "a bit of", "you know", "i mean", "you see", "i guess",
    "i think", "i suppose", "at the end of the day", "to be honest", "to be fair", "or something", "and stuff",
)  # fmt: skip
#: Single-word fillers and hedges.
FILLER_WORDS = frozenset(
    "like really actually basically just literally quite pretty totally honestly obviously simply "
    "even very so well um uh erm er mm hmm anyway anyways sort kind lot lots bit".split()
)
#: Nouns that only quantify what follows ("a lot of work" -> "work").
QUANTIFIERS = frozenset("lot lots bit kind sort couple bunch load loads number amount plenty piece deal".split())
#: Lemmas the small English pipeline gets wrong, and the verb meant.
LEMMA_FIXES = {"cod": "code", "rung": "ring", "runge": "ring", "rang": "ring", "wan": "want", "gon": "go"}
#: Verbs that say nothing by themselves; a label needs them to take a real (nominal) object.
LIGHT_VERBS = frozenset(
    "say think know mean guess suppose reckon believe see tell be have do get go come "
    "let seem like want talk speak feel look hear wonder".split()
)
#: Verbs that are labels only with their object or complement ("Having to ...").
CHAIN_VERBS = {
    "have": "having to", "need": "needing to", "want": "wanting to", "try": "trying to", "refuse": "refusing to",
    "fail": "failing to", "manage": "managing to", "decide": "deciding to", "choose": "choosing to",
    "learn": "learning to", "struggle": "struggling to", "hope": "hoping to", "plan": "planning to",
    "start": "starting to", "begin": "beginning to", "continue": "continuing to", "expect": "expecting to",
    "ask": "asking to", "offer": "offering to", "promise": "promising to", "agree": "agreeing to",
}  # fmt: skip
#: Verbs whose object is nearly always a person (a one-word name there is not a place).
PERSON_VERBS = frozenset(
    "ring phone call email text invite tell meet ask thank blame trust like love hire fire satisfy judge "
    "convince persuade introduce brief warn remind promote replace".split()
)
#: Sentences made only of these words are backchannel ("Yeah. Right, okay.").
BACKCHANNEL = frozenset(
    "yeah yes yep no nope right okay ok mm mhm hmm uh um sure exactly absolutely thanks thank you well so "
    "oh ah great good fine totally indeed laughs laughter pause course of definitely true that's that is "
    "it's it cool lovely brilliant alright all sorry pardon go on".split()
)
#: Frequent words of interview talk: an in-vivo phrase needs words outside this list to be distinctive.
COMMON = frozenset("""
thing things time times people person way ways year years day days week weeks month months lot number
part side point place case fact kind sort bit work job jobs team teams business company firm firms
client clients customer customers supplier suppliers buyer buyers contract contracts money cost costs
price prices value service services process processes system systems problem problems issue issues
question questions answer answers idea ideas relationship relationships meeting meetings call calls
people group level levels area areas thing moment end start beginning result results project projects
report reports data information plan plans change changes account accounts manager managers role roles
site sites staff person someone something everything anything nothing everyone anyone one ones other
others good bad big small new old great little high low long short right wrong different same real
important main whole few many much more most less least last next first second third own sure able
certain clear hard easy better best worse worst full open free simple early late local general
make do get go come take give put keep see look know think say tell want need use find feel try ask
work call help show start run turn mean seem leave bring begin hold write set pay meet lead stand
happen include continue learn change understand follow stop create speak read spend grow offer remember
talk deal move live believe allow add expect build stay fall reach send decide agree support
year month question matter story way side term terms level half kind type today yesterday tomorrow
morning evening night afternoon o'clock hour hours minute minutes pound pounds euro euros percent
""".split())  # fmt: skip
#: Abstractions used for names spaCy recognises but the project does not know.
NER_ABSTRACTIONS = {
    "PERSON": "someone", "ORG": "an organisation", "GPE": "a place", "LOC": "a place", "FAC": "a site",
    "NORP": "a group", "PRODUCT": "something", "WORK_OF_ART": "something", "EVENT": "an event", "LAW": "a rule",
}  # fmt: skip
#: Entity types dropped from labels (times and counts rarely carry the meaning of a code).
DROPPED_ENTITIES = frozenset({"DATE", "TIME", "CARDINAL", "ORDINAL", "QUANTITY", "PERCENT"})
_ORG_SUFFIX = frozenset("ltd limited plc inc llc gmbh group services service trust labs lab co company".split())


def _role_abstraction(row: dict[str, Any]) -> str:
    title = (row.get("role_title") or "").split(",")[0]
    title = re.sub(r"\s*\([^)]*\)", "", title).strip()
    if title:
        return "the " + " ".join(w if w.isupper() else w.lower() for w in title.split())
    if row.get("side") == "researcher":
        return "the interviewer"
    return "a colleague"


def entity_abstractions(participants: list[dict[str, Any]]) -> dict[str, str]:
    """Mentions the project knows -> the abstraction a label uses instead.

    A supplier-side participant's organisation (and its distinctive first word: "Cresta" of
    "Cresta Facility Services") -> "the supplier"; a buyer-side one's -> "the buyer"; the research
    team -> "the research team"; a participant's full name, first and last name -> their role title
    ("the chief financial officer"), "the interviewer" for researchers, else "a colleague".
    Matching is case-insensitive on whole mentions; longer mentions win.
    """
    out: dict[str, str] = {}
    sides = {"supplier": "the supplier", "buyer": "the buyer", "researcher": "the research team"}
    for row in participants:
        org, side = (row.get("organisation") or "").strip(), row.get("side") or ""
        if org and side in sides:
            base = re.sub(r"\s*\([^)]*\)", "", org).strip()
            out.setdefault(base.lower(), sides[side])
            words = base.split()
            if len(words) > 1 and len(words[0]) >= 4 and words[0].lower() not in COMMON:
                out.setdefault(words[0].lower(), sides[side])
            if len(words) > 1 and words[-1].lower() in _ORG_SUFFIX:
                out.setdefault(" ".join(words[:-1]).lower(), sides[side])
    for row in participants:
        speaker = (row.get("speaker") or "").strip()
        if not speaker:
            continue
        abstraction = _role_abstraction(row)
        out[speaker.lower()] = abstraction
        parts = speaker.split()
        for p in (parts if len(parts) > 1 else []):
            if len(p) >= 3:
                out.setdefault(p.lower(), abstraction)
    return out


def stem(word: str) -> str:
    """A crude English stem for comparing labels ("Checking", "checked", "checks" -> "check")."""
    w = word.lower().strip("'’")
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        w = w[:-1]
    return w[:-1] if w.endswith("e") and len(w) > 3 else w
