"""Query limits: depth, tokens, aliases and an estimated cost, checked before execution.

Depth and aliases are Strawberry's own validators; their errors are marked
``QUERY_TOO_COMPLEX`` here. The token limit is the parser's (Strawberry's
``MaxTokensLimiter``); :func:`is_token_limit_error` recognises its error. The
cost is this module's validation rule: every field costs 1 and a list field
costs its size times what is selected in it, so nested lists multiply.

A list's size is its ``top``/``limit`` argument, or the size argument that
governs it (``topProducts`` by ``top``, a forecast's ``points`` by
``horizonDays`` and ``history`` by ``historyDays``), taken from the field or
its ancestors; an argument given as a variable counts at its largest allowed
value (validation runs once per document, without variables). Other lists
count as ``query_list_size`` items. Introspection fields are free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    ValidationContext,
    ValidationRule,
    ValueNode,
    VariableNode,
    get_named_type,
)
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)

from ..config import Settings
from ..errors import ErrorCode
from .alerts import MAX_RECENT

#: The arguments that size a list.
SIZE_ARGUMENTS = ("top", "limit", "horizonDays", "historyDays")
#: Lists sized by an argument of an ancestor field (or of an input object there).
GOVERNED_LISTS = {"topProducts": "top", "points": "horizonDays", "history": "historyDays"}


def mark_too_complex(error: GraphQLError) -> GraphQLError:
    error.extensions = {**(error.extensions or {}), "code": str(ErrorCode.QUERY_TOO_COMPLEX)}
    return error


def is_token_limit_error(error: GraphQLError) -> bool:
    """The parser's error for a document over ``max_tokens`` (graphql-core's wording)."""
    return isinstance(error, GraphQLSyntaxError) and "tokens. Parsing aborted" in error.message


def limit_extensions(settings: Settings) -> list[Any]:
    """The schema extensions enforcing ``settings``' query limits (Strawberry instantiates
    each per operation; the rule classes are built once)."""
    rules = [
        *_marked(QueryDepthLimiter(max_depth=settings.graphql.max_depth).validation_rules),
        *_marked(MaxAliasesLimiter(max_alias_count=settings.graphql.max_aliases).validation_rules),
        cost_rule(settings),
    ]
    extensions: list[Any] = [
        lambda: MaxTokensLimiter(max_token_count=settings.graphql.max_tokens),
        lambda: AddValidationRules(rules),
    ]
    if not settings.graphql.introspection:
        extensions.append(DisableIntrospection)
    return extensions


class _MarkingContext:
    """A validation context whose reported errors are marked ``QUERY_TOO_COMPLEX``."""

    def __init__(self, context: ValidationContext) -> None:
        self._context = context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def report_error(self, error: GraphQLError) -> None:
        self._context.report_error(mark_too_complex(error))


def _marked(rules: list[type[ValidationRule]]) -> list[type[ValidationRule]]:
    """Wrap Strawberry's limit validators, which do their whole check when constructed."""

    def wrap(rule: type[ValidationRule]) -> type[ValidationRule]:
        class Marked(ValidationRule):
            def __init__(self, context: ValidationContext) -> None:
                super().__init__(context)
                rule(_MarkingContext(context))  # type: ignore[arg-type]

        Marked.__name__ = Marked.__qualname__ = f"TooComplex{rule.__name__}"
        return Marked

    return [wrap(rule) for rule in rules]


def cost_rule(settings: Settings) -> type[ValidationRule]:
    """A validation rule refusing operations whose estimated cost passes ``max_query_cost``."""
    bounds = {
        "top": settings.limits.max_top,
        "limit": MAX_RECENT,
        "horizonDays": settings.forecast.max_horizon,
        "historyDays": settings.forecast.max_history,
    }
    return _cost_rule(settings.graphql.max_cost, settings.graphql.list_size, bounds)


def _cost_rule(max_cost: int, list_size: int, bounds: Mapping[str, int]) -> type[ValidationRule]:
    class QueryCostRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self._fragment_costs: dict[tuple[Any, ...], int] = {}

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            root = self.context.schema.get_root_type(node.operation)
            if root is None:
                return
            cost = self._cost(node.selection_set, root, {}, frozenset())
            if cost > max_cost:
                name = f"'{node.name.value}'" if node.name else "The operation"
                self.report_error(
                    mark_too_complex(
                        GraphQLError(
                            f"{name} is too expensive: estimated cost {cost}, allowed "
                            f"{max_cost}. Ask for fewer items or fewer fields.",
                            node,
                            extensions={"cost": cost, "maxCost": max_cost},
                        )
                    )
                )

        def _cost(
            self,
            selections: SelectionSetNode,
            parent: GraphQLNamedType | None,
            scope: Mapping[str, int],
            fragments: frozenset[str],
        ) -> int:
            total = 0
            for selection in selections.selections:
                if isinstance(selection, FieldNode):
                    total += self._field_cost(selection, parent, scope, fragments)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    inner = (
                        self.context.schema.get_type(condition.name.value) if condition else None
                    )
                    total += self._cost(selection.selection_set, inner or parent, scope, fragments)
                elif isinstance(selection, FragmentSpreadNode):
                    total += self._spread_cost(selection, scope, fragments)
            return total

        def _spread_cost(
            self, spread: FragmentSpreadNode, scope: Mapping[str, int], fragments: frozenset[str]
        ) -> int:
            name = spread.name.value
            fragment = self.context.get_fragment(name)
            if fragment is None or name in fragments:
                return 0  # unknown or cyclic: other rules report it
            key = (name, tuple(sorted(scope.items())))
            if key not in self._fragment_costs:  # spreads repeated over and over stay cheap
                inner = self.context.schema.get_type(fragment.type_condition.name.value)
                self._fragment_costs[key] = self._cost(
                    fragment.selection_set, inner, scope, fragments | {name}
                )
            return self._fragment_costs[key]

        def _field_cost(
            self,
            node: FieldNode,
            parent: GraphQLNamedType | None,
            scope: Mapping[str, int],
            fragments: frozenset[str],
        ) -> int:
            name = node.name.value
            if name.startswith("__"):
                return 0
            fields = (
                parent.fields
                if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
                else {}
            )
            field = fields.get(name)
            if field is None:
                return 1  # unknown fields are another rule's error
            own = _size_arguments(node, field.args, bounds)
            scope = {**scope, **own}
            inner = 0
            if node.selection_set is not None:
                inner = self._cost(node.selection_set, get_named_type(field.type), scope, fragments)
            items = 1
            kind = field.type
            while isinstance(kind, GraphQLNonNull | GraphQLList):
                if isinstance(kind, GraphQLList):
                    items *= _list_size(name, own, scope, list_size)
                kind = kind.of_type
            return 1 + items * inner if node.selection_set is not None else 1

    return QueryCostRule


def _list_size(name: str, own: Mapping[str, int], scope: Mapping[str, int], default: int) -> int:
    for argument in ("top", "limit"):
        if argument in own:
            return own[argument]
    governing = GOVERNED_LISTS.get(name)
    if governing is not None and governing in scope:
        return scope[governing]
    return default


def _size_arguments(
    node: FieldNode, arguments: Mapping[str, Any], bounds: Mapping[str, int]
) -> dict[str, int]:
    """The size arguments of a field, from its literal arguments or their defaults."""
    given = {argument.name.value: argument.value for argument in node.arguments or ()}
    found: dict[str, int] = {}
    for name, definition in arguments.items():
        _collect(name, given.get(name), definition.type, definition.default_value, bounds, found)
    return found


def _collect(
    name: str,
    value: ValueNode | None,
    kind: Any,
    default: Any,
    bounds: Mapping[str, int],
    found: dict[str, int],
) -> None:
    named = get_named_type(kind)
    if isinstance(named, GraphQLInputObjectType):
        if isinstance(value, ObjectValueNode):
            given = {f.name.value: f.value for f in value.fields}
            for field_name, field in named.fields.items():
                _collect(
                    field_name,
                    given.get(field_name),
                    field.type,
                    field.default_value,
                    bounds,
                    found,
                )
        elif isinstance(value, VariableNode):  # a whole input object as a variable: worst case
            found.update({k: v for k, v in bounds.items() if k in named.fields})
        elif isinstance(default, Mapping):
            for field_name in named.fields:
                if field_name in default and isinstance(default[field_name], int):
                    found[field_name] = default[field_name]
        return
    if name not in SIZE_ARGUMENTS:
        return
    bound = bounds.get(name, 0)
    if isinstance(value, IntValueNode):
        # Clamped: an out-of-range literal is the resolver's BAD_USER_INPUT, not a cost.
        found[name] = max(0, min(int(value.value), bound))
    elif isinstance(value, VariableNode):
        found[name] = bound
    elif value is None and isinstance(default, int) and default is not Undefined:
        found[name] = min(default, bound)
