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
from ..runtime import Runtime
from ..sor.loaders import Loaders
from .context import GatewayContext, RequestState
from .schema import create_schema

log = logging.getLogger(__name__)

STATE_KEY = "salesflow"


class GatewayGraphQL(GraphQL):
    """Strawberry's ASGI view with the gateway's context and orjson encoding."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(
            create_schema(),
            graphql_ide="graphiql" if runtime.settings.graphiql else None,
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
        try:
            principal = verify_access_token(
                bearer_token(request.headers.get("authorization")), self.runtime.settings.jwt_secret
            )
        except TokenRejected as rejected:
            GRAPHQL_REQUESTS.labels("unauthenticated").inc()
            await _unauthenticated(rejected, request_id)(scope, receive, send)
            return

        body = await request.body() if request.method == "POST" else b""
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
        await self.view(scope, _replay(body, receive), captured)
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
