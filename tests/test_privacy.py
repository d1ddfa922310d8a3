"""No LLM step sends an unredacted participant name to a remote host; ``[privacy]`` is honoured.

Every step that talks to a model (initial and deductive coding, category naming, construct
mapping at each level, memo drafts, gold-set evaluation) is run through the ``Project`` API with
an in-process :class:`~tests.scripted.ScriptedProvider` that pretends to be a remote host. The
provider records exactly what would have gone over the wire; the tests check that no identifier
from the participants table (speaker names, the name parts the redactor treats as names,
organisations and their distinctive first word) appears in it, case-insensitively and as a whole
word, that placeholders stand where the source had names (so nothing passes vacuously), and that
what is written to the database carries the restored names, never placeholders.

Also here: the scripted provider's own behaviour (queue, defaults, invalid output, grounding).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from coder_assist import Project
from coder_assist.store.config import CONFIG_NAME, Config
from coder_assist.suggest.providers import CodeProposal, ProposedCode, ProviderReply
from coder_assist.suggest.providers.schemas import CategoryProposal, LinkProposal, MemoSections
from coder_assist.suggest.redact import from_participants

from .conftest import FIXTURES
from .scripted import Call, ScriptedProvider, segment_of

WORKSHOP = FIXTURES / "wave1" / "nw_fg01_internal_workshop.md"  # five named buyers introduce themselves
CFO = FIXTURES / "wave2" / "nw05_okafor_cfo.md"  # a wave-2 interview whose file name holds a surname
PARTICIPANTS = FIXTURES / "participants.csv"

PLACEHOLDER = re.compile(r"\[[A-Z]+_\d+\]")
NAME_PLACEHOLDER = re.compile(r"\[(?:PERSON|ORG)_\d+\]")
ROLE_LABELS = {"interviewer", "moderator"}
GENERIC_ORG_WORDS = {"the", "global", "national", "regional", "royal", "general", "first", "united",
                     "international", "city", "county"}  # fmt: skip


# -- what counts as an identifier, and finding one in sent text --------------------------------
def identifiers(participants: Iterable[dict[str, Any]], extra_names: Iterable[str] = ()) -> set[str]:
    """The identifiers the redactor promises to hide (coder_assist/suggest/redact.py): every speaker
    name that is not a role label, each part of a name (3+ letters, capitalised), every organisation
    and its distinctive first word ("Northwind" of "Northwind Logistics"); extra names likewise."""
    rows = list(participants)
    out: set[str] = set()
    for name in [r["speaker"] for r in rows if r.get("speaker")] + list(extra_names):
        if name.casefold() in ROLE_LABELS:
            continue
        out.add(name)
        out |= {part for part in name.split() if len(part) >= 3 and part[0].isupper()}
    for org in {r["organisation"] for r in rows if r.get("organisation")}:
        out.add(org)
        first = org.split()[0]
        if len(first) >= 4 and first[0].isupper() and first.casefold() not in GENERIC_ORG_WORDS:
            out.add(first)
    return out


def finder(terms: Iterable[str]) -> re.Pattern[str]:
    """Whole-word, case-insensitive matcher. A word ends at anything that is not a letter or digit,
    so ``okafor`` in ``nw05_okafor_cfo.md`` counts: a remote host reads that file name too."""
    alts = "|".join(re.escape(t) for t in sorted(set(terms), key=len, reverse=True))
    return re.compile(rf"(?<![^\W_])(?:{alts})(?![^\W_])", re.I)


def leaks(calls: Iterable[Call], pattern: re.Pattern[str]) -> list[str]:
    """One line per identifier found in a sent message: call, message, the term and its line."""
    found = []
    for i, c in enumerate(calls):
        for part, text in (("system", c.system), ("user", c.user)):
            for m in pattern.finditer(text):
                line = text[text.rfind("\n", 0, m.start()) + 1 : (text.find("\n", m.end()) + 1 or len(text) + 1) - 1]
                found.append(f"call {i} ({c.kind} {c.schema}) {part}: {m.group()!r} in {line.strip()[:160]!r}")
    return found


def assert_redacted(calls: list[Call], pattern: re.Pattern[str], restorer: Any, step: str) -> None:
    """Nothing identifying was sent, and (non-vacuity) the unredacted text did hold identifiers."""
    assert calls, f"{step}: the provider was never called"
    found = leaks(calls, pattern)
    assert not found, f"{step}: {len(found)} identifier(s) sent to the remote host:\n" + "\n".join(found[:15])
    assert any(NAME_PLACEHOLDER.search(c.text) for c in calls), f"{step}: no name placeholder in any sent text"
    assert any(pattern.search(restorer.restore(c.text)) for c in calls), f"{step}: the source text held no names"


# -- the scripted model: schema-valid replies that echo what it received ------------------------
@dataclass
class Echo:
    """A model that answers from the request: quotes taken from the text it got (placeholders
    included, as a real model would copy them), ids that exist in the prompt."""

    categories: int = 0
    seen: list[str] = field(default_factory=list)

    def __call__(self, schema: type, system: str, user: str) -> Any:
        if schema is CodeProposal:
            seg = segment_of(user)
            phs = list(dict.fromkeys(PLACEHOLDER.findall(seg)))
            label = f"Talking about {' and '.join(phs)}" if phs else f"Echoing {' '.join(seg.split()[:2])}"
            return {"codes": [{"label": label, "in_vivo": False, "quote": " ".join(seg.split()[:6]),
                               "rationale": f"The segment names {', '.join(phs) or 'nobody'}.", "reused_code": None}]}  # fmt: skip
        phs = list(dict.fromkeys(PLACEHOLDER.findall(user)))
        who = " and ".join(phs[:2]) or "nobody"
        if schema is CategoryProposal:
            self.categories += 1
            return {"name": f"Relating to {who} {self.categories}", "definition": f"How {who} is talked about.",
                    "properties": [f"involves {who}"], "dimensions": ["from tacit to written"]}  # fmt: skip
        if schema is LinkProposal:
            listed = system.split("Constructs of the framework:", 1)[1]
            ids = re.findall(r"^- (\w+): ", listed, re.M)
            item = user.split("ITEM:", 1)[1].strip()
            return {"construct_id": ids[0], "confidence": 0.9, "rationale": f"{who} shows the cue.",
                    "evidence_quote": " ".join(item.split()[-4:])}  # fmt: skip
        if schema is MemoSections:
            passages = re.findall(r"^(E\d+) \[.*?, wave [^\]]*\]: (.*)$", user, re.M)
            return {"definition": f"How {who} is talked about.", "properties": [f"involves {who}"],
                    "comparison": f"{who} differ by side.", "negative_cases": "None stand out.",
                    "citations": [{"passage": k, "quote": " ".join(q.split()[:5]), "claim": f"{who} says so."}
                                  for k, q in passages[:3]],
                    "open_questions": [f"What does {who} expect?"], "theoretical_sampling": [f"Ask {who} again."]}  # fmt: skip
        raise AssertionError(f"Echo has no answer for {schema.__name__}")


def remote(**kw: Any) -> ScriptedProvider:
    return ScriptedProvider(default=Echo(), **kw)


def restorer_for(proj: Project) -> Any:
    """An independent redactor over the same participants: maps the name placeholders back."""
    privacy = proj.config.privacy
    return from_participants(proj.participants(), privacy.extra_names, privacy.patterns or None)


def db_texts(proj: Project) -> dict[str, list[str]]:
    """Every text the steps wrote for people to read (raw model replies excluded)."""
    q = lambda sql: [str(v) for r in proj.conn.execute(sql) for v in r if v is not None]  # noqa: E731
    return {
        "suggestions": q("SELECT label, quote, rationale, reused_label FROM suggestions"),
        "codes": q("SELECT label FROM codes"),
        "category_suggestions": q("SELECT name, definition, properties FROM category_suggestions"),
        "categories": q("SELECT name, definition, properties FROM categories"),
        "link_suggestions": q("SELECT rationale, evidence FROM link_suggestions"),
        "memo_drafts": q("SELECT subject, body, citations FROM memo_drafts"),
    }


def _accept_named(proj: Project, pattern: re.Pattern[str], n: int = 12) -> list[int]:
    """Accept grounded suggestions whose segment mentions someone, so later steps see names."""
    ids = [s["id"] for s in proj.suggestion_rows(status="proposed")
           if pattern.search(s["label"]) and s["start"] is not None][:n]  # fmt: skip
    assert len(ids) >= 4, "too few named suggestions to build categories from"
    proj.accept(ids)
    return ids


def _steps(proj: Project, run: dict[str, list[Call]], sp: ScriptedProvider, name: str, fn: Any) -> Any:
    start = len(sp.history)
    out = fn()
    run[name] = sp.history[start:]
    return out


# -- a project built once; each test that changes the config works on a copy --------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("privacy") / "template"
    p = Project.init(root, coder="ann", embedder="hash")
    assert p.ingest([WORKSHOP], wave=1, attributes=PARTICIPANTS).ok
    assert p.ingest([CFO], wave=2).ok
    p.close()
    return root


@pytest.fixture
def fresh(template: Path, tmp_path: Path):
    copies: list[Project] = []

    def _fresh() -> Project:
        root = tmp_path / f"p{len(copies)}"
        shutil.copytree(template, root)
        copies.append(Project.open(root))
        return copies[-1]

    yield _fresh
    for p in copies:
        p.close()


@dataclass
class Flow:
    proj: Project
    provider: ScriptedProvider
    steps: dict[str, list[Call]]
    pattern: re.Pattern[str]
    category: str
    gold_quote: str


STEPS = ["code", "code:deductive", "categorize", "map:segment", "map:code", "map:category", "memo:category", "evaluate_gold"]


@pytest.fixture(scope="module")
def flow(template: Path, tmp_path_factory: pytest.TempPathFactory):
    """Every LLM step once, under the default ``privacy.redact = "auto"``, with a remote host."""
    root = tmp_path_factory.mktemp("flow") / "p"
    shutil.copytree(template, root)
    proj = Project.open(root)
    sp = remote()
    steps: dict[str, list[Call]] = {}
    pattern = finder(identifiers(proj.participants()))
    report = _steps(proj, steps, sp, "code", lambda: proj.code(provider=sp))
    assert report.redacted and report.coded == report.selected > 100 and not report.warnings
    ded = remote(name="scripted-deductive", prompt_id="deductive-coding")
    report = _steps(proj, steps, ded, "code:deductive", lambda: proj.code(provider=ded, framework="ivpd", limit=12))
    assert report.redacted and report.coded == 12
    _accept_named(proj, pattern)
    report = _steps(proj, steps, sp, "categorize", lambda: proj.categorize(threshold=1.0, provider=sp))
    assert report.categories >= 1
    cat = proj.category_suggestion_rows()[0]
    proj.decide_category(cat["id"], "accept")
    for level in ("segment", "code", "category"):
        report = _steps(proj, steps, sp, f"map:{level}", lambda level=level: proj.map("ivpd", level=level, provider=sp))
        assert report.items and report.linked, f"map at {level} linked nothing"
    _steps(proj, steps, sp, "memo:category", lambda: proj.draft_memo(category=cat["name"], provider=sp))
    gold_quote = "Priya Natarajan said Tom Haverley at Northwind Logistics never saw the Cresta numbers."
    gold = root.parent / "gold.jsonl"
    gold.write_text("\n".join(json.dumps(r) for r in [
        {"quote": gold_quote, "framework": "ivpd", "label": "locus"},
        {"quote": "Each department reads the supplier's value its own way.", "framework": "ivpd", "label": "ivpd"},
    ]) + "\n", encoding="utf-8")  # fmt: skip
    _steps(proj, steps, sp, "evaluate_gold", lambda: proj.evaluate_gold(gold, provider=sp))
    yield Flow(proj, sp, steps, pattern, cat["name"], gold_quote)
    proj.close()


# -- the identifiers themselves -----------------------------------------------------------------
def test_identifier_list_is_what_the_redactor_hides(fresh):
    proj = fresh()
    terms = identifiers(proj.participants())
    r = from_participants(proj.participants())
    assert {"Priya Natarajan", "Natarajan", "Priya", "Zoë", "Northwind Logistics", "Northwind", "Cresta", "Vela"} <= terms
    assert not {"Interviewer", "Moderator"} & terms
    for t in terms:
        assert NAME_PLACEHOLDER.fullmatch(r.redact(t)), f"the redactor does not hide {t!r}"


# -- every step, redacted for a remote host -----------------------------------------------------
@pytest.mark.parametrize("step", STEPS)
def test_no_step_sends_an_identifier_to_a_remote_host(flow, step):
    assert_redacted(flow.steps[step], flow.pattern, restorer_for(flow.proj), step)


def test_coding_prompts_had_names_in_the_local_segment_text(flow):
    calls = flow.steps["code"]
    named = [c for c in calls if flow.pattern.search(c.segment or "")]
    assert len(named) > 10  # the unredacted segments were full of names ...
    for c in named:
        assert segment_of(c.user) != c.segment.strip() and NAME_PLACEHOLDER.search(segment_of(c.user))  # ... sent as placeholders
    assert any("deductive, codebook-driven coding" in c.system for c in flow.steps["code:deductive"])


def test_gold_quote_with_a_name_is_sent_redacted(flow):
    calls = flow.steps["evaluate_gold"]
    assert any("ITEM:" in c.user and "never saw the" in c.user for c in calls)
    assert not any(flow.gold_quote in c.user for c in calls)


def test_results_in_the_database_carry_the_restored_names(flow):
    texts = db_texts(flow.proj)
    for table, values in texts.items():
        stray = [v for v in values if PLACEHOLDER.search(v)]
        assert not stray, f"{table} holds placeholders: {stray[:3]}"
    named = lambda table: [v for v in texts[table] if flow.pattern.search(v)]  # noqa: E731
    for table in ("suggestions", "codes", "category_suggestions", "categories", "link_suggestions", "memo_drafts"):
        assert named(table), f"no restored name in {table}"
    rows = flow.proj.suggestion_rows()
    talk = [s for s in rows if s["label"].startswith("Talking about")]
    assert talk and all(s["status"] in ("proposed", "accepted") and s["grounding"] == "exact" for s in talk)
    assert any("Tom Haverley" in s["label"] for s in talk)
    assert flow.pattern.search(flow.category) and not PLACEHOLDER.search(flow.category)
    body = flow.proj.memo_drafts()[0]["body"]
    assert "How " in body and flow.pattern.search(body.split("## Definition", 1)[1].split("##", 1)[0])


def test_case_memo_sends_no_identifier(flow):
    sp = remote()
    flow.proj.draft_memo(case="northwind-facilities", provider=sp)
    assert_redacted(sp.history, flow.pattern, restorer_for(flow.proj), "memo:case")


# -- the [privacy] setting ----------------------------------------------------------------------
def small_flow(proj: Project, sp: ScriptedProvider, pattern: re.Pattern[str]) -> dict[str, list[Call]]:
    """Coding (the workshop only), then categorize, map (code, category) and a category memo."""
    run: dict[str, list[Call]] = {}
    _steps(proj, run, sp, "code", lambda: proj.code(provider=sp, source=WORKSHOP.name))
    _accept_named(proj, pattern, n=30)
    _steps(proj, run, sp, "categorize", lambda: proj.categorize(threshold=1.0, provider=sp))
    cat = proj.category_suggestion_rows()[0]
    proj.decide_category(cat["id"], "accept")
    _steps(proj, run, sp, "map:code", lambda: proj.map("ivpd", level="code", provider=sp))
    _steps(proj, run, sp, "map:category", lambda: proj.map("ivpd", level="category", provider=sp))
    _steps(proj, run, sp, "memo:category", lambda: proj.draft_memo(category=cat["name"], provider=sp))
    return run


def test_never_sends_names_as_they_are(fresh):
    proj = fresh()
    cfg = Config.load(proj.root / CONFIG_NAME)  # the TOML file, as a researcher would edit it
    cfg.privacy.redact = "never"
    cfg.save(proj.root / CONFIG_NAME)
    proj.close()
    proj = Project.open(proj.root)
    try:
        assert proj.config.privacy.redact == "never"
        pattern = finder(identifiers(proj.participants()))
        sp = remote()
        report = proj.code(provider=sp, source=WORKSHOP.name, limit=5)
        assert not report.redacted and any("unredacted" in w and "api.example.invalid" in w for w in report.warnings)
        run = small_flow(proj, sp, pattern) | {"first code": sp.history[:5]}
        for step, calls in run.items():
            assert calls and any(pattern.search(c.text) for c in calls), f"{step}: names were not sent"
            assert not any(NAME_PLACEHOLDER.search(c.text) for c in calls), f"{step}: redacted despite 'never'"
    finally:
        proj.close()


def test_auto_sends_text_as_it_is_to_a_local_provider(fresh):
    proj = fresh()
    pattern = finder(identifiers(proj.participants()))
    sp = remote(remote=False, base_host=None)
    for step, calls in small_flow(proj, sp, pattern).items():
        assert any(pattern.search(c.text) for c in calls) and not any(NAME_PLACEHOLDER.search(c.text) for c in calls), step


def test_always_redacts_for_a_local_provider(fresh):
    proj = fresh()
    proj.config.privacy.redact = "always"
    pattern = finder(identifiers(proj.participants()))
    sp = remote(remote=False, base_host=None)
    run = small_flow(proj, sp, pattern)
    for step, calls in run.items():
        assert_redacted(calls, pattern, restorer_for(proj), step)
    assert proj.conn.execute("SELECT redacted FROM llm_calls LIMIT 1").fetchone()[0] == 1
    for table, values in db_texts(proj).items():
        assert not [v for v in values if PLACEHOLDER.search(v)], table


@pytest.mark.parametrize("kind", ["ID", "SITE"])
def test_extra_names_and_patterns_apply_to_every_step(fresh, kind):
    """``extra_names`` (a person mentioned but not interviewed) and a custom pattern (a site name)
    are hidden from categorize, map and memos too, and restored in what they write."""
    proj = fresh()
    proj.config.privacy.extra_names = ["Kenny Marsh"]
    proj.config.privacy.patterns = {kind: r"\bDaventry\b"}
    extra = finder(["Kenny Marsh", "Kenny", "Marsh", "Daventry"])
    pattern = finder(identifiers(proj.participants(), ["Kenny Marsh"]) | {"Daventry"})
    sp = remote()
    run: dict[str, list[Call]] = {}
    _steps(proj, run, sp, "code", lambda: proj.code(provider=sp, source=WORKSHOP.name))
    assert any(extra.search(c.segment or "") for c in run["code"])
    ids = [s["id"] for s in proj.suggestion_rows(status="proposed") if extra.search(s["label"])]
    assert len(ids) >= 2, "the workshop mentions Kenny and Daventry in several segments"
    more = [s["id"] for s in proj.suggestion_rows(status="proposed") if pattern.search(s["label"]) and s["id"] not in ids]
    proj.accept(ids + more[:10])
    _steps(proj, run, sp, "categorize", lambda: proj.categorize(threshold=1.0, provider=sp))
    cat = next(c for c in proj.category_suggestion_rows() if extra.search(json.dumps(c, ensure_ascii=False)))
    proj.decide_category(cat["id"], "accept")
    _steps(proj, run, sp, "map:code", lambda: proj.map("ivpd", level="code", provider=sp))
    _steps(proj, run, sp, "memo:category", lambda: proj.draft_memo(category=cat["name"], provider=sp))
    custom = re.compile(rf"\[{kind}_\d+\]")
    kenny = restorer_for(proj).redact("Kenny")
    assert NAME_PLACEHOLDER.fullmatch(kenny)
    for step, calls in run.items():
        found = leaks(calls, pattern)
        assert not found, f"{step}: sent\n" + "\n".join(found[:10])
        assert any(custom.search(c.text) or kenny in c.text for c in calls), f"{step}: neither Kenny nor Daventry was in it"
    for step in ("code", "categorize", "map:code"):  # the accepted codes rest on passages naming both
        assert any(custom.search(c.text) for c in run[step]), f"{step}: no [{kind}_n] placeholder sent"
        assert any(kenny in c.text for c in run[step]), f"{step}: no placeholder for the extra name"
    for table, values in db_texts(proj).items():
        stray = [v for v in values if PLACEHOLDER.search(v)]
        assert not stray, f"{table} holds placeholders: {stray[:3]}"
    restored = " ".join(v for vs in db_texts(proj).values() for v in vs)
    assert "Kenny" in restored and "Daventry" in restored


# -- the scripted provider itself ---------------------------------------------------------------
def _coded_segments(proj: Project, n: int) -> list[dict[str, Any]]:
    """The first segments a coding run selects (participants' talk, by document name and order)."""
    segs = [s for s in proj.segments() if s["speaker"] not in ("Interviewer", "Moderator")]
    return sorted(segs, key=lambda s: (s["source"], s["start"]))[:n]


def test_scripted_provider_drives_a_coding_run_with_grounding(fresh):
    proj = fresh()
    first, second = _coded_segments(proj, 2)
    words = " ".join(first["text"].split()[2:7])
    sp = ScriptedProvider()
    sp.enqueue(
        {"codes": [{"label": "Echoing words", "in_vivo": False, "quote": words, "rationale": "r", "reused_code": None}]},
        CodeProposal(codes=[ProposedCode(label="Inventing", in_vivo=False, quote="words nobody said in this segment",
                                         rationale="r", reused_code=None)]),  # fmt: skip
    )
    report = proj.code(provider=sp, limit=2)
    assert report.coded == 2 and report.grounded == 1 and report.ungrounded == 1 and sp.pending == 0
    by_segment = {s["segment_id"]: s for s in proj.suggestion_rows()}
    good, bad = by_segment[first["id"]], by_segment[second["id"]]
    assert good["status"] == "proposed" and good["grounding"] == "exact"
    assert proj.document_text(good["source"])[good["start"] : good["end"]] == words
    assert bad["status"] == "ungrounded" and bad["start"] is None
    assert [c.kind for c in sp.history] == ["propose", "propose"] and sp.history[0].schema == "CodeProposal"
    assert sp.history[0].segment == first["text"] and sp.history[0].segment_id == first["id"]
    assert "SEGMENT (speaker: [PERSON_" in sp.history[0].user  # rendered, and redacted for the remote host
    prov = proj.provenance(good["id"])
    assert prov["provider"] == "scripted" and prov["base_host"] == "api.example.invalid" and prov["prompt_id"] == "initial-coding"


def test_scripted_quotes_of_placeholders_are_restored_before_grounding(fresh):
    proj = fresh()
    seg = next(s for s in proj.segments(WORKSHOP.name) if "Tom Haverley" in s["text"] and s["speaker"] != "Moderator")
    sp = remote()
    proj.code(provider=sp, source=seg["source"])
    s = next(x for x in proj.suggestion_rows() if x["segment_id"] == seg["id"])
    assert "[PERSON_" in segment_of(next(c for c in sp.history if c.segment_id == seg["id"]).user)
    assert "Tom Haverley" in s["quote"] and s["grounding"] == "exact" and "Tom Haverley" in s["label"]


def test_scripted_invalid_output_exceptions_and_an_empty_queue(fresh):
    proj = fresh()
    sp = ScriptedProvider("not JSON at all", {"codes": "not a list"})
    report = proj.code(provider=sp, limit=2)
    assert report.failed == 2 and report.coded == 0
    failed = sorted(proj.failed_calls(), key=lambda f: f["raw_response"])
    assert failed[0]["raw_response"] == "not JSON at all" and failed[0]["error"].startswith("invalid output")
    assert json.loads(failed[1]["raw_response"]) == {"codes": "not a list"}
    sp.enqueue(ProviderReply(None, "", error="HTTP 503: scripted"))
    assert sp.structured("s", "u", LinkProposal).error == "HTTP 503: scripted"
    sp.enqueue(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        sp.structured("s", "u", LinkProposal)
    with pytest.raises(AssertionError, match="LinkProposal"):
        sp.structured("s", "u", LinkProposal)
    sp.enqueue(CategoryProposal(name="n", definition="d", properties=[], dimensions=[]))
    with pytest.raises(AssertionError, match="CategoryProposal.*LinkProposal"):
        sp.structured("s", "u", LinkProposal)
    sp.enqueue({"construct_id": None, "confidence": 0.1, "rationale": "r", "evidence_quote": ""})
    reply = sp.structured("sys", "usr", LinkProposal)
    assert isinstance(reply.proposal, LinkProposal) and reply.proposal.construct_id is None
    assert [(c.kind, c.schema, c.system) for c in sp.calls(kind="structured")][-1] == ("structured", "LinkProposal", "sys")
    fallback = ScriptedProvider(default=lambda schema, system, user: {"construct_id": "x", "confidence": 1,
                                                                      "rationale": user, "evidence_quote": system})  # fmt: skip
    assert fallback.structured("S", "U", LinkProposal).proposal.rationale == "U"
    assert fallback.remote and fallback.params() == {} and fallback.base_host == "api.example.invalid"
