"""Java's error bodies: ``{"status","code","message","timestamp","details"}``."""

from __future__ import annotations

from datetime import datetime

import orjson

JAVA_TIMESTAMP = "%Y-%m-%d %H:%M:%S"


class ApiError(Exception):
    """A failure the stand-in answers the way the Java service's exception handler does."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def not_found(message: str) -> ApiError:
    """404 ``NOT_FOUND``, as Java's ``ResourceNotFoundException`` handler answers."""
    return ApiError(404, "NOT_FOUND", message)


def bad_request(message: str) -> ApiError:
    """400 ``RUNTIME_ERROR``: Java's catch-all for unrelated failures (bad params, duplicates)."""
    return ApiError(400, "RUNTIME_ERROR", message)


def validation_failed(details: dict[str, str]) -> ApiError:
    """400 ``VALIDATION_ERROR`` with ``details`` mapping each field to its message."""
    return ApiError(400, "VALIDATION_ERROR", "Validation failed", details)


def error_body(error: ApiError, now: datetime) -> bytes:
    """The JSON bytes of Java's error body for ``error`` at ``now``."""
    return orjson.dumps(
        {
            "status": error.status,
            "code": error.code,
            "message": error.message,
            "timestamp": now.strftime(JAVA_TIMESTAMP),
            "details": error.details,
        }
    )
