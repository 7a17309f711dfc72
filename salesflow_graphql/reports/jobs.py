"""Reports as background work: the report task, its e-mail, retention and the schedules.

- ``report`` task: render the file through :class:`ReportService` with a token
  minted for the job's owner, store it atomically at
  ``reports/YYYY/MM/<job-id>.<ext>`` (YYYY/MM of the job's creation, UTC), and
  record name, size and headline figures as the job's result. Storing under
  the job id makes a re-run overwrite, never duplicate.
- e-mail follow-up (``emailTo``): after COMPLETED is recorded, the file goes out
  as an attachment. A send is retried by the mailer; if it still fails, the
  failure is logged and recorded on the job (``email.status = FAILED``), and
  the report stays COMPLETED and downloadable. A re-run of a completed job only
  retries an e-mail that is still PENDING, so a recipient gets one copy.
- ``reports.retention`` (hourly, at minute 17): deletes report files older than
  ``SALESFLOW_REPORT_RETENTION_DAYS`` and forgets their in-memory records
  (Redis records expire on their own after the same time).
- one periodic job per ``SALESFLOW_REPORT_SCHEDULES`` entry: submits a report
  job for the scheduler identity with the recipients as ``emailTo``; its id is
  derived from the schedule and the tick, so a tick can never submit twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, date, timedelta
from enum import StrEnum
from typing import Any

from ..adapters.mail import Attachment, Mail, MailFailed, recipients
from ..adapters.signing import LinkSigner
from ..addresses import valid_address
from ..analytics.periods import DateRange, validated_range, window_ending
from ..config import Settings
from ..errors import BadUserInput
from ..jobs import (
    JobOwner,
    JobRecord,
    JobRegistry,
    JobRunner,
    PeriodicContext,
    PeriodicJob,
    PeriodicRun,
    Schedule,
    Task,
    TaskContext,
    new_job_id,
)
from ..jobs.model import utc_now
from ..schedules import ScheduledReport
from ..services import Services
from . import formatting as fmt
from .model import ReportFormat, ReportKind, ReportRequest

log = logging.getLogger(__name__)

REPORT_TASK = "report"
REPORTS_FOLDER = "reports"
MAX_RECIPIENTS = 20
DEFAULT_RANGE_DAYS = 30


class EmailStatus(StrEnum):
    """Delivery of a report by e-mail: PENDING until tried; SKIPPED without an SMTP server."""

    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


# ------------------------------------------------------------------ requests
def report_request(
    settings: Settings,
    today: Any,
    *,
    kind: ReportKind = ReportKind.FULL,
    report_format: ReportFormat = ReportFormat.PDF,
    start: Any = None,
    end: Any = None,
    email_to: list[str] | None = None,
) -> ReportRequest:
    """A validated request from client input (GraphQL or the render URL)."""
    if (start is None) != (end is None):
        raise BadUserInput("give both start and end of the range, or neither", field="range")
    period: DateRange = (
        window_ending(today, DEFAULT_RANGE_DAYS)
        if start is None
        # Two: the report shows the previous range's KPIs, computed against the one before.
        else validated_range(start, end, max_days=settings.limits.max_range_days, comparisons=2)
    )
    addresses = recipients(email_to or [])
    bad = [a for a in addresses if not valid_address(a)]
    if bad:
        raise BadUserInput(f"not an e-mail address: {bad[0]!r}", field="emailTo")
    if len(addresses) > MAX_RECIPIENTS:
        raise BadUserInput(f"at most {MAX_RECIPIENTS} recipients", field="emailTo")
    return ReportRequest(kind, report_format, period, addresses)


async def submit_report(runner: JobRunner, owner: JobOwner, request: ReportRequest) -> JobRecord:
    """Queue a report job; returns the QUEUED record at once.

    ``RATE_LIMITED`` when the owner has ``SALESFLOW_REPORT_MAX_OPEN_PER_USER`` report
    jobs queued or running already.
    """
    record = JobRecord(
        id=new_job_id(),
        task=REPORT_TASK,
        owner=owner,
        params=request.to_params(),
        created_at=utc_now(),
    )
    return await runner.submit(record, max_open=runner.settings.reports.max_open_per_user)


def report_file(record: JobRecord) -> str:
    """The file of a report job, relative to the exports root; built from the record only."""
    request = ReportRequest.from_params(record.params)
    created = record.created_at.astimezone(UTC)
    return f"{REPORTS_FOLDER}/{created:%Y/%m}/{record.id}.{request.format.extension}"


# ------------------------------------------------------------------ the task
async def run_report(ctx: TaskContext[Services]) -> dict[str, Any]:
    services = ctx.services
    request = ReportRequest.from_params(ctx.job.params)
    data = services.data(ctx.access_token())
    report = await services.reports.generate_report(data, request, ctx.progress)
    await asyncio.to_thread(services.files.write, report_file(ctx.job), report.content)
    await ctx.progress(0.97)
    result: dict[str, Any] = {
        "filename": report.filename,
        "mimeType": report.mime_type,
        "sizeBytes": len(report.content),
        "headline": _headline(report.summary),
    }
    if request.email_to:
        result["email"] = {"to": list(request.email_to), "status": EmailStatus.PENDING.value}
    return result


def _headline(content: Any) -> dict[str, Any]:
    """A few figures for the e-mail body."""
    headline: dict[str, Any] = {}
    if content.sales is not None:
        k = content.sales.kpis
        headline.update(revenue=k.revenue, orders=k.orders, revenueChange=k.revenue_change)
    if content.stock is not None:
        s = content.stock.analytics.kpis
        headline.update(outOfStock=s.out_of_stock, reorderNeeded=s.reorder_needed)
    return headline


async def email_report(ctx: TaskContext[Services]) -> None:
    """Send a completed report to its ``emailTo`` once; record what happened."""
    email = ctx.job.result.get("email")
    if not email or email.get("status") != EmailStatus.PENDING.value:
        return
    services = ctx.services
    if not services.mailer.enabled:
        log.info("job %s: no SMTP server configured; e-mail to %s skipped", ctx.job.id, email["to"])
        await ctx.merge_result(
            email={
                **email,
                "status": EmailStatus.SKIPPED.value,
                "error": "No e-mail server is configured.",
            }
        )
        return
    content = await asyncio.to_thread(services.files.read, report_file(ctx.job))
    mail = compose_mail(ctx.job, content, services.settings, services.signer)
    try:
        await services.mailer.send(mail)
    except MailFailed as exc:
        log.error(
            "job %s: e-mail to %s failed; the report is kept: %s", ctx.job.id, email["to"], exc
        )
        await ctx.merge_result(
            email={
                **email,
                "status": EmailStatus.FAILED.value,
                "error": "The e-mail could not be delivered; the report can still be downloaded.",
            }
        )
        return
    await ctx.merge_result(
        email={**email, "status": EmailStatus.SENT.value, "sentAt": utc_now().isoformat()}
    )


def compose_mail(record: JobRecord, content: bytes, settings: Settings, signer: LinkSigner) -> Mail:
    """Text and HTML bodies with the headline figures; the file attached."""
    request = ReportRequest.from_params(record.params)
    result = record.result
    period = fmt.day_range(request.range.start, request.range.end)
    subject = f"SalesFlow {request.kind.heading.lower()}: {period}"
    lines = [
        f"Your SalesFlow {request.kind.heading.lower()} for {period} is attached ({result['filename']})."
    ]
    headline = result.get("headline") or {}
    currency = settings.reports.currency
    if "revenue" in headline:
        lines.append(
            f"Revenue {fmt.money(headline['revenue'], currency)} "
            f"({fmt.change(headline.get('revenueChange'))} vs the previous range), "
            f"{fmt.count(headline['orders'])} orders."
        )
    if "outOfStock" in headline:
        lines.append(
            f"{fmt.count(headline['outOfStock'])} products out of stock, "
            f"{fmt.count(headline['reorderNeeded'])} need reordering."
        )
    if settings.public_url:
        link = signer.sign(f"/reports/{record.id}/download")
        lines.append(
            f"Download (link valid {settings.auth.link_ttl_s // 3600 or 1} h): {settings.public_url.rstrip('/')}{link}"
        )
    text = "\n\n".join(lines) + "\n\n-- \nSalesFlow\n"
    html = (
        "".join(f"<p>{_html(line)}</p>" for line in lines)
        + '<p style="color:#667085">SalesFlow</p>'
    )
    return Mail(
        to=tuple(request.email_to),
        subject=subject,
        text=text,
        html=html,
        attachments=(Attachment(result["filename"], content, request.format.mime_type),),
    )


def _html(text: str) -> str:
    from html import escape

    return escape(text)


# ------------------------------------------------------------------ periodic
async def purge_reports(ctx: PeriodicContext[Services]) -> None:
    services = ctx.services
    older_than = services.settings.reports.retention_days * 86400
    files = await asyncio.to_thread(services.files.purge, REPORTS_FOLDER, older_than)
    records = await ctx.runner.store.purge(older_than)
    if files or records:
        log.info("retention: %d report files and %d job records removed", files, records)


def scheduled_range(entry: ScheduledReport, today: date) -> DateRange:
    """The ``days`` complete days before ``today`` (a Monday run covers the week before)."""
    end = today - timedelta(days=1)
    return DateRange(end - timedelta(days=entry.days - 1), end)


def _scheduled(entry: ScheduledReport) -> PeriodicRun:
    async def submit(ctx: PeriodicContext[Services]) -> None:
        request = ReportRequest(
            entry.kind,
            entry.format,
            scheduled_range(entry, ctx.services.settings.today()),
            entry.recipients,
        )
        tick = ctx.scheduled_at.astimezone(UTC).replace(microsecond=0).isoformat()
        job_id = hashlib.sha256(f"{entry.name}|{entry.schedule}|{tick}".encode()).hexdigest()[:32]
        record = JobRecord(
            id=job_id,
            task=REPORT_TASK,
            owner=ctx.owner,
            params=request.to_params(),
            created_at=utc_now(),
        )
        stored = await ctx.runner.submit(record)
        log.info("scheduled report %s (%s): job %s", entry.name, entry.schedule, stored.id)

    return submit


def register_report_jobs(registry: JobRegistry, settings: Settings) -> None:
    """The reports capability's background work (see ``runtime.JOB_PROVIDERS``)."""
    registry.add_task(Task(REPORT_TASK, run=run_report, follow_up=email_report))
    registry.add_periodic(
        PeriodicJob(
            "reports.retention", Schedule.cron("17 * * * *"), run=purge_reports, timeout_s=300
        )
    )
    for entry in settings.reports.schedules:
        registry.add_periodic(
            PeriodicJob(entry.name, entry.schedule, run=_scheduled(entry), timeout_s=60)
        )
