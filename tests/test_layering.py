"""The services know nothing of GraphQL: only the GraphQL layer imports Strawberry.

Every module of the package is parsed (not imported) and each import statement
read, those inside functions included, relative ones resolved to the module
they name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import salesflow_graphql

PACKAGE = Path(salesflow_graphql.__file__).parent
#: The one place GraphQL (Strawberry, resolvers, DataLoaders) lives.
GRAPHQL_LAYER = "salesflow_graphql.graphql"
#: What the services are made of, and what they and the jobs are handed.
SERVICE_LAYERS = (
    "salesflow_graphql.analytics",
    "salesflow_graphql.alerts",
    "salesflow_graphql.forecast",
    "salesflow_graphql.reports",
    "salesflow_graphql.jobs",
    "salesflow_graphql.sor",
    "salesflow_graphql.datasource",
    "salesflow_graphql.services",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The modules ``path`` imports anywhere in its body (``from a import b`` counts as
    ``a`` and ``a.b``: ``b`` may be a submodule)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _modules() -> dict[str, set[str]]:
    return {_module_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_only_the_graphql_layer_imports_strawberry() -> None:
    modules = _modules()
    users = {
        name for name, imports in modules.items() if any(_within(i, "strawberry") for i in imports)
    }
    assert "salesflow_graphql.graphql.loaders" in users, "the walk sees the DataLoaders' import"
    outside = sorted(name for name in users if not _within(name, GRAPHQL_LAYER))
    assert outside == [], f"Strawberry imported outside {GRAPHQL_LAYER}: {outside}"


def test_the_services_and_jobs_never_import_the_graphql_layer() -> None:
    modules = _modules()
    # Imports inside functions count: ReportService imports the forecast's types on use.
    assert "salesflow_graphql.forecast.series" in modules["salesflow_graphql.reports.service"]
    offenders = sorted(
        f"{name} imports {target}"
        for name, imports in modules.items()
        if any(_within(name, layer) for layer in SERVICE_LAYERS)
        for target in imports
        if _within(target, GRAPHQL_LAYER) or _within(target, "strawberry")
    )
    assert offenders == []
