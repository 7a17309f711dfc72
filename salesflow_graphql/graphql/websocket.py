"""The WebSocket side of ``/graphql``: keepalive pings, text frames, and limits.

Strawberry's graphql-transport-ws handler answers a client's ``ping`` but never
sends one, so a subscription that waits quietly for the next alert looks idle
to proxies and load balancers, which cut it (often after 60 s). After
``connection_ack`` this handler sends ``{"type": "ping"}`` every
``SALESFLOW_WS_KEEPALIVE_S`` seconds; clients answer ``pong`` as the protocol
requires (graphql-ws does on its own).

Messages go out as text frames. The view encodes JSON with orjson (bytes),
which Strawberry would send as binary frames; browsers hand those to
graphql-ws as a ``Blob`` it cannot parse.

Limits, so one user or one client cannot take the process over:

- ``SALESFLOW_WS_MAX_CONNECTIONS_PER_USER`` authenticated connections per user
  (JWT subject) on this process; the next one is closed with 4429 instead of
  acknowledged (:class:`UserConnections`);
- ``connection_init`` must arrive within ``SALESFLOW_WS_INIT_TIMEOUT_S`` (else
  4408, Strawberry's own check);
- each ``subscribe`` takes a token from the user's rate-limit bucket, shared
  with HTTP; without one the operation gets an ``error`` message with code
  ``RATE_LIMITED`` and ``retryAfter`` (the connection stays open);
- ``SALESFLOW_WS_MAX_SUBSCRIPTIONS`` operations at once per connection;
- a message over ``SALESFLOW_WS_MAX_MESSAGE_BYTES`` closes the connection with
  1009 (``serve`` also sets uvicorn's frame limit, which refuses it unread);
- a message that is not JSON (nested past 1024 levels included) closes it with 4400;
- the token's ``exp`` (with ``SALESFLOW_JWT_LEEWAY_S``) is checked on each
  ``subscribe``, and the connection is closed with 4403 when it passes: a
  client reconnects with a fresh token (graphql-ws calls ``connectionParams`` again);
- a document is resolved and size-checked as over HTTP (persisted queries,
  trusted documents, ``SALESFLOW_MAX_DOCUMENT_BYTES``): a refusal is that
  operation's ``error`` message.

Each ``subscribe`` leaves an access line (route ``/graphql (websocket)``), as
an HTTP request does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from ..auth import Principal
from ..edge.envelope import JSON, Refusal
from ..edge.exchange import Exchange
from ..edge.observe import record
from ..edge.policy import GRAPHQL_WEBSOCKET
from ..edge.ratelimit import rate_limited
from ..errors import ErrorCode
from ..metrics import WS_CONNECTIONS, WS_REFUSED

log = logging.getLogger(__name__)

#: Close codes (graphql-transport-ws uses 4400-4499 for its own refusals).
CLOSE_TOO_MANY_CONNECTIONS = 4429
CLOSE_FORBIDDEN = 4403
CLOSE_MESSAGE_TOO_BIG = 1009
#: ``context.extras`` key: the subject whose connection slot this connection holds.
CONNECTION_SLOT = "ws_connection_slot"


class WebSocketRefused(Exception):
    """Raised by ``on_ws_connect``: close with ``code`` instead of acknowledging."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class UserConnections:
    """Authenticated WebSocket connections per user on this process, at most ``cap`` each
    (0: no cap)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: dict[str, int] = {}

    def acquire(self, subject: str) -> bool:
        """Take a slot for ``subject``; False when they already hold ``cap``."""
        held = self._open.get(subject, 0)
        if self.cap and held >= self.cap:
            return False
        self._open[subject] = held + 1
        WS_CONNECTIONS.inc()
        return True

    def release(self, subject: str) -> None:
        held = self._open.get(subject, 0)
        if held <= 0:
            return
        if held == 1:
            del self._open[subject]
        else:
            self._open[subject] = held - 1
        WS_CONNECTIONS.dec()

    def held(self, subject: str) -> int:
        return self._open.get(subject, 0)


class TextFrameWebSocketAdapter(ASGIWebSocketAdapter):
    """Sends each JSON message as a text frame; refuses messages over the size limit."""

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        limit = int(getattr(self.view, "ws_max_message_bytes", 0) or 0)
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                # A character is at most 4 bytes: encode only when it may be over.
                if limit and len(text) * 4 > limit and len(text.encode()) > limit:
                    WS_REFUSED.labels("message_too_large").inc()
                    await self.ws.close(code=CLOSE_MESSAGE_TOO_BIG, reason="Message too big")
                    return
                try:
                    yield self.view.decode_json(text)
                except ValueError as exc:  # JSONDecodeError, or orjson's
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from exc
        except KeyError as exc:  # a binary frame
            raise NonTextMessageReceived from exc
        except WebSocketDisconnect:
            pass

    async def send_json(self, message: Mapping[str, object]) -> None:
        encoded = self.view.encode_json(message)
        text = encoded.decode() if isinstance(encoded, bytes) else encoded
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class GatewayTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws with server pings, per-user connection slots, rate limits, token
    expiry, persisted queries and an access line per operation."""

    _pinger: asyncio.Task[None] | None = None
    _expiry: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except WebSocketRefused as refused:
            await self.websocket.close(code=refused.code, reason=refused.reason)
            return
        if not self.connection_acknowledged:
            return
        interval = getattr(self.view, "keep_alive_interval", None)
        if getattr(self.view, "keep_alive", False) and interval and self._pinger is None:
            self._pinger = asyncio.create_task(self._ping(float(interval)), name="ws-keepalive")
        principal = self._principal()
        if principal is not None and principal.expires_at is not None and self._expiry is None:
            self._expiry = asyncio.create_task(self._close_at_expiry(), name="ws-token-expiry")

    async def handle_subscribe(self, message: Any) -> None:
        # Unacknowledged connections and duplicate ids are the protocol's to refuse (4401, 4409).
        if not self.connection_acknowledged or message["id"] in self.operations:
            await super().handle_subscribe(message)
            return
        exchange = self._exchange(message)
        try:
            if self._token_expired():
                exchange.answered(401, "unauthenticated", ErrorCode.UNAUTHENTICATED)
                await self.websocket.close(code=CLOSE_FORBIDDEN, reason="Token expired")
                return
            refusal = await self._admit(message)
            if refusal is not None:
                exchange.answered(refusal.status, refusal.outcome, refusal.code)
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [refusal.error()]}
                )
                return
            exchange.answered(200, "ok")
            await super().handle_subscribe(message)
        finally:
            record(exchange)

    async def _admit(self, message: Any) -> Refusal | None:
        """Why this ``subscribe`` may not run (rate limit, document), or None; resolves a
        persisted query's document into the message."""
        wait = await self._rate_limit_wait()
        if wait > 0:
            WS_REFUSED.labels("rate_limited").inc()
            return rate_limited(wait)
        payload = message.get("payload")
        persisted = getattr(self.view, "persisted", None)
        if not isinstance(payload, dict) or persisted is None:
            return None
        query = payload.get("query")
        extensions = payload.get("extensions")
        try:
            document = await persisted.document(
                query if isinstance(query, str) else None,
                extensions if isinstance(extensions, dict) else None,
                payload.get("documentId") if isinstance(payload.get("documentId"), str) else None,
            )
        except Refusal as refusal:
            return refusal
        limit = self.view.runtime.settings.edge.max_document_bytes
        if document is not None and len(document.encode()) > limit:
            return Refusal(
                413,
                ErrorCode.BAD_USER_INPUT,
                f"The GraphQL document is larger than the limit of {limit:,} bytes.",
                outcome="too_large",
                reason="DOCUMENT_TOO_LARGE",
                limitBytes=limit,
            )
        if document is not None:
            payload["query"] = document
        return None

    def _exchange(self, message: Any) -> Exchange:
        state = getattr(self.context, "state", None)
        payload = message.get("payload") if isinstance(message.get("payload"), dict) else {}
        name = payload.get("operationName")
        exchange = Exchange(
            request_id=f"{getattr(state, 'request_id', '-')}.{message['id']}"[:80],
            route=GRAPHQL_WEBSOCKET,
            media_type=JSON,
            principal=self._principal(),
        )
        exchange.stats.operation_name = name if isinstance(name, str) else None
        return exchange

    def _principal(self) -> Principal | None:
        return getattr(getattr(self.context, "state", None), "principal", None)

    def _token_expired(self) -> bool:
        principal = self._principal()
        if principal is None or principal.expires_at is None:
            return False
        return time.time() > principal.expires_at + self._leeway()

    def _leeway(self) -> float:
        return float(self.view.runtime.settings.auth.jwt_leeway_s)

    async def _close_at_expiry(self) -> None:
        principal = self._principal()
        assert principal is not None and principal.expires_at is not None
        await asyncio.sleep(max(0.0, principal.expires_at + self._leeway() - time.time()))
        log.info("websocket closed: the token expired")
        with contextlib.suppress(Exception):  # already closing
            await self.websocket.close(code=CLOSE_FORBIDDEN, reason="Token expired")

    async def _rate_limit_wait(self) -> float:
        limiter = getattr(self.view, "rate_limiter", None)
        principal = self._principal()
        if limiter is None or principal is None:
            return 0.0
        return float(await limiter.check(principal.subject))

    async def _ping(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.send_message({"type": "ping"})
            except Exception:  # the socket is gone: the handler is shutting down
                log.debug("keepalive ping failed; connection closing", exc_info=True)
                return

    async def shutdown(self) -> None:
        for task in (self._pinger, self._expiry):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        try:
            await super().shutdown()
        finally:
            extras = getattr(self.context, "extras", None)
            subject = extras.pop(CONNECTION_SLOT, None) if isinstance(extras, dict) else None
            connections = getattr(self.view, "ws_connections", None)
            if subject is not None and connections is not None:
                connections.release(subject)
