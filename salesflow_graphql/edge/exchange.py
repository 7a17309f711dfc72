"""One request as the edge sees it: its id, its route's policy, its caller and its answer.

The outermost middleware (:mod:`.observe`) creates the :class:`Exchange`; the
others and the routes read and complete it. It lives in the ASGI scope's
``state`` and, for code without the scope (the GraphQL view's response), in a
context variable.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ErrorCode
from ..request_stats import RequestStats
from .policy import RoutePolicy

if TYPE_CHECKING:
    from ..auth import Principal
    from ..runtime import Runtime

EXCHANGE_KEY = "salesflow.exchange"


@dataclass(slots=True)
class Exchange:
    """What the edge knows about one request (or one WebSocket connection)."""

    request_id: str
    route: RoutePolicy
    #: ``application/json`` or ``application/graphql-response+json`` (see :mod:`.envelope`).
    media_type: str
    started: float = field(default_factory=time.perf_counter)
    stats: RequestStats = field(default_factory=RequestStats)
    principal: Principal | None = None
    #: The HTTP status sent; 0 until the answer starts.
    status: int = 0
    #: ok, error, cached, unauthenticated, rate_limited, too_large, timeout, disconnected;
    #: None: from the status.
    outcome: str | None = None

    def answered(self, status: int, outcome: str, *codes: ErrorCode | str) -> None:
        self.status, self.outcome = status, outcome
        for code in codes:
            self.stats.add_error_code(str(code))

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


_current: ContextVar[Exchange | None] = ContextVar("salesflow_exchange", default=None)


@contextlib.contextmanager
def serving(exchange: Exchange) -> Iterator[None]:
    """``exchange`` is the current one (:func:`current_exchange`) while this block runs."""
    token = _current.set(exchange)
    try:
        yield
    finally:
        _current.reset(token)


def exchange_of(scope: Any) -> Exchange:
    """The exchange of the request ``scope`` belongs to (set by the outermost middleware)."""
    return scope["state"][EXCHANGE_KEY]  # type: ignore[no-any-return]


def current_exchange() -> Exchange | None:
    """The exchange of the request being served in this task, if any."""
    return _current.get()


def runtime_of(scope: Any) -> Runtime:
    """The process's services (the app's lifespan started them)."""
    return scope["app"].state.runtime  # type: ignore[no-any-return]
