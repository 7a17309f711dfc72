"""The response cache: a successful query's JSON answer, reused before any parsing.

Warm dashboard queries should not pay for GraphQL execution again: a successful
query's JSON answer is kept, keyed by the role, the business date, the data
generation and a hash of the request (document, variables, operation name). It
is fresh for what is left of the analytics TTL of the data it was built from;
then, for ``SALESFLOW_CACHE_STALE_S`` more, it is still answered at once while
one background run of the same request refreshes it. A committed import starts
a new data generation, so no answer from before it is found again (see
``cache``).

The HTTP endpoint (:mod:`.endpoint`) asks :meth:`ResponseCache.lookup` before
running a request and answers a hit as it is; otherwise it keeps the answer,
captured by :class:`ResponseCapture`, with :meth:`ResponseCache.store`.

Every answer built on Java's data says how old that data is, in whole seconds:
``extensions.dataAge`` (see ``extensions.DataAge``). A cached answer's age is
brought up to date each time it is served.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import struct
import time
import uuid
from typing import TYPE_CHECKING, NamedTuple

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..adapters.cache import Codec
from ..auth import Principal
from ..edge.envelope import JSON
from ..edge.exchange import EXCHANGE_KEY, Exchange, exchange_of, serving
from ..request_stats import tracking
from .context import RequestState
from .extensions import data_age

if TYPE_CHECKING:
    from ..runtime import Runtime

_AGE = b'"dataAge":'


class Answer:
    """A cached JSON answer and when the oldest Java data under it was read."""

    __slots__ = ("_shown", "_span", "body", "data_at")

    def __init__(self, body: bytes, data_at: float | None) -> None:
        self.body = body
        self.data_at = data_at
        #: Where the ``dataAge`` number is; found once (the extensions come last, and any
        #: ``"dataAge":`` in the data before them would be inside an escaped string).
        self._span = _age_span(body) if data_at is not None else None
        #: The body last served and its age: it changes once a second, not on every hit.
        self._shown: tuple[int, bytes] = (-1, body)

    def now(self) -> bytes:
        """The body with its ``dataAge`` brought up to date."""
        if self._span is None or self.data_at is None:
            return self.body
        age = data_age(self.data_at)
        shown_age, shown = self._shown
        if age != shown_age:
            start, end = self._span
            shown = self.body[:start] + str(age).encode() + self.body[end:]
            self._shown = (age, shown)
        return shown


def _age_span(body: bytes) -> tuple[int, int] | None:
    start = body.rfind(_AGE)
    if start < 0:
        return None
    start = end = start + len(_AGE)
    while end < len(body) and body[end : end + 1].isdigit():
        end += 1
    return start, end


class AnswerCodec(Codec[Answer]):
    """``data_at`` (a float, NaN for none) then the body."""

    _prefix = struct.Struct("<d")

    def encode(self, value: Answer) -> bytes:
        data_at = math.nan if value.data_at is None else value.data_at
        return self._prefix.pack(data_at) + value.body

    def decode(self, data: bytes) -> Answer:
        (data_at,) = self._prefix.unpack_from(data)
        return Answer(data[self._prefix.size :], None if math.isnan(data_at) else data_at)

    def size(self, value: Answer) -> int:
        return len(value.body) + self._prefix.size


ANSWER_CODEC = AnswerCodec()


class Cached(NamedTuple):
    """A cached answer to send, and its ``x-cache`` header (``hit`` or ``stale``)."""

    body: bytes
    status: str


class ResponseCache:
    """Keys, lookups, stores and background refreshes of whole answers."""

    LAYER = "response"

    def __init__(self, runtime: Runtime, view: ASGIApp, state_key: str) -> None:
        self.runtime = runtime
        #: The GraphQL view a refresh runs the request through again.
        self.view = view
        self.state_key = state_key

    def key(self, request: Request, body: bytes, role: str) -> str | None:
        """The answer's key, or None for a request whose answer is never cached (uploads)."""
        content_type = request.headers.get("content-type", "")
        if request.method == "POST" and "application/json" not in content_type:
            return None  # uploads and other bodies are never cached
        material = body if request.method == "POST" else request.url.query.encode()
        digest = hashlib.blake2b(material, digest_size=20).hexdigest()
        return f"resp:{role}:{self.runtime.settings.today().isoformat()}:{digest}"

    async def lookup(
        self, key: str, scope: Scope, body: bytes, principal: Principal
    ) -> Cached | None:
        """The cached answer, or None. A stale one is answered while the request, run again
        in the background (once), refreshes it."""
        cache = self.runtime.cache
        generation = self.runtime.source.generation()
        entry = await cache.peek(key, codec=ANSWER_CODEC, layer=self.LAYER, generation=generation)
        if entry is None:
            return None
        if entry.fresh(time.time()):
            return Cached(entry.value.now(), "hit")

        async def run_again() -> Answer:
            return await self._run_again(scope, body, principal)

        cache.revalidate(
            key,
            entry,
            run_again,
            ttl_s=self.runtime.settings.cache.analytics_ttl_s,
            codec=ANSWER_CODEC,
            layer=self.LAYER,
            generation=generation,
            data_at=_data_at,
        )
        return Cached(entry.value.now(), "stale")

    async def store(self, key: str, body: bytes, state: RequestState) -> None:
        """Keep a cacheable answer, under the data generation its request read."""
        data = state.data
        data_at = data.oldest_data_at if data else None
        await self.runtime.cache.put(
            key,
            Answer(body, data_at),
            self.runtime.settings.cache.analytics_ttl_s,
            codec=ANSWER_CODEC,
            stale=True,
            generation=data.generation if data else self.runtime.source.generation(),
            data_at=data_at,
        )

    async def _run_again(self, scope: Scope, body: bytes, principal: Principal) -> Answer:
        """The request's answer anew, for the cache only (nobody waits for it)."""
        state = RequestState(request_id=f"refresh-{uuid.uuid4().hex[:8]}", principal=principal)
        # An exchange of its own: the request that started the refresh has its answer and
        # its access line already; this run's calls and cache lookups are not theirs.
        exchange = Exchange(
            request_id=state.request_id,
            route=exchange_of(scope).route,
            media_type=JSON,
            principal=principal,
        )
        collected = _Collected()
        budget = self.runtime.settings.edge.request_timeout_s
        again = {**scope, "state": {EXCHANGE_KEY: exchange, self.state_key: state}}
        with serving(exchange), tracking(exchange.stats):
            async with asyncio.timeout(budget if budget > 0 else None):
                await self.view(again, _once(body), collected.send)
        if collected.status != 200 or not state.cacheable:
            raise RuntimeError(f"the answer run again is not cacheable (HTTP {collected.status})")
        data = state.data
        return Answer(b"".join(collected.chunks), data.oldest_data_at if data else None)


def _data_at(answer: Answer) -> float:
    return time.time() if answer.data_at is None else answer.data_at


class _Collected:
    """An ASGI ``send`` that keeps the status and body."""

    def __init__(self) -> None:
        self.status = 0
        self.chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))


def _once(body: bytes) -> Receive:
    """A ``receive`` that hands ``body`` over once, then waits (as a client that stays)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never: a disconnect would cancel the run
        raise AssertionError

    return receive


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
