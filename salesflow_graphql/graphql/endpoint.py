"""``/graphql`` over HTTP: authentication, the response cache, then Strawberry.

Warm dashboard queries should not pay for GraphQL execution again: a successful
query's JSON answer is kept, keyed by the role, the business date and a hash
of the request (document, variables, operation name), for the analytics TTL.
A hit is answered before any parsing or execution.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from ..auth import TokenRejected, bearer_token, verify_access_token
from ..cache import MISS
from ..errors import ErrorCode
from ..metrics import GRAPHQL_LATENCY, GRAPHQL_REQUESTS
from ..ratelimit import retry_after_seconds
from ..runtime import Runtime
from ..sor.loaders import Loaders
from .context import GatewayContext, RequestState
from .schema import create_schema
from .websocket import KeepAliveTransportWSHandler, TextFrameWebSocketAdapter

log = logging.getLogger(__name__)

STATE_KEY = "salesflow"


class GatewayGraphQL(GraphQL):
    """Strawberry's ASGI view with the gateway's context and orjson encoding."""

    # WebSockets: server keepalive pings, JSON in text frames (see .websocket).
    graphql_transport_ws_handler_class = KeepAliveTransportWSHandler
    websocket_adapter_class = TextFrameWebSocketAdapter

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        super().__init__(
            create_schema(settings),
            graphql_ide="graphiql" if runtime.settings.graphiql else None,
            multipart_uploads_enabled=True,  # importExcel; CSRF-checked in GraphQLEndpoint
            keep_alive=settings.ws_keepalive_s > 0,
            keep_alive_interval=settings.ws_keepalive_s,
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
        )
        self.runtime = runtime

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
        context.state.principal = principal
        context.loaders = context.state.loaders = Loaders(self.runtime.source, principal.token)
        return None


class GraphQLEndpoint:
    """The ASGI app mounted at ``/graphql``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.view = GatewayGraphQL(runtime)
        self.rate_limiter = runtime.rate_limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.view(scope, receive, send)
            return
        started = time.perf_counter()
        request = Request(scope, receive)
        request_id = _request_id(request)
        if _wants_graphiql(request):
            await self.view(scope, receive, send)
            return
        if request.method == "POST" and not _preflighted(request):
            GRAPHQL_REQUESTS.labels("error").inc()
            await _csrf_refused(request_id)(scope, receive, send)
            return
        try:
            principal = verify_access_token(
                bearer_token(request.headers.get("authorization")), self.runtime.settings.jwt_secret
            )
        except TokenRejected as rejected:
            GRAPHQL_REQUESTS.labels("unauthenticated").inc()
            await _unauthenticated(rejected, request_id)(scope, receive, send)
            return
        # Per user, before the response cache: cached answers count too.
        wait = await self.rate_limiter.check(principal.subject)
        if wait > 0:
            GRAPHQL_REQUESTS.labels("rate_limited").inc()
            await _rate_limited(wait, request_id)(scope, receive, send)
            return

        # Bodies are counted while they stream in and cut off at the upload limit.
        upload_limit = self.runtime.settings.import_max_upload_bytes
        limit = upload_limit + UPLOAD_OVERHEAD_BYTES
        counted = _counting(receive, limit)
        declared = request.headers.get("content-length", "")
        try:
            if declared.isdigit() and int(declared) > limit:
                raise _BodyTooLarge
            body = b""
            if request.method == "POST" and "application/json" in request.headers.get(
                "content-type", ""
            ):
                body = await Request(scope, counted).body()
        except _BodyTooLarge:
            await _too_large(upload_limit, request_id, receive, send)
            return
        key = self._cache_key(request, body, principal.role)
        if key is not None:
            cached = await self.runtime.cache.get(key, layer="response")
            if cached is not MISS:
                GRAPHQL_REQUESTS.labels("cached").inc()
                await _json(cached, request_id, cache="hit")(scope, receive, send)
                GRAPHQL_LATENCY.observe(time.perf_counter() - started)
                return

        state = RequestState(request_id=request_id, principal=principal)
        scope.setdefault("state", {})[STATE_KEY] = state
        captured = _Capture(send, request_id)
        try:  # an upload (multipart) streams straight into the view, still counted
            await self.view(scope, _replay(body, counted) if body else counted, captured)
        except _BodyTooLarge:
            if captured.status:
                raise
            await _too_large(upload_limit, request_id, receive, send)
            return
        outcome = "ok" if captured.status == 200 and state.cacheable else "error"
        if key is not None and outcome == "ok" and captured.body is not None:
            await self.runtime.cache.set(key, captured.body, self._remaining_ttl(state))
        GRAPHQL_REQUESTS.labels(outcome).inc()
        GRAPHQL_LATENCY.observe(time.perf_counter() - started)

    def _remaining_ttl(self, state: RequestState) -> float:
        """An answer lives as long as the oldest data it was built from may."""
        ttl = self.runtime.settings.analytics_ttl_s
        oldest = state.loaders.oldest_data_at if state.loaders else None
        return ttl if oldest is None else ttl - (time.time() - oldest)

    def _cache_key(self, request: Request, body: bytes, role: str) -> str | None:
        content_type = request.headers.get("content-type", "")
        if request.method == "POST" and "application/json" not in content_type:
            return None  # uploads and other bodies are never cached
        material = body if request.method == "POST" else request.url.query.encode()
        digest = hashlib.blake2b(material, digest_size=20).hexdigest()
        return f"resp:{role}:{self.runtime.settings.today().isoformat()}:{digest}"


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


def _counting(receive: Receive, limit: int) -> Receive:
    """A ``receive`` that raises :class:`_BodyTooLarge` as soon as ``limit`` bytes are passed."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge
        return message

    return counted


async def _too_large(upload_limit: int, request_id: str, receive: Receive, send: Send) -> None:
    """Answer 413 at once, read and discard (a bounded amount of) what is still coming, then close.

    The status goes out as soon as the limit is passed. The rest of the body
    is drained before the answer's body is sent because HTTP/1.1 clients read
    the answer only once they have sent their request, and closing a socket
    with unread data makes the kernel reset it, losing the 413 on the way.
    """
    GRAPHQL_REQUESTS.labels("error").inc()
    body = orjson.dumps(
        {
            "errors": [
                {
                    "message": (
                        f"The upload is larger than the limit of {upload_limit / 2**20:,.1f} "
                        "MiB; it was not read further. Split the file into smaller ones."
                    ),
                    "extensions": {
                        "code": str(ErrorCode.BAD_USER_INPUT),
                        "reason": "PAYLOAD_TOO_LARGE",
                        "limitBytes": upload_limit,
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
        message = await receive()
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
