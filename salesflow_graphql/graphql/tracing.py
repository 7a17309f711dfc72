"""OpenTelemetry spans of GraphQL operations and resolvers, without secrets in them.

Strawberry's :class:`OpenTelemetryExtension` records an operation span (with
the document as ``query``) and a span per resolver (with its arguments as
``graphql.param.<name>``). Arguments can carry what must not leave the
process: uploaded files, idempotency keys, e-mail recipients, tokens,
passwords. The extension of :func:`redacting_extension` replaces them:

- an argument, or an input field at any depth, whose name says it is secret
  or personal (:data:`SENSITIVE_NAME_PARTS`) becomes ``[redacted]``;
- an uploaded file always does, whatever its argument is called;
- string literals of such arguments in the document become ``"[redacted]"``
  (a document that does not parse is not recorded at all).

Spans go to the process's tracer provider (see :mod:`salesflow_graphql.otel`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Generator, Mapping
from contextlib import suppress
from typing import Any

from graphql import (
    ArgumentNode,
    GraphQLError,
    GraphQLResolveInfo,
    ObjectFieldNode,
    StringValueNode,
    Visitor,
    parse,
    print_ast,
    visit,
)
from strawberry.extensions import LifecycleStep

from ..config import Settings

REDACTED = "[redacted]"
#: Parts of argument and input-field names (compared in lower case, without ``_``) whose
#: values never reach a span.
SENSITIVE_NAME_PARTS = (
    "token",
    "password",
    "secret",
    "authorization",
    "apikey",
    "idempotency",
    "email",
    "recipient",
    "file",
    "upload",
)


def is_sensitive_name(name: str) -> bool:
    lowered = name.lower().replace("_", "")
    return any(part in lowered for part in SENSITIVE_NAME_PARTS)


def redact_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Resolver arguments as they may appear on a span."""
    return {name: _redact(value, name) for name, value in arguments.items()}


def _redact(value: Any, name: str | None = None) -> Any:
    if (name is not None and is_sensitive_name(name)) or _is_upload(value):
        return REDACTED
    if isinstance(value, Mapping):
        return {key: _redact(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # a Strawberry input
        return {f.name: _redact(getattr(value, f.name), f.name) for f in dataclasses.fields(value)}
    return value


def _is_upload(value: Any) -> bool:
    """A multipart file (Starlette's ``UploadFile`` or anything shaped like it)."""
    return hasattr(value, "filename") and callable(getattr(value, "read", None))


class _RedactLiterals(Visitor):
    """Replaces the string literals of sensitive arguments and input fields."""

    def enter_string_value(
        self, node: StringValueNode, key: Any, parent: Any, path: Any, ancestors: Any
    ) -> StringValueNode | None:
        for ancestor in (parent, *reversed(ancestors)):  # the nearest named one decides
            if isinstance(ancestor, ArgumentNode | ObjectFieldNode):
                if is_sensitive_name(ancestor.name.value):
                    return StringValueNode(value=REDACTED)
                return None
        return None


def redacted_document(query: str | None) -> str:
    """``query`` with the literals of sensitive arguments replaced; empty if it does not parse."""
    if not query:
        return ""
    try:
        document = parse(query, no_location=True)
    except GraphQLError:
        return ""
    return print_ast(visit(document, _RedactLiterals()))


@functools.cache
def redacting_extension() -> type[Any]:
    """Strawberry's OpenTelemetry extension with sensitive values kept out of spans.

    Built on first use: Strawberry's extension imports OpenTelemetry (the
    ``otel`` extra), which a gateway without tracing never loads.
    """
    from strawberry.extensions.tracing import OpenTelemetryExtension

    class RedactingOpenTelemetryExtension(OpenTelemetryExtension):
        def filter_resolver_args(
            self, args: dict[str, Any], info: GraphQLResolveInfo
        ) -> dict[str, Any]:
            return redact_arguments(args)

        def on_operation(self) -> Generator[None, None, None]:
            operation = super().on_operation()
            next(operation)  # the operation span is open, with the raw document on it
            span = self._span_holder[LifecycleStep.OPERATION]
            span.set_attribute("query", redacted_document(self.execution_context.query))
            state = getattr(self.execution_context.context, "state", None)
            request_id = getattr(state, "request_id", None)
            if request_id:
                span.set_attribute("salesflow.request_id", request_id)
            try:
                yield
            finally:
                with suppress(StopIteration):
                    next(operation)  # names and ends the span, also when the operation failed

    return RedactingOpenTelemetryExtension


def tracing_extensions(settings: Settings) -> list[Any]:
    """The schema extensions of tracing: none unless ``SALESFLOW_OTEL_ENABLED``."""
    return [redacting_extension()] if settings.observability.otel_enabled else []
