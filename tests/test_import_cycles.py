"""The package's own modules import one another one way: no cycle, anywhere.

Every import counts: at module level, inside functions, under ``TYPE_CHECKING``;
relative ones (``from . import x``, ``from ..a import b``) are resolved to the
module they name (``b`` when it is a module, else ``a``). A cycle that an import
inside a function only postpones is still a cycle: its modules cannot be
understood, tested or moved one without the other.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import salesflow_graphql

PACKAGE = Path(salesflow_graphql.__file__).parent
ROOT = PACKAGE.name


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of ``package`` by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """For each module, the package's modules it imports."""
    known = modules(package)
    root = package.name
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        here = name.split(".") if is_package else name.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                for alias in node.names:
                    child = f"{module}.{alias.name}"
                    targets.add(child if child in known else module)
        graph[name] = {
            _nearest_module(t, known) for t in targets if t == root or t.startswith(root + ".")
        } - {name}
    return graph


def _nearest_module(target: str, known: Mapping[str, Path]) -> str:
    while target not in known:  # ``import pkg.mod.attr`` style: the module that holds it
        target = target.rsplit(".", 1)[0]
    return target


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or None."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = [start]
        on_path = {start}
        stack = [iter(sorted(graph[start]))]
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                continue
            if step in on_path:
                return [*path[path.index(step) :], step]
            if step not in done:
                path.append(step)
                on_path.add(step)
                stack.append(iter(sorted(graph.get(step, ()))))
    return None


def test_the_package_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    # A module-level relative import, one inside a function, and one under TYPE_CHECKING.
    assert f"{ROOT}.config" in graph[f"{ROOT}.runtime"]
    assert f"{ROOT}.otel" in graph[f"{ROOT}.cli"]  # imported inside ``serve``
    assert f"{ROOT}.jobs.store" in graph[f"{ROOT}.jobs.registry"]  # TYPE_CHECKING
    assert graph[f"{ROOT}.cron"] == set()  # a leaf: arq's cron and the standard library


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    (package / "sub" / "b.py").write_text("def later():\n    from .. import c\n")
    (package / "c.py").write_text("import pkg.a\n")
    (package / "d.py").write_text("from . import a\n")  # on no cycle
    assert find_cycle(import_graph(package)) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
    (package / "c.py").write_text("import json\n")
    assert find_cycle(import_graph(package)) is None
