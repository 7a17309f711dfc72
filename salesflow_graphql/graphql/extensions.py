"""Schema extensions: error codes on every error, and response-cache eligibility."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from ..errors import ErrorCode, GatewayError

log = logging.getLogger("salesflow_graphql.errors")


class ErrorCodes(SchemaExtension):
    """Give every error an ``extensions.code``; mask the unexpected ones as ``INTERNAL``.

    Expected errors (:class:`GatewayError`) keep their code and message. Errors
    in the document itself (syntax, validation) are ``BAD_USER_INPUT``. Anything
    else is logged with the request id and reaches the client as ``INTERNAL``
    with that id, never with its details.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        context = self.execution_context.context
        request_id = getattr(getattr(context, "state", None), "request_id", "-")
        result.errors = [self._coded(error, request_id) for error in result.errors]

    @staticmethod
    def _coded(error: GraphQLError, request_id: str) -> GraphQLError:
        original = error.original_error
        if isinstance(original, GatewayError):
            return _with(error, original.message, original.as_extensions())
        if error.extensions and "code" in error.extensions:
            return error  # permission classes set their own code
        if original is None or isinstance(original, GraphQLError):
            # the document or its variables are wrong (syntax, validation, coercion)
            return _with(error, error.message, {"code": str(ErrorCode.BAD_USER_INPUT)})
        log.error("internal error in %s (request %s)", error.path, request_id, exc_info=original)
        return _with(
            error,
            f"Internal error; quote request id {request_id} when reporting it.",
            {"code": str(ErrorCode.INTERNAL), "requestId": request_id},
        )


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


def _with(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )
