"""Scheduled anomaly checks: a periodic job every ``SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES``.

Registered through ``runtime.JOB_PROVIDERS``: the arq worker runs it as a
unique ``arq.cron`` job (Redis mode: once per tick across all workers), the
embedded default as an asyncio task of the gateway. Either way the check runs
under the ledger's lock, so a tick that meets a ``runAnomalyCheck`` in progress
waits for it and then raises nothing twice.

On the embedded default the first check also runs at start-up (a task of its
own: readiness does not wait for it), so the demo's live alerts show at once
instead of after the first interval.
"""

from __future__ import annotations

import logging

from ..auth import Role
from ..config import Settings
from ..jobs import JobRegistry, PeriodicContext, PeriodicJob, Schedule
from ..services import Services

log = logging.getLogger(__name__)

ANOMALY_JOB = "alerts.anomalies"


def check_schedule(minutes: int) -> Schedule:
    """Every ``minutes`` (dividing 60), or every ``minutes / 60`` hours (dividing 24)."""
    if minutes % 60 == 0:
        return Schedule.every(hours=minutes // 60)
    return Schedule.every(minutes=minutes)


def register_alert_jobs(registry: JobRegistry, settings: Settings) -> None:
    """The periodic anomaly check, unless ``SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES`` is 0;
    on the embedded default also once at start-up."""
    if settings.alerts.check_interval_minutes <= 0:
        return
    registry.add_periodic(
        PeriodicJob(
            ANOMALY_JOB,
            check_schedule(settings.alerts.check_interval_minutes),
            run=scheduled_check,
            timeout_s=settings.alerts.check_timeout_s,
            role=Role.ADMIN,
            run_at_startup=settings.embedded,
        )
    )


async def scheduled_check(context: PeriodicContext[Services]) -> None:
    """One tick: a check with the scheduler's own (ADMIN) token toward Java."""
    services = context.services
    run = await services.alerts.check_and_notify_anomalies(services.data(context.access_token()))
    log.info(
        "scheduled anomaly check (due %s): %d new alert(s)",
        context.scheduled_at.isoformat(timespec="minutes"),
        len(run.alerts),
    )
