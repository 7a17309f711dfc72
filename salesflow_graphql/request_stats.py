"""What one GraphQL request cost: Java calls, cache hits and misses, its operation and errors.

The HTTP endpoint opens a :class:`RequestStats` for each request
(:func:`tracking`); the Java client, the cache and the schema extensions add to
whichever one is current. A context variable carries it, so the adapters need
no request object, and work the request starts in tasks of its own (a
single-flight load) is counted for the request that started it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

#: Distinct error codes kept per request (an answer may carry many errors).
MAX_ERROR_CODES = 10


@dataclass(slots=True)
class RequestStats:
    """Counters and facts about one request, filled in while it runs."""

    upstream_calls: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    #: The executed operation's name (as given, or of the document's only operation).
    operation_name: str | None = None
    #: ``query``, ``mutation`` or ``subscription``; None until the document is parsed.
    operation_type: str | None = None
    #: ``extensions.code`` of the answer's errors, distinct, in order.
    error_codes: list[str] = field(default_factory=list)

    def add_error_code(self, code: str) -> None:
        if code not in self.error_codes and len(self.error_codes) < MAX_ERROR_CODES:
            self.error_codes.append(code)


_current: ContextVar[RequestStats | None] = ContextVar("salesflow_request_stats", default=None)


def current_request() -> RequestStats | None:
    """The stats of the request being served, or None outside one (jobs, WebSockets)."""
    return _current.get()


@contextlib.contextmanager
def tracking(stats: RequestStats | None = None) -> Iterator[RequestStats]:
    """Make ``stats`` (a new one by default) the current request's for the block."""
    stats = stats if stats is not None else RequestStats()
    token = _current.set(stats)
    try:
        yield stats
    finally:
        _current.reset(token)


def count_upstream_call() -> None:
    """One HTTP call to Java (each retry counts)."""
    stats = _current.get()
    if stats is not None:
        stats.upstream_calls += 1


def count_cache_lookup(*, hit: bool) -> None:
    stats = _current.get()
    if stats is not None:
        if hit:
            stats.cache_hits += 1
        else:
            stats.cache_misses += 1
