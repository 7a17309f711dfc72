"""``salesflow-graphql worker``: an arq worker that runs the registry's tasks and periodic jobs.

One arq function, ``run_job(job_id)``, runs any task: the record in Redis says
which. arq's own retry machinery carries the transient-failure retries (the
attempt raises ``arq.Retry`` with the backoff delay), and arq re-runs a job
whose worker died once that job's in-progress key expires, which arq sets to
the longest function timeout + 10 s: job timeout + 2 s grace + 10 s, as
periodic jobs are capped at the job timeout. The attempt's idempotence
(:mod:`.execution`) makes the re-run safe.

arq tries a job one time more than the gateway allows, so the last try can
record FAILED ("gave up") instead of arq dropping the job silently.

Periodic jobs become ``arq.cron`` jobs with ``unique=True``: with many workers,
each tick still runs once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import arq
from arq.connections import RedisSettings

from ..config import Settings
from ..errors import UpstreamUnavailable
from .execution import Retry, max_attempts, run_attempt
from .registry import PeriodicJob
from .runner import QUEUE_NAME, RUN_JOB, JobRunner, run_periodic

log = logging.getLogger(__name__)

#: Time the attempt gets beyond its own timeout to record FAILED before arq cancels it.
GRACE_S = 2.0
#: How often a worker refreshes arq's health-check key (``worker --check`` reads it).
HEALTH_CHECK_S = 30
#: Delay before arq runs a job again whose status could not be recorded (Redis hiccup).
STORE_RETRY_S = 5.0


def build_worker(runner: JobRunner, services: Any, *, burst: bool = False) -> arq.Worker:
    """An arq worker over ``runner``'s registry and store, running with ``services``."""
    settings = runner.settings
    assert settings.redis_url is not None

    async def run_job(ctx: dict[str, Any], job_id: str) -> None:
        try:
            outcome = await run_attempt(
                job_id=job_id,
                attempt=int(ctx["job_try"]),
                store=runner.store,
                registry=runner.registry,
                services=services,
                settings=settings,
            )
        except UpstreamUnavailable:
            # The attempt handles Java's outages itself; this is Redis failing while the
            # status was being recorded. Run again later rather than drop the job.
            log.warning("job %s: job store unavailable; arq runs it again", job_id)
            raise arq.Retry(defer=STORE_RETRY_S) from None
        if isinstance(outcome, Retry):
            raise arq.Retry(defer=outcome.delay_s)

    function = arq.func(
        run_job,
        name=RUN_JOB,
        timeout=settings.job_timeout_s + GRACE_S,
        max_tries=max_attempts(settings) + 1,
        keep_result=60,
    )
    return arq.Worker(
        functions=[function],
        cron_jobs=[_cron(job, runner, services) for job in runner.registry.periodic.values()],
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        queue_name=QUEUE_NAME,
        max_jobs=settings.job_concurrency,
        job_timeout=settings.job_timeout_s + GRACE_S,
        timezone=settings.tz,  # type: ignore[arg-type]
        burst=burst,
        poll_delay=0.5,
        health_check_interval=HEALTH_CHECK_S,
        handle_signals=True,
        log_results=False,
    )


def _cron(job: PeriodicJob, runner: JobRunner, services: Any) -> Any:
    async def tick(ctx: dict[str, Any]) -> None:
        # arq enqueues a cron job with its due time as the score (ms): the tick's identity.
        due = datetime.fromtimestamp(int(ctx["score"]) / 1000, runner.settings.tz)
        await run_periodic(job, runner, services, due)

    tick.__qualname__ = f"periodic.{job.name}"
    return arq.cron(
        tick,
        name=f"cron:{job.name}",
        run_at_startup=job.run_at_startup,
        unique=True,
        # arq derives ONE in-progress lifetime (its dead-worker detection) from the longest
        # function timeout, so no cron may outlast a job (run_periodic caps it the same way).
        timeout=runner.settings.job_timeout_s + GRACE_S,
        max_tries=1,
        **job.schedule.arq_options(),
    )


async def serve(settings: Settings) -> None:
    """Run a worker until SIGINT/SIGTERM: the Runtime's services, arq, then a clean close."""
    from ..runtime import Runtime  # the worker is an entry point: it may wire everything

    runtime = await Runtime.start(settings)
    forecasts = getattr(runtime, "forecasts", None)
    if forecasts is not None:
        forecasts.warm_up()  # FULL reports train a forecast: start its processes now
    worker = build_worker(runtime.jobs, runtime)
    log.info(
        "worker: queue %s, tasks %s, periodic %s, timeout %gs, %d at once",
        QUEUE_NAME,
        ", ".join(runtime.jobs.registry.tasks) or "-",
        ", ".join(f"{p.name} ({p.schedule})" for p in runtime.jobs.registry.periodic.values())
        or "-",
        settings.job_timeout_s,
        settings.job_concurrency,
    )
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        log.info("worker stopping")
    finally:
        await worker.close()
        await runtime.close()


async def healthy(settings: Settings) -> bool:
    """True when some worker refreshed arq's health-check key lately (``worker --check``)."""
    from redis.asyncio import Redis

    assert settings.redis_url is not None
    client = Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(await client.exists(QUEUE_NAME + ":health-check"))
    except Exception as exc:
        log.warning("worker check: redis failed: %s", exc)
        return False
    finally:
        await client.aclose()
