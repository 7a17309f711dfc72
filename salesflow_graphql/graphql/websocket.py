"""The WebSocket side of ``/graphql``: server keepalive pings and text frames.

Strawberry's graphql-transport-ws handler answers a client's ``ping`` but never
sends one, so a subscription that waits quietly for the next alert looks idle
to proxies and load balancers, which cut it (often after 60 s). After
``connection_ack`` this handler sends ``{"type": "ping"}`` every
``SALESFLOW_WS_KEEPALIVE_S`` seconds; clients answer ``pong`` as the protocol
requires (graphql-ws does on its own).

Messages go out as text frames. The view encodes JSON with orjson (bytes),
which Strawberry would send as binary frames; browsers hand those to
graphql-ws as a ``Blob`` it cannot parse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

log = logging.getLogger(__name__)


class TextFrameWebSocketAdapter(ASGIWebSocketAdapter):
    """Sends each JSON message as a text frame."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        encoded = self.view.encode_json(message)
        text = encoded.decode() if isinstance(encoded, bytes) else encoded
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class KeepAliveTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws with server pings every ``view.keep_alive_interval`` seconds."""

    _pinger: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        interval = getattr(self.view, "keep_alive_interval", None)
        if (
            self.connection_acknowledged
            and getattr(self.view, "keep_alive", False)
            and interval
            and self._pinger is None
        ):
            self._pinger = asyncio.create_task(self._ping(float(interval)), name="ws-keepalive")

    async def _ping(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.send_message({"type": "ping"})
            except Exception:  # the socket is gone: the handler is shutting down
                log.debug("keepalive ping failed; connection closing", exc_info=True)
                return

    async def shutdown(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pinger
        await super().shutdown()
