"""The offline provider: deterministic parser heuristics, no model of coding, no network.

English segments are parsed with spaCy's small English pipeline (``suggest.nlp``, checked by
sha256 before it loads). For each sentence the provider looks for a verb with an object, a
complement or a prepositional phrase, and turns it into a process code: the gerund of the verb's
lemma and its object, keeping negation and modality ("didn't even understand accounting" ->
"Not understanding accounting", "had to ring Kenny" -> "Having to ring someone"). Names never stand
alone in a label: mentions the project knows (``CodingInput.entities``: participants' names,
roles, organisations) become their abstraction ("the supplier", "the chief financial officer"),
other recognised names a generic one ("someone", "an organisation"), dates and counts are dropped.
Fillers and discourse markers are dropped. The quote is the whole sentence (or, for a very long
one, the clause) the label rests on. An in-vivo code is offered only for a distinctive phrase of
3 to 7 words (the participant's quoted term, or a phrase with words outside the common-word list)
that does not overlap the process code's quote.

Constant comparison: a label close to an accepted code reuses that code; a label close to one
proposed earlier in the same work (this run, and earlier runs of the same work key, passed as
``CodingInput.earlier_labels``) reuses that label. Accepted codes are compared first, then the
earlier labels; for each, the lexical rule first, then the meaning rule. Lexically close
(``close``): the same polarity (plain, negated, unable, obliged), the same verb stem, and objects
alike: a Jaccard similarity of at least 0.5 between the stems of the object's words before its
first preposition, or of at least 0.6 between the stems of all its words. Close in meaning (only
when a coding run binds a ``reuse.MeaningIndex`` with ``use_meaning``, which it does for the
MiniLM embedder): the labels' embeddings have a cosine similarity of at least the calibrated
``reuse.THRESHOLD``, and no guard blocks the pair (a different polarity, opposite verbs). The
rationale names the rule and, for meaning, the similarity and the label the parse gave.

Segments that are not English (the ``language`` setting, or a segment whose function words are
not English) get no process code: at most one conservative in-vivo code, the strongest YAKE key
phrase, and the rationale says so. Every rationale says that it comes from parser heuristics, not
from a model.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import lexicon, nlp, reuse
from .base import CodeProposal, CodingInput, ProposedCode, ProviderReply, Usage

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*", re.UNICODE)
_MIN_WORDS = 5
_QUOTED = re.compile(r"(?<![\w'’])['‘\"“]([^'‘’\"“”\n]{3,80}?)['’\"”](?![\w'’])")
#: Distinctly English function words (none of them a common Portuguese/Spanish/French word).
_EN_FUNCTION = frozenset(
    "the and of to in is are was were be been it that this with for you they we he she his her their our "
    "have has had did does not but what which who would will can could should there about from by at just "
    "my me them us an or if than then when because been being into out up".split()
)
_PRONOUN_OBJECTS = frozenset("it that this these those them him her".split())
_STEM_STOP = frozenset(
    "the a an of to in on at for with by from as and or not never being unable having needing wanting trying "
    "our their his her its my your someone something every each all some any this that these those no more most "
    "own one".split()
)
_NEEDS_OBJECT = ("dobj", "obj", "attr", "dative", "oprd")
_LONG_SENTENCE = 45
_REUSE_JACCARD = 0.6
_REUSE_CORE = 0.5
_SPLIT_PREPS = frozenset("about for with to from in on at into by over through after before as against without".split())
_ASPECT = frozenset("stop keep avoid start quit finish".split())
_PLACE_PREPS = frozenset("in at near into from".split())
_YAKE_LANGS = ("pt", "es", "fr", "de", "it", "nl")


@dataclass(frozen=True)
class Signature:
    """What ``close`` compares: polarity, the verb's stem, the stems of the object's content words
    before its first preposition (``core``) and of all of them (``objects``)."""

    polarity: str
    verb: str
    core: frozenset[str]
    objects: frozenset[str]


def signature(label: str) -> Signature | None:
    """The signature of a process label (``None`` for an in-vivo label or one with no words)."""
    if label.startswith(('"', "“")):
        return None
    words = [w.lower() for w in _WORD.findall(label)]
    polarity = "plain"
    for prefix, name in ((("not",), "not"), (("never",), "not"), (("being", "unable", "to"), "unable"),
                         (("having", "to"), "obliged")):  # fmt: skip
        if tuple(words[: len(prefix)]) == prefix:
            polarity, words = name, words[len(prefix) :]
            break
    if not words:
        return None
    verb, rest = words[0], words[1:]
    cut = next((i for i, w in enumerate(rest) if w in _SPLIT_PREPS), len(rest))

    def stems(ws: list[str]) -> frozenset[str]:
        return frozenset(lexicon.stem(w) for w in ws if w not in _STEM_STOP and w not in lexicon.FILLER_WORDS)

    return Signature(polarity, lexicon.stem(verb), stems(rest[:cut]), stems(rest))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def close(a: Signature | None, b: Signature | None) -> bool:
    """Same polarity and verb, and objects alike: a Jaccard similarity of at least 0.5 between the
    object cores (the words before the first preposition: "the supplier" of "Ringing the supplier
    about the shutters") or of at least 0.6 between all object words."""
    if a is None or b is None or a.polarity != b.polarity or a.verb != b.verb:
        return False
    return _jaccard(a.core, b.core) >= _REUSE_CORE or _jaccard(a.objects, b.objects) >= _REUSE_JACCARD


@dataclass
class _Candidate:
    label: str
    start: int
    end: int
    score: float
    verb: str
    negated: str


class OfflineProvider:
    """Dependency-parse process codes and distinctive in-vivo phrases; offline in every rationale."""

    name = "offline"
    base_host = None
    remote = False
    prompt_id = "offline-heuristics"

    def __init__(self, language: str = "en", max_codes: int = 2) -> None:
        self.language = language
        self.max_codes = max_codes
        self.model = f"spacy-{nlp.PIPELINE_PACKAGE}-{nlp.PIPELINE_VERSION}+parse-heuristics"
        self._extractors: dict[str, Any] = {}
        self._memory: list[str] = []  # process labels proposed by this provider object (one run)
        self._signatures: dict[str, Signature | None] = {}
        self._stopwords: dict[str, frozenset[str]] | None = None
        self._meaning: reuse.MeaningIndex | None = None
        self._pool: list[str] = []  # earlier labels and this run's, for the meaning rule (a list that only grows)
        self._pool_src: list[str] | None = None

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"language": self.language, "max_codes": self.max_codes}
        if self._meaning is not None:  # the decisions depend on the embedder and the fitted threshold
            out["meaning_reuse"] = self._meaning.identity()
        return out

    def use_meaning(self, index: reuse.MeaningIndex | None) -> None:
        """Compare labels by meaning too (``None``: lexically only). Set by a coding run before its
        work key is computed, so the key (``params``) says whether meaning-based reuse was on."""
        self._meaning = index

    @staticmethod
    def source_sha256() -> str:
        """The heuristics' own source (this module, ``nlp``, ``lexicon``, ``reuse``) and the pipeline's
        checked file hashes: recorded as the 'prompt' hash so any change shows in the work key."""
        digest = hashlib.sha256()
        for path in (Path(__file__), Path(nlp.__file__), Path(lexicon.__file__), Path(reuse.__file__)):
            digest.update(path.read_bytes())
        digest.update(repr(sorted(nlp.PIPELINE_FILES_SHA256.items())).encode())
        return digest.hexdigest()

    # -- language ------------------------------------------------------------------------------
    @property
    def english(self) -> bool:
        return self.language.lower().replace("_", "-").split("-")[0] in ("en", "")

    def looks_english(self, text: str) -> bool:
        """English unless the text has 8 words or more, under 15% of them distinctly English function
        words, and at least 20% stop words of one of the other YAKE languages (pt, es, fr, de, it, nl)."""
        words = [w.lower() for w in _WORD.findall(text)]
        if len(words) < 8 or sum(w in _EN_FUNCTION for w in words) / len(words) >= 0.15:
            return True
        other = max(sum(w in sw for w in words) for sw in self._other_stopwords().values())
        return other / len(words) < 0.2

    def _other_stopwords(self) -> dict[str, frozenset[str]]:
        if self._stopwords is None:
            import yake

            folder = Path(yake.__file__).parent / "core" / "StopwordsList"
            self._stopwords = {}
            for lang in _YAKE_LANGS:
                f = folder / f"stopwords_{lang}.txt"
                if f.is_file():
                    words = f.read_text(encoding="utf-8", errors="replace").lower().split()
                    self._stopwords[lang] = frozenset(words) - _EN_FUNCTION
        return self._stopwords

    def _guess_language(self, text: str) -> str:
        """The configured language, or for an English project the YAKE stop-word list that fits best."""
        if not self.english:
            return self.language.lower().replace("_", "-").split("-")[0]
        words = [w.lower() for w in _WORD.findall(text)]
        scores = {lang: sum(w in sw for w in words) for lang, sw in self._other_stopwords().items()}
        return max(sorted(scores), key=lambda k: scores[k]) if scores and max(scores.values()) else "noLang"

    # -- the reply -----------------------------------------------------------------------------
    def propose(self, item: CodingInput) -> ProviderReply:
        t0 = time.perf_counter()
        text = item.text
        codes: list[ProposedCode] = []
        if len(_WORD.findall(text)) >= _MIN_WORDS:
            if self.english and self.looks_english(text):
                codes = self._english(item)
            else:
                codes = self._conservative(text)
        proposal = CodeProposal(codes=codes[: self.max_codes])
        words = len(text.split())
        return ProviderReply(
            proposal, proposal.model_dump_json(),
            Usage(prompt_tokens=round(words * 1.3), completion_tokens=0, estimated=True),
            latency_ms=round((time.perf_counter() - t0) * 1000),
        )  # fmt: skip

    def _conservative(self, text: str) -> list[ProposedCode]:
        lang = self._guess_language(text)
        if lang not in self._extractors:
            import yake

            self._extractors[lang] = yake.KeywordExtractor(lan=lang, n=3, top=8, dedupLim=0.7)
        for phrase, score in self._extractors[lang].extract_keywords(text):
            if len(phrase.split()) < 2:
                continue
            at = text.lower().find(phrase.lower())
            if at < 0:
                continue
            words = text[at : at + len(phrase)]
            return [ProposedCode(
                label=f'"{words}"', in_vivo=True, quote=words, reused_code=None,
                rationale=f"Offline heuristic (not a model): this segment is not English (YAKE stop words '{lang}'), "
                f"so no parser-based process code is proposed; only the strongest multi-word key phrase "
                f"(YAKE {float(score):.3f}) as a conservative in-vivo code.",
            )]  # fmt: skip
        return []

    def _english(self, item: CodingInput) -> list[ProposedCode]:
        doc = nlp.load_pipeline()(item.text)
        entities = {k.lower(): v for k, v in (item.entities or {}).items()}
        candidates = [c for sent in doc.sents if not self._backchannel(sent)
                      for c in self._predicates(sent, entities)]  # fmt: skip
        codes: list[ProposedCode] = []
        taken: tuple[int, int] | None = None
        if candidates:
            best = max(candidates, key=lambda c: (c.score, -c.start))
            taken = (best.start, best.end)
            codes.append(self._process_code(best, item))
        vivo = self._in_vivo(doc, taken, entities)
        if vivo is not None:
            codes.append(vivo)
        return codes

    def _accepted_match(self, c: _Candidate, item: CodingInput) -> tuple[str, str] | None:
        """The accepted code ``c`` reuses and why: the lexical rule first, then the meaning rule."""
        sig = self._signature(c.label)
        code = next((code for code in item.codebook if close(sig, self._signature(code))), None)
        if code:
            return code, f"; lexically close (same verb, objects alike) to the accepted code '{code}', so it reuses it (constant comparison)"
        if self._meaning is not None and (m := self._meaning.best(c.label, item.codebook)) is not None:
            return m.label, (f"; close in meaning ({m.similarity:.2f}) to the accepted code '{m.label}', so it reuses it "
                             f"instead of '{c.label}' (constant comparison)")  # fmt: skip
        return None

    def _process_code(self, c: _Candidate, item: CodingInput) -> ProposedCode:
        sig = self._signature(c.label)
        label, why = c.label, ""
        match = self._accepted_match(c, item)
        reused = match[0] if match else None
        if match:
            why = match[1]
        if reused:
            label = reused
        else:
            earlier = next((e for e in [*item.earlier_labels, *self._memory] if close(sig, self._signature(e))), None)
            if earlier and earlier != c.label:
                label, why = earlier, f"; lexically close to '{earlier}', proposed earlier in this work, so it reuses that label"
            elif not earlier and self._meaning is not None and (m := self._meaning.best(c.label, self._earlier(item))) is not None:
                label = m.label
                why = (f"; close in meaning ({m.similarity:.2f}) to '{label}', proposed earlier in this work, so it reuses "
                       f"that label instead of '{c.label}'")
        if label not in self._memory and not reused:
            self._memory.append(label)
            if self._pool_src is not None and label not in self._pool:
                self._pool.append(label)
        mood = {"not": " (negation kept)", "unable": " (inability kept)", "obliged": " (obligation kept)"}.get(c.negated, "")
        return ProposedCode(
            label=label, in_vivo=False, quote=item.text[c.start : c.end], reused_code=reused,
            rationale=f"Offline heuristic (dependency parse, not a model): the verb '{c.verb}' and its object or complement in the "
            f"dependency parse of this sentence, as a gerund{mood}{why}.",
        )  # fmt: skip

    def _earlier(self, item: CodingInput) -> list[str]:
        """Labels proposed earlier in this work (earlier runs, then this one), as one growing list."""
        if self._pool_src is not item.earlier_labels:
            self._pool_src = item.earlier_labels
            self._pool = list(dict.fromkeys([*item.earlier_labels, *self._memory]))
        return self._pool

    def _signature(self, label: str) -> Signature | None:
        if label not in self._signatures:
            self._signatures[label] = signature(label)
        return self._signatures[label]

    # -- process codes ---------------------------------------------------------------------------
    @staticmethod
    def _backchannel(sent: Any) -> bool:
        words = [t.lower_ for t in sent if t.is_alpha]
        return len(words) < 3 or all(w in lexicon.BACKCHANNEL for w in words)

    def _predicates(self, sent: Any, entities: dict[str, str]) -> list[_Candidate]:
        out = []
        for v in sent:
            if v.pos_ != "VERB" or v.dep_ in ("aux", "auxpass", "amod", "compound"):
                continue
            c = self._candidate(v, sent, entities)
            if c is not None:
                out.append(c)
        return out

    def _candidate(self, v: Any, sent: Any, entities: dict[str, str]) -> _Candidate | None:
        lemma = v.lemma_.lower()
        if lemma != "be" and (v.tag_ == "VB" or (len(lemma) < 3 and lemma not in ("go", "do", "be"))) and v.lower_.isalpha():
            lemma = v.lower_  # a base form is its own lemma ("ring" is not "re" + "-ing")
        lemma = lexicon.LEMMA_FIXES.get(lemma, lemma)  # the small pipeline's known slips ("coded" -> "cod")
        if not lemma.replace("-", "").isalpha():
            return None  # "'s", "'re": a clitic, not a verb to make a gerund of
        head = v
        chain = ""
        if v.dep_ == "xcomp" and v.head.pos_ in ("VERB", "AUX") and v.head.lemma_.lower() in lexicon.CHAIN_VERBS \
                and any(t.dep_ == "aux" and t.lower_ == "to" for t in v.children):  # fmt: skip
            head = v.head
            chain = lexicon.CHAIN_VERBS[head.lemma_.lower()]
        elif v.dep_ == "xcomp" and v.tag_ == "VBG" and v.head.lemma_.lower() in _ASPECT:
            head = v.head
            chain = lexicon.gerund(head.lemma_.lower())  # "stop picking up the phone" -> "Stopping picking up ..."
        elif lemma in lexicon.CHAIN_VERBS and any(t.dep_ == "xcomp" and t.pos_ == "VERB" for t in v.children):
            return None  # the chained verb carries the label ("had to ring" -> "Having to ring ...")
        aux = {t.lower_ for t in head.children if t.dep_ in ("aux", "auxpass")}
        neg = next((t.lower_ for t in head.children if t.dep_ == "neg"), None)
        obj = self._object(v, entities)
        if obj is None:
            return None
        words, content, pronoun_only = obj
        if lemma == "be" or (lemma in lexicon.LIGHT_VERBS and not chain and not self._nominal(v)):
            return None
        particle = " ".join(t.lower_ for t in v.children if t.dep_ == "prt")
        verb_part = f"{lemma} {particle}".strip() if (chain and chain.endswith(" to")) or (neg and aux & {"can", "could", "ca"}) or "must" in aux \
            else f"{lexicon.gerund(lemma)} {particle}".strip()  # fmt: skip
        polarity = "plain"
        if neg and aux & {"ca", "can", "could"} and not chain:
            prefix, polarity = "being unable to", "unable"
        elif "must" in aux and not neg and not chain:
            prefix, polarity = "having to", "obliged"
        elif neg:
            prefix, polarity = ("never" if neg == "never" else "not"), "not"
        else:
            prefix = ""
        if chain:
            if chain == "having to":
                polarity = "not" if neg else "obliged"
            if neg:
                prefix = f"{prefix} {lexicon.gerund(head.lemma_.lower())}{' to' if chain.endswith(' to') else ''}"
            else:
                prefix = chain
        if pronoun_only and polarity == "plain":
            return None  # "Calling it" says nothing; "Not noticing it" does
        label = " ".join(x for x in (prefix, verb_part, words) if x)
        if len(label.split()) > 9:
            return None
        label = label[:1].upper() + label[1:]
        score = 1.0 + content + (1.5 if polarity != "plain" else 0.0) + (0.5 if head.dep_ == "ROOT" else 0.0)
        score -= 1.0 if pronoun_only else 0.0
        score -= 0.5 if lemma in lexicon.LIGHT_VERBS else 0.0
        start, end = self._quote_span(sent, head)
        return _Candidate(label, start, end, score, lemma, polarity)

    @staticmethod
    def _quote_span(sent: Any, head: Any) -> tuple[int, int]:
        if sum(t.is_alpha for t in sent) <= _LONG_SENTENCE:
            return sent.start_char, sent.end_char
        left, right = head.left_edge, head.right_edge
        if right.i - left.i + 1 < 5:
            return sent.start_char, sent.end_char
        return left.idx, right.idx + len(right.text)

    @staticmethod
    def _nominal(v: Any) -> bool:
        """Whether ``v`` has a common-noun object (what a light verb needs: not a pronoun, not a name)."""
        return any(t.dep_ in _NEEDS_OBJECT and t.pos_ == "NOUN" for t in v.children)  # "say Orbis" says nothing

    def _object(self, v: Any, entities: dict[str, str]) -> tuple[str, float, bool] | None:
        """The object phrase of ``v`` as label words, its content weight, and whether it is only a pronoun."""
        kids = list(v.children)
        nominal = next((t for t in kids if t.dep_ in _NEEDS_OBJECT and t.pos_ in ("NOUN", "PROPN", "PRON", "NUM", "ADJ")), None)
        parts: list[tuple[str, float, bool]] = []
        if nominal is not None:
            np = self._phrase(nominal, entities)
            if np is not None:
                parts.append(np)
        acomp = next((t for t in kids if t.dep_ == "acomp" and t.pos_ == "ADJ"), None)
        if acomp is not None and not parts:
            parts.append((acomp.lower_, 1.0, False))
        if not parts or (parts[0][2] or len(parts[0][0].split()) <= 2):
            for prep in (t for t in kids if t.dep_ in ("prep", "agent") and t.i > v.i):
                pobj = next((t for t in prep.children if t.dep_ == "pobj"), None)
                if pobj is None:
                    continue
                pp = self._phrase(pobj, entities)
                if pp is not None and not pp[2]:
                    parts.append((f"{prep.lower_} {pp[0]}", pp[1], False))
                    break
        if not parts:
            return None
        words = " ".join(p[0] for p in parts)
        content = sum(p[1] for p in parts)
        pronoun_only = all(p[2] for p in parts)
        if not words or len(words.split()) > 7:
            return None
        return words, content, pronoun_only

    def _phrase(self, n: Any, entities: dict[str, str]) -> tuple[str, float, bool] | None:
        """A noun phrase as label words: head with determiners, possessives, modifiers, compounds and
        one 'of' phrase; names abstracted, fillers, dates and counts dropped."""
        # "a lot of work" -> "work", "three of our clients" -> "our clients"
        for _ in range(2):
            of = next((t for t in n.children if t.dep_ == "prep" and t.lower_ == "of"), None)
            pobj = next((t for t in of.children if t.dep_ == "pobj"), None) if of is not None else None
            if pobj is not None and (n.lemma_.lower() in lexicon.QUANTIFIERS or n.pos_ == "NUM"):
                n = pobj
        if n.pos_ == "PRON":
            if n.lower_ in _PRONOUN_OBJECTS:
                return n.lower_, 0.0, True
            return None  # "me", "us", "you": the label would say nothing
        keep = [n, *_glued_after(n)]  # "an e-auction" parsed as "e" + "-auction": the word as written
        for t in n.children:
            if t.dep_ in ("det", "poss", "amod", "compound", "nummod", "case", "nmod", "quantmod") and t.i < n.i:
                keep.extend(t.subtree if t.dep_ in ("poss", "compound", "amod") else [t])
        of = next((t for t in n.children if t.dep_ == "prep" and t.lower_ == "of" and t.i > n.i), None)
        if of is not None:
            pobj = next((t for t in of.children if t.dep_ == "pobj"), None)
            if pobj is not None and pobj.pos_ != "PRON":
                sub = self._phrase(pobj, entities)
                if sub is not None and not sub[2]:
                    return self._render(sorted(set(keep), key=lambda t: t.i), entities, suffix=f"of {sub[0]}", extra=sub[1])
        return self._render(sorted(set(keep), key=lambda t: t.i), entities)

    def _render(self, toks: list[Any], entities: dict[str, str], suffix: str = "", extra: float = 0.0) -> tuple[str, float, bool] | None:
        out: list[str] = []
        content = extra
        i = 0
        glued: Any = None  # the last token appended as itself (for words written without a space)
        while i < len(toks):
            t = toks[i]
            # a known mention (longest first), then a recognised or proper name
            mention = None
            for j in range(len(toks), i, -1) if t.text[:1].isupper() else ():  # names are written capitalised
                span = " ".join(x.text for x in toks[i:j]).lower()
                if span in entities:
                    mention = (entities[span], j)
                    break
            if mention is not None:
                glued = None
                out.append(mention[0])
                content += 0.5
                i = mention[1]
                continue
            if (t.ent_type_ in lexicon.DROPPED_ENTITIES or t.like_num or t.lower_ == "o'clock") and t.lower_ != "one":
                glued = None
                i += 1
                continue
            acronym = t.text.isupper() and len(t.text) <= 5  # "FM", "CFO", "PO", "P1": not names
            named = not t.text.islower() and (t.pos_ == "PROPN" or t.ent_type_ in lexicon.NER_ABSTRACTIONS)
            if not acronym and named:  # a lower-case word the NER took for a name ("arm's length") stays a word
                glued = None
                j = i
                while j + 1 < len(toks) and (toks[j + 1].pos_ == "PROPN" or (t.ent_iob_ != "O" and toks[j + 1].ent_iob_ == "I")):
                    j += 1
                if toks[j].dep_ in ("compound", "nmod", "amod") and toks[j].head.pos_ != "PROPN" and toks[j].head.i > toks[j].i:
                    i = j + 1  # "the Doncaster fit-out price" -> "the fit-out price": the rest carries the meaning
                    continue
                last = toks[j]
                unknown = "a place" if last.dep_ == "pobj" and last.head.lower_ in _PLACE_PREPS else "someone"
                abstraction = lexicon.NER_ABSTRACTIONS.get(t.ent_type_, unknown if t.ent_type_ == "" else "something")
                if t.ent_type_ in ("GPE", "LOC", "FAC", "NORP") and j == i and (last.dep_ == "poss" or (
                        last.dep_ in ("dobj", "dative") and last.head.lemma_.lower() in lexicon.PERSON_VERBS)):
                    abstraction = "someone"  # "rang Kenny", "Kenny's mobile": a one-word name taken for a place
                if not out or out[-1] != abstraction:
                    out.append(abstraction)
                content += 0.25
                i = j + 1
                continue
            if t.lower_ in lexicon.FILLER_WORDS or (t.dep_ == "case" and out and out[-1].endswith("'s")):
                i += 1
                continue
            if t.dep_ == "case":
                if out:  # "the operations' team", not "operations's"
                    plural = i > 0 and toks[i - 1].tag_ == "NNS" and out[-1].endswith("s")
                    out[-1] = out[-1] + ("'" if plural else t.text.replace("’", "'"))
                i += 1
                continue
            if t.is_punct and t.text not in "-/" and out:
                break  # "a place , the buyer's procurement": an apposition or list starts; the phrase ends
            word = t.text if t.text[1:] != t.text[1:].lower() or not t.is_sent_start else t.lower_
            if glued is not None and glued.i == t.i - 1 and not glued.whitespace_:
                out[-1] += word  # "north-east", "mark-up": the original spelling
            else:
                out.append(word)
            glued = t
            if t.pos_ in ("NOUN", "ADJ") and not t.is_stop:
                content += 1.0
            i += 1
        # "a someone" / "the an organisation": an abstraction brings its own determiner
        cleaned: list[str] = []
        for w in out:
            if cleaned and cleaned[-1] in ("a", "an", "the") and w.split()[0] in ("a", "an", "the", "someone", "something"):
                cleaned.pop()
            cleaned.append(w)
        words = " ".join(cleaned + ([suffix] if suffix else [])).strip()
        if not words or all(w in ("a", "an", "the") for w in words.split()):
            return None
        return words, content, False

    # -- in-vivo -----------------------------------------------------------------------------------
    def _in_vivo(self, doc: Any, taken: tuple[int, int] | None, entities: dict[str, str]) -> ProposedCode | None:
        text = doc.text
        found: list[tuple[float, int, int, int, str]] = []

        def free(a: int, b: int) -> bool:
            return taken is None or b <= taken[0] or a >= taken[1]

        for m in _QUOTED.finditer(text):
            a, b = m.start(1), m.end(1)
            n = len(_WORD.findall(m.group(1)))
            span = doc.char_span(a, b, alignment_mode="expand")
            rare = [t for t in span or [] if t.is_alpha and not t.is_stop and t.lower_ not in lexicon.COMMON]
            fillers = self._filler_phrase(m.group(1)) or any(t.lower_ in lexicon.FILLER_WORDS for t in span or [])
            if 2 <= n <= 7 and rare and free(a, b) and not fillers and not self._has_name(span, entities):
                found.append((3.0 + n / 10, -a, a, b, "the participant marks these words as their own term"))
        for chunk in self._phrases(doc):
            toks = self._trim(chunk)
            if not toks:
                continue
            a, b = toks[0].idx, toks[-1].idx + len(toks[-1].text)
            n = sum(t.is_alpha for t in toks)
            if not 3 <= n <= 7 or not free(a, b) or self._has_name(toks, entities):
                continue
            if any(t.lower_ in lexicon.FILLER_WORDS for t in toks) or self._filler_phrase(text[a:b]):
                continue
            rare = [t for t in toks if t.pos_ in ("NOUN", "ADJ", "VERB") and t.is_alpha and len(t.text) >= 4
                    and t.lemma_.lower() not in lexicon.COMMON and t.lower_ not in lexicon.COMMON and not t.is_stop]  # fmt: skip
            modified = any(t.dep_ in ("amod", "compound") for t in toks)
            score = len(rare) + (0.5 if modified else 0.0)
            if len(rare) >= 2 and score >= 2.5:
                found.append((score, -a, a, b, "an unusual phrase: " + ", ".join(f"'{t.text}'" for t in rare[:3]) + " are not common words"))
        if not found:
            return None
        score, _, a, b, why = max(found)
        words = text[a:b]
        return ProposedCode(
            label=f'"{words}"', in_vivo=True, quote=words, reused_code=None,
            rationale=f"Offline heuristic (dependency parse, not a model): the participant's own words, {why}.",
        )  # fmt: skip

    @staticmethod
    def _phrases(doc: Any) -> list[Any]:
        """Noun chunks (with a following 'of' chunk) and verb phrases (verb, particle, object)."""
        spans = []
        for chunk in doc.noun_chunks:
            end = chunk.end
            if end + 1 < len(doc) and doc[end].lower_ == "of":
                nxt = next((c for c in doc.noun_chunks if c.start == end + 1), None)
                if nxt is not None:
                    end = nxt.end
            spans.append(doc[chunk.start : end])
        for v in doc:
            if v.pos_ == "VERB" and any(t.dep_ in ("dobj", "prt") for t in v.children):
                right = max([v] + [t.right_edge for t in v.children if t.dep_ in ("dobj", "prt")], key=lambda t: t.i)
                spans.append(doc[v.i : right.i + 1])
        return spans

    @staticmethod
    def _trim(span: Any) -> list[Any]:
        toks = [t for t in span]
        while toks and (toks[0].is_punct or toks[0].is_stop or toks[0].lower_ in lexicon.FILLER_WORDS):
            toks = toks[1:]
        while toks and (toks[-1].is_punct or toks[-1].is_stop or toks[-1].lower_ in lexicon.FILLER_WORDS):
            toks = toks[:-1]
        return toks

    @staticmethod
    def _filler_phrase(words: str) -> bool:
        low = f" {words.lower()} "
        return any(f" {f} " in low for f in lexicon.FILLER_PHRASES)

    @staticmethod
    def _has_name(toks: Any, entities: dict[str, str]) -> bool:
        if toks is None:
            return True
        toks = list(toks)
        if any(t.pos_ == "PROPN" or t.ent_type_ in lexicon.NER_ABSTRACTIONS for t in toks):
            return True
        low = " ".join(t.lower_ for t in toks)
        known = [*entities, *(v.removeprefix("the ") for v in entities.values() if v.startswith("the "))]
        return any(re.search(rf"(?<!\w){re.escape(k)}(?!\w)", low) for k in known)


def _glued_after(n: Any) -> list[Any]:
    """Tokens written on to ``n`` without a space through a hyphen or slash ("e" "-" "auction")."""
    doc, out, j = n.doc, [], n.i
    while j + 1 < len(doc) and not doc[j].whitespace_ and (doc[j + 1].text in "-/" or (doc[j].text in "-/" and doc[j + 1].is_alpha)):
        j += 1
        out.append(doc[j])
    return out if out and out[-1].is_alpha else []

