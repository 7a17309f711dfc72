"""Error codes on every error, response-cache eligibility, data age, and what a request ran.

Error coding hooks :meth:`strawberry.Schema.process_errors`, which Strawberry
calls for queries, mutations and every subscription event alike, so one piece
of code gives all of them their ``extensions.code``. The codes, and the
operation's name and type, are noted on the HTTP request's
:class:`~salesflow_graphql.request_stats.RequestStats` for its access log line,
its metrics, and the request timeout (which never stops a started mutation).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from ..errors import ErrorCode, GatewayError
from ..request_stats import current_request
from .limits import is_token_limit_error, mark_too_complex

log = logging.getLogger("salesflow_graphql.errors")


class GatewaySchema(strawberry.Schema):
    """Strawberry's schema with the gateway's error codes."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        context = getattr(execution_context, "context", None)
        request_id = getattr(getattr(context, "state", None), "request_id", "-")
        stats = current_request()
        for error in errors:
            apply_error_code(error, request_id)
            if stats is not None and error.extensions:
                stats.add_error_code(str(error.extensions.get("code")))


def apply_error_code(error: GraphQLError, request_id: str) -> None:
    """Give ``error`` its client-facing code, in place; mask the unexpected as ``INTERNAL``.

    Expected errors (:class:`GatewayError`) keep their code and message. Errors
    in the document or its variables (syntax, validation, coercion) are
    ``BAD_USER_INPUT``. Anything else is logged with the request id and reaches
    the client as ``INTERNAL`` with that id, never with its details.
    """
    original = error.original_error
    if isinstance(original, GatewayError):
        error.message = original.message
        error.extensions = original.as_extensions()
    elif error.extensions and "code" in error.extensions:
        pass  # permission classes, resolvers and the query limits set their own code
    elif is_token_limit_error(error):
        mark_too_complex(error)
    elif original is None or isinstance(original, GraphQLError):
        log.debug("bad request %s: %s", request_id, error.message)
        error.extensions = {"code": str(ErrorCode.BAD_USER_INPUT)}
    else:
        log.error("internal error in %s (request %s)", error.path, request_id, exc_info=original)
        error.message = f"Internal error; quote request id {request_id} when reporting it."
        error.extensions = {"code": str(ErrorCode.INTERNAL), "requestId": request_id}
    error.original_error = None


class ResponseCacheEligibility(SchemaExtension):
    """Mark a successful query's answer as reusable by the response cache."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context.context
        state = getattr(context, "state", None)
        result = self.execution_context.result
        if state is None or result is None:
            return
        state.cacheable = (
            self.execution_context.operation_type is OperationType.QUERY
            and not result.errors
            and state.shareable
        )


class OperationChoice(SchemaExtension):
    """The operation to run must be named when the document has several, and must exist.

    GraphQL's GetOperation(): without ``operationName`` a document must hold
    exactly one operation (Strawberry would run the first), and a name must be
    one of the document's. Either is a request error (``BAD_USER_INPUT``), over
    HTTP and WebSocket alike.
    """

    def on_parse(self) -> Iterator[None]:
        yield
        execution = self.execution_context
        document = execution.graphql_document
        if document is None:
            return
        names = [
            d.name.value if d.name else None
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        ]
        # What the request said (Strawberry's ``operation_name`` falls back to the first).
        wanted = getattr(execution, "_provided_operation_name", None)
        if wanted is None and len(names) > 1:
            raise GraphQLError(
                "The document has several operations: name the one to run in `operationName`."
            )
        if wanted is not None and wanted not in names:
            raise GraphQLError(f"The document has no operation named {wanted!r}.")


def data_age(data_at: float, now: float | None = None) -> int:
    """Whole seconds since ``data_at`` (epoch seconds), never negative."""
    return max(0, int((time.time() if now is None else now) - data_at))


class DataAge(SchemaExtension):
    """``extensions.dataAge``: whole seconds since the oldest Java data under the answer was
    read (absent when the answer used none), so that clients can show how old it is."""

    def get_results(self) -> dict[str, Any]:
        state = getattr(self.execution_context.context, "state", None)
        data = getattr(state, "data", None)
        oldest = getattr(data, "oldest_data_at", None)
        return {} if oldest is None else {"dataAge": data_age(oldest)}


class OperationObservation(SchemaExtension):
    """Note the operation's name and type on the HTTP request's stats, once it is parsed.

    Set when validation starts: from then on the request timeout knows whether
    it may stop the request (a query) or must let it finish (a mutation).
    """

    def on_validate(self) -> Iterator[None]:
        stats = current_request()
        if stats is not None:
            execution = self.execution_context
            stats.operation_name = execution.operation_name
            try:
                stats.operation_type = execution.operation_type.value
            except Exception:  # no such operation in the document: validation says so
                stats.operation_type = None
        yield
