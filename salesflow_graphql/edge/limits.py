"""Body size and deadline: how much a request may send, and how long it may take.

Body: counted while it streams (a declared ``Content-Length`` over the limit
is refused before reading) and cut off past ``SALESFLOW_MAX_BODY_BYTES``, or
``SALESFLOW_IMPORT_MAX_UPLOAD_BYTES`` for a multipart upload: HTTP 413,
``BAD_USER_INPUT``, reason ``PAYLOAD_TOO_LARGE``.

Deadline, chosen by the operation, not by the content type: a request has
``SALESFLOW_REQUEST_TIMEOUT_S`` from its arrival to produce its answer. At
the deadline:

- a mutation (or subscription) that has started goes on: a commit cut
  halfway would leave rows written in Java and no answer saying which; its
  own limits (Java timeouts, import size and rows, the check's lock) bound it;
- a query, or any other route's work, is stopped: HTTP 504,
  ``QUERY_TOO_COMPLEX``, reason ``TIMEOUT``;
- a body still arriving is cut: HTTP 408, reason ``REQUEST_TIMEOUT``, except
  an upload: a mutation sent as multipart (its ``operations`` part, which the
  multipart request spec puts first, says so) has until
  ``SALESFLOW_UPLOAD_TIMEOUT_S`` for its file to arrive. A query sent as
  multipart is a query: 30 s.

An answer that has begun is never cut (a download streaming to a slow client).

Client gone: once the body has arrived whole, the request's ``receive`` is
watched (:class:`ClientWatch`) for ``http.disconnect``. When the client closes
the connection before the answer is complete, a query's work (or any other
route's, a half-sent download included: nobody reads it) is stopped, a
forecast training it alone waited for with it: no answer is sent, and the
access line and the metrics say HTTP 499 (or the status already sent),
outcome ``disconnected``. A mutation (or subscription) that has started goes
on, as at the deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from graphql import GraphQLError, OperationDefinitionNode, parse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings
from ..errors import ErrorCode
from .envelope import Refusal, refuse
from .exchange import Exchange, exchange_of, runtime_of

#: Room for the multipart framing and the ``operations``/``map`` fields around a file.
UPLOAD_OVERHEAD_BYTES = 64 * 1024
#: After a 413, at most this much is read and thrown away (see ``_too_large``).
DRAIN_MAX_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 5.0
#: How often, past the request deadline, an upload's operation is looked at again.
POLL_SECONDS = 0.1
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyTooLarge(Exception):
    """The request body passed the size limit while it was being received."""


class BodyMeter:
    """A ``receive`` that counts the body, raises :class:`BodyTooLarge` past ``limit``, knows
    when the body has arrived whole, and keeps its first ``keep`` bytes."""

    def __init__(self, receive: Receive, limit: int, *, complete: bool, keep: int = 0) -> None:
        self._receive = receive
        self.limit = limit
        self.seen = 0
        #: True once the last piece of the body arrived (from the start without a body).
        self.complete = complete
        self._keep = keep
        self.head = b""
        #: The operation type of a multipart body's ``operations`` part, once looked at.
        self.upload_operation: str | None = None

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            self.seen += len(chunk)
            if self.seen > self.limit:
                raise BodyTooLarge
            if len(self.head) < self._keep:
                self.head += chunk[: self._keep - len(self.head)]
            if not message.get("more_body", False):
                self.complete = True
        return message


#: How long a request runs before a task starts watching for its client leaving: one
#: answered sooner (a cached answer: about a millisecond) never pays for that task.
WATCH_AFTER_S = 0.2
#: The watching task's name.
WATCH_TASK = "edge.client-watch"


class ClientWatch:
    """The request's ``receive``: the meter's until the body is whole; from then on (once
    the request has run :data:`WATCH_AFTER_S`, or at once when the handler itself asks) a
    task of its own receives (only ``http.disconnect`` is still to come) and hands on what it
    got, and ``left()`` is called when the client disconnects before the answer is complete."""

    def __init__(
        self, meter: BodyMeter, answered: Callable[[], bool], left: Callable[[], None]
    ) -> None:
        self._meter = meter
        self._answered = answered
        self._left = left
        self._received: deque[Message] = deque()
        self._arrived = asyncio.Event()
        self._watching = False
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        if meter.complete:
            self._watch()

    async def __call__(self) -> Message:
        if not self._watching:
            message = await self._meter()
            if self._meter.complete:
                self._watch()
            return message
        task = self._start()
        while not self._received:
            if task.done():
                task.result()  # what went wrong receiving, if anything
            self._arrived.clear()
            await self._arrived.wait()
        if self._received[0]["type"] == "http.disconnect":
            return self._received[0]  # and so on every later call, as ASGI has it
        return self._received.popleft()

    def close(self) -> None:
        """The request is over: stop watching."""
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()

    def _watch(self) -> None:
        self._watching = True
        self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, self._start)

    def _start(self) -> asyncio.Task[None]:
        if self._task is None:
            if self._timer is not None:
                self._timer.cancel()
            self._task = asyncio.get_running_loop().create_task(self._receiving(), name=WATCH_TASK)
            self._task.add_done_callback(self._ended)
        return self._task

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._arrived.set()
        if not task.cancelled():
            task.exception()  # retrieved: a later call raises it, if the request asks again

    async def _receiving(self) -> None:
        while True:
            message = await self._meter()
            self._received.append(message)
            self._arrived.set()
            if message["type"] == "http.disconnect":
                # The server says so too once the answer is complete: that is no client leaving.
                if not self._answered():
                    self._left()
                return


class RequestLimits:
    """Pure ASGI middleware: body limits and the per-operation deadline (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = exchange_of(scope)
        settings = runtime_of(scope).settings
        headers = Headers(scope=scope)
        upload = headers.get("content-type", "").lower().startswith("multipart/form-data")
        shown = settings.imports.max_upload_bytes if upload else settings.edge.max_body_bytes
        limit = shown + (UPLOAD_OVERHEAD_BYTES if upload else 0)
        declared = headers.get("content-length", "")
        has_body = scope["method"] in BODY_METHODS and declared != "0"
        meter = BodyMeter(receive, limit, complete=not has_body, keep=8192 if upload else 0)
        if declared.isdigit() and int(declared) > limit:
            await _too_large(shown, exchange, scope, receive, send, upload=upload)
            return
        started = _Started(send)
        try:
            stopped = await _serve(self.app, scope, meter, started, exchange, settings, upload)
        except BodyTooLarge:
            if started.status:
                raise
            await _too_large(shown, exchange, scope, receive, send, upload=upload)
            return
        if stopped == CLIENT_LEFT:
            exchange.answered(started.status or CLIENT_CLOSED_REQUEST, "disconnected")
        elif isinstance(stopped, Refusal) and not started.status:
            await refuse(stopped, exchange, scope, receive, send)


class _Started:
    """A ``send`` that notes when the answer begins and when it is complete."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 0
        self.complete = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete = True
        await self._send(message)


async def _serve(
    app: ASGIApp,
    scope: Scope,
    meter: BodyMeter,
    started: _Started,
    exchange: Exchange,
    settings: Settings,
    upload: bool,
) -> Refusal | str | None:
    """Run the request; at the deadline, or when the client leaves, decide (see the module).
    Why it was stopped, if it was: the refusal to answer, or :data:`CLIENT_LEFT`."""
    task = asyncio.current_task()
    assert task is not None
    stop = _Stop(task)
    budget = settings.edge.request_timeout_s
    if budget > 0:
        stop.arm(
            exchange.started + budget - time.perf_counter(),
            lambda: _at_deadline(exchange, meter, started, settings, upload),
        )
    receive = ClientWatch(
        meter, lambda: started.complete, lambda: stop.decide(lambda: _client_left(exchange))
    )
    try:
        await app(scope, receive, started)
    except asyncio.CancelledError:
        if stop.verdict is None:
            raise  # the server is stopping this request
        task.uncancel()
        return stop.verdict
    finally:
        stop.disarm()
        receive.close()
    if stop.verdict is not None:  # the work swallowed its cancellation
        while task.cancelling():
            task.uncancel()
    return stop.verdict


class _Stop:
    """Stops a request by cancelling its own task when a decision says so: at its deadline
    (a timer on the event loop, no task or waiter of its own) or when its client left."""

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self._task = task
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        #: Why the request was stopped, once it was (the first reason).
        self.verdict: Refusal | str | None = None

    def arm(self, seconds: float, decision: Callable[[], Refusal | str]) -> None:
        """Decide in ``seconds``; again every :data:`POLL_SECONDS` while the decision is to wait."""
        self._timer = self._loop.call_later(max(0.0, seconds), self._fire, decision)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def decide(self, decision: Callable[[], Refusal | str]) -> None:
        verdict = decision()
        if verdict == WAIT:
            self.arm(POLL_SECONDS, decision)
        elif verdict != GO_ON and self.verdict is None:
            self.verdict = verdict
            self._task.cancel()

    def _fire(self, decision: Callable[[], Refusal | str]) -> None:
        self._timer = None
        self.decide(decision)


GO_ON, WAIT = "go on", "wait"
#: The verdict when the client closed the connection: nothing to answer.
CLIENT_LEFT = "client left"
#: The status the access line and the metrics give a request whose client left (nginx's).
CLIENT_CLOSED_REQUEST = 499


def _client_left(exchange: Exchange) -> str:
    """What to do with a request whose client disconnected: stop it, unless it is a write."""
    if exchange.stats.operation_type in ("mutation", "subscription"):
        return GO_ON  # a write that must not be cut (see the deadline)
    return CLIENT_LEFT


def _at_deadline(
    exchange: Exchange, meter: BodyMeter, started: _Started, settings: Settings, upload: bool
) -> Refusal | str:
    """What to do with a request past its deadline: go on, wait (an upload), or stop it."""
    kind = exchange.stats.operation_type
    if started.status or kind in ("mutation", "subscription"):
        return GO_ON  # an answer under way, or a write that must not be cut
    budget = settings.edge.request_timeout_s
    if kind != "query" and upload and _is_upload_mutation(meter):
        budget = settings.edge.upload_timeout_s
        if budget <= 0 or time.perf_counter() < exchange.started + budget:
            return WAIT  # until its own deadline, or until it turns out a query
    if kind == "query" or meter.complete:
        return _timed_out(exchange, budget)
    return _body_late(budget)


def _is_upload_mutation(meter: BodyMeter) -> bool:
    if meter.upload_operation is None:
        meter.upload_operation = _multipart_operation(meter.head) or ""
    return meter.upload_operation == "mutation"


def _timed_out(exchange: Exchange, budget: float) -> Refusal:
    if exchange.route.graphql:
        message = (
            f"The query took longer than {budget:g} s and was stopped. Ask for less (a shorter "
            "range, fewer fields or products) or try again shortly."
        )
    else:
        message = (
            f"The request took longer than {budget:g} s and was stopped. Ask for less (a "
            "shorter range) or try again shortly."
        )
    return Refusal(
        504,
        ErrorCode.QUERY_TOO_COMPLEX,
        message,
        outcome="timeout",
        reason="TIMEOUT",
        timeoutSeconds=budget,
    )


def _body_late(budget: float) -> Refusal:
    return Refusal(
        408,
        ErrorCode.BAD_USER_INPUT,
        f"The request did not arrive within {budget:g} s; it was not read further.",
        outcome="timeout",
        headers={"connection": "close"},  # the rest of the body is not read
        reason="REQUEST_TIMEOUT",
        timeoutSeconds=budget,
    )


def _multipart_operation(head: bytes) -> str | None:
    """The operation type in a multipart body's ``operations`` part, if it came first and whole."""
    first_line, _, rest = head.partition(b"\r\n")
    if not first_line.startswith(b"--") or b"\r\n" + first_line not in rest:
        return None  # no complete first part yet
    part = rest.split(b"\r\n" + first_line, 1)[0]
    part_headers, _, value = part.partition(b"\r\n\r\n")
    if b'name="operations"' not in part_headers:
        return None
    try:
        operations: Any = orjson.loads(value)
        document = parse(operations["query"], max_tokens=2000)
    except (orjson.JSONDecodeError, GraphQLError, KeyError, TypeError):
        return None
    name = operations.get("operationName")
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            not name or (definition.name and definition.name.value == name)
        ):
            return definition.operation.value
    return None


async def _too_large(
    limit: int, exchange: Exchange, scope: Scope, receive: Receive, send: Send, *, upload: bool
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
    refusal = Refusal(
        413,
        ErrorCode.BAD_USER_INPUT,
        message,
        outcome="too_large",
        headers={"connection": "close"},
        reason="PAYLOAD_TOO_LARGE",
        limitBytes=limit,
    )
    exchange.answered(413, refusal.outcome, refusal.code)
    response = refusal.response(exchange.media_type, exchange.request_id)
    await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
    drained, deadline = 0, time.monotonic() + DRAIN_SECONDS
    while drained < DRAIN_MAX_BYTES and time.monotonic() < deadline:
        try:  # a client that stops sending does not hold the answer past the deadline
            message_in = await asyncio.wait_for(receive(), deadline - time.monotonic())
        except TimeoutError:
            break
        if message_in["type"] != "http.request":
            break
        drained += len(message_in.get("body", b""))
        if not message_in.get("more_body", False):
            break
    await send({"type": "http.response.body", "body": response.body, "more_body": False})
