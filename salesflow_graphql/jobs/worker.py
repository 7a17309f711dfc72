"""``salesflow-graphql worker``: an arq worker that runs the registry's tasks and periodic jobs.

One arq function, ``run_job(job_id)``, runs any task: the record in Redis says
which. arq's own retry machinery carries the transient-failure retries (the
attempt raises ``arq.Retry`` with the backoff delay), and arq re-runs a job
whose worker died once that job's in-progress key expires. arq would keep that
key for the longest function timeout + 10 s (over 5 minutes); here it lives
``SALESFLOW_JOB_LEASE_S`` and each running job, periodic ticks included, renews
it as a :class:`~.lease.Lease`, so a dead worker's job runs again within one
lease. The attempt's idempotence (:mod:`.execution`) makes the re-run safe, and
the lease's fence keeps a worker that stalled past its lease from writing over
the new run.

arq tries a job one time more than the gateway allows, so the last try can
record FAILED ("gave up") instead of arq dropping the job silently.

Periodic jobs become ``arq.cron`` jobs with ``unique=True``: with many workers,
each tick still runs once.

A Redis outage does not end the worker: it polls again once Redis answers, and
a job that could not record its status waits for Redis (within its timeout) so
that arq can record the retry. With a durable Redis (AOF), what was queued
before a restart runs after it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

import arq
from redis.exceptions import RedisError

from ..adapters.redis_clients import arq_settings, redis_client
from ..config import Settings
from ..errors import UpstreamUnavailable
from .execution import Retry, max_attempts, retry_delay, run_attempt
from .lease import Lease
from .registry import JobServices, PeriodicJob
from .runner import QUEUE_NAME, RUN_JOB, JobRunner, run_periodic
from .store import LeaseLost

log = logging.getLogger(__name__)

#: Time the attempt gets beyond its own timeout to record FAILED before arq cancels it.
GRACE_S = 2.0
#: How often a worker refreshes arq's health-check key (``worker --check`` reads it).
HEALTH_CHECK_S = 30
#: Delay before arq runs a job again whose status could not be recorded (Redis still down).
STORE_RETRY_S = 5.0
#: How often a job that could not record its status asks whether Redis answers again.
STORE_POLL_S = 0.5
#: Pause before a worker that lost Redis polls again: first, and longest (doubling in between).
RECONNECT_S = (0.5, 5.0)


def build_worker(runner: JobRunner, services: JobServices, *, burst: bool = False) -> arq.Worker:
    """An arq worker over ``runner``'s registry and store, running with ``services``."""
    settings = runner.settings
    assert settings.redis_url is not None

    async def run_job(ctx: dict[str, Any], job_id: str) -> None:
        started = time.monotonic()
        try:
            async with Lease(ctx["redis"], ctx["job_id"], settings.jobs.lease_s) as lease:
                if lease.lost:
                    raise LeaseLost(f"job {job_id}: another worker picked it first")
                outcome = await run_attempt(
                    job_id=job_id,
                    attempt=int(ctx["job_try"]),
                    store=runner.store.fenced(lease.fence),
                    registry=runner.registry,
                    services=services,
                    settings=settings,
                )
        except LeaseLost:
            # Another worker runs the job now. Leave it in the queue (after a lease's wait)
            # rather than finish it: should that worker die too, the job still runs.
            log.warning("job %s: another worker holds it; this run stopped", job_id)
            raise arq.Retry(defer=settings.jobs.lease_s) from None
        except (RedisError, OSError) as exc:  # the lease could not be taken: Redis is down
            log.warning("job %s: could not take its lease (%s); arq runs it again", job_id, exc)
            raise arq.Retry(defer=STORE_RETRY_S) from None
        except UpstreamUnavailable:
            # The attempt handles Java's outages itself; this is Redis failing while the
            # status was being recorded. Run again later rather than drop the job. arq
            # records that retry in Redis too, so first wait (within the attempt's time)
            # for Redis to answer: a retry arq cannot record leaves the job to the
            # expiry of its lease.
            log.warning("job %s: job store unavailable; arq runs it again", job_id)
            back = await _redis_answers(ctx["redis"], until=started + settings.jobs.timeout_s)
            delay = retry_delay(settings, int(ctx["job_try"])) if back else STORE_RETRY_S
            raise arq.Retry(defer=delay) from None
        if isinstance(outcome, Retry):
            raise arq.Retry(defer=outcome.delay_s)

    function = arq.func(
        run_job,
        name=RUN_JOB,
        timeout=settings.jobs.timeout_s + GRACE_S,
        max_tries=max_attempts(settings) + 1,
        keep_result=60,
    )
    worker = arq.Worker(
        functions=[function],
        cron_jobs=[_cron(job, runner, services) for job in runner.registry.periodic.values()],
        redis_settings=arq_settings(settings.redis_url),
        queue_name=QUEUE_NAME,
        max_jobs=settings.jobs.concurrency,
        job_timeout=settings.jobs.timeout_s + GRACE_S,
        timezone=settings.tz,  # type: ignore[arg-type]
        burst=burst,
        poll_delay=0.5,
        health_check_interval=HEALTH_CHECK_S,
        handle_signals=True,
        log_results=False,
    )
    # arq marks a job it starts as in progress for this long (its own default: the
    # longest timeout + 10 s); the job's Lease renews the mark while it runs.
    worker.in_progress_timeout_s = settings.jobs.lease_s
    return worker


def _cron(job: PeriodicJob, runner: JobRunner, services: JobServices) -> Any:
    async def tick(ctx: dict[str, Any]) -> None:
        # arq enqueues a cron job with its due time as the score (ms): the tick's identity.
        due = datetime.fromtimestamp(int(ctx["score"]) / 1000, runner.settings.tz)
        async with Lease(ctx["redis"], ctx["job_id"], runner.settings.jobs.lease_s) as lease:
            if not lease.lost:  # else another worker runs this tick
                await run_periodic(job, runner, services, due)

    tick.__qualname__ = f"periodic.{job.name}"
    return arq.cron(
        tick,
        name=f"cron:{job.name}",
        run_at_startup=job.run_at_startup,
        unique=True,
        # A tick may not outlast a job (run_periodic caps it the same way).
        timeout=runner.settings.jobs.timeout_s + GRACE_S,
        max_tries=1,
        **job.schedule.arq_options(),
    )


async def serve(runtime: Any) -> None:
    """Run a worker for ``runtime`` until SIGINT/SIGTERM, then close the queue connection.

    ``runtime`` is the process's started Runtime (its ``settings``, ``jobs`` and
    services), which the entry point (``cli``) wires and closes: this adapter
    imports nothing of the layers above it.
    """
    settings = runtime.settings
    runtime.forecasts.warm_up()  # FULL reports train a forecast: start its processes now
    worker = build_worker(runtime.jobs, runtime.services)
    log.info(
        "worker: queue %s, tasks %s, periodic %s, timeout %gs, %d at once",
        QUEUE_NAME,
        ", ".join(runtime.jobs.registry.tasks) or "-",
        ", ".join(f"{p.name} ({p.schedule})" for p in runtime.jobs.registry.periodic.values())
        or "-",
        settings.jobs.timeout_s,
        settings.jobs.concurrency,
    )
    # arq's signal handler cancels ``main_task``: here, the loop that outlives Redis outages.
    worker.main_task = asyncio.create_task(_poll_through_outages(worker))
    try:
        await worker.main_task
    except asyncio.CancelledError:
        log.info("worker stopping")
    finally:
        try:
            await worker.close()
        except (RedisError, OSError) as exc:  # Redis down at shutdown: nothing more to tidy
            log.warning("worker: closing the queue connection failed: %s", exc)


async def _redis_answers(redis: Any, *, until: float) -> bool:
    """Wait until Redis answers a PING, but not past ``until`` (``time.monotonic``)."""
    while True:
        try:
            return bool(await asyncio.wait_for(redis.ping(), timeout=1.0))
        except (RedisError, OSError):
            if time.monotonic() + STORE_POLL_S >= until:
                return False
        await asyncio.sleep(STORE_POLL_S)


async def _poll_through_outages(worker: arq.Worker) -> None:
    """arq's poll loop, started again after a Redis error instead of ending the process.

    arq lets any failed Redis call end its loop (and with it the worker). Jobs already
    running are tasks of their own and go on; the queue, the in-progress keys and the
    retry counts live in Redis, so polling again once Redis answers resumes where it
    stopped (a job whose outcome could not be recorded runs again, see :mod:`.execution`).
    """
    delay = RECONNECT_S[0]
    while True:
        started = time.monotonic()
        try:
            await worker.main()
            return  # burst mode: the queue is empty
        except (RedisError, OSError) as exc:
            if time.monotonic() - started > 2 * RECONNECT_S[1]:
                delay = RECONNECT_S[0]  # it had been working: a new outage
            log.warning("worker: redis unavailable (%s); polling again in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_S[1])


async def healthy(settings: Settings) -> bool:
    """True when some worker refreshed arq's health-check key lately (``worker --check``)."""
    assert settings.redis_url is not None
    client = redis_client(settings.redis_url, timeout_s=2)
    try:
        return bool(await client.exists(QUEUE_NAME + ":health-check"))
    except Exception as exc:
        log.warning("worker check: redis failed: %s", exc)
        return False
    finally:
        await client.aclose()
