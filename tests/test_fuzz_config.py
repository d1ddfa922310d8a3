"""Property-based fuzzing of the review filter language, the project config (TOML) and framework files
(YAML), issue 12: arbitrary and near-valid input gives a usable result or a ``CoderAssistError`` on
one line, never another exception. Inputs that once failed are kept in ``tests/fuzz_corpus/config/``
(``filter-*.txt``, ``config-*.toml``, ``framework-*.yaml``) and replayed."""

from __future__ import annotations

import math
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coder_assist import Project
from coder_assist.errors import CoderAssistError
from coder_assist.review.where import FIELDS, FROM, compile_where
from coder_assist.store.config import CONFIG_NAME, Config
from coder_assist.theory.frameworks import Framework, parse_framework

CORPUS = Path(__file__).parent / "fuzz_corpus" / "config"
BUILTIN = Path(__file__).parents[1] / "coder_assist" / "theory" / "frameworks" / "data" / "ivpd.yaml"
FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip


def _fresh(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz") / "p"
    with Project.init(root, embedder="hash", coder="ann"):
        pass
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A fresh project that filters run against."""
    return _fresh(tmp_path_factory)


@pytest.fixture(scope="module")
def config_root(tmp_path_factory):
    """A fresh project that configs are written into (and then opened)."""
    return _fresh(tmp_path_factory)


def refused(error: CoderAssistError) -> None:
    assert str(error) and "\n" not in str(error)


def check_filter(root: Path, expr: str) -> None:
    """The property: refused on one line, or SQL that SQLite runs, with ``%``, ``_`` and ``\\`` of a
    ``~`` value escaped (each condition is fixed text with one bound parameter)."""
    try:
        cond, params = compile_where(expr)
    except CoderAssistError as error:
        return refused(error)
    for part, param in zip(cond.split(" AND "), params, strict=True):
        if "LIKE" in part:
            assert re.fullmatch(r"%(?:[^%_\\]|\\[%_\\])*%", param, re.S), param
    with Project.open(root) as p:
        p.conn.execute(f"SELECT count(*) {FROM} WHERE {cond}", params).fetchone()


def check_config(root: Path, data: bytes) -> None:
    """The property: refused on one line, or a config whose values the steps can use as they are."""
    (root / CONFIG_NAME).write_bytes(data)
    try:
        with Project.open(root) as p:
            cfg = p.config
    except CoderAssistError as error:
        return refused(error)
    assert all(math.isfinite(x) for x in _floats(cfg.model_dump()))
    int(cfg.ingest.max_file_mb * 1_000_000)
    for rx in cfg.privacy.patterns.values():
        assert re.compile(rx).fullmatch("") is None
    assert all(x >= 0 for pair in cfg.prices.values() for x in pair)
    urlparse(cfg.index.url).port  # noqa: B018 - raises on a bad port


def _floats(value: object) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [x for item in value for x in _floats(item)] if isinstance(value, (list, tuple)) else []


def check_framework(data: bytes | str) -> None:
    """The property: refused on one line, or a framework."""
    try:
        assert isinstance(parse_framework(data, "fuzz.yaml"), Framework)
    except CoderAssistError as error:
        refused(error)


# --- strategies ------------------------------------------------------------------------------------

_OPS = st.sampled_from(["=", "!=", "~", "!~", "<", "<=", ">", ">=", "==", "=~", ""])
_VALUES = st.one_of(
    st.sampled_from(["%", "_", "\\", "%%", "a%b_c", "'", '"', "''", "true", "maybe", "1", "-1", "1e999", "nan", "inf",
                     "9" * 30, "9" * 5000, "x" * 600, "ä", "\x00", "\udcff", ";DROP TABLE codes", "and", " "]),
    st.text(max_size=12),
)  # fmt: skip
_FIELD = st.one_of(st.sampled_from(sorted(FIELDS)), st.sampled_from(["LABEL", "nope", "s.label", "", "wave1"]))
_QUOTED = st.tuples(st.sampled_from(["", "'", '"']), _VALUES).map(lambda t: t[0] + t[1] + t[0])
_CLAUSE = st.tuples(_FIELD, st.sampled_from(["", " "]), _OPS, st.sampled_from(["", " "]),
                    st.one_of(_QUOTED, _QUOTED, _VALUES)).map("".join)  # fmt: skip
_FILTER = st.one_of(st.lists(_CLAUSE, min_size=1, max_size=5).map(lambda cs: " and ".join(cs)), st.text(max_size=60))

_SCALAR = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(max_size=10), st.sampled_from(["(", "[a-", "x*", "EMP-\\d+", "http://localhost:1", "http://h:99999", "auto"]),
)  # fmt: skip
_VALUE = st.recursive(_SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                      max_leaves=6)  # fmt: skip
_NUMBERS = st.one_of(st.floats(-1, 1e6), st.sampled_from([math.inf, -math.inf, math.nan, 0.0, 1e308]))
_PATTERNS = st.dictionaries(st.sampled_from(["ID", "SITE", "X1", "id", "", "A-B"]),
                            st.sampled_from(["EMP-\\d+", "\\bDaventry\\b", "(", "x*", "[a-", "(?P<x", "a{99999999999}"]),
                            max_size=2)  # fmt: skip


def _typed(default: object) -> st.SearchStrategy:
    """Values of the default's type (often valid, sometimes out of range), and now and then anything."""
    if isinstance(default, bool):
        typed: st.SearchStrategy = st.booleans()
    elif isinstance(default, int):
        typed = st.integers(-5, 2000)
    elif isinstance(default, float):
        typed = _NUMBERS
    elif isinstance(default, str):
        typed = st.one_of(st.sampled_from(["", "auto", "offline", "always", "http://localhost:1", "http://h:99999",
                                           "https://x", "ftp://x", "localhost"]), st.text(max_size=8))  # fmt: skip
    elif isinstance(default, dict):
        typed = _PATTERNS
    elif isinstance(default, (list, tuple)) and default and isinstance(default[0], float):
        typed = st.lists(_NUMBERS, min_size=1, max_size=3)
    else:
        typed = st.lists(st.text(max_size=8), max_size=3)
    return st.one_of(typed, typed, typed, _VALUE)


_DEFAULTS = Config().model_dump(exclude_none=True)
_ENTRY = st.one_of(*(st.tuples(st.just(section), st.just(key), _typed(value))
                     for section, keys in _DEFAULTS.items() for key, value in keys.items()),
                   st.tuples(st.sampled_from(["prices", "privacy", "nope"]), st.sampled_from(["gpt-x", "x", "seed"]),
                             _VALUE))  # fmt: skip


def _toml(entries: list[tuple[str, str, object]]) -> str:
    data: dict[str, dict[str, object]] = {}
    for section, key, value in entries:
        data.setdefault(section, {})[key] = value
    return tomli_w.dumps(data)


_NEAR_CONFIG = st.lists(_ENTRY, max_size=4).map(_toml)


def _mutate(text: str, edits: list[tuple[int, str]]) -> str:
    for at, chunk in edits:
        at %= len(text) + 1
        text = text[:at] + chunk + text[at:]
    return text


_CHUNKS = st.one_of(st.sampled_from(["[", "]", "{", "}", "'", '"', "=", "\n", "inf", "nan", "-", "&a", "*a", "? ",
                                     "- ", ": ", "\t", "\x00", "\udcff", "!!python/object:os.system", "[" * 40]),
                    st.text(max_size=4))  # fmt: skip
_EDITS = st.lists(st.tuples(st.integers(0, 10**6), _CHUNKS), min_size=1, max_size=4)
_YAML_TREE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
                          lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                  st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                          max_leaves=12)  # fmt: skip


# --- properties ------------------------------------------------------------------------------------


@FUZZ
@given(expr=_FILTER)
def test_filter_language(project, expr: str) -> None:
    check_filter(project, expr)


@FUZZ
@given(text=_NEAR_CONFIG)
def test_near_valid_config(config_root, text: str) -> None:
    check_config(config_root, text.encode("utf-8"))


@settings(FUZZ, max_examples=250)
@given(edits=_EDITS)
def test_mutated_config(config_root, edits: list[tuple[int, str]]) -> None:
    base = tomli_w.dumps(Config().model_dump(exclude_none=True))
    check_config(config_root, _mutate(base, edits).encode("utf-8", "surrogateescape"))


@settings(FUZZ, max_examples=200)
@given(data=st.binary(max_size=200))
def test_arbitrary_config_bytes(config_root, data: bytes) -> None:
    check_config(config_root, data)


@settings(FUZZ, max_examples=200)
@given(edits=_EDITS)
def test_mutated_framework(edits: list[tuple[int, str]]) -> None:
    check_framework(_mutate(BUILTIN.read_text(encoding="utf-8")[:3000], edits).encode("utf-8", "surrogateescape"))


@FUZZ
@given(tree=_YAML_TREE, data=st.binary(max_size=100))
def test_arbitrary_framework_yaml(tree: object, data: bytes) -> None:
    import yaml

    check_framework(yaml.safe_dump({"id": "x", "constructs": tree}))
    check_framework(data)


# --- the corpus ------------------------------------------------------------------------------------


def corpus() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.name != "README.md")


@pytest.mark.parametrize("path", corpus(), ids=lambda p: p.name)
def test_corpus_case_replays(project, config_root, path: Path) -> None:
    kind = path.name.split("-")[0]
    if kind == "filter":
        check_filter(project, path.read_bytes().decode("utf-8", "surrogateescape"))  # as on a command line
    elif kind == "config":
        check_config(config_root, path.read_bytes())
    else:
        assert kind == "framework", f"{path.name}: name it filter-*, config-* or framework-*"
        check_framework(path.read_bytes())


def test_every_corpus_case_is_described() -> None:
    described = (CORPUS / "README.md").read_text(encoding="utf-8")
    assert [p.name for p in corpus() if f"`{p.name}`" not in described] == []
