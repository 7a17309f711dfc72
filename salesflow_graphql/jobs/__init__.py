"""Background jobs: one runner interface, two implementations, one registry of work.

Run modes (chosen by ``create_job_runner`` from the settings)
    * embedded default (no ``SALESFLOW_REDIS_URL``): :class:`InProcessRunner`,
      jobs are asyncio tasks of the gateway, records live in memory, periodic
      jobs run from an in-process scheduler;
    * Redis mode: :class:`ArqRunner` stores records in Redis (every replica
      sees them) and enqueues on arq with the job id as arq's id, both in one
      step; ``salesflow-graphql worker`` (:mod:`.worker`) runs the jobs and the
      periodic jobs (arq cron), each under a short lease (:mod:`.lease`) so a
      dead worker's job runs again within ``SALESFLOW_JOB_LEASE_S``.

The same :func:`.execution.run_attempt` runs every attempt in both modes:
QUEUED → RUNNING (progress 0..1) → COMPLETED or FAILED, a timeout
(``SALESFLOW_JOB_TIMEOUT_S``), retries with the backoff of
:mod:`salesflow_graphql.retry` only on
:class:`~salesflow_graphql.errors.UpstreamUnavailable` (arq ``Retry`` in a
worker, a sleep in process; the status goes back to QUEUED meanwhile), a
user-readable ``error`` on FAILED, and idempotence by job id.
``submit(record, max_open=n)`` bounds the owner's open jobs (``RATE_LIMITED``).

Watching: ``runner.watch(id)`` yields the record and then each change until
the job finishes, fed by Redis pub/sub (one connection per process) or, in
process, directly by each save. Nobody polls.

Authentication toward Java: records never hold a bearer token. They hold the
owner's subject, username and role, and each attempt mints a short-lived
token for that identity with the shared secret (``registry.job_token``);
periodic jobs act as the ``salesflow-scheduler`` service identity with the
role they declare.

Registering background work (how a capability adds its own, e.g. alerts)
    Write a provider ``def register_alert_jobs(registry: JobRegistry,
    settings: Settings) -> None`` in the capability package and add it to
    ``runtime.JOB_PROVIDERS``. Inside, register

    * tasks (one run per submitted record)::

        registry.add_task(Task("alerts.check", run=check_now))

      and submit them with ``runtime.jobs.submit(JobRecord(...))``;
    * periodic jobs, e.g. anomaly checks every 10 minutes::

        registry.add_periodic(PeriodicJob(
            "alerts.anomalies", Schedule.every(minutes=10), run=check_anomalies,
            timeout_s=120, role=Role.ADMIN))

      ``run`` gets a :class:`PeriodicContext` (``services``: the application's
      :class:`~salesflow_graphql.services.Services`, so declare it as
      ``PeriodicContext[Services]``; ``runner`` to submit jobs;
      ``access_token()`` for Java). The arq worker
      turns it into a unique ``arq.cron`` job and the embedded scheduler into an
      asyncio task, both from the same :class:`Schedule`; nothing else changes.
"""

from ..cron import Schedule
from .model import JobOwner, JobRecord, JobStatus, is_job_id, new_job_id
from .registry import (
    JobProvider,
    JobRegistry,
    JobServices,
    PeriodicContext,
    PeriodicJob,
    PeriodicRun,
    Task,
    TaskContext,
    build_registry,
    job_token,
    service_owner,
)
from .runner import ArqRunner, InProcessRunner, JobRunner, create_job_runner

__all__ = [
    "ArqRunner",
    "InProcessRunner",
    "JobOwner",
    "JobProvider",
    "JobRecord",
    "JobRegistry",
    "JobRunner",
    "JobServices",
    "JobStatus",
    "PeriodicContext",
    "PeriodicJob",
    "PeriodicRun",
    "Schedule",
    "Task",
    "TaskContext",
    "build_registry",
    "create_job_runner",
    "is_job_id",
    "job_token",
    "new_job_id",
    "service_owner",
]
