"""Errors as values with codes at the edges, exceptions inside.

Every error that may reach a client is a :class:`GatewayError` carrying one of
the codes of API.md. Anything else is masked as ``INTERNAL``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """The ``extensions.code`` values clients are written against (API.md)."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"


class GatewayError(Exception):
    """An expected failure with a client-facing code and a human message."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions

    def as_extensions(self) -> dict[str, Any]:
        return {"code": str(self.code), **self.extensions}


class Unauthenticated(GatewayError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(GatewayError):
    code = ErrorCode.FORBIDDEN


class BadUserInput(GatewayError):
    code = ErrorCode.BAD_USER_INPUT


class NotFound(GatewayError):
    code = ErrorCode.NOT_FOUND


class RateLimited(GatewayError):
    """Too much at once from one caller (or for the process); ``retryAfter`` says when to retry."""

    code = ErrorCode.RATE_LIMITED


class UpstreamUnavailable(GatewayError):
    """Java is down, timing out, or the circuit breaker is open."""

    code = ErrorCode.UPSTREAM_UNAVAILABLE


class UpstreamError(GatewayError):
    """Java answered, but with an error or with a body we cannot trust."""

    code = ErrorCode.UPSTREAM_ERROR
