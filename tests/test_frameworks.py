"""Construct frameworks: the built-in codebooks, the loader's errors, discovery, and the gold set."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

import coder_assist.plugins
from coder_assist.errors import InputError
from coder_assist.ingest.formats import parse_bytes
from coder_assist.theory.frameworks import (
    RELATION_TYPES,
    STRUCTURAL_RELATIONS,
    Framework,
    builtin_frameworks,
    check_references,
    find_frameworks,
    load_framework,
    parse_framework,
)

from .conftest import FIXTURES, SHARED

DATA = Path(__file__).resolve().parents[1] / "coder_assist" / "frameworks" / "data"
GOLD = FIXTURES / "gold" / "constructs.jsonl"
CATALOGUE = SHARED.parent / "constructs" / "CONSTRUCTS.md"
BUILTIN_IDS = {
    "ivpd", "ivpd_core_categories", "value_strategy", "value_based_selling", "asymmetric_value",
    "firm_boundary_value",
}
SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
ID_TOKEN = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)?")


@pytest.fixture(scope="module")
def builtins() -> dict[str, Framework]:
    return builtin_frameworks()


def all_constructs(frameworks: dict[str, Framework]):
    for fw in frameworks.values():
        for c in fw.constructs:
            yield fw, c


# --------------------------------------------------------------------------- the built-ins


def test_all_builtins_load_and_validate(builtins: dict[str, Framework]) -> None:
    assert set(builtins) == BUILTIN_IDS
    for path in sorted(DATA.glob("*.yaml")):
        fw = load_framework(path)
        assert fw.id == path.stem, "a built-in file is named after its framework id"
        assert fw.version and fw.description and fw.source_note
        assert fw.model_dump() == builtins[fw.id].model_dump()


def test_builtins_are_fresh_copies(builtins: dict[str, Framework]) -> None:
    again = builtin_frameworks()
    again["ivpd"].constructs.clear()
    assert builtin_frameworks()["ivpd"].constructs


def test_cross_framework_references_resolve(builtins: dict[str, Framework]) -> None:
    assert check_references(builtins) == []
    crossing = [r for _, c in all_constructs(builtins) for r in c.relations if r.framework]
    assert crossing, "the built-ins should link to each other"


def test_ids_unique_and_snake_case(builtins: dict[str, Framework]) -> None:
    for fw in builtins.values():
        ids = fw.construct_ids
        assert len(ids) == len(set(ids)), fw.id
        assert all(re.fullmatch(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*", cid) for cid in ids)


def test_every_construct_is_complete(builtins: dict[str, Framework]) -> None:
    known = {c.id for _, c in all_constructs(builtins)} | {
        f"{fw.id}.{c.id}" for fw, c in all_constructs(builtins)
    }
    for fw, c in all_constructs(builtins):
        where = f"{fw.id}.{c.id}"
        assert c.name and c.definition, where
        assert 2 <= len(SENTENCE_END.findall(c.definition)) <= 4, f"{where}: definition is 2-4 sentences"
        assert c.include and c.exclude, where
        assert 2 <= len(c.examples) <= 4, f"{where}: 2-4 examples"
        named = {t for cue in c.exclude for t in ID_TOKEN.findall(cue) if t in known and t != c.id}
        assert named, f"{where}: an exclude cue must name a neighbouring construct id"
        assert all(r.type in RELATION_TYPES for r in c.relations)
        if c.parent:
            assert any(r.type in STRUCTURAL_RELATIONS and r.target == c.parent for r in c.relations), (
                f"{where}: a child carries a dimension_of/part_of/cell_of relation to its parent"
            )


def test_framework_sources_cite_the_catalogue(builtins: dict[str, Framework]) -> None:
    assert "Töytäri & Rajala (2015)" in builtins["value_based_selling"].source_note
    assert "La Rocca & Snehota (2014)" in builtins["firm_boundary_value"].source_note
    assert "Henneberg, Pardo, Mouzas & Naudé" in builtins["value_strategy"].source_note
    for fid in ("ivpd", "ivpd_core_categories"):
        assert "paper 000" in builtins[fid].source_note


def test_ivpd_structure(builtins: dict[str, Framework]) -> None:
    ivpd = builtins["ivpd"]
    dims = {c.id for c in ivpd.constructs if any(r.type == "dimension_of" and r.target == "ivpd"
                                                 for r in c.relations)}
    assert dims == {"locus", "subjectivity", "temporality", "expectations"}
    assert {c.id for c in ivpd.children("ivpa")} == {
        "ivpa_cognition_alignment", "ivpa_expectation_normalisation", "ivpa_benefit_normalisation",
        "ivpa_sacrifice_normalisation",
    }
    assert ivpd.children("ivpd_sources") and ivpd.children("ivpd_consequences")
    assert any(r.type == "contrasts_with" and r.target == "ivpd" for r in ivpd.construct("ivpa").relations)
    core = builtins["ivpd_core_categories"]
    tops = {c.id for c in core.constructs if not c.parent}
    assert tops == {"value_perceptions", "cognition", "stakeholder_change", "stateful_relationships",
                    "value_sharing_mutuality"}
    assert all(core.children(t) for t in tops), "every core category has its properties as children"


def test_value_strategy_grid(builtins: dict[str, Framework]) -> None:
    vs = builtins["value_strategy"]
    cells = [c for c in vs.constructs if any(r.type == "cell_of" for r in c.relations)]
    coords = {(c.attributes["buyer_strategy"], c.attributes["supplier_strategy"]): c for c in cells}
    strategies = ("internal", "exchange", "relational")
    assert len(cells) == 9 and set(coords) == {(b, s) for b in strategies for s in strategies}
    for (buyer, supplier), cell in coords.items():
        (kind,) = [r.target for r in cell.relations if r.type == "cell_of"]
        if buyer == supplier:
            expected = "natural_match"
        elif {buyer, supplier} == {"internal", "relational"}:
            expected = "non_viable_posture"
        else:
            expected = "managed_relationship"
        assert kind == expected == cell.parent, cell.id
    assert len(vs.children("managed_relationship")) == 4
    assert len(vs.children("dyadic_competence")) == 6
    for sid in ("internal_value_strategy", "exchange_value_strategy", "relational_value_strategy"):
        vs.construct(sid)


def test_value_based_selling_stages(builtins: dict[str, Framework]) -> None:
    vbs = builtins["value_based_selling"]
    stages = ("vbs_planning", "vbs_implementation", "vbs_leverage")
    sizes = {stage: len(vbs.children(stage)) for stage in stages}
    assert sizes == {"vbs_planning": 4, "vbs_implementation": 6, "vbs_leverage": 2}


def test_text_for_matching_and_lookup(builtins: dict[str, Framework]) -> None:
    ivpd = builtins["ivpd"]
    for c in ivpd.constructs:
        text = ivpd.text_for_matching(c.id)
        assert c.definition in text and c.name in text
        assert all(cue in text for cue in c.include) and all(ex in text for ex in c.examples)
        assert not any(cue in text for cue in c.exclude)
    assert ivpd.construct("ivpd.locus") is ivpd.construct("locus")
    with pytest.raises(KeyError):
        ivpd.construct("no_such_construct")
    with pytest.raises(KeyError):
        ivpd.construct("value_strategy.locus")


# --------------------------------------------------------------------------- loader errors

GOOD = """\
id: demo
name: Demo framework
version: "0.1"
description: A small test framework.
source_note: Invented for the tests.
constructs:
  - id: alpha
    name: Alpha
    definition: The first construct. It has two sentences.
    include: [when alpha shows]
    exclude: [beta is different]
    relations:
      - {type: related_to, target: beta}
    examples: [an example, another example]
  - id: beta
    name: Beta
    parent: alpha
    definition: The second construct. It also has two sentences.
    include: [when beta shows]
    exclude: [alpha is different]
    relations:
      - {type: part_of, target: alpha}
      - {type: related_to, target: ivpd.locus}
"""
# A framework that claims the built-in id "ivpd" (its own references stay local).
SHADOW = GOOD.replace("id: demo", "id: ivpd").replace("target: ivpd.locus", "target: alpha")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, name: str, text: str) -> InputError:
    path = write(tmp_path, name, text)
    with pytest.raises(InputError) as caught:
        load_framework(path)
    message = str(caught.value)
    assert name in message and "\n" not in message
    return caught.value


def test_good_file_loads(tmp_path: Path) -> None:
    fw = load_framework(write(tmp_path, "demo.yaml", GOOD))
    assert fw.construct_ids == ["alpha", "beta"]
    assert [c.id for c in fw.children("alpha")] == ["beta"]
    assert fw.check_references(builtin_frameworks()) == []
    problems = fw.check_references({"demo": fw})
    assert problems == [
        "demo: constructs[1].relations[1].target: unknown framework 'ivpd' (construct 'beta')"
    ]


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ("    definition: The first construct. It has two sentences.\n", "", "constructs[0].definition",
         "required"),
        ("    definition: The first construct. It has two sentences.\n", "    definition:\n",
         "constructs[0].definition", "empty"),
        ("  - id: beta\n", "  - id: alpha\n", "constructs[1].id", "duplicate id 'alpha'"),
        ("target: ivpd.locus", "target: gamma", "constructs[1].relations[1].target",
         "unknown construct 'gamma'"),
        ("{type: part_of, target: alpha}", "{type: child_of, target: alpha}",
         "constructs[1].relations[0].type",
         "'child_of' is not allowed"),
        ("    exclude: [alpha is different]\n", "    exclude: []\n", "constructs[1].exclude",
         "at least one cue is required"),
        ("    include: [when alpha shows]\n", "    include: when alpha shows\n", "constructs[0].include",
         "must be a list"),
        ("    parent: alpha\n", "    parent: omega\n", "constructs[1].parent", "unknown construct 'omega'"),
        ("  - id: beta\n", "  - id: Beta-2\n", "constructs[1].id", "not a snake_case id"),
        ("    examples: [an example, another example]\n", "    example: [one]\n", "constructs[0].example",
         "unknown field"),
        ("target: beta}", "target: alpha}", "constructs[0].relations[0].target", "refers to itself"),
        ("source_note: Invented for the tests.\n", "", "source_note", "required"),
    ],
)
def test_bad_files_name_file_and_field(tmp_path: Path, old: str, new: str, field: str, words: str) -> None:
    assert old in GOOD
    error = load_error(tmp_path, "broken.yaml", GOOD.replace(old, new, 1))
    assert error.reason.startswith(f"{field}: "), error.reason
    assert words in error.reason


def test_reason_matches_documented_shape(tmp_path: Path) -> None:
    text = GOOD.replace("    exclude: [alpha is different]\n", "    exclude: []\n")
    error = load_error(tmp_path, "cues.yaml", text)
    assert error.reason == "constructs[1].exclude: at least one cue is required (construct 'beta')"


def test_parent_cycle_is_rejected(tmp_path: Path) -> None:
    text = GOOD.replace("    include: [when alpha shows]\n",
                        "    parent: beta\n    include: [when alpha shows]\n")
    error = load_error(tmp_path, "cycle.yaml", text)
    assert "parent" in error.reason and "loops" in error.reason


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("id: demo\nname: [unclosed\n", "not valid YAML"),
        ("constructs:\n  - id: a\n\tname: tab\n", "not valid YAML"),
        ("- just\n- a list\n", "not a framework"),
        ("", "file is empty"),
        ("id: demo\nid: again\n", "duplicate key 'id'"),
    ],
)
def test_not_a_framework_file(tmp_path: Path, text: str, words: str) -> None:
    error = load_error(tmp_path, "nonsense.yaml", text)
    assert words in error.reason


def test_unreadable_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing.yaml: cannot read"):
        load_framework(tmp_path / "missing.yaml")
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="binary.yaml: not UTF-8"):
        load_framework(path)


def test_unquoted_version_is_accepted() -> None:
    fw = parse_framework(GOOD.replace('version: "0.1"', "version: 2.5"), "inline.yaml")
    assert fw.version == "2.5"


# --------------------------------------------------------------------------- discovery


def test_find_frameworks_without_project(builtins: dict[str, Framework]) -> None:
    assert set(find_frameworks(None)) == set(builtins)


def test_project_local_framework_is_found(tmp_path: Path) -> None:
    folder = tmp_path / "frameworks"
    folder.mkdir()
    write(folder, "demo.yaml", GOOD)
    (folder / "notes.txt").write_text("not a framework", encoding="utf-8")
    found = find_frameworks(tmp_path)
    assert BUILTIN_IDS | {"demo"} == set(found)
    assert check_references(found) == []
    assert find_frameworks(tmp_path / "no-such-project").keys() == builtin_frameworks().keys()


def test_project_file_overrides_builtin_and_duplicates_fail(tmp_path: Path) -> None:
    folder = tmp_path / "frameworks"
    folder.mkdir()
    write(folder, "my_ivpd.yaml", SHADOW)
    found = find_frameworks(tmp_path)
    assert found["ivpd"].name == "Demo framework"
    problems = check_references(found)
    assert problems and all("unknown construct" in p for p in problems), "links into ivpd.* now dangle"
    write(folder, "other.yaml", SHADOW)
    with pytest.raises(InputError, match="already defined in my_ivpd.yaml"):
        find_frameworks(tmp_path)


def test_bad_project_file_raises(tmp_path: Path) -> None:
    folder = tmp_path / "frameworks"
    folder.mkdir()
    write(folder, "bad.yaml", "id: [")
    with pytest.raises(InputError, match="bad.yaml: not valid YAML"):
        find_frameworks(tmp_path)


def test_plugin_frameworks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from_path = write(tmp_path, "plugged.yaml", GOOD.replace("id: demo", "id: plugged"))
    object_fw = parse_framework(GOOD.replace("id: demo", "id: from_object"), "object.yaml")
    shadow = parse_framework(SHADOW, "shadow.yaml")
    factories = {"a": lambda: object_fw, "b": lambda: str(from_path), "c": lambda: shadow}
    monkeypatch.setattr(coder_assist.plugins, "framework_factories", lambda: factories, raising=False)
    found = find_frameworks(None)
    assert {"plugged", "from_object"} <= set(found)
    assert found["ivpd"].name != "Demo framework", "a plug-in cannot replace a built-in"
    monkeypatch.setattr(coder_assist.plugins, "framework_factories", lambda: [lambda: 42], raising=False)
    with pytest.raises(InputError, match="expected a Framework or a path"):
        find_frameworks(None)


def test_works_without_the_plugin_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(coder_assist.plugins, "framework_factories", raising=False)
    assert set(find_frameworks(None)) == BUILTIN_IDS

    def missing_hook() -> None:
        raise AttributeError("'_HookRelay' object has no attribute 'register_frameworks'")

    monkeypatch.setattr(coder_assist.plugins, "framework_factories", missing_hook, raising=False)
    assert set(find_frameworks(None)) == BUILTIN_IDS


# --------------------------------------------------------------------------- the gold set


@pytest.fixture(scope="module")
def gold() -> list[dict[str, str]]:
    lines = GOLD.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def fixture_turns() -> dict[str, list[str]]:
    turns: dict[str, list[str]] = {}
    for path in sorted(FIXTURES.glob("wave*/*")):
        parsed = parse_bytes(path, path.read_bytes())
        turns[path.name] = [turn.text for turn in parsed.turns]
    return turns


def test_gold_records_are_well_formed(gold: list[dict[str, str]], builtins: dict[str, Framework]) -> None:
    for i, record in enumerate(gold):
        assert set(record) == {"quote", "framework", "label", "source"}, i
        assert record["framework"] in builtins, record
        labels = builtins[record["framework"]].construct_ids
        assert record["label"] == "none" or record["label"] in labels, record
    keys = [(r["framework"], r["quote"]) for r in gold]
    assert len(keys) == len(set(keys)), "no quote is labelled twice for the same framework"


def test_gold_quotes_are_verbatim(gold: list[dict[str, str]], fixture_turns: dict[str, list[str]]) -> None:
    for record in gold:
        if record["source"].startswith("gold:"):  # written for the gold set, not from a transcript
            continue
        assert record["source"] in fixture_turns, record["source"]
        quote = record["quote"]
        assert quote == quote.strip() and quote
        assert any(quote in text for text in fixture_turns[record["source"]]), record


def test_gold_counts(gold: list[dict[str, str]]) -> None:
    per_framework = Counter(r["framework"] for r in gold)
    assert len(gold) >= 60
    assert per_framework["ivpd"] >= 30 and per_framework["value_strategy"] >= 30
    share_none = sum(r["label"] == "none" for r in gold) / len(gold)
    assert 0.05 <= share_none <= 0.2
    assert len({r["source"] for r in gold}) >= 10, "the gold set draws on most fixture files"


# --------------------------------------------------------------------------- own words


def _words(text: str) -> list[str]:
    return re.sub(r"[^\w\s]", " ", text.lower()).split()


def _grams(words: list[str], n: int = 8) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def _construct_texts(frameworks: dict[str, Framework]):
    for fw in frameworks.values():
        yield f"{fw.id}.name", fw.name
        yield f"{fw.id}.description", fw.description
        for c in fw.constructs:
            yield f"{fw.id}.{c.id}.name", c.name
            yield f"{fw.id}.{c.id}.definition", c.definition
            for kind in ("include", "exclude", "examples"):
                for k, text in enumerate(getattr(c, kind)):
                    yield f"{fw.id}.{c.id}.{kind}[{k}]", text


@pytest.mark.skipif(not CATALOGUE.is_file(), reason=f"construct catalogue not found at {CATALOGUE}")
def test_no_text_copied_from_the_catalogue(builtins: dict[str, Framework]) -> None:
    catalogue = _grams(_words(CATALOGUE.read_text(encoding="utf-8")))
    copied = [(where, " ".join(g)) for where, text in _construct_texts(builtins)
              for g in _grams(_words(text)) & catalogue]
    assert copied == []


def test_no_text_shared_with_the_fixture_transcripts(
    builtins: dict[str, Framework], fixture_turns: dict[str, list[str]]
) -> None:
    """Examples and cues are invented apart from the fixtures, so the gold set is a fair test."""
    fixtures: set[tuple[str, ...]] = set()
    for texts in fixture_turns.values():
        for text in texts:
            fixtures |= _grams(_words(text))
    shared = [(where, " ".join(g)) for where, text in _construct_texts(builtins)
              for g in _grams(_words(text)) & fixtures]
    assert shared == []


def test_plugin_framework_through_the_real_hook(tmp_path: Path) -> None:
    from coder_assist.theory.frameworks import find_frameworks
    from coder_assist.hookspecs import hookimpl
    from coder_assist.plugins import load_plugins

    path = tmp_path / "plugged.yaml"
    path.write_text(
        "id: plugged\nname: Plugged\nversion: '1'\ndescription: From a plug-in.\nsource_note: Test.\nconstructs:\n"
        "  - id: alpha\n    name: Alpha\n    definition: The first one.\n    include: [a cue]\n    exclude: [not beta]\n",
        encoding="utf-8",
    )

    class Plugin:
        @staticmethod
        @hookimpl
        def register_frameworks(register):  # type: ignore[no-untyped-def]
            register("plugged", lambda: path)

    pm = load_plugins()
    pm.register(Plugin, name="test-frameworks")
    try:
        found = find_frameworks(None)
        assert found["plugged"].construct("alpha").name == "Alpha" and "ivpd" in found
    finally:
        pm.unregister(name="test-frameworks")
