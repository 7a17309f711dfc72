"""The HTTP server: uvicorn on httptools, with bounded request heads.

uvicorn reads a request's line and headers with no limit on their size (on
httptools; h11 has one, 16 KiB, but no time limit either) and no limit on how
long they may take: a 10 MB header was accepted, and ten sockets trickling
30 MB headers held 394 MB for over a minute. :class:`BoundedHeadProtocol`
adds both to uvicorn's fast httptools protocol:

- ``SALESFLOW_MAX_HEADER_BYTES`` (32 KiB): a request line and headers larger
  than that get HTTP 431 and the connection is closed; at most that much is
  ever buffered for a request head;
- ``SALESFLOW_HEADER_TIMEOUT_S`` (10 s): the head must arrive within that time
  of its first byte (or of the connection, for a connection's first request),
  else HTTP 408 and the connection is closed. Idle keep-alive connections stay
  uvicorn's ``timeout_keep_alive`` (5 s).

Why not another server: Hypercorn bounds header size (h11) but reads on h11,
the slower parser, and its read timeout applies to whole connections;
Granian (Rust) has both limits but runs the app on its own runtime, without
uvicorn's WebSocket frame limit that ``SALESFLOW_WS_MAX_MESSAGE_BYTES`` relies
on. A small subclass of uvicorn's own httptools protocol keeps the parser, the
event loop, the WebSocket stack and the throughput, and adds the two limits
(bench/load.py, README "Security").

uvicorn's own ``X-Forwarded-*`` handling is turned off: :mod:`.proxy` applies
them, and only from ``SALESFLOW_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..config import Settings
from ..errors import ErrorCode
from .envelope import error_body

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class _HeadTooLarge(Exception):
    """Raised from the parser's callback when a complete head is over the limit."""


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size and a time limit on each request's head."""

    max_head_bytes = 32 * 1024
    head_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_head = True
        self._head_received = 0  # bytes received since the head began (a bound on buffering)
        self._head_size = 0  # the head's own bytes, as parsed
        self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.head_timeout_s, self._head_too_slow
        )

    def data_received(self, data: bytes) -> None:
        # uvicorn's own data_received, with the head counted and timed.
        self._unset_keepalive_if_required()
        if self._in_head:
            self._head_received += len(data)
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_too_slow)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._too_large()
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("")
            return
        if self._in_head and self._head_received > self.max_head_bytes:
            self._too_large()  # still coming: stop buffering it

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to what httptools cannot parse, as a GraphQL error like every refusal.
        self._refuse(400, "The request is not valid HTTP.", "INVALID_HTTP")

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._head_size > self.max_head_bytes:
            raise _HeadTooLarge
        self._end_head()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The next request's head is timed from its first byte; until then the
        # connection is idle (uvicorn's keep-alive timeout).
        self._in_head, self._head_received, self._head_size = True, 0, 0

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_head()
        super().connection_lost(exc)

    def _end_head(self) -> None:
        self._in_head, self._head_received, self._head_size = False, 0, 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_large(self) -> None:
        self._refuse(
            431,
            f"The request line and headers are larger than {self.max_head_bytes:,} bytes.",
            "HEADERS_TOO_LARGE",
        )

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._in_head:
            self._refuse(
                408,
                f"The request line and headers did not arrive within {self.head_timeout_s:g} s.",
                "REQUEST_TIMEOUT",
            )

    def _refuse(self, status: int, message: str, reason: str) -> None:
        """Answer (when no other answer is due on this connection) and close."""
        self._end_head()
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            body = error_body(message, ErrorCode.BAD_USER_INPUT, reason=reason)
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (status, _REASONS[status], len(body), body)
            )
        self.transport.close()


def bounded_head_protocol(settings: Settings) -> type[BoundedHeadProtocol]:
    """:class:`BoundedHeadProtocol` with ``settings``' limits."""
    return type(
        "BoundedHeadProtocol",
        (BoundedHeadProtocol,),
        {
            "max_head_bytes": settings.edge.max_header_bytes,
            "head_timeout_s": settings.edge.header_timeout_s,
        },
    )


def server_config(
    app: Any, settings: Settings, host: str, port: int, **options: Any
) -> uvicorn.Config:
    """uvicorn's configuration for the gateway: bounded heads, no proxy headers of its own,
    a bounded graceful shutdown."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=bounded_head_protocol(settings),
        proxy_headers=False,  # edge/proxy.py, from SALESFLOW_TRUSTED_PROXIES only
        # Frames above the limit are refused by the server before they are read whole.
        ws_max_size=settings.ws.max_message_bytes,
        # SIGTERM: requests in flight get this long, then are cancelled, and the runtime
        # closes (its child processes with it) within the supervisor's grace period.
        timeout_graceful_shutdown=settings.edge.shutdown_grace_s,
        **options,
    )
