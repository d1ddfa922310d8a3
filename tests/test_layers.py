"""The dependency rule of docs/ARCHITECTURE.md, checked on the source: front ends -> Project -> layers
-> store, never upwards, and no import cycle anywhere in the package.

Every import counts, including those inside functions and under ``TYPE_CHECKING``: a step that
needs ``Project`` for a type hint still depends on it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "coder_assist"

#: Rank of each part of the package; a module may import only parts of its own rank or lower.
#: ``ingest`` and ``suggest`` share a rank but neither may import the other.
RANKS = {
    "errors": 0, "hookspecs": 0, "plugins": 0, "progress": 0,
    "store": 1,
    "ingest": 2, "suggest": 2,
    "review": 3,
    "theory": 4, "exchange": 4,
    "notebook": 5,
    "project": 6, "__init__": 6,
    "cli": 7,
}  # fmt: skip
SIBLINGS_APART = {frozenset({"ingest", "suggest"}), frozenset({"theory", "exchange"})}


def sources(root: Path = PACKAGE) -> dict[str, str]:
    """Dotted module name -> source, for every module of the package."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1] + ["__init__"]
        out[".".join(parts)] = path.read_text(encoding="utf-8")
    return out


def _package_of(module: str) -> list[str]:
    parts = module.split(".")
    return parts[:-1]


def imports(module: str, source: str, known: set[str]) -> set[str]:
    """The package modules ``module`` imports (absolute dotted names of known modules)."""
    found: set[str] = set()

    def add(name: str) -> None:
        if name in known:
            found.add(name)
        elif f"{name}.__init__" in known:
            found.add(f"{name}.__init__")

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("coder_assist"):
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(module)[: len(_package_of(module)) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("coder_assist"):
                target = node.module or ""
            else:
                continue
            for alias in node.names:  # ``from pkg import submodule`` depends on the submodule
                if f"{target}.{alias.name}" in known or f"{target}.{alias.name}.__init__" in known:
                    add(f"{target}.{alias.name}")
                else:
                    add(target)
    found.discard(module)
    return found


def part(module: str) -> str:
    return module.split(".")[1]


def violations(modules: dict[str, str]) -> list[str]:
    """Every import that goes up the layers or across apart siblings."""
    known = set(modules)
    problems = []
    for module, source in modules.items():
        for target in sorted(imports(module, source, known)):
            a, b = part(module), part(target)
            if a == b:
                continue
            if RANKS[b] > RANKS[a] or frozenset({a, b}) in SIBLINGS_APART:
                problems.append(f"{module} imports {target} ({a} may not depend on {b})")
    return problems


def cycles(modules: dict[str, str]) -> list[list[str]]:
    """Import cycles between modules (each found once, as a path that returns to its start)."""
    known = set(modules)
    graph = {m: sorted(imports(m, s, known)) for m, s in modules.items()}
    found, state, stack = [], {}, []

    def visit(m: str) -> None:
        state[m] = "open"
        stack.append(m)
        for n in graph[m]:
            if state.get(n) == "open":
                found.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def test_every_part_of_the_package_has_a_rank():
    assert {part(m) for m in sources()} <= set(RANKS)


def test_no_import_goes_up_the_layers():
    assert violations(sources()) == []


def test_no_import_cycles():
    assert cycles(sources()) == []


@pytest.mark.parametrize("module, line", [
    ("coder_assist.theory.memos", "from ..project import Project"),
    ("coder_assist.suggest.coding", "from ..review.decisions import decide"),
    ("coder_assist.store.db", "from coder_assist.cli import app"),
    ("coder_assist.ingest.pipeline", "from ..suggest import grounding"),
    ("coder_assist.notebook", "from .project import Project"),
])  # fmt: skip
def test_a_back_import_is_caught(module, line):
    modules = sources()
    modules[module] = line + "\n" + modules[module]
    assert any(p.startswith(f"{module} imports") for p in violations(modules))


def test_a_cycle_is_caught():
    modules = sources()
    modules["coder_assist.store.audit"] += "\nfrom .context import StoreContext\n"  # context imports audit
    assert any("coder_assist.store.audit" in c for c in cycles(modules))


def test_each_layer_says_what_it_is_for():
    for name in ("store", "ingest", "suggest", "review", "theory", "cli"):
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc and len(doc.split()) >= 5, name
