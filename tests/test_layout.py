"""The package's layout (src/reptile/__init__.py): floors that import only downwards, and no import circles.

Every module under src/reptile is read with ``ast`` (nothing is imported), and every import of the package's own
modules becomes an edge of a graph, wherever it is written: at the top of the module or inside a function (a lazy
import still ties the two modules together). ``from X import Y`` is an edge to ``X.Y`` when that is a module, else to
``X``. Importing ``X.Y`` also runs ``X/__init__.py``, but that implicit edge is not drawn: a package's ``__init__``
may re-export its submodules' names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "reptile"

# The floors, from the bottom. A module may import its own unit (its subpackage; any module of the bottom floor) and
# anything on a lower floor, nothing else.
BOTTOM = {"params", "tasks", "schedule", "seeding", "optim", "core", "validate", "stats", "results", "provenance",
          "paper", "config", "cli", "threads", "train", "sine", "taylor", "manifolds", "fewshot"}
SUBPACKAGES = {"data": 1, "engine": 2, "experiments": 3, "maml": 3, "bench": 4, "campaign": 4, "artifacts": 6}
TOOLS = {"runner", "notebook", "launch"}  # top-level command-line tools, above every subpackage but artifacts
TOOLS_FLOOR = 5


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str) -> list[tuple[str, int]]:
    """The package's modules that module ``name`` imports, with the line of each import."""
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:  # `import reptile.x.y` of a name inside a module: the module
                t = t.rpartition(".")[0]
            if t and t != name:
                out.append((t, node.lineno))
    return out


GRAPH = {name: imports(name) for name in MODULES}


def unit(name: str) -> str:
    """The part of the layout a module belongs to: 'bottom', a tool's name, or a subpackage's name."""
    parts = name.split(".")
    if len(parts) == 1:
        return "package"  # reptile/__init__.py
    if len(parts) == 2 and parts[1] in BOTTOM:
        return "bottom"
    if len(parts) == 2 and parts[1] in TOOLS:
        return parts[1]
    if parts[1] in SUBPACKAGES:
        return parts[1]
    raise AssertionError(f"{name} has no place in the layout: add it to a floor in tests/test_layout.py (and to the "
                         f"map in src/reptile/__init__.py)")


def floor(name: str) -> int:
    u = unit(name)
    return {"package": 0, "bottom": 0, **{t: TOOLS_FLOOR for t in TOOLS}, **SUBPACKAGES}[u]


def edges(graph=GRAPH):
    for a, targets in graph.items():
        for b, line in targets:
            yield a, b, line


def find_cycle(graph) -> list[str] | None:
    """One import circle of ``graph`` (module -> [(module, line)]) as a path that ends where it began, or None."""
    adjacency = {a: sorted({b for b, _ in targets}) for a, targets in graph.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(a):
        state[a] = 1
        path.append(a)
        for b in adjacency.get(a, ()):
            if state.get(b) == 1:
                return path[path.index(b):] + [b]
            if b not in state:
                found = visit(b)
                if found:
                    return found
        path.pop()
        state[a] = 2
        return None

    for a in sorted(adjacency):
        if a not in state:
            found = visit(a)
            if found:
                return found
    return None


def where(a: str, b: str, line: int) -> str:
    return f"{MODULES[a].relative_to(SRC.parent)}:{line} imports {b}"


def test_the_graph_sees_the_package():
    assert {"reptile.core", "reptile.engine.population", "reptile.bench", "reptile.campaign.plan",
            "reptile.experiments.fewshot", "reptile.artifacts.status", "reptile.data.omniglot"} <= set(MODULES)
    # both forms of import are read, at the top of a module and inside a function
    assert any(b == "reptile.data.omniglot" for b, _ in GRAPH["reptile.experiments.fewshot"])
    assert any(b == "reptile.engine.population" for b, _ in GRAPH["reptile.campaign.runs"])
    assert any(b == "reptile.experiments.fewshot" for b, _ in GRAPH["reptile.artifacts.verdict"])  # `from .. import x`


def test_every_module_has_a_floor():
    for name in MODULES:
        floor(name)


def test_no_import_circles():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_circle_finder_reports_a_circle():
    graph = {"a": [("b", 1)], "b": [("c", 2)], "c": [("a", 3), ("d", 4)], "d": []}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": [("b", 1)], "b": []}) is None


def test_artifacts_are_imported_by_nothing_outside_them():
    bad = [where(a, b, line) for a, b, line in edges() if unit(b) == "artifacts" and unit(a) != "artifacts"]
    assert not bad, "presentation must stay on top; move what is needed below it:\n" + "\n".join(bad)


def test_the_engine_imports_nothing_above_it():
    above = {"bench", "campaign", "experiments", "artifacts", *TOOLS}
    bad = [where(a, b, line) for a, b, line in edges() if unit(a) == "engine" and unit(b) in above]
    assert not bad, "\n".join(bad)


def test_the_bottom_floor_imports_no_subpackage_or_tool():
    bad = [where(a, b, line) for a, b, line in edges() if unit(a) in ("bottom", "package") and floor(b) > 0]
    assert not bad, "\n".join(bad)


def test_every_import_goes_down_or_stays_in_its_unit():
    bad = [where(a, b, line) + f" (floor {floor(a)} -> floor {floor(b)})" for a, b, line in edges()
           if unit(a) != unit(b) and floor(b) >= floor(a)]
    assert not bad, "\n".join(bad)


RULES = {  # each rule of this file as a predicate "is broken" over an import graph
    "no circle": lambda g: find_cycle(g) is not None,
    "floors go down": lambda g: any(unit(a) != unit(b) and floor(b) >= floor(a) for a, b, _ in edges(g)),
    "artifacts imported by nothing": lambda g: any(unit(b) == "artifacts" and unit(a) != "artifacts"
                                                   for a, b, _ in edges(g)),
}


@pytest.mark.parametrize("module,line,rule", [
    ("reptile.campaign.runs", "from ..artifacts import status", "artifacts imported by nothing"),
    ("reptile.engine.population", "from ..bench import paths", "floors go down"),
    ("reptile.validate", "from .runner import main", "no circle"),
    ("reptile.campaign.plan", "from . import runs", "no circle")])
def test_the_checks_catch_a_wrong_import(module, line, rule):
    """The rule each import breaks holds on the package and fails once the import is added (to a copy of the graph,
    not to the sources)."""
    graph = dict(GRAPH)
    tree = ast.parse(line).body[0]
    package = module.split(".")[:-1]
    base = package[: len(package) - tree.level + 1]
    mod = ".".join(base + ([tree.module] if tree.module else []))
    target = f"{mod}.{tree.names[0].name}" if f"{mod}.{tree.names[0].name}" in MODULES else mod
    graph[module] = GRAPH[module] + [(target, 1)]
    assert not RULES[rule](GRAPH) and RULES[rule](graph)
