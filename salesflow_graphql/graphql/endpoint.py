"""``/graphql``: the response cache, then Strawberry, over HTTP and WebSocket.

Authentication, the rate limit, body limits, the deadline, the access log and
the metrics are the edge's (:mod:`salesflow_graphql.edge`), applied to every
route before a request gets here. This module keeps what is GraphQL's own:

- the response cache (:mod:`.response_cache`): a warm query is answered before
  any parsing or execution;
- reading the operation (:mod:`.over_http`, :mod:`.persisted`) and running it
  on the method it may run on: queries over GET and POST, mutations over POST
  only (over GET: HTTP 405), subscriptions over the WebSocket only;
- the answer in the negotiated media type, without ``data`` when nothing ran
  (a request error), with its status (see ``edge/envelope.py``);
- the WebSocket (:mod:`.websocket`): ``connection_init`` authenticated by the
  edge's own check.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from ..adapters.ratelimit import RateLimiter
from ..auth import TokenRejected
from ..edge import Refusal, current_exchange, exchange_of
from ..edge.auth import authenticate
from ..edge.envelope import JSON, content_type, graphql_status, json_response
from ..edge.policy import GRAPHIQL_PAGE
from ..errors import ErrorCode
from ..metrics import OPERATION_NAMES, WS_REFUSED
from ..runtime import Runtime
from .context import GatewayContext, RequestState
from .over_http import decode_json, read_operation
from .persisted import PersistedQueries
from .response_cache import ResponseCache, ResponseCapture, declared_operation_name
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

STATE_KEY = "salesflow"


class GatewayGraphQL(GraphQL):
    """Strawberry's ASGI view with the gateway's context, request reading and answers."""

    # WebSockets: keepalive pings, JSON in text frames, limits (see .websocket).
    graphql_transport_ws_handler_class = GatewayTransportWSHandler
    websocket_adapter_class = TextFrameWebSocketAdapter

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        super().__init__(
            create_schema(settings),
            graphql_ide=None,  # GraphiQL is our own page (salesflow_graphql.web), never a CDN's
            multipart_uploads_enabled=True,  # importExcel; CSRF-checked at the edge
            keep_alive=settings.ws.keepalive_s > 0,
            keep_alive_interval=settings.ws.keepalive_s,
            max_subscriptions_per_connection=settings.ws.max_subscriptions,
            connection_init_wait_timeout=timedelta(seconds=settings.ws.init_timeout_s),
            # graphql-transport-ws only (API.md): the legacy graphql-ws protocol has none
            # of the limits above.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            # Browsers do not apply CORS to WebSocket handshakes; the same origins may connect.
            allowed_origins=settings.edge.cors_origin_list,
        )
        self.runtime = runtime
        self.persisted = PersistedQueries(settings, runtime.cache)
        # The operations this gateway knows are metric labels from the start.
        OPERATION_NAMES.add_known(self.persisted.known_operation_names())
        self.ws_connections = UserConnections(settings.ws.max_connections_per_user)
        self.ws_max_message_bytes = settings.ws.max_message_bytes

    @property
    def rate_limiter(self) -> RateLimiter:
        """The per-user limiter; WebSocket subscribe messages count against it too."""
        return self.runtime.rate_limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except Refusal as refusal:
            response = _refused(refusal)
        except HTTPException as exc:  # what Strawberry itself still refuses (a bad form)
            refusal = Refusal(
                exc.status_code, ErrorCode.BAD_USER_INPUT, exc.reason, reason="INVALID_REQUEST"
            )
            response = _refused(refusal)
        await response(scope, receive, send)

    async def get_context(self, request: Any, response: Any) -> GatewayContext:  # type: ignore[override]
        state = request.scope["state"].get(STATE_KEY) or RequestState(
            request_id=exchange_of(request.scope).request_id,
            principal=None,  # a WebSocket: set at connection_init
        )
        return GatewayContext(
            runtime=self.runtime,
            state=state,
            request=request,
            response=response,
        )

    def should_render_graphql_ide(self, request: Any) -> bool:
        return False  # the endpoint serves its own page (edge/policy.py says which GET wants it)

    def decode_json(self, data: str | bytes) -> object:
        return decode_json(data)

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        return orjson.dumps(data)

    async def parse_multipart(self, request: Any) -> dict[str, Any]:  # type: ignore[override]
        # A ``map`` that does not fit ``operations`` is a 400, not a crash (see .uploads).
        return await parse_multipart(self, request)

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:  # type: ignore[override]
        return await read_operation(
            self, request, self.persisted, self.runtime.settings.edge.max_document_bytes
        )

    async def execute_single(  # type: ignore[override]
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: GatewayContext,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        allowed = {OperationType.QUERY}
        if request_adapter.method == "POST":
            allowed.add(OperationType.MUTATION)
        try:
            result = await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            raise _wrong_transport(exc.operation_type) from None
        except (CannotGetOperationTypeError, MissingQueryError) as exc:  # the schema says first
            raise Refusal(400, ErrorCode.BAD_USER_INPUT, str(exc) or "No operation") from None
        if request_data.query and not is_request_error(result):
            await self.persisted.ran(request_data.extensions, request_data.query)
        return result

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:  # type: ignore[override]
        answer = process_result(result)
        if is_request_error(result):
            answer.pop("data", None)  # nothing ran: a request error has no data (GraphQL over HTTP)
        return answer

    def create_response(  # type: ignore[override]
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        exchange = current_exchange()
        media_type = exchange.media_type if exchange else JSON
        assert isinstance(response_data, dict)  # no batching
        response = Response(
            self.encode_json(response_data), status_code=graphql_status(response_data, media_type)
        )
        response.headers["content-type"] = content_type(media_type)
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        return response

    async def on_ws_connect(self, context: GatewayContext) -> dict[str, object] | None:  # type: ignore[override]
        """Authenticate a WebSocket from its ``connection_init`` payload, or close it (4403)."""
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        header = params.get("Authorization") or params.get("authorization")
        try:
            principal = authenticate(
                header if isinstance(header, str) else None, self.runtime.settings
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
        context.read_anew(principal.token)
        return None


def is_request_error(result: ExecutionResult) -> bool:
    """Nothing ran: the document did not parse or validate, or the variables did not coerce.

    Field errors carry a ``path``; these do not, and come without data.
    """
    if isinstance(result, PreExecutionError):
        return True
    return (
        result.data is None and bool(result.errors) and all(e.path is None for e in result.errors)
    )


def _wrong_transport(kind: OperationType) -> Refusal:
    if kind is OperationType.SUBSCRIPTION:
        return Refusal(
            400,
            ErrorCode.BAD_USER_INPUT,
            "Subscriptions run over the WebSocket: connect to /graphql with the "
            "graphql-transport-ws protocol (the graphql-ws client), not over HTTP.",
            reason="SUBSCRIPTION_OVER_HTTP",
        )
    return Refusal(
        405,
        ErrorCode.BAD_USER_INPUT,
        "Mutations cannot run over GET (a safe method): send them with POST.",
        headers={"allow": "POST"},
        reason="MUTATION_OVER_GET",
    )


GRAPHIQL_OFF = Refusal(
    404, ErrorCode.NOT_FOUND, "The interactive query page is turned off on this gateway."
)


def _refused(refusal: Refusal) -> Response:
    exchange = current_exchange()
    assert exchange is not None
    exchange.answered(refusal.status, refusal.outcome, refusal.code)
    return refusal.response(exchange.media_type, exchange.request_id)


class GraphQLEndpoint:
    """The ASGI app mounted at ``/graphql``, behind the edge."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.view = GatewayGraphQL(runtime)
        self.responses = ResponseCache(runtime, self.view, STATE_KEY)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.view(scope, receive, send)
            return
        exchange = exchange_of(scope)
        settings = self.runtime.settings
        request = Request(scope, receive)
        if exchange.route is GRAPHIQL_PAGE:  # the self-hosted GraphiQL page, if it is on
            from ..web import graphiql_response

            page = (
                graphiql_response(request) if settings.graphql.graphiql else _refused(GRAPHIQL_OFF)
            )
            await page(scope, receive, send)
            return
        principal = exchange.principal
        assert principal is not None, "the edge lets no unauthenticated request through"
        stats = exchange.stats
        body, read = b"", False
        if request.method == "POST" and "application/json" in request.headers.get(
            "content-type", ""
        ):
            body, read = await request.body(), True  # counted and deadlined by the edge
        key = self.responses.key(request, body, principal.role)
        if key is not None:
            cached = await self.responses.lookup(key, scope, body, principal)
            if cached is not None:
                stats.operation_name = declared_operation_name(request, body)
                stats.operation_type = "query"  # only queries' answers are cached
                exchange.answered(200, "cached")
                hit = json_response(
                    cached.body,
                    exchange.media_type,
                    exchange.request_id,
                    headers={"x-cache": cached.status},
                )
                await hit(scope, receive, send)
                return
        state = RequestState(request_id=exchange.request_id, principal=principal)
        scope["state"][STATE_KEY] = state
        captured = ResponseCapture(send, exchange.request_id)
        # A body read here (even an empty one) is handed to the view again: asking the
        # server for more would wait for the client to hang up.
        await self.view(scope, _replay(body, receive) if read else receive, captured)
        ok = captured.status == 200 and not stats.error_codes
        if exchange.outcome is None:
            exchange.answered(captured.status, "ok" if ok else "error")
        if key is not None and ok and state.cacheable and captured.body is not None:
            await self.responses.store(key, captured.body, state)


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
