"""The layers are visible and checked: ``core`` never imports pytest or anything above it, ``report`` never
imports pytest or the plugin, and the import graph of the package (module-level and function-level imports
alike) has no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_lmbench"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """module -> the modules it imports (of this package, plus "pytest"/"_pytest"/"xdist" by their top name)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            else:
                continue
            for target in targets:
                top = target.split(".")[0]
                if top in ("pytest", "_pytest", "xdist"):
                    edges.add(top)
                elif top == "pytest_lmbench":
                    while target not in modules and "." in target:
                        target = target.rpartition(".")[0]
                    if target != name:
                        edges.add(target)
        graph[name] = edges
    return graph


def test_core_and_report_never_import_pytest_or_what_is_above_them() -> None:
    graph = _graph()
    bad = []
    for name, edges in graph.items():
        if name.startswith("pytest_lmbench.core"):
            bad += [(name, e) for e in edges if e in ("pytest", "_pytest", "xdist")
                    or e.startswith(("pytest_lmbench.plugin", "pytest_lmbench.report")) or e == "pytest_lmbench"]
        if name in ("pytest_lmbench.cli", "pytest_lmbench.__main__"):  # reads reports without pytest
            bad += [(name, e) for e in edges if e in ("pytest", "_pytest", "xdist")
                    or e.startswith("pytest_lmbench.plugin")]
        if name.startswith("pytest_lmbench.report"):
            bad += [(name, e) for e in edges if e in ("pytest", "_pytest", "xdist")
                    or e.startswith("pytest_lmbench.plugin") or e == "pytest_lmbench"]
    assert bad == []


def test_the_import_graph_has_no_cycle() -> None:
    graph = {name: {e for e in edges if e.startswith("pytest_lmbench")} for name, edges in _graph().items()}
    # a package's __init__ importing its own submodules is how a package exposes them, not a cycle
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_the_graph_is_read_right() -> None:
    """The checks above see real edges: known imports are found (a broken walker would pass everything)."""
    graph = _graph()
    assert "pytest" in graph["pytest_lmbench.plugin.items"]
    assert "pytest_lmbench.core.results" in graph["pytest_lmbench.core.uncertainty"]
    assert "pytest_lmbench.plugin.state" in graph["pytest_lmbench.plugin.items"]
    assert "pytest_lmbench.core.models.cache" in graph["pytest_lmbench.core.models.registry"]  # in a function


def _room(module: str) -> str:
    """A module's room: a subpackage of ``core`` (``core.tasks``, ``core.models``, ``core.scoring``) as a whole, a
    module directly in ``core`` on its own, ``report`` and ``plugin`` each as a whole."""
    parts = module.split(".")
    return ".".join(parts[:3] if parts[:2] == ["pytest_lmbench", "core"] else parts[:2])


def room_cycles(graph: dict[str, set[str]]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Pairs of rooms that import each other (function-level imports count), with the imports that make each."""
    edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for name, targets in graph.items():
        for target in targets:
            if target.startswith("pytest_lmbench.") and _room(name) != _room(target):
                edges.setdefault((_room(name), _room(target)), []).append((name, target))
    rooms = sorted({r for pair in edges for r in pair})
    reach = {r: {b for (a, b) in edges if a == r} for r in rooms}
    changed = True
    while changed:  # transitive closure: a cycle through a third room counts too
        changed = False
        for r in rooms:
            more = set().union(*(reach[x] for x in reach[r])) - reach[r] if reach[r] else set()
            if more:
                reach[r] |= more
                changed = True
    return [(a, b, edges.get((a, b), [])) for a in rooms for b in sorted(reach[a]) if a < b and a in reach[b]]


def test_no_cycle_between_rooms() -> None:
    assert room_cycles(_graph()) == []


def test_a_cycle_between_rooms_is_caught() -> None:
    graph = {"pytest_lmbench.core.tasks.a": {"pytest_lmbench.core.evaluate"},
             "pytest_lmbench.core.evaluate": {"pytest_lmbench.core.tasks.b"}}
    assert [(a, b) for a, b, _ in room_cycles(graph)] == [("pytest_lmbench.core.evaluate", "pytest_lmbench.core.tasks")]
