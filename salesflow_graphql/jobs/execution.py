"""One attempt at a job, the same in both run modes.

The attempt loads the record by job id and decides from it, so running a job
twice is harmless (at-least-once delivery from arq, a worker killed mid-job):

- a COMPLETED job is not done again; only its follow-up (e-mail) runs, and the
  follow-up itself skips what it already did;
- a FAILED job stays failed;
- anything else runs from the start (outputs are keyed by job id, so a re-run
  overwrites, never duplicates). A record still RUNNING means the previous run
  was cut off (its worker died; see :mod:`.lease`): the record's ``notice``
  tells the user that this run started again.

The attempt writes through the store it is given; in a worker that is a store
fenced by the job's lease, and :class:`~.store.LeaseLost` (another worker runs
the job now) ends the attempt without another write.

Outcomes: COMPLETED with the task's result; back to QUEUED with a delay when
Java was unavailable (:class:`UpstreamUnavailable`) and attempts remain; FAILED
with a message a user can read (the job timed out, gave up, or the input or
Java's answer was wrong; an unexpected error is logged with its stack trace and
shown as an internal error with the job id, never the trace).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..errors import GatewayError, UpstreamUnavailable
from ..metrics import JOB_SECONDS
from ..retry import RetryPolicy
from .model import JobRecord, JobStatus, utc_now
from .registry import JobRegistry, JobServices, TaskContext
from .store import JobStore, LeaseLost

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Retry:
    """Run the job again after ``delay_s`` seconds."""

    delay_s: float


def retry_policy(settings: Settings) -> RetryPolicy:
    """Attempts at a job, and the wait before each retry (arq or the in-process runner waits)."""
    return RetryPolicy(settings.jobs.retries + 1, settings.jobs.backoff_s, cap_s=60.0)


def max_attempts(settings: Settings) -> int:
    return retry_policy(settings).attempts


def retry_delay(settings: Settings, attempt: int) -> float:
    """The wait after failed attempt number ``attempt`` (1-based)."""
    return retry_policy(settings).delay(attempt)


async def run_attempt(
    *,
    job_id: str,
    attempt: int,
    store: JobStore,
    registry: JobRegistry,
    services: JobServices,
    settings: Settings,
) -> Retry | None:
    """Run attempt number ``attempt`` (1-based) of the job; ``Retry`` when it should run again."""
    record = await store.get(job_id)
    if record is None:
        log.warning("job %s: no record (expired or unknown); nothing to do", job_id)
        return None
    task = registry.tasks.get(record.task)
    if task is None:
        await _fail(store, record, f"This kind of job ({record.task}) is not known here.")
        return None
    if record.status is JobStatus.FAILED:
        return None
    if record.status is JobStatus.COMPLETED:
        log.info("job %s: already completed; only its follow-up runs", job_id)
        await _follow_up(task.follow_up, _context(services, store, record, attempt))
        return None
    if attempt > max_attempts(settings):
        await _fail(
            store,
            record,
            f"Gave up after {max_attempts(settings)} attempts (a worker stopped or the SalesFlow "
            "service was unavailable). Please try again.",
        )
        return None

    notice = record.notice
    if record.status is JobStatus.RUNNING:
        log.warning("job %s: run %d was cut off; running it again", job_id, record.attempts)
        notice = (
            f"Run {record.attempts} stopped with its worker; run {attempt} started again from "
            f"the beginning at {utc_now():%H:%M:%S} UTC."
        )
    record = await store.save(
        record.changed(
            status=JobStatus.RUNNING,
            progress=0.0,
            started_at=record.started_at or utc_now(),
            attempts=attempt,
            error=None,
            notice=notice,
        )
    )
    context = _context(services, store, record, attempt)
    deadline = asyncio.timeout(settings.jobs.timeout_s)
    try:
        async with deadline:
            result = await task.run(context)
    except TimeoutError:
        if not deadline.expired():
            log.exception("job %s (%s) failed unexpectedly", job_id, record.task)
            await _fail(
                store, context.job, f"Internal error; quote job id {job_id} when reporting it."
            )
            return None
        await _fail(
            store,
            context.job,
            f"The job took longer than {settings.jobs.timeout_s:g} s and was stopped.",
        )
        return None
    except UpstreamUnavailable as exc:
        current = context.job
        if attempt < max_attempts(settings):
            delay = retry_delay(settings, attempt)
            log.info("job %s: upstream unavailable (%s); retry in %.1fs", job_id, exc, delay)
            await store.save(current.changed(status=JobStatus.QUEUED, progress=0.0))
            return Retry(delay)
        await _fail(store, current, f"{exc.message} Gave up after {attempt} attempts.")
        return None
    except GatewayError as exc:
        await _fail(store, context.job, exc.message)
        return None
    except asyncio.CancelledError:
        # The worker is shutting down: arq runs the job again elsewhere.
        with contextlib.suppress(LeaseLost):  # ...or runs it already: leave its record alone
            await asyncio.shield(
                store.save(context.job.changed(status=JobStatus.QUEUED, progress=0.0))
            )
        raise
    except LeaseLost:
        raise
    except Exception:
        log.exception("job %s (%s) failed unexpectedly", job_id, record.task)
        await _fail(store, context.job, f"Internal error; quote job id {job_id} when reporting it.")
        return None

    completed = await store.save(
        context.job.changed(
            status=JobStatus.COMPLETED, progress=1.0, finished_at=utc_now(), result=result
        )
    )
    _observe_duration(completed)
    await _follow_up(task.follow_up, _context(services, store, completed, attempt))
    return None


def _context(
    services: JobServices, store: JobStore, record: JobRecord, attempt: int
) -> TaskContext[Any]:
    return TaskContext(services=services, job=record, attempt=attempt, store=store)


async def _follow_up(follow_up: Any, context: TaskContext[Any]) -> None:
    if follow_up is None:
        return
    try:
        await follow_up(context)
    except Exception:  # a follow-up never undoes a completed job
        log.exception("job %s: follow-up failed", context.job.id)


async def _fail(store: JobStore, record: JobRecord, message: str) -> None:
    log.info("job %s failed: %s", record.id, message)
    failed = await store.save(
        record.changed(status=JobStatus.FAILED, error=message, finished_at=utc_now())
    )
    _observe_duration(failed)


def _observe_duration(record: JobRecord) -> None:
    """A finished job's time from its first start, by kind and outcome (never-started: none)."""
    if record.started_at is not None and record.finished_at is not None:
        seconds = (record.finished_at - record.started_at).total_seconds()
        JOB_SECONDS.labels(record.task, record.status.value.lower()).observe(max(0.0, seconds))
