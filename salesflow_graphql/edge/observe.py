"""Request ids, the access log and the request metrics, for every route.

The outermost middleware: each HTTP request gets an :class:`~.exchange.Exchange`
(its id: the client's ``X-Request-Id`` when well-formed, else a new one, sent
back in the ``X-Request-Id`` header), a :class:`~salesflow_graphql.request_stats.RequestStats`
(Java calls, cache lookups, error codes) and, when it ends:

- ``salesflow_requests_total{route, outcome}`` and ``salesflow_request_seconds{route}``;
- for ``/graphql``, the GraphQL metrics by outcome and, for an authenticated
  request, by operation name and type;
- one line on ``salesflow_graphql.access`` (every request to a logged route,
  and every refusal or error on any route).

An exception that escapes a route is answered here: HTTP 500, ``INTERNAL``,
with the request id, its traceback logged. WebSocket operations are recorded
one by one by the WebSocket handler through :func:`record`.
"""

from __future__ import annotations

import logging
import re
import uuid

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ErrorCode
from ..logs import ACCESS_LOGGER
from ..metrics import (
    GRAPHQL_LATENCY,
    GRAPHQL_OPERATION_SECONDS,
    GRAPHQL_OPERATIONS,
    GRAPHQL_REQUESTS,
    OPERATION_NAMES,
    REQUEST_SECONDS,
    REQUESTS,
)
from ..request_stats import tracking
from .envelope import Refusal, negotiate, refuse
from .exchange import EXCHANGE_KEY, Exchange, serving
from .policy import policy_for

log = logging.getLogger(__name__)
access_log = logging.getLogger(ACCESS_LOGGER)

_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{8,64}")
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")


class Observe:
    """Pure ASGI middleware: request id, exchange, the 500 safety net, metrics, access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        exchange = Exchange(
            request_id=request_id(headers.get("x-request-id", "")),
            route=policy_for(scope),
            media_type=negotiate(headers.get("accept", "")),
        )
        scope.setdefault("state", {})[EXCHANGE_KEY] = exchange
        with serving(exchange):
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)  # operations are recorded one by one
                return
            with tracking(exchange.stats):
                await self._serve(exchange, scope, receive, send)

    async def _serve(self, exchange: Exchange, scope: Scope, receive: Receive, send: Send) -> None:
        marker = exchange.request_id.encode()

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                headers = list(message.get("headers", []))
                if not any(name == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", marker))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, observed)
        except Exception:
            if exchange.status:
                raise  # the answer had begun: nothing can replace it now
            log.exception("internal error (request %s)", exchange.request_id)
            internal = Refusal(
                500,
                ErrorCode.INTERNAL,
                f"Internal error; quote request id {exchange.request_id} when reporting it.",
                requestId=exchange.request_id,
            )
            await refuse(internal, exchange, scope, receive, observed)
        finally:
            record(exchange)


def request_id(given: str) -> str:
    """The client's request id when it is a plain token of 8 to 64 characters, else a new one."""
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]


def record(exchange: Exchange) -> None:
    """Metrics and the access line of a finished request (or WebSocket operation)."""
    elapsed = exchange.elapsed
    route, stats, principal = exchange.route, exchange.stats, exchange.principal
    status = exchange.status or 500
    outcome = exchange.outcome or ("ok" if status < 400 else "error")
    REQUESTS.labels(route.name, outcome).inc()
    REQUEST_SECONDS.labels(route.name).observe(elapsed)
    kind = stats.operation_type or "unknown"
    if route.graphql:
        GRAPHQL_REQUESTS.labels(outcome).inc()
        GRAPHQL_LATENCY.observe(elapsed)
        if principal is not None:  # anonymous refusals name no operation worth a series
            name = OPERATION_NAMES.label(
                stats.operation_name,
                parsed=stats.operation_type is not None,
                subject=principal.subject,
                succeeded=outcome in ("ok", "cached"),
            )
            GRAPHQL_OPERATIONS.labels(name, kind, outcome).inc()
            GRAPHQL_OPERATION_SECONDS.labels(name, kind).observe(elapsed)
    if not (route.logged or status >= 400) or not access_log.isEnabledFor(logging.INFO):
        return
    access_log.info(
        "graphql request" if route.graphql else "request",
        extra={
            "request_id": exchange.request_id,
            "route": route.name,
            "user": principal.subject if principal else None,
            "role": str(principal.role) if principal else None,
            "operation": loggable_name(stats.operation_name),
            "operation_type": kind,
            "duration_ms": round(elapsed * 1000, 1),
            "status": status,
            "outcome": outcome,
            "upstream_calls": stats.upstream_calls,
            "cache_hits": stats.cache_hits,
            "cache_misses": stats.cache_misses,
            "error_codes": list(stats.error_codes),
        },
    )


def loggable_name(name: str | None) -> str | None:
    """An operation name as the client gave it, if it is a GraphQL name (nothing to inject)."""
    if name is None:
        return None
    return name if _NAME.fullmatch(name) else "(invalid)"
