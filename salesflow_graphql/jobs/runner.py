"""The one job-runner interface and its two implementations.

- :class:`InProcessRunner` (embedded default, no Redis): each job is an asyncio
  task in this process (at most ``SALESFLOW_JOB_CONCURRENCY`` at once), retried
  in process; periodic jobs run from an in-process scheduler.
- :class:`ArqRunner` (``SALESFLOW_REDIS_URL`` set): the record and the arq job
  (under the job's own id) are written to Redis in one step, so a Redis failure
  leaves both or neither, never a record that no worker will run; submitting an
  id again is a no-op. ``salesflow-graphql worker`` processes run it
  (:mod:`.worker`), and their arq cron runs the periodic jobs.

Callers only ``submit``, ``get`` and ``watch``; statuses are the same in both.
``submit(record, max_open=n)`` refuses with ``RATE_LIMITED`` (and ``retryAfter``)
when the record's owner already has ``n`` jobs queued or running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from arq.constants import expires_extra_ms, job_key_prefix
from arq.jobs import serialize_job

from ..adapters.redis_clients import arq_client
from ..config import Settings
from ..errors import RateLimited
from .execution import Retry, run_attempt
from .model import JobRecord
from .registry import JobRegistry, JobServices, PeriodicContext, PeriodicJob, service_owner
from .store import JobStore, MemoryJobStore, OpenJobsLimit, QueueEntry, RedisJobStore

log = logging.getLogger(__name__)

#: The arq queue of the gateway's jobs, and the name of the arq function that runs them.
QUEUE_NAME = "salesflow:queue"
RUN_JOB = "run_job"
#: ``retryAfter`` of a submit refused for too many open jobs: about one report's time.
OPEN_JOBS_RETRY_AFTER_S = 10


class JobRunner(ABC):
    """Submit jobs, read their records, follow their changes."""

    mode: str

    def __init__(self, settings: Settings, registry: JobRegistry, store: JobStore) -> None:
        self.settings = settings
        self.registry = registry
        self.store = store
        self.services: JobServices | None = None

    async def start(self, services: JobServices) -> None:
        """Bind the application's services that tasks run with."""
        self.services = services

    async def submit(self, record: JobRecord, *, max_open: int | None = None) -> JobRecord:
        """Store the QUEUED record and have the job run; idempotent by job id.

        With ``max_open``: :class:`RateLimited` when the owner has that many jobs open.
        """
        try:
            return await self._submit(record, max_open)
        except OpenJobsLimit as full:
            log.info("job %s refused: its owner has %d open", record.id, full.open_jobs)
            raise RateLimited(
                f"You have {full.open_jobs} jobs queued or running, the most at once; "
                f"try again when one has finished.",
                retryAfter=OPEN_JOBS_RETRY_AFTER_S,
            ) from None

    @abstractmethod
    async def _submit(self, record: JobRecord, max_open: int | None) -> JobRecord: ...

    async def get(self, job_id: str) -> JobRecord | None:
        return await self.store.get(job_id)

    def watch(self, job_id: str) -> AsyncIterator[JobRecord]:
        return self.store.watch(job_id)

    @abstractmethod
    async def queue_depth(self) -> int:
        """Jobs waiting to run (for the ``salesflow_job_queue_depth`` gauge)."""

    async def close(self) -> None:
        await self.store.close()


class InProcessRunner(JobRunner):
    """Jobs as asyncio tasks of this process; periodic jobs from an in-process scheduler."""

    mode = "in-process"

    def __init__(self, settings: Settings, registry: JobRegistry) -> None:
        super().__init__(settings, registry, MemoryJobStore())
        self._slots = asyncio.Semaphore(settings.jobs.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = 0
        self._scheduler: PeriodicScheduler | None = None

    async def start(self, services: JobServices) -> None:
        await super().start(services)
        self._scheduler = PeriodicScheduler(self, services)
        self._scheduler.start()

    async def _submit(self, record: JobRecord, max_open: int | None) -> JobRecord:
        stored, created = await self.store.create(record, max_open=max_open)
        if created:
            self._spawn(self._drive(stored.id), f"job-{stored.id}")
        return stored

    async def _drive(self, job_id: str) -> None:
        attempt = 0
        while True:
            attempt += 1
            async with self._slots:
                self._running += 1
                try:
                    outcome = await run_attempt(
                        job_id=job_id,
                        attempt=attempt,
                        store=self.store,
                        registry=self.registry,
                        services=self.services,
                        settings=self.settings,
                    )
                finally:
                    self._running -= 1
            if not isinstance(outcome, Retry):
                return
            await asyncio.sleep(outcome.delay_s)  # the slot is free while we wait

    async def queue_depth(self) -> int:
        """Job tasks not running an attempt: waiting for a slot or for a retry."""
        return len(self._tasks) - self._running

    def _spawn(self, coroutine: Any, name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until no job task is left (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        if self._scheduler is not None:
            await self._scheduler.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await super().close()


class ArqRunner(JobRunner):
    """Records in Redis; jobs on the arq queue for ``salesflow-graphql worker`` processes."""

    mode = "arq"

    def __init__(self, settings: Settings, registry: JobRegistry) -> None:
        assert settings.redis_url is not None
        self.redis = arq_client(settings.redis_url, QUEUE_NAME)
        super().__init__(
            settings,
            registry,
            RedisJobStore(self.redis, retention_s=settings.reports.retention_days * 86400),
        )

    async def _submit(self, record: JobRecord, max_open: int | None) -> JobRecord:
        # What arq's enqueue_job writes (its job key and queue entry), written here in the
        # same step as the record.
        now_ms = int(time.time() * 1000)
        entry = QueueEntry(
            queue=QUEUE_NAME,
            key=job_key_prefix + record.id,
            payload=serialize_job(RUN_JOB, (record.id,), {}, None, now_ms),
            ttl_ms=expires_extra_ms,
            score=now_ms,
        )
        stored, _ = await self.store.create(record, max_open=max_open, enqueue=entry)
        return stored

    async def queue_depth(self) -> int:
        """Jobs in arq's queue, a sorted set: waiting, deferred for a retry, or being run
        (arq removes a job when it finishes)."""
        return int(await self.redis.zcard(QUEUE_NAME))

    async def close(self) -> None:
        await super().close()
        await self.redis.aclose(close_connection_pool=True)


class PeriodicScheduler:
    """The embedded counterpart of arq cron: one asyncio task per periodic job.

    Each task sleeps until the schedule's next time (business time zone), runs
    the job within its timeout, logs a failure, and goes on; no polling.
    """

    def __init__(self, runner: JobRunner, services: JobServices) -> None:
        self.runner = runner
        self.services = services
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for job in self.runner.registry.periodic.values():
            self._tasks.append(asyncio.create_task(self._loop(job), name=f"periodic-{job.name}"))

    async def _loop(self, job: PeriodicJob) -> None:
        tz = self.runner.settings.tz
        if job.run_at_startup:
            await run_periodic(job, self.runner, self.services, datetime.now(tz))
        while True:
            due = job.schedule.next_after(datetime.now(tz))
            await asyncio.sleep(max(0.0, (due - datetime.now(tz)).total_seconds()))
            await run_periodic(job, self.runner, self.services, due)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


async def run_periodic(
    job: PeriodicJob, runner: JobRunner, services: JobServices, due: datetime
) -> None:
    """One tick of a periodic job, bounded by its timeout (at most the job timeout, see
    :mod:`.worker`); failures are logged, not raised."""
    context = PeriodicContext(
        services=services, runner=runner, scheduled_at=due, owner=service_owner(job.role)
    )
    try:
        async with asyncio.timeout(min(job.timeout_s, runner.settings.jobs.timeout_s)):
            await job.run(context)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("periodic job %s (due %s) failed", job.name, due.isoformat())


def create_job_runner(settings: Settings, registry: JobRegistry) -> JobRunner:
    """arq when Redis is configured, in-process otherwise."""
    if settings.redis_url:
        return ArqRunner(settings, registry)
    return InProcessRunner(settings, registry)
