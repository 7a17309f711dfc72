"""Reports: ``generateReport``, ``report(id)`` and the ``reportJob(id)`` subscription (API.md).

Resolvers are thin: validate input, call the reports capability, map the job
record. A user sees only their own report jobs (another user's id reads as
unknown); ADMIN sees every job. ``report(id)`` depends on who asks, so its
answer is never put in the shared response cache.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from ..errors import BadUserInput, NotFound
from ..jobs import JobOwner, JobRecord, is_job_id
from ..jobs import model as jobs_model
from ..reports import jobs as report_jobs
from ..reports import model
from ..web.reports import download_link
from .analytics import DateRange, DateRangeInput
from .permissions import IsAuthenticated

ReportKind = strawberry.enum(
    model.ReportKind,
    description="SALES (sales sections), STOCK (stock sections) or FULL (both, with the forecast).",
)
ReportFormat = strawberry.enum(model.ReportFormat, description="PDF document or XLSX workbook.")
JobStatus = strawberry.enum(
    jobs_model.JobStatus,
    description=(
        "QUEUED (waiting, also while a retry waits), RUNNING (see progress), COMPLETED "
        "(downloadUrl is set) or FAILED (see error)."
    ),
)
EmailStatus = strawberry.enum(
    report_jobs.EmailStatus,
    description=(
        "PENDING (not tried yet), SENT, FAILED (after retries; the report is kept) or SKIPPED "
        "(no e-mail server configured)."
    ),
)


@strawberry.input(description="What report to generate.")
class ReportInput:
    kind: ReportKind = strawberry.field(  # type: ignore[valid-type]
        default=model.ReportKind.FULL, description="Which sections the report has."
    )
    format: ReportFormat = strawberry.field(  # type: ignore[valid-type]
        default=model.ReportFormat.PDF, description="PDF or XLSX."
    )
    range: DateRangeInput | None = strawberry.field(
        default=None,
        description="Inclusive range of the sales sections; default: the 30 days ending today.",
    )
    email_to: list[str] | None = strawberry.field(
        default=None,
        description="Also e-mail the finished file as an attachment to these addresses (at most 20).",
    )


@strawberry.type(description="E-mail delivery of a report.")
class ReportEmail:
    to: list[str] = strawberry.field(description="Recipients.")
    status: EmailStatus = strawberry.field(description="Delivery status.")  # type: ignore[valid-type]
    error: str | None = strawberry.field(description="Why delivery failed or was skipped.")


@strawberry.type(description="A report being generated in the background, and its file once done.")
class ReportJob:
    id: strawberry.ID = strawberry.field(
        description="Job id; ask `report(id)` or subscribe to `reportJob(id)`."
    )
    kind: ReportKind = strawberry.field(description="Sections of the report.")  # type: ignore[valid-type]
    format: ReportFormat = strawberry.field(description="File format.")  # type: ignore[valid-type]
    status: JobStatus = strawberry.field(description="Where the job is.")  # type: ignore[valid-type]
    progress: float = strawberry.field(description="Fraction done, 0 to 1.")
    created_at: datetime = strawberry.field(description="When the job was requested.")
    started_at: datetime | None = strawberry.field(description="When the (latest) run started.")
    finished_at: datetime | None = strawberry.field(description="When it completed or failed.")
    download_url: str | None = strawberry.field(
        description=(
            "Only when COMPLETED: an absolute, signed link that works without a bearer token "
            "while the report is kept (7 days after it finished by default), the same on every "
            "read."
        )
    )
    size_bytes: int | None = strawberry.field(description="File size, when COMPLETED.")
    error: str | None = strawberry.field(description="Why the job FAILED, in words for the user.")
    range: DateRange = strawberry.field(description="Range of the sales sections.")
    filename: str = strawberry.field(
        description="Name of the file: salesflow-<kind>-<start>-<end>.<ext>."
    )
    attempts: int = strawberry.field(
        description=(
            "Runs so far (retries after Java was unavailable, and runs started again after "
            "a worker stopped, count)."
        )
    )
    notice: str | None = strawberry.field(
        description=(
            "How the job ran, when the user should know, e.g. that it was started again "
            "from the beginning after the worker running it stopped."
        )
    )
    email: ReportEmail | None = strawberry.field(
        description="E-mail delivery, when emailTo was given."
    )

    @classmethod
    def of(cls, record: JobRecord, info: Info) -> ReportJob:
        request = model.ReportRequest.from_params(record.params)
        result = record.result
        completed = record.status is jobs_model.JobStatus.COMPLETED
        runtime = info.context.runtime
        # Before the job finishes, the e-mail it will send is PENDING.
        email = result.get("email") or (
            {"to": list(request.email_to), "status": "PENDING"} if request.email_to else None
        )
        return cls(
            id=strawberry.ID(record.id),
            kind=request.kind,
            format=request.format,
            status=record.status,
            progress=record.progress,
            created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
            download_url=(
                info.context.absolute_url(download_link(record, runtime.signer, runtime.settings))
                if completed
                else None
            ),
            size_bytes=result.get("sizeBytes") if completed else None,
            error=record.error,
            range=DateRange.of(request.range),
            filename=request.filename,
            attempts=record.attempts,
            notice=record.notice,
            email=(
                ReportEmail(
                    to=list(email["to"]),
                    status=report_jobs.EmailStatus(email["status"]),
                    error=email.get("error"),
                )
                if email
                else None
            ),
        )


async def _visible_job(info: Info, job_id: str) -> JobRecord | None:
    """The report job ``job_id`` if the caller may see it."""
    if not is_job_id(job_id):
        raise BadUserInput("id is not a report job id", field="id")
    record = await info.context.runtime.jobs.get(job_id)
    if record is None or record.task != report_jobs.REPORT_TASK:
        return None
    if not record.owner.may_see(info.context.principal):
        return None  # someone else's job reads as unknown: ids are not disclosed
    return record


@strawberry.type
class ReportQuery:
    @strawberry.field(
        description="A report job by id: status, progress, and the download link once COMPLETED.",
        permission_classes=[IsAuthenticated],
    )
    async def report(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="Job id.")]
    ) -> ReportJob | None:
        info.context.state.shareable = False  # the answer depends on who asks
        record = await _visible_job(info, str(id))
        return ReportJob.of(record, info) if record is not None else None


@strawberry.type
class ReportMutation:
    @strawberry.mutation(
        description=(
            "Start generating a PDF or XLSX report in the background; returns the QUEUED job at "
            "once. Follow it with `report(id)` or the `reportJob(id)` subscription. A user with "
            "too many report jobs queued or running gets RATE_LIMITED (`retryAfter`)."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def generate_report(
        self,
        info: Info,
        input: Annotated[ReportInput, strawberry.argument(description="What report to make.")],
    ) -> ReportJob:
        runtime = info.context.runtime
        request = report_jobs.report_request(
            runtime.settings,
            info.context.data.today(),
            kind=input.kind,
            report_format=input.format,
            start=input.range.start if input.range else None,
            end=input.range.end if input.range else None,
            email_to=input.email_to,
        )
        record = await report_jobs.submit_report(
            runtime.jobs, JobOwner.of(info.context.principal), request
        )
        return ReportJob.of(record, info)


@strawberry.type
class ReportSubscription:
    @strawberry.subscription(
        description="The report job now and at each change; ends after COMPLETED or FAILED.",
        permission_classes=[IsAuthenticated],
    )
    async def report_job(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="Job id.")]
    ) -> AsyncGenerator[ReportJob, None]:
        record = await _visible_job(info, str(id))
        if record is None:
            raise NotFound("No report job with this id.", field="id")
        async for change in info.context.runtime.jobs.watch(record.id):
            yield ReportJob.of(change, info)
