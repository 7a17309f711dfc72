"""``/graphql`` over HTTP: authentication, limits, the response cache, then Strawberry.

A successful query's answer is kept by the response cache
(:mod:`.response_cache`) and a hit is answered before any parsing or execution.

Limits, all from settings:

- bodies are counted while they stream and cut off past
  ``SALESFLOW_MAX_BODY_BYTES`` (JSON) or ``SALESFLOW_IMPORT_MAX_UPLOAD_BYTES``
  (a multipart upload): HTTP 413, ``BAD_USER_INPUT``, reason ``PAYLOAD_TOO_LARGE``;
- a request gets ``SALESFLOW_REQUEST_TIMEOUT_S`` (an upload
  ``SALESFLOW_UPLOAD_TIMEOUT_S``) from its arrival. Past it a query is stopped
  and answered HTTP 504, ``QUERY_TOO_COMPLEX``, reason ``TIMEOUT`` (or 408,
  reason ``REQUEST_TIMEOUT``, when its body had not even arrived). A mutation
  that has started is never stopped: a commit cut halfway would leave rows
  written in Java and no answer saying which; its own limits (Java timeouts,
  import size and rows, the anomaly check's lock) bound it instead.

Each request leaves one access log line (``salesflow_graphql.access``) and its
metrics, with the Java calls and cache lookups it made
(:mod:`salesflow_graphql.request_stats`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from ..auth import Principal, TokenRejected, bearer_token, verify_access_token
from ..errors import ErrorCode
from ..logs import ACCESS_LOGGER
from ..metrics import (
    GRAPHQL_LATENCY,
    GRAPHQL_OPERATION_SECONDS,
    GRAPHQL_OPERATIONS,
    GRAPHQL_REQUESTS,
    OPERATION_NAMES,
    WS_REFUSED,
)
from ..ratelimit import RateLimiter, retry_after_seconds
from ..request_stats import RequestStats, tracking
from ..runtime import Runtime
from ..sor.loaders import Loaders
from .context import GatewayContext, RequestState
from .response_cache import ResponseCache
from .schema import create_schema
from .uploads import parse_multipart
from .websocket import (
    CLOSE_TOO_MANY_CONNECTIONS,
    CONNECTION_SLOT,
    GatewayTransportWSHandler,
    TextFrameWebSocketAdapter,
    UserConnections,
    WebSocketRefused,
)

log = logging.getLogger(__name__)
access_log = logging.getLogger(ACCESS_LOGGER)

STATE_KEY = "salesflow"


class GatewayGraphQL(GraphQL):
    """Strawberry's ASGI view with the gateway's context and orjson encoding."""

    # WebSockets: keepalive pings, JSON in text frames, limits (see .websocket).
    graphql_transport_ws_handler_class = GatewayTransportWSHandler
    websocket_adapter_class = TextFrameWebSocketAdapter

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        super().__init__(
            create_schema(settings),
            graphql_ide=None,  # GraphiQL is our own page (salesflow_graphql.web), never a CDN's
            multipart_uploads_enabled=True,  # importExcel; CSRF-checked in GraphQLEndpoint
            keep_alive=settings.ws_keepalive_s > 0,
            keep_alive_interval=settings.ws_keepalive_s,
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_s),
            # graphql-transport-ws only (API.md): the legacy graphql-ws protocol has none
            # of the limits above.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            # Browsers do not apply CORS to WebSocket handshakes; the same origins may connect.
            allowed_origins=settings.cors_origin_list,
        )
        self.runtime = runtime
        self.ws_connections = UserConnections(settings.ws_max_connections_per_user)
        self.ws_max_message_bytes = settings.ws_max_message_bytes

    @property
    def rate_limiter(self) -> RateLimiter:
        """The per-user limiter; WebSocket subscribe messages count against it too."""
        return self.runtime.rate_limiter

    async def get_context(self, request: Any, response: Any) -> GatewayContext:  # type: ignore[override]
        # The GraphiQL page (and, later, WebSockets) arrive without a checked principal.
        state = request.scope.get("state", {}).get(STATE_KEY) or RequestState(
            request_id=uuid.uuid4().hex[:16], principal=None
        )
        token = state.principal.token if state.principal else None
        state.loaders = Loaders(self.runtime.source, token)
        return GatewayContext(
            runtime=self.runtime,
            state=state,
            loaders=state.loaders,
            request=request,
            response=response,
        )

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        return orjson.dumps(data)

    async def parse_multipart(self, request: Any) -> dict[str, Any]:  # type: ignore[override]
        # A ``map`` that does not fit ``operations`` is a 400, not a crash (see .uploads).
        return await parse_multipart(self, request)

    async def on_ws_connect(self, context: GatewayContext) -> dict[str, object] | None:  # type: ignore[override]
        """Authenticate a WebSocket from its ``connection_init`` payload, or close it (4403)."""
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        header = params.get("Authorization") or params.get("authorization")
        try:
            principal = verify_access_token(
                bearer_token(header if isinstance(header, str) else None),
                self.runtime.settings.jwt_secret,
            )
        except TokenRejected as rejected:
            log.info("websocket refused: %s", rejected.problem)
            raise ConnectionRejectionError({"reason": str(rejected.problem)}) from rejected
        if not self.ws_connections.acquire(principal.subject):
            WS_REFUSED.labels("too_many_connections").inc()
            log.info(
                "websocket refused: too many connections (request %s)", context.state.request_id
            )
            raise WebSocketRefused(
                CLOSE_TOO_MANY_CONNECTIONS,
                f"Too many connections: at most {self.ws_connections.cap} per user",
            )
        context.extras[CONNECTION_SLOT] = principal.subject  # released when the socket closes
        context.state.principal = principal
        context.loaders = context.state.loaders = Loaders(self.runtime.source, principal.token)
        return None


class GraphQLEndpoint:
    """The ASGI app mounted at ``/graphql``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.view = GatewayGraphQL(runtime)
        self.rate_limiter = runtime.rate_limiter
        self.responses = ResponseCache(runtime, self.view, STATE_KEY)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.view(scope, receive, send)
            return
        started = time.perf_counter()
        request = Request(scope, receive)
        request_id = _request_id(request)
        if _wants_graphiql(request):
            # The self-hosted GraphiQL page; with SALESFLOW_GRAPHIQL off Strawberry answers 404.
            from ..web import graphiql_response

            page = graphiql_response(request) if self.runtime.settings.graphiql else self.view
            await page(scope, receive, send)
            return
        exchange = _Exchange(request_id, RequestStats())
        with tracking(exchange.stats):
            try:
                await self._serve(request, exchange, started, scope, receive, send)
            finally:
                _observe(exchange, time.perf_counter() - started)

    async def _serve(
        self,
        request: Request,
        exchange: _Exchange,
        started: float,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Refusals, the body, the response cache, then the view; notes what happened."""
        settings = self.runtime.settings
        request_id, stats = exchange.request_id, exchange.stats
        if request.method == "POST" and not _preflighted(request):
            exchange.answered(400, "error", ErrorCode.BAD_USER_INPUT)
            await _csrf_refused(request_id)(scope, receive, send)
            return
        try:
            principal = verify_access_token(
                bearer_token(request.headers.get("authorization")), settings.jwt_secret
            )
        except TokenRejected as rejected:
            exchange.answered(401, "unauthenticated", ErrorCode.UNAUTHENTICATED)
            await _unauthenticated(rejected, request_id)(scope, receive, send)
            return
        exchange.principal = principal
        # Per user, before the response cache: cached answers count too.
        wait = await self.rate_limiter.check(principal.subject)
        if wait > 0:
            exchange.answered(429, "rate_limited", ErrorCode.RATE_LIMITED)
            await _rate_limited(wait, request_id)(scope, receive, send)
            return

        # Bodies are counted while they stream in and cut off at their limit; the
        # deadline runs from the request's arrival.
        upload = "multipart/form-data" in request.headers.get("content-type", "")
        if upload:
            shown_limit = settings.import_max_upload_bytes
            limit, budget = shown_limit + UPLOAD_OVERHEAD_BYTES, settings.upload_timeout_s
        else:
            shown_limit = limit = settings.max_body_bytes
            budget = settings.request_timeout_s
        deadline = started + budget if budget > 0 else None
        meter = _BodyMeter(receive, limit, complete=request.method != "POST")
        declared = request.headers.get("content-length", "")
        try:
            if declared.isdigit() and int(declared) > limit:
                raise _BodyTooLarge
            body = b""
            if request.method == "POST" and "application/json" in request.headers.get(
                "content-type", ""
            ):
                body = await _within(Request(scope, meter).body(), _remaining(deadline))
        except _BodyTooLarge:
            exchange.answered(413, "too_large", ErrorCode.BAD_USER_INPUT)
            await _too_large(shown_limit, request_id, receive, send, upload=upload)
            return
        except TimeoutError:
            exchange.answered(408, "timeout", ErrorCode.BAD_USER_INPUT)
            await _timed_out(budget, request_id, body_arrived=False)(scope, receive, send)
            return
        key = self.responses.key(request, body, principal.role)
        if key is not None:
            cached = await self.responses.lookup(key, scope, body, principal)
            if cached is not None:
                stats.operation_name = _declared_operation_name(request, body)
                stats.operation_type = "query"  # only queries' answers are cached
                exchange.answered(200, "cached")
                await _json(cached.body, request_id, cache=cached.status)(scope, receive, send)
                return

        state = RequestState(request_id=request_id, principal=principal)
        scope.setdefault("state", {})[STATE_KEY] = state
        captured = _Capture(send, request_id)
        try:  # an upload (multipart) streams straight into the view, still counted
            stopped = await _run_until(
                self.view(scope, _replay(body, meter) if body else meter, captured),
                _remaining(deadline),
                # Only until a mutation (or subscription) starts: those are never cut.
                may_stop=lambda: stats.operation_type in (None, "query"),
            )
        except _BodyTooLarge:
            if captured.status:
                raise
            exchange.answered(413, "too_large", ErrorCode.BAD_USER_INPUT)
            await _too_large(shown_limit, request_id, receive, send, upload=upload)
            return
        if stopped:
            if captured.status:  # the answer had begun; it cannot be replaced now
                exchange.answered(captured.status, "timeout")
                return
            arrived = meter.complete
            exchange.answered(
                504 if arrived else 408,
                "timeout",
                ErrorCode.QUERY_TOO_COMPLEX if arrived else ErrorCode.BAD_USER_INPUT,
            )
            await _timed_out(budget, request_id, body_arrived=arrived)(scope, receive, send)
            return
        ok = captured.status == 200 and not stats.error_codes
        exchange.answered(captured.status, "ok" if ok else "error")
        if key is not None and ok and state.cacheable and captured.body is not None:
            await self.responses.store(key, captured.body, state)


class _Capture:
    """Passes the response through while keeping a copy of a small, complete JSON body."""

    MAX_BYTES = 4 * 1024 * 1024

    def __init__(self, send: Send, request_id: str) -> None:
        self._send = send
        self._request_id = request_id.encode()
        self.status = 0
        self._chunks: list[bytes] = []
        self._size = 0
        self.body: bytes | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message = {
                **message,
                "headers": [*message.get("headers", []), (b"x-request-id", self._request_id)],
            }
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            self._size += len(chunk)
            if self._size <= self.MAX_BYTES:
                self._chunks.append(chunk)
            if not message.get("more_body", False) and self._size <= self.MAX_BYTES:
                self.body = b"".join(self._chunks)
        await self._send(message)


#: Room for the multipart framing and the ``operations``/``map`` fields around a file.
UPLOAD_OVERHEAD_BYTES = 64 * 1024
#: Content types a plain HTML form (or a "simple" cross-site fetch) can send without preflight.
SIMPLE_CONTENT_TYPES = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name")
#: After a 413, at most this much is read and thrown away (see ``_too_large``).
DRAIN_MAX_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 5.0


def _preflighted(request: Request) -> bool:
    """CSRF prevention as Apollo does it: a browser form cannot send this POST.

    It can send neither a custom header nor a content type other than the three
    simple ones, so either makes the browser ask (CORS preflight) first.
    """
    if any(request.headers.get(name, "").strip() for name in PREFLIGHT_HEADERS):
        return True
    essence = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return bool(essence) and essence not in SIMPLE_CONTENT_TYPES


def _csrf_refused(request_id: str) -> Response:
    message = (
        "This request was blocked as a possible cross-site request forgery (CSRF): a "
        "multipart (file upload) or other non-JSON POST must carry a non-empty "
        "'Apollo-Require-Preflight' (or 'X-Apollo-Operation-Name') header, which a plain "
        "browser form cannot send. Apollo Client and urql upload links can add it."
    )
    body = orjson.dumps(
        {
            "errors": [
                {
                    "message": message,
                    "extensions": {
                        "code": str(ErrorCode.BAD_USER_INPUT),
                        "reason": "CSRF_PREFLIGHT_REQUIRED",
                    },
                }
            ]
        }
    )
    return _json(body, request_id, status=400)


class _BodyTooLarge(Exception):
    """The request body passed the size limit while it was being received."""


class _BodyMeter:
    """A ``receive`` that counts the body, raises :class:`_BodyTooLarge` as soon as ``limit``
    bytes are passed, and knows when the body has arrived whole."""

    def __init__(self, receive: Receive, limit: int, *, complete: bool = False) -> None:
        self._receive = receive
        self.limit = limit
        self.seen = 0
        #: True once the last piece of the body arrived (from the start for a GET).
        self.complete = complete

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise _BodyTooLarge
            if not message.get("more_body", False):
                self.complete = True
        return message


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.perf_counter()


async def _within(work: Coroutine[Any, Any, bytes], seconds: float | None) -> bytes:
    """``work``'s result, or :class:`TimeoutError` after ``seconds`` (None: no limit)."""
    if seconds is None:
        return await work
    return await asyncio.wait_for(work, max(0.0, seconds))


async def _run_until(
    work: Coroutine[Any, Any, None], seconds: float | None, *, may_stop: Callable[[], bool]
) -> bool:
    """Run ``work``; after ``seconds`` stop it if ``may_stop()`` says so, else let it finish.

    True when it was stopped. The check happens once, at the deadline: work that
    is allowed to go on then (a mutation under way) is never stopped later.
    """
    if seconds is None:
        await work
        return False
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=max(0.0, seconds))
        if not done and may_stop() and task.cancel():
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return True
        await task
        return False
    except asyncio.CancelledError:  # the server is stopping this request: stop the work too
        task.cancel()
        raise


async def _too_large(
    limit: int, request_id: str, receive: Receive, send: Send, *, upload: bool
) -> None:
    """Answer 413 at once, read and discard (a bounded amount of) what is still coming, then close.

    The status goes out as soon as the limit is passed. The rest of the body
    is drained before the answer's body is sent because HTTP/1.1 clients read
    the answer only once they have sent their request, and closing a socket
    with unread data makes the kernel reset it, losing the 413 on the way.
    """
    if upload:
        message = (
            f"The upload is larger than the limit of {limit / 2**20:,.1f} MiB; it was not "
            "read further. Split the file into smaller ones."
        )
    else:
        message = (
            f"The request body is larger than the limit of {limit / 2**20:,.1f} MiB; it was "
            "not read further. Send a shorter document or smaller variables."
        )
    body = orjson.dumps(
        {
            "errors": [
                {
                    "message": message,
                    "extensions": {
                        "code": str(ErrorCode.BAD_USER_INPUT),
                        "reason": "PAYLOAD_TOO_LARGE",
                        "limitBytes": limit,
                    },
                }
            ]
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    drained, deadline = 0, time.monotonic() + DRAIN_SECONDS
    while drained < DRAIN_MAX_BYTES and time.monotonic() < deadline:
        try:  # a client that stops sending does not hold the answer past the deadline
            message = await asyncio.wait_for(receive(), deadline - time.monotonic())
        except TimeoutError:
            break
        if message["type"] != "http.request":
            break
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body to the view once."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _wants_graphiql(request: Request) -> bool:
    return (
        request.method == "GET"
        and "query" not in request.query_params
        and "text/html" in request.headers.get("accept", "")
    )


def _request_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    if 8 <= len(given) <= 64 and given.replace("-", "").isalnum():
        return given
    return uuid.uuid4().hex[:16]


def _json(body: bytes, request_id: str, *, status: int = 200, cache: str | None = None) -> Response:
    headers = {"x-request-id": request_id}
    if cache:
        headers["x-cache"] = cache
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _unauthenticated(rejected: TokenRejected, request_id: str) -> Response:
    body = orjson.dumps(
        {
            "errors": [
                {
                    "message": rejected.message,
                    "extensions": {
                        "code": str(ErrorCode.UNAUTHENTICATED),
                        "reason": str(rejected.problem),
                    },
                }
            ]
        }
    )
    response = _json(body, request_id, status=401)
    response.headers["www-authenticate"] = 'Bearer realm="salesflow"'
    return response


def _rate_limited(wait: float, request_id: str) -> Response:
    retry_after = retry_after_seconds(wait)
    body = orjson.dumps(
        {
            "errors": [
                {
                    "message": (
                        f"Too many requests; try again in {retry_after} s. Each user may make "
                        "a limited number of requests a second."
                    ),
                    "extensions": {"code": str(ErrorCode.RATE_LIMITED), "retryAfter": retry_after},
                }
            ]
        }
    )
    response = _json(body, request_id, status=429)
    response.headers["retry-after"] = str(retry_after)
    return response


def _timed_out(budget: float, request_id: str, *, body_arrived: bool) -> Response:
    """504 for a query stopped at the deadline; 408 when the request body was still arriving."""
    if body_arrived:
        status, code, reason = 504, ErrorCode.QUERY_TOO_COMPLEX, "TIMEOUT"
        message = (
            f"The query took longer than {budget:g} s and was stopped. Ask for less (a shorter "
            "range, fewer fields or products) or try again shortly."
        )
    else:
        status, code, reason = 408, ErrorCode.BAD_USER_INPUT, "REQUEST_TIMEOUT"
        message = f"The request did not arrive within {budget:g} s; it was not read further."
    body = orjson.dumps(
        {
            "errors": [
                {
                    "message": message,
                    "extensions": {"code": str(code), "reason": reason, "timeoutSeconds": budget},
                }
            ]
        }
    )
    response = _json(body, request_id, status=status)
    if not body_arrived:
        response.headers["connection"] = "close"  # the rest of the body is not read
    return response


# ------------------------------------------------------------------- observation
@dataclass(slots=True)
class _Exchange:
    """One GraphQL HTTP request as its access line and metrics tell it."""

    request_id: str
    stats: RequestStats
    principal: Principal | None = None
    #: What was answered; stays 500/error if the request ended in an exception.
    status: int = 500
    outcome: str = "error"

    def answered(self, status: int, outcome: str, *codes: ErrorCode) -> None:
        self.status, self.outcome = status, outcome
        for code in codes:
            self.stats.add_error_code(str(code))


def _observe(exchange: _Exchange, elapsed: float) -> None:
    """Metrics and the access log line of a finished request."""
    stats, principal = exchange.stats, exchange.principal
    GRAPHQL_REQUESTS.labels(exchange.outcome).inc()
    GRAPHQL_LATENCY.observe(elapsed)
    kind = stats.operation_type or "unknown"
    if principal is not None:  # anonymous refusals name no operation worth a series
        name = OPERATION_NAMES.label(stats.operation_name, parsed=stats.operation_type is not None)
        GRAPHQL_OPERATIONS.labels(name, kind, exchange.outcome).inc()
        GRAPHQL_OPERATION_SECONDS.labels(name, kind).observe(elapsed)
    access_log.info(
        "graphql request",
        extra={
            "request_id": exchange.request_id,
            "user": principal.subject if principal else None,
            "role": str(principal.role) if principal else None,
            "operation": _loggable_name(stats.operation_name),
            "operation_type": kind,
            "duration_ms": round(elapsed * 1000, 1),
            "status": exchange.status,
            "outcome": exchange.outcome,
            "upstream_calls": stats.upstream_calls,
            "cache_hits": stats.cache_hits,
            "cache_misses": stats.cache_misses,
            "error_codes": list(stats.error_codes),
        },
    )


_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
#: The first operation's name, for a cached answer (no parsing on that path).
_FIRST_QUERY_NAME = re.compile(r"\s*(?:#[^\n]*\s*)*query\s+([_A-Za-z][_0-9A-Za-z]*)")


def _loggable_name(name: str | None) -> str | None:
    """An operation name as the client gave it, if it is a GraphQL name (nothing to inject)."""
    if name is None:
        return None
    return name if _NAME.fullmatch(name) else "(invalid)"


def _declared_operation_name(request: Request, body: bytes) -> str | None:
    """The operation name a request declares: ``operationName``, else its first query's name."""
    if request.method == "GET":
        name, query = request.query_params.get("operationName"), request.query_params.get("query")
    else:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(payload, dict):
            return None
        name, query = payload.get("operationName"), payload.get("query")
    if isinstance(name, str) and name:
        return name
    found = _FIRST_QUERY_NAME.match(query) if isinstance(query, str) else None
    return found.group(1) if found else None
