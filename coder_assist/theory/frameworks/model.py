"""Construct frameworks: codebooks of theoretical constructs that coded segments can be mapped to.

A framework is a YAML file with ``id``, ``name``, ``version``, ``description``, ``source_note`` and
a list of ``constructs``. Each construct has an ``id`` (snake_case, unique in its framework), a
``name``, a ``definition``, ``include`` cues (when to apply it), ``exclude`` cues (how it differs
from its neighbours), ``relations`` to other constructs, short invented ``examples``, and
optionally a ``parent`` and string ``attributes`` (e.g. grid coordinates).

A relation target or a parent is a construct id of the same framework, or
``other_framework.construct_id``. References inside one framework are checked when the file is
loaded; references into other frameworks can only be checked against a whole registry, with
:func:`check_references`.

Where frameworks come from (:func:`find_frameworks`), lowest precedence first:

1. plug-ins: factories registered through the ``register_frameworks(register)`` hook. A factory
   returns a :class:`Framework` or a path to a YAML file (see ``coder_assist.hookspecs``). A plug-in cannot
   replace a built-in framework (the built-in wins) and the first plug-in to use an id keeps it;
2. the built-ins shipped in ``coder_assist/theory/frameworks/data/*.yaml``;
3. ``<project_root>/frameworks/*.yaml`` (and ``*.yml``): a project file replaces a built-in or
   plug-in framework with the same id, so a team can pin or adapt a codebook. Two project files
   with the same id are an error.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from coder_assist.errors import InputError
from coder_assist.store.files import read_bounded

__all__ = [
    "RELATION_TYPES",
    "STRUCTURAL_RELATIONS",
    "Construct",
    "Framework",
    "Relation",
    "builtin_frameworks",
    "check_references",
    "find_frameworks",
    "load_framework",
    "parse_framework",
]

RelationType = Literal[
    "dimension_of", "part_of", "causes", "remedies", "contrasts_with", "related_to", "cell_of"
]
RELATION_TYPES: tuple[str, ...] = get_args(RelationType)
#: Relation types that express the codebook tree; a construct's ``parent`` is normally the target
#: of one of these.
STRUCTURAL_RELATIONS: frozenset[str] = frozenset({"dimension_of", "part_of", "cell_of"})

_ID_RE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_ID_RULE = "lower-case letters, digits and single underscores, starting with a letter"
MAX_BYTES = 2_000_000
"""The largest framework file read (2 MB); the built-ins are under 40 kB."""
MAX_DEPTH = 32
"""The deepest nesting of lists and mappings in a framework file; the schema needs five."""


# --------------------------------------------------------------------------- field types


def _text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("is empty")
    return value


def _snake_id(value: str) -> str:
    value = value.strip()
    if not _ID_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a snake_case id ({_ID_RULE})")
    return value


def _reference(value: str) -> str:
    value = value.strip()
    parts = value.split(".")
    if len(parts) > 2 or not all(_ID_RE.fullmatch(part) for part in parts):
        raise ValueError(f"'{value}' is not a construct id or 'framework_id.construct_id'")
    return value


def _cues(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("at least one cue is required")
    return value


def _version(value: Any) -> Any:
    # YAML reads an unquoted 1.0 as a float; accept it rather than fail on a technicality.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


Text = Annotated[str, AfterValidator(_text)]
SnakeId = Annotated[str, AfterValidator(_snake_id)]
Reference = Annotated[str, AfterValidator(_reference)]
Cues = Annotated[list[Text], AfterValidator(_cues)]


# --------------------------------------------------------------------------- models


class Relation(BaseModel):
    """A typed, directed link from one construct to another."""

    model_config = ConfigDict(extra="forbid")

    type: RelationType
    target: Reference

    @property
    def framework(self) -> str | None:
        """The target's framework id when the target is qualified (``fw.construct``), else None."""
        return self.target.split(".")[0] if "." in self.target else None

    @property
    def construct_id(self) -> str:
        return self.target.split(".")[-1]


class Construct(BaseModel):
    """One construct of a codebook."""

    model_config = ConfigDict(extra="forbid")

    id: SnakeId
    name: Text
    definition: Text
    include: Cues
    exclude: Cues
    relations: list[Relation] = []
    examples: list[Text] = []
    parent: Reference | None = None
    attributes: dict[str, str] = {}


class Framework(BaseModel):
    """A named, versioned set of constructs paraphrasing one published framework."""

    model_config = ConfigDict(extra="forbid")

    id: SnakeId
    name: Text
    version: Annotated[Text, BeforeValidator(_version)]
    description: Text
    source_note: Text
    constructs: list[Construct]

    @model_validator(mode="after")
    def _internal_references(self) -> Framework:
        problems = self._problems(None)
        if problems:
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise ValueError(problems[0] + more)
        return self

    # ----------------------------------------------------------------- checks

    def _resolve(self, ref: str, registry: Mapping[str, Framework] | None) -> str | None:
        """Why ``ref`` cannot be resolved, or None when it can (or cannot be checked yet)."""
        fw_id, _, cid = ref.rpartition(".")
        if not fw_id or fw_id == self.id:
            if cid not in self._index():
                return f"unknown construct '{cid}' in framework '{self.id}'"
            return None
        if registry is None:
            return None  # another framework: checked by check_references()
        other = registry.get(fw_id)
        if other is None:
            return f"unknown framework '{fw_id}'"
        if cid not in other._index():
            return f"unknown construct '{cid}' in framework '{fw_id}'"
        return None

    def _problems(self, registry: Mapping[str, Framework] | None) -> list[str]:
        """Unresolved references; local-only when ``registry`` is None, else cross-framework only."""
        problems: list[str] = []
        if registry is None:
            if not self.constructs:
                return ["constructs: at least one construct is required"]
            first: dict[str, int] = {}
            for i, c in enumerate(self.constructs):
                if c.id in first:
                    problems.append(f"constructs[{i}].id: duplicate id '{c.id}' (first used at "
                                    f"constructs[{first[c.id]}])")
                first.setdefault(c.id, i)
        for i, c in enumerate(self.constructs):
            where = f"constructs[{i}]"
            refs = [(f"{where}.parent", c.parent)] if c.parent else []
            refs += [(f"{where}.relations[{k}].target", r.target) for k, r in enumerate(c.relations)]
            for field, ref in refs:
                local = "." not in ref or ref.split(".")[0] == self.id
                if registry is None and local and ref.split(".")[-1] == c.id:
                    problems.append(f"{field}: construct '{c.id}' refers to itself")
                    continue
                if (registry is None) != local:
                    continue
                why = self._resolve(ref, registry)
                if why:
                    problems.append(f"{field}: {why} (construct '{c.id}')")
        if registry is None and not problems:
            problems += self._parent_cycles()
        return problems

    def _parent_cycles(self) -> list[str]:
        index = self._index()
        for i, c in enumerate(self.constructs):
            seen = {c.id}
            node = c
            while node.parent and "." not in node.parent:
                if node.parent in seen:
                    return [f"constructs[{i}].parent: parent chain of '{c.id}' loops back to "
                            f"'{node.parent}'"]
                seen.add(node.parent)
                node = index[node.parent]
        return []

    def check_references(self, registry: Mapping[str, Framework]) -> list[str]:
        """Problems with references into other frameworks, resolved against ``registry``.

        Each problem is one line starting with this framework's id, e.g.
        ``ivpd: constructs[2].relations[1].target: unknown framework 'foo' (construct 'locus')``.
        """
        return [f"{self.id}: {p}" for p in self._problems(registry)]

    # ----------------------------------------------------------------- access

    def _index(self) -> dict[str, Construct]:
        return {c.id: c for c in self.constructs}

    @property
    def construct_ids(self) -> list[str]:
        return [c.id for c in self.constructs]

    def construct(self, construct_id: str) -> Construct:
        """The construct with this id (``id`` or ``<this framework>.id``); KeyError if unknown."""
        fw_id, _, cid = construct_id.rpartition(".")
        found = self._index().get(cid) if fw_id in ("", self.id) else None
        if found is None:
            raise KeyError(f"framework '{self.id}' has no construct '{construct_id}'")
        return found

    def children(self, construct_id: str) -> list[Construct]:
        """Constructs whose ``parent`` is this construct, in file order."""
        cid = self.construct(construct_id).id
        return [c for c in self.constructs if c.parent in (cid, f"{self.id}.{cid}")]

    def text_for_matching(self, construct_id: str) -> str:
        """Name, definition, include cues and examples, one per line (for embedding similarity)."""
        c = self.construct(construct_id)
        return "\n".join([c.name, c.definition, *c.include, *c.examples])


def check_references(registry: Mapping[str, Framework]) -> list[str]:
    """Cross-framework reference problems in every framework of ``registry`` (empty when all resolve)."""
    problems: list[str] = []
    for key, fw in registry.items():
        if key != fw.id:
            problems.append(f"{key}: registered under '{key}' but its id is '{fw.id}'")
        problems += fw.check_references(registry)
    return problems


# --------------------------------------------------------------------------- loading


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys instead of keeping the last one silently,
    nesting deeper than :data:`MAX_DEPTH`, and aliases (``*name``: a few lines of them can stand
    for billions of values)."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not supported", event.start_mark)
        if self._depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable: the base class names it
                duplicate = False
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(error: yaml.YAMLError) -> str:
    problem = getattr(error, "problem", None) or str(error)
    mark = getattr(error, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    given = error.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "literal_error":
        return f"'{given}' is not allowed (use one of {error['ctx']['expected']})"
    if kind == "string_type":
        return "is empty" if given is None else f"must be text, not {type(given).__name__}"
    if kind == "list_type":
        return "must be a list" if given is not None else "is empty"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping, not {type(given).__name__}"
    msg = str(error.get("msg", kind))
    return msg[:1].lower() + msg[1:]


def _reason(error: ValidationError, raw: Mapping[str, Any]) -> str:
    """One line naming the first bad field, with the construct id when it is known."""
    errors = error.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    text = _describe(first)
    if loc:
        text = f"{_loc(loc)}: {text}"
        if len(loc) >= 2 and loc[0] == "constructs" and isinstance(loc[1], int) and loc[2:3] != ("id",):
            items = raw.get("constructs")
            item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
            cid = item.get("id") if isinstance(item, dict) else None
            if isinstance(cid, str) and cid:
                text += f" (construct '{cid}')"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problems)"
    return " ".join(text.split())


def parse_framework(data: bytes | str, path: str | Path) -> Framework:
    """Parse YAML text (bytes or str) into a :class:`Framework`; ``path`` names it in errors."""
    if len(data) > MAX_BYTES:
        raise InputError(path, f"file is over {MAX_BYTES // 1_000_000} MB, too large for a framework")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(path, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    else:
        text = data
    if not text.strip():
        raise InputError(path, "file is empty")
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InputError(path, f"not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(raw, dict):
        raise InputError(
            path,
            "not a framework: expected a mapping with id, name, version, description, source_note "
            f"and constructs at the top level, found {type(raw).__name__}",
        )
    try:
        return Framework.model_validate(raw)
    except ValidationError as exc:
        raise InputError(path, _reason(exc, raw)) from None


def load_framework(path: str | Path) -> Framework:
    """Load and validate one framework YAML file; any problem raises :class:`InputError`."""
    path = Path(path)
    return parse_framework(read_bounded(path, MAX_BYTES, "framework file"), path)


@functools.lru_cache(maxsize=1)
def _builtins() -> tuple[Framework, ...]:
    root = resources.files("coder_assist.theory.frameworks") / "data"
    loaded: dict[str, Framework] = {}
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.is_file() or not entry.name.endswith(".yaml"):
            continue
        label = f"coder_assist/theory/frameworks/data/{entry.name}"
        fw = parse_framework(entry.read_bytes(), label)
        if fw.id in loaded:
            raise InputError(label, f"id: framework '{fw.id}' is defined twice among the built-ins")
        loaded[fw.id] = fw
    return tuple(loaded.values())


def builtin_frameworks() -> dict[str, Framework]:
    """The frameworks shipped with coder-assist, by id (fresh copies: safe to modify)."""
    return {fw.id: fw.model_copy(deep=True) for fw in _builtins()}


def _as_framework(result: Any, label: str) -> Framework:
    if isinstance(result, Framework):
        return result
    if isinstance(result, (str, os.PathLike)):
        return load_framework(result)
    raise InputError(label, f"the factory returned {type(result).__name__}, expected a Framework or "
                            "a path to a framework YAML file")


def _plugin_frameworks() -> list[Framework]:
    """Frameworks from the ``register_frameworks`` hook.

    A broken plug-in manager (ImportError / AttributeError) means no plug-in frameworks. Factories may be
    given as a mapping ``name -> factory`` or as an iterable of factories; a factory is called
    with no arguments (a Framework or a path given directly is accepted as well).
    """
    try:
        from coder_assist.plugins import framework_factories

        factories: Any = framework_factories()
    except (ImportError, AttributeError):
        return []
    items: Iterable[tuple[str, Any]]
    if isinstance(factories, Mapping):
        items = ((str(name), f) for name, f in factories.items())
    else:
        items = ((f"#{i}", f) for i, f in enumerate(factories or ()))
    found: list[Framework] = []
    for name, factory in items:
        label = f"plug-in framework {name}"
        result = factory() if callable(factory) else factory
        found.append(_as_framework(result, label))
    return found


def find_frameworks(project_root: Path | str | None = None) -> dict[str, Framework]:
    """Every framework available to a project, by id: plug-ins, built-ins, then project files.

    See the module docstring for precedence. A malformed project file raises :class:`InputError`.
    Cross-framework references are not checked here; call :func:`check_references` on the result.
    """
    found = builtin_frameworks()
    for fw in _plugin_frameworks():
        found.setdefault(fw.id, fw)
    if project_root is not None:
        folder = Path(project_root) / "frameworks"
        if folder.is_dir():
            local: dict[str, Path] = {}
            paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
            for path in paths:
                if not path.is_file():
                    continue
                fw = load_framework(path)
                if fw.id in local:
                    raise InputError(path, f"id: framework '{fw.id}' is already defined in "
                                           f"{local[fw.id].name}")
                local[fw.id] = path
                found[fw.id] = fw
    return found
