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

A new record and its queue entry are written in one step (a Lua script), so a
Redis failure never leaves a record that no worker will run. The same step
counts the owner's open (queued or running) jobs, kept in one sorted set per
owner, and refuses a job beyond the submit's limit (:class:`OpenJobsLimit`).

Only one worker writes a job at a time: a worker writes through a
:meth:`~JobStore.fenced` view, whose saves go through only while the job's lease
(:mod:`.lease`) is still its own, checked in Redis in the same step as the
write; a worker that lost its lease gets :class:`LeaseLost` and never
overwrites the new holder's record. ``seq`` orders the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from redis.exceptions import RedisError

from ..errors import NotFound, UpstreamUnavailable
from .model import JobOwner, JobRecord

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

KEY_PREFIX = "salesflow:job:"
CHANNEL = "salesflow:job-events"
#: One sorted set per owner of their open jobs' ids, scored by creation time (ms).
OPEN_PREFIX = "salesflow:jobs-open:"
#: An open job older than this no longer counts toward its owner's limit (arq drops a
#: job that waited a day, and its record could then stay unfinished).
OPEN_FORGET_S = 24 * 3600
#: A watcher re-reads its record this often even if no event arrived (lost-message safety net).
RECHECK_S = 15.0
#: Redis operations of the store give up after this long.
REDIS_TIMEOUT_S = 3.0

T = TypeVar("T")


class OpenJobsLimit(Exception):
    """The owner already has ``open_jobs`` jobs queued or running: the submit's limit."""

    def __init__(self, open_jobs: int) -> None:
        super().__init__(f"{open_jobs} open jobs")
        self.open_jobs = open_jobs


class LeaseLost(Exception):
    """A fenced write was refused: another worker holds the job's lease now."""


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A job queue's entry for a new record, written in the same step as the record."""

    queue: str  # sorted set of job ids, scored by when they are due (ms)
    key: str  # the entry's own key
    payload: bytes
    ttl_ms: int
    score: int


@dataclass(frozen=True, slots=True)
class Fence:
    """Writes go through while ``key`` holds ``token``, or nobody holds it (it is taken
    again for ``ttl_ms``); while another token is there, they are refused."""

    key: str
    token: str
    ttl_ms: int


def open_jobs_key(owner: JobOwner) -> str:
    """The owner's open-jobs set (hashed: no user text becomes a Redis key)."""
    return OPEN_PREFIX + hashlib.sha256(owner.subject.encode()).hexdigest()[:32]


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
    async def create(
        self, record: JobRecord, *, max_open: int | None = None, enqueue: QueueEntry | None = None
    ) -> tuple[JobRecord, bool]:
        """Store a new record unless one with its id exists: (the stored record, created?).

        With ``max_open``, raises :class:`OpenJobsLimit` instead when the owner has that
        many open jobs already. ``enqueue`` is written with the record, in one step.
        """

    def fenced(self, fence: Fence) -> JobStore:
        """This store as seen by the holder of ``fence`` (in one process: the store itself)."""
        return self

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

    async def create(
        self, record: JobRecord, *, max_open: int | None = None, enqueue: QueueEntry | None = None
    ) -> tuple[JobRecord, bool]:
        assert enqueue is None, "the in-process runner has no queue"
        existing = self._records.get(record.id)
        if existing is not None:
            return existing, False
        if max_open is not None:  # counted and stored with no await in between: atomic
            open_jobs = sum(
                1
                for r in self._records.values()
                if r.owner.subject == record.owner.subject and not r.status.finished
            )
            if open_jobs >= max_open:
                raise OpenJobsLimit(open_jobs)
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


#: KEYS: record, owner's open set, queue, queue entry. ARGV: record, retention s, channel,
#: job id, max open (0: no limit), now ms, forget before ms, entry payload, entry ttl ms,
#: entry score, enqueue (1/0). Answers {0, existing record}, {1, record} or {2, open jobs}.
_CREATE = """
local existing = redis.call('get', KEYS[1])
if existing then return {0, existing} end
redis.call('zremrangebyscore', KEYS[2], '-inf', ARGV[7])
if ARGV[5] ~= '0' then
  local open = redis.call('zcard', KEYS[2])
  if open >= tonumber(ARGV[5]) then return {2, tostring(open)} end
end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('zadd', KEYS[2], ARGV[6], ARGV[4])
redis.call('expire', KEYS[2], ARGV[2])
if ARGV[11] == '1' then
  redis.call('psetex', KEYS[4], ARGV[9], ARGV[8])
  redis.call('zadd', KEYS[3], ARGV[10], ARGV[4])
end
redis.call('publish', ARGV[3], ARGV[1])
return {1, ARGV[1]}
"""

#: KEYS: record, owner's open set, fence key. ARGV: record, retention s, channel, job id,
#: finished (1/0), fence token ('' = no fence), fence ttl ms. Answers 1, or 0 when fenced out.
_PUT = """
if ARGV[6] ~= '' then
  local holder = redis.call('get', KEYS[3])
  if holder and holder ~= ARGV[6] then return 0 end
  redis.call('set', KEYS[3], ARGV[6], 'PX', ARGV[7])
end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
if ARGV[5] == '1' then redis.call('zrem', KEYS[2], ARGV[4]) end
redis.call('publish', ARGV[3], ARGV[1])
return 1
"""


class RedisJobStore(JobStore):
    """Records in Redis (shared by every replica and worker), changes over pub/sub."""

    def __init__(self, redis: Redis, *, retention_s: float, fence: Fence | None = None) -> None:
        super().__init__()
        self.redis = redis
        self.retention_s = retention_s
        self.fence = fence
        self._create_script = redis.register_script(_CREATE)
        self._put_script = redis.register_script(_PUT)
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def fenced(self, fence: Fence) -> RedisJobStore:
        return RedisJobStore(self.redis, retention_s=self.retention_s, fence=fence)

    async def create(
        self, record: JobRecord, *, max_open: int | None = None, enqueue: QueueEntry | None = None
    ) -> tuple[JobRecord, bool]:
        first = record.changed(seq=record.seq + 1)
        key = KEY_PREFIX + record.id
        now_ms = int(time.time() * 1000)
        keys = [key, open_jobs_key(record.owner)]
        keys += [enqueue.queue, enqueue.key] if enqueue else [key, key]
        args = [
            first.to_json(),
            int(self.retention_s),
            CHANNEL,
            record.id,
            max_open or 0,
            now_ms,
            now_ms - int(OPEN_FORGET_S * 1000),
            enqueue.payload if enqueue else b"",
            enqueue.ttl_ms if enqueue else 0,
            enqueue.score if enqueue else 0,
            1 if enqueue else 0,
        ]
        code, value = await self._call(lambda: self._create_script(keys=keys, args=args))
        if int(code) == 2:
            raise OpenJobsLimit(int(value))
        return (first, True) if int(code) == 1 else (JobRecord.from_json(value), False)

    async def get(self, job_id: str) -> JobRecord | None:
        raw = await self._call(lambda: self.redis.get(KEY_PREFIX + job_id))
        return JobRecord.from_json(raw) if raw else None

    async def _put(self, record: JobRecord) -> None:
        key = KEY_PREFIX + record.id
        fence = self.fence
        keys = [key, open_jobs_key(record.owner), fence.key if fence else key]
        args = [
            record.to_json(),
            int(self.retention_s),
            CHANNEL,
            record.id,
            1 if record.status.finished else 0,
            fence.token if fence else "",
            fence.ttl_ms if fence else 0,
        ]
        if not await self._call(lambda: self._put_script(keys=keys, args=args)):
            raise LeaseLost(f"job {record.id}: another worker holds its lease; not saved")

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
