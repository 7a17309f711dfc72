"""The per-user rate limit at the edge: one token bucket per caller, HTTP and WebSocket alike.

A ``BEARER`` request counts against its user's bucket (the JWT subject), a
``SIGNED`` one (a download link) against its client address's, before any
work: cached answers count too. Over the limit: HTTP 429, ``RATE_LIMITED``,
``Retry-After`` and ``extensions.retryAfter``. Each WebSocket ``subscribe``
takes a token from the same user bucket (see ``graphql/websocket.py``).
The buckets live in Redis when configured (shared by replicas), see
:mod:`salesflow_graphql.adapters.ratelimit`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ..adapters.ratelimit import retry_after_seconds
from ..errors import ErrorCode
from .envelope import Refusal, refuse
from .exchange import Exchange, exchange_of, runtime_of
from .policy import Access


def rate_limited(wait: float) -> Refusal:
    retry_after = retry_after_seconds(wait)
    return Refusal(
        429,
        ErrorCode.RATE_LIMITED,
        f"Too many requests; try again in {retry_after} s. Each user may make a limited "
        "number of requests a second.",
        outcome="rate_limited",
        headers={"retry-after": str(retry_after)},
        retryAfter=retry_after,
    )


def bucket_of(exchange: Exchange, scope: Scope) -> str | None:
    """Whose bucket a request takes from: its user's, its client address's, or none."""
    if exchange.route.access is Access.BEARER and exchange.principal is not None:
        return exchange.principal.subject
    if exchange.route.access is Access.SIGNED:
        client = scope.get("client")
        return f"address:{client[0] if client else 'unknown'}"
    return None


class RateLimit:
    """Pure ASGI middleware: take a token from the caller's bucket, or refuse with 429."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            exchange = exchange_of(scope)
            bucket = bucket_of(exchange, scope)
            if bucket is not None:
                wait = await runtime_of(scope).rate_limiter.check(bucket)
                if wait > 0:
                    await refuse(rate_limited(wait), exchange, scope, receive, send)
                    return
        await self.app(scope, receive, send)
