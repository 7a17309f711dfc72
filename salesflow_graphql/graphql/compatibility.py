"""Is ``schema.graphql`` safe for clients written against the released schema?

The released schema (``schema.released.graphql``) is what the client team last
built against. graphql-core's ``find_breaking_changes`` and
``find_dangerous_changes`` compare it with the current one:

- *breaking*: a query that worked may now fail (a field, enum value or argument
  gone, a type changed, a required argument added);
- *retired*: an element removed after the release declared it ``@deprecated``,
  which is how something is taken away without surprising anyone;
- *dangerous*: old queries still validate but may behave differently (a new
  enum value a ``switch`` does not know, a changed default).

``salesflow-graphql check-schema`` prints all three and fails on breaking ones;
``--release`` then makes the current schema the released one.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from graphql import (
    DocumentNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    GraphQLSchema,
    InputObjectTypeDefinitionNode,
    InputValueDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    build_ast_schema,
    build_schema,
    find_breaking_changes,
    find_dangerous_changes,
    parse,
)

_Node = TypeVar("_Node")

RELEASED_SCHEMA = "schema.released.graphql"
CURRENT_SCHEMA = "schema.graphql"


@dataclass(frozen=True)
class SchemaChanges:
    """What changed since the release, in graphql-core's words."""

    breaking: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    dangerous: list[str] = field(default_factory=list)

    def report(self) -> str:
        """The changes as text, one per line under a heading per kind."""
        lines: list[str] = []
        for title, changes in (
            ("Breaking (clients of the released schema may fail)", self.breaking),
            ("Retired after a declared deprecation", self.retired),
            ("Dangerous (valid, but may change what clients see)", self.dangerous),
        ):
            if changes:
                lines.append(f"{title}:")
                lines.extend(f"  - {change}" for change in changes)
        return "\n".join(lines) if lines else "No changes that concern clients."


def compare_schemas(released_sdl: str, current_sdl: str) -> SchemaChanges:
    """Compare the released schema with the current one."""
    released = parse(released_sdl)
    current = build_schema(current_sdl)
    without_retired, retired = _drop_retired(released, current)
    return SchemaChanges(
        breaking=[c.description for c in find_breaking_changes(without_retired, current)],
        retired=retired,
        dangerous=[
            c.description for c in find_dangerous_changes(build_ast_schema(released), current)
        ],
    )


def compare_files(root: Path) -> SchemaChanges:
    """Compare ``schema.released.graphql`` with ``schema.graphql`` in ``root``."""
    return compare_schemas(
        (root / RELEASED_SCHEMA).read_text(encoding="utf-8"),
        (root / CURRENT_SCHEMA).read_text(encoding="utf-8"),
    )


def _deprecated(node: FieldDefinitionNode | InputValueDefinitionNode | object) -> bool:
    directives = getattr(node, "directives", None) or ()
    return any(d.name.value == "deprecated" for d in directives)


def _drop_retired(
    released: DocumentNode, current: GraphQLSchema
) -> tuple[GraphQLSchema, list[str]]:
    """The released schema without the deprecated elements the current one removed.

    What is left to differ is what no deprecation announced: the breaking changes.
    """
    retired: list[str] = []
    definitions = []
    for definition in released.definitions:
        now = (
            current.type_map.get(definition.name.value)
            if hasattr(definition, "name") and definition.name
            else None
        )
        if now is None:
            definitions.append(definition)  # a removed type: no deprecation can announce it
            continue
        if isinstance(
            definition,
            ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode | InputObjectTypeDefinitionNode,
        ):
            current_fields = getattr(now, "fields", {}) or {}
            kept = []
            for field_node in definition.fields or ():
                coordinate = f"{definition.name.value}.{field_node.name.value}"
                if field_node.name.value not in current_fields:
                    if _deprecated(field_node):
                        retired.append(f"{coordinate} (deprecated, now removed)")
                        continue
                    kept.append(field_node)
                    continue
                kept.append(_without_retired_args(field_node, current_fields, coordinate, retired))
            definitions.append(_copy(definition, fields=tuple(kept)))
        elif isinstance(definition, EnumTypeDefinitionNode):
            values = getattr(now, "values", {}) or {}
            kept_values = []
            for value in definition.values or ():
                if value.name.value not in values and _deprecated(value):
                    retired.append(
                        f"{definition.name.value}.{value.name.value} (deprecated, now removed)"
                    )
                    continue
                kept_values.append(value)
            definitions.append(_copy(definition, values=tuple(kept_values)))
        else:
            definitions.append(definition)
    return build_ast_schema(DocumentNode(definitions=tuple(definitions))), retired


def _without_retired_args(
    field_node: FieldDefinitionNode | InputValueDefinitionNode,
    current_fields: dict[str, object],
    coordinate: str,
    retired: list[str],
) -> FieldDefinitionNode | InputValueDefinitionNode:
    if not isinstance(field_node, FieldDefinitionNode) or not field_node.arguments:
        return field_node
    current_args = getattr(current_fields[field_node.name.value], "args", {}) or {}
    kept = []
    for argument in field_node.arguments:
        if argument.name.value not in current_args and _deprecated(argument):
            retired.append(f"{coordinate}({argument.name.value}:) (deprecated, now removed)")
            continue
        kept.append(argument)
    return _copy(field_node, arguments=tuple(kept))


def _copy(node: _Node, **changes: object) -> _Node:
    """A copy of an AST node (frozen in graphql-core 3.3) with some attributes replaced."""
    if dataclasses.is_dataclass(node):
        return dataclasses.replace(node, **changes)  # type: ignore[type-var]
    clone = copy.copy(node)  # graphql-core 3.2: plain mutable nodes
    for key, value in changes.items():
        setattr(clone, key, value)
    return clone
