"""Where job records live, and how a watcher hears of each change without polling.

- :class:`MemoryJobStore` (embedded default): a dict; each save wakes the
  process's watchers directly.
- :class:`RedisJobStore`: one JSON value per job (``salesflow:job:<id>``, kept
  for the retention period), and every save is also PUBLISHed on one channel.
  Each gateway process holds ONE pub/sub connection for all its watchers and
  fans messages out in memory, so a thousand open subscriptions cost one Redis
  connection, and nobody polls Redis in a loop. Watchers re-read their records
  when that connection is re-established (messages may have been lost while it
  was down) and, as a safety net, every :data:`RECHECK_S` seconds. A record
  that vanished while watched (Redis restarted without persistence) ends the
  watch with :class:`NotFound`, never with silence.

Only one runner writes a job at a time (arq's in-progress key guarantees that
in Redis mode), so a save is a plain SET; ``seq`` orders the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from redis.exceptions import RedisError

from ..errors import NotFound, UpstreamUnavailable
from .model import JobRecord

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

KEY_PREFIX = "salesflow:job:"
CHANNEL = "salesflow:job-events"
#: A watcher re-reads its record this often even if no event arrived (lost-message safety net).
RECHECK_S = 15.0
#: Redis operations of the store give up after this long.
REDIS_TIMEOUT_S = 3.0

T = TypeVar("T")


class _Watchers:
    """In-process fan-out of job records to the watchers of each job id."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[JobRecord | None]]] = {}

    def deliver(self, record: JobRecord) -> None:
        for queue in self._queues.get(record.id, ()):
            queue.put_nowait(record)

    def recheck(self) -> None:
        """Have every watcher re-read its record (events may have been missed)."""
        for queues in self._queues.values():
            for queue in queues:
                queue.put_nowait(None)

    @property
    def count(self) -> int:
        return sum(len(queues) for queues in self._queues.values())

    @contextlib.contextmanager
    def listening(self, job_id: str) -> Iterator[asyncio.Queue[JobRecord | None]]:
        queue: asyncio.Queue[JobRecord | None] = asyncio.Queue()
        self._queues.setdefault(job_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._queues.get(job_id)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._queues[job_id]


class JobStore(ABC):
    """Records by job id, with change notification."""

    def __init__(self) -> None:
        self.watchers = _Watchers()

    @abstractmethod
    async def create(self, record: JobRecord) -> tuple[JobRecord, bool]:
        """Store a new record unless one with its id exists: (the stored record, created?)."""

    @abstractmethod
    async def get(self, job_id: str) -> JobRecord | None: ...

    @abstractmethod
    async def _put(self, record: JobRecord) -> None:
        """Persist ``record`` and announce it to every process's watchers."""

    async def save(self, record: JobRecord) -> JobRecord:
        """Store a change (``seq`` + 1) and tell the watchers."""
        saved = record.changed(seq=record.seq + 1)
        await self._put(saved)
        return saved

    async def _listen(self) -> None:
        """Make sure change events reach this process (Redis: the pub/sub reader runs)."""
        return None

    async def watch(self, job_id: str) -> AsyncIterator[JobRecord]:
        """The current record, then each newer one, until the job finishes.

        Nothing when there is no such job; :class:`NotFound` when its record
        disappears while watched (its store lost it), so a watcher never waits forever.
        """
        with self.watchers.listening(job_id) as queue:
            await self._listen()  # listen first, then read: no change falls in between
            record = await self.get(job_id)
            if record is None:
                return
            yield record
            last = record.seq
            while not record.status.finished:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=RECHECK_S)
                except TimeoutError:
                    event = None
                if event is None:  # re-read: the safety net, or events may have been lost
                    fresh = await self.get(job_id)
                    if fresh is None:
                        raise NotFound(
                            "This job no longer exists: the job store lost its record "
                            "(e.g. Redis restarted without persistence). Start it again."
                        )
                    event = fresh
                record = event
                if record.seq > last:
                    last = record.seq
                    yield record

    async def purge(self, older_than_s: float) -> int:
        """Forget finished records older than this (Redis records expire by themselves)."""
        return 0

    async def close(self) -> None:
        return None


class MemoryJobStore(JobStore):
    """The embedded default: records in a dict, gone when the process stops."""

    def __init__(self) -> None:
        super().__init__()
        self._records: dict[str, JobRecord] = {}

    async def create(self, record: JobRecord) -> tuple[JobRecord, bool]:
        existing = self._records.get(record.id)
        if existing is not None:
            return existing, False
        return await self.save(record), True

    async def get(self, job_id: str) -> JobRecord | None:
        return self._records.get(job_id)

    async def _put(self, record: JobRecord) -> None:
        self._records[record.id] = record
        self.watchers.deliver(record)

    async def purge(self, older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        old = [
            job_id
            for job_id, record in self._records.items()
            if record.status.finished and record.created_at.timestamp() < cutoff
        ]
        for job_id in old:
            del self._records[job_id]
        return len(old)


class RedisJobStore(JobStore):
    """Records in Redis (shared by every replica and worker), changes over pub/sub."""

    def __init__(self, redis: Redis, *, retention_s: float) -> None:
        super().__init__()
        self.redis = redis
        self.retention_s = retention_s
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def create(self, record: JobRecord) -> tuple[JobRecord, bool]:
        first = record.changed(seq=record.seq + 1)
        created = await self._call(
            lambda: self.redis.set(
                KEY_PREFIX + record.id, first.to_json(), nx=True, ex=int(self.retention_s)
            )
        )
        if created:
            await self._call(lambda: self.redis.publish(CHANNEL, first.to_json()))
            return first, True
        existing = await self.get(record.id)
        return (existing, False) if existing is not None else (first, False)

    async def get(self, job_id: str) -> JobRecord | None:
        raw = await self._call(lambda: self.redis.get(KEY_PREFIX + job_id))
        return JobRecord.from_json(raw) if raw else None

    async def _put(self, record: JobRecord) -> None:
        payload = record.to_json()

        async def write() -> None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(KEY_PREFIX + record.id, payload, ex=int(self.retention_s))
                pipe.publish(CHANNEL, payload)
                await pipe.execute()

        await self._call(write)

    async def _listen(self) -> None:
        if self._reader is None or self._reader.done():
            self._subscribed.clear()
            self._reader = asyncio.create_task(self._read_events(), name="job-events")
        # Waiting is bounded: if Redis is slow to subscribe, the re-check still covers us.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=REDIS_TIMEOUT_S)

    async def _read_events(self) -> None:
        """The process's one subscription, kept for its lifetime; reconnects with backoff."""
        backoff = 0.2
        lost = False
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                while True:
                    message = await pubsub.get_message(timeout=RECHECK_S)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":  # Redis confirmed: events flow from now on
                        self._subscribed.set()
                        backoff = 0.2
                        if lost:  # what changed while we were away was not heard: re-read
                            lost = False
                            self.watchers.recheck()
                    elif message["type"] == "message":
                        self.watchers.deliver(JobRecord.from_json(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dropped connection: say so, then resubscribe
                lost = True
                log.warning("job events subscription lost (%s); resubscribing", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self._subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            return await asyncio.wait_for(operation(), timeout=REDIS_TIMEOUT_S)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("job store: redis failed: %s", exc)
            raise UpstreamUnavailable("The job queue (Redis) is not answering; try again.") from exc

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
