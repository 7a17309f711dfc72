"""The alert bus: ordered alert ids, replay after an id, then live delivery. One interface, two buses.

- :class:`RedisAlertBus` (``SALESFLOW_REDIS_URL`` set): ``XADD`` onto one Redis
  stream with an approximate ``MAXLEN``. Stream ids (``<ms>-<seq>``) grow across
  every replica and worker, so "a later alert has a greater id" holds
  cluster-wide. Each process runs one reader that blocks on ``XREAD`` and hands
  new entries to its local subscribers: a thousand subscribers cost one Redis
  connection, not a thousand.
- :class:`MemoryAlertBus` (embedded default): the same ids and the same
  semantics over an in-process log (a bounded deque).

``subscribe(after)`` yields every alert with an id greater than ``after`` (or,
without ``after``, than the newest alert at the time of the call) exactly once
and in id order: it registers for live alerts first, replays the log after the
cursor, then drains the live queue skipping what the replay already gave. A
subscriber that falls behind (its queue fills up) is not dropped: it replays
again from the last id it delivered, then goes on live. Alerts older than the
retained log (``SALESFLOW_ALERT_STREAM_MAXLEN``) cannot be replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import Counter, Gauge

from ..adapters.redis_clients import redis_client
from ..config import Settings
from ..errors import UpstreamUnavailable
from ..metrics import REGISTRY
from .model import Alert, Severity, parse_alert_id

log = logging.getLogger(__name__)

#: The Redis stream every replica publishes to and reads from.
STREAM_KEY = "salesflow:alerts:stream"
#: Alerts buffered per subscriber before it has to catch up by replaying.
SUBSCRIBER_QUEUE = 256
#: Page size of replays and of the live reader.
PAGE = 500
#: How long the live reader blocks on one XREAD (ms); also bounds how late it notices closing.
BLOCK_MS = 5_000

AlertId = tuple[int, int]

ALERTS_PUBLISHED = Counter(
    "salesflow_alerts_published_total",
    "Alerts published on the alert bus, by kind and severity.",
    ["kind", "severity"],
    registry=REGISTRY,
)
ALERT_SUBSCRIBERS = Gauge(
    "salesflow_alert_subscribers",
    "Live alert subscribers in this process.",
    registry=REGISTRY,
)


def format_alert_id(key: AlertId) -> str:
    return f"{key[0]}-{key[1]}"


class _Subscriber:
    """One live subscription's queue; ``None`` in it means "you fell behind: replay"."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Alert | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.lagging = False

    def offer(self, alert: Alert) -> None:
        if self.lagging:
            return  # it will replay from the log anyway
        try:
            self.queue.put_nowait(alert)
        except asyncio.QueueFull:
            self.lagging = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class AlertBus(ABC):
    """Publish alerts with ordered ids; list recent ones; subscribe with replay."""

    backend: str

    def __init__(self) -> None:
        self._subscribers: set[_Subscriber] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @abstractmethod
    async def publish(self, alert: Alert) -> Alert:
        """Append ``alert``; return it with its id. Live subscribers get it at once."""

    @abstractmethod
    async def recent(self, limit: int, min_severity: Severity = Severity.LOW) -> list[Alert]:
        """The newest ``limit`` alerts at or above ``min_severity``, newest first."""

    @abstractmethod
    async def count(self, min_severity: Severity = Severity.LOW) -> int:
        """How many alerts the log keeps at or above ``min_severity``."""

    @abstractmethod
    async def _tail(self) -> AlertId:
        """The id of the newest alert in the log, or (0, 0)."""

    @abstractmethod
    def _replay(self, cursor: AlertId) -> AsyncIterator[Alert]:
        """Alerts with an id greater than ``cursor`` in the log, in order."""

    async def _before_subscribe(self) -> None:  # noqa: B027 - an optional hook
        """Make sure live alerts flow to this process's subscribers (the Redis reader)."""

    async def subscribe(self, after: str | None = None) -> AsyncIterator[Alert]:
        """Alerts after ``after`` (default: from now on), each once, in order; never ends."""
        cursor = parse_alert_id(after) if after else await self._tail()
        await self._before_subscribe()
        subscriber = _Subscriber()
        self._subscribers.add(subscriber)
        ALERT_SUBSCRIBERS.inc()
        try:
            while True:
                async for alert in self._replay(cursor):
                    cursor = alert.order_key
                    yield alert
                subscriber.lagging = False
                while True:
                    alert = await subscriber.queue.get()
                    if alert is None:
                        break  # fell behind: replay from the cursor, then live again
                    if alert.order_key > cursor:
                        cursor = alert.order_key
                        yield alert
        finally:
            self._subscribers.discard(subscriber)
            ALERT_SUBSCRIBERS.dec()

    def _deliver(self, alert: Alert) -> None:
        for subscriber in list(self._subscribers):
            subscriber.offer(alert)

    async def close(self) -> None:  # noqa: B027 - nothing to release in memory
        """Release connections; subscribers' generators are closed by their consumers."""


class MemoryAlertBus(AlertBus):
    """The embedded bus: an in-process log with Redis-style ids and direct fan-out."""

    backend = "memory"

    def __init__(self, maxlen: int = 10_000) -> None:
        super().__init__()
        self._log: deque[Alert] = deque(maxlen=maxlen)
        self._last: AlertId = (0, 0)

    def _next_id(self) -> AlertId:
        # Like Redis: the clock's milliseconds, and a sequence within one millisecond.
        now_ms = time.time_ns() // 1_000_000
        last_ms, last_seq = self._last
        self._last = (now_ms, 0) if now_ms > last_ms else (last_ms, last_seq + 1)
        return self._last

    async def publish(self, alert: Alert) -> Alert:
        published = alert.with_id(format_alert_id(self._next_id()))
        self._log.append(published)
        ALERTS_PUBLISHED.labels(alert.kind, alert.severity).inc()
        self._deliver(published)
        return published

    async def recent(self, limit: int, min_severity: Severity = Severity.LOW) -> list[Alert]:
        found: list[Alert] = []
        for alert in reversed(self._log):
            if len(found) >= limit:
                break
            if alert.severity.at_least(min_severity):
                found.append(alert)
        return found

    async def count(self, min_severity: Severity = Severity.LOW) -> int:
        return sum(1 for alert in self._log if alert.severity.at_least(min_severity))

    async def _tail(self) -> AlertId:
        return self._log[-1].order_key if self._log else (0, 0)

    async def _replay(self, cursor: AlertId) -> AsyncIterator[Alert]:
        for alert in list(self._log):  # a snapshot: publishing may go on meanwhile
            if alert.order_key > cursor:
                yield alert


class RedisAlertBus(AlertBus):
    """A Redis stream shared by all replicas; one blocking reader per process feeds its subscribers."""

    backend = "redis"

    def __init__(self, redis_url: str, maxlen: int = 10_000, *, stream: str = STREAM_KEY) -> None:
        super().__init__()
        self.stream = stream
        self.maxlen = maxlen
        self._url = redis_url
        self.redis: Any = redis_client(redis_url)
        self._reader: asyncio.Task[None] | None = None
        self._reader_ready: asyncio.Future[None] | None = None
        self._reader_connection: Any = None
        self._closing = False

    async def publish(self, alert: Alert) -> Alert:
        try:
            raw_id = await self.redis.xadd(
                self.stream,
                {"alert": alert.to_json()},
                maxlen=self.maxlen,
                approximate=True,
            )
        except Exception as exc:
            raise UpstreamUnavailable("The alert stream (Redis) is not answering.") from exc
        ALERTS_PUBLISHED.labels(alert.kind, alert.severity).inc()
        return alert.with_id(_text(raw_id))

    async def recent(self, limit: int, min_severity: Severity = Severity.LOW) -> list[Alert]:
        found: list[Alert] = []
        upper = "+"
        scanned = 0
        try:
            while len(found) < limit and scanned < self.maxlen * 2:
                entries = await self.redis.xrevrange(self.stream, upper, "-", count=PAGE)
                for raw_id, fields in entries:
                    alert = _decode(raw_id, fields)
                    if alert is not None and alert.severity.at_least(min_severity):
                        found.append(alert)
                        if len(found) >= limit:
                            break
                scanned += len(entries)
                if len(entries) < PAGE:
                    break
                upper = "(" + _text(entries[-1][0])
        except Exception as exc:
            raise UpstreamUnavailable("The alert stream (Redis) is not answering.") from exc
        return found

    async def count(self, min_severity: Severity = Severity.LOW) -> int:
        try:
            if min_severity is Severity.LOW:
                return int(await self.redis.xlen(self.stream))
            counted, lower = 0, "-"
            # The stream is capped (maxlen), so this scan is bounded too.
            while True:
                entries = await self.redis.xrange(self.stream, lower, "+", count=PAGE)
                for raw_id, fields in entries:
                    alert = _decode(raw_id, fields)
                    counted += alert is not None and alert.severity.at_least(min_severity)
                if len(entries) < PAGE:
                    return counted
                lower = "(" + _text(entries[-1][0])
        except Exception as exc:
            raise UpstreamUnavailable("The alert stream (Redis) is not answering.") from exc

    async def _tail(self) -> AlertId:
        try:
            entries = await self.redis.xrevrange(self.stream, "+", "-", count=1)
        except Exception as exc:
            raise UpstreamUnavailable("The alert stream (Redis) is not answering.") from exc
        return parse_alert_id(_text(entries[0][0])) if entries else (0, 0)

    async def _replay(self, cursor: AlertId) -> AsyncIterator[Alert]:
        lower = "(" + format_alert_id(cursor)
        while True:
            try:
                entries = await self.redis.xrange(self.stream, lower, "+", count=PAGE)
            except Exception as exc:
                raise UpstreamUnavailable("The alert stream (Redis) is not answering.") from exc
            for raw_id, fields in entries:
                alert = _decode(raw_id, fields)
                if alert is not None:
                    yield alert
            if len(entries) < PAGE:
                return
            lower = "(" + _text(entries[-1][0])

    async def _before_subscribe(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader_ready = asyncio.get_running_loop().create_future()
            self._reader = asyncio.create_task(self._read_live(), name="alert-bus-reader")
        assert self._reader_ready is not None
        # Subscribers register only once the reader knows where it starts (see ``subscribe``).
        await asyncio.shield(self._reader_ready)

    async def _read_live(self) -> None:
        """Block on XREAD from the newest id on; hand each new alert to local subscribers."""
        assert self._reader_ready is not None
        # A connection of its own: a blocked XREAD holds it, and its timeout must outlast the
        # block. One connection, no pool: the pool's health check wraps each command in a zero
        # timeout, and Python 3.11's asyncio.timeout can then swallow the cancel of close().
        connection: Any = redis_client(
            self._url, timeout_s=BLOCK_MS / 1000 + 5, single_connection=True
        )
        self._reader_connection = connection
        backoff = 0.5
        position: str | None = None
        try:
            while not self._closing:
                try:
                    if position is None:
                        newest = await connection.xrevrange(self.stream, "+", "-", count=1)
                        position = _text(newest[0][0]) if newest else "0-0"
                        if not self._reader_ready.done():
                            self._reader_ready.set_result(None)
                    answer = await connection.xread(
                        {self.stream: position}, count=PAGE, block=BLOCK_MS
                    )
                    backoff = 0.5
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if self._closing:
                        return
                    if not self._reader_ready.done():
                        self._reader_ready.set_exception(
                            UpstreamUnavailable("The alert stream (Redis) is not answering.")
                        )
                        return
                    log.warning("alert bus reader: %s; retrying in %.1fs", exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                for _stream, entries in answer or ():
                    for raw_id, fields in entries:
                        position = _text(raw_id)
                        alert = _decode(raw_id, fields)
                        if alert is not None:
                            self._deliver(alert)
        finally:
            with contextlib.suppress(Exception):
                await connection.aclose()

    async def close(self) -> None:
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            done, _ = await asyncio.wait({self._reader}, timeout=2.0)
            if not done and self._reader_connection is not None:
                # The cancel was lost inside redis-py: cut the connection under the XREAD.
                log.warning("alert bus reader ignored its cancel; disconnecting it")
                with contextlib.suppress(Exception):
                    await self._reader_connection.connection_pool.disconnect()
                await asyncio.wait({self._reader}, timeout=2.0)
            if self._reader_ready is not None and not self._reader_ready.done():
                self._reader_ready.cancel()
        await self.redis.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode(raw_id: bytes | str, fields: dict[Any, Any]) -> Alert | None:
    raw = fields.get(b"alert", fields.get("alert"))
    try:
        return Alert.from_json(raw).with_id(_text(raw_id))
    except Exception:
        log.warning("alert bus: skipping unreadable entry %s", _text(raw_id))
        return None


def create_alert_bus(settings: Settings) -> AlertBus:
    """The Redis stream when Redis is configured, the in-process bus otherwise."""
    if settings.redis_url:
        return RedisAlertBus(settings.redis_url, settings.alerts.stream_maxlen)
    return MemoryAlertBus(settings.alerts.stream_maxlen)
