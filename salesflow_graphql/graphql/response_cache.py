"""The response cache: a successful query's JSON answer, reused for the same request.

Warm dashboard queries should not pay for GraphQL execution again: a successful
query's JSON answer is kept, keyed by the role, the business date and a hash
of the request (document, variables, operation name), for the analytics TTL.
A hit is answered before any parsing or execution.

The HTTP endpoint (:mod:`.endpoint`) calls :func:`response_cache_key` before
running a request, answers a hit as it is, and otherwise keeps the answer
(captured by :class:`ResponseCapture`) for :func:`remaining_ttl` seconds.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.types import Message, Send

if TYPE_CHECKING:
    from ..config import Settings
    from .context import RequestState


def remaining_ttl(settings: Settings, state: RequestState) -> float:
    """An answer lives as long as the oldest data it was built from may."""
    ttl = settings.analytics_ttl_s
    oldest = state.loaders.oldest_data_at if state.loaders else None
    return ttl if oldest is None else ttl - (time.time() - oldest)


def response_cache_key(settings: Settings, request: Request, body: bytes, role: str) -> str | None:
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and "application/json" not in content_type:
        return None  # uploads and other bodies are never cached
    material = body if request.method == "POST" else request.url.query.encode()
    digest = hashlib.blake2b(material, digest_size=20).hexdigest()
    return f"resp:{role}:{settings.today().isoformat()}:{digest}"


class ResponseCapture:
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


#: The first operation's name, for a cached answer (no parsing on that path).
_FIRST_QUERY_NAME = re.compile(r"\s*(?:#[^\n]*\s*)*query\s+([_A-Za-z][_0-9A-Za-z]*)")


def declared_operation_name(request: Request, body: bytes) -> str | None:
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
