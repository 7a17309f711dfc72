"""Reports over plain HTTP: the signed download link and the synchronous render.

``GET /reports/{id}/download?exp=..&sig=..``
    No bearer token: the HMAC signature over the path and expiry is the
    permission (links are handed out only to who may see the job); the edge
    still rate limits, logs and deadlines it (``edge/policy.py``: SIGNED). The id must
    be a job id (32 hex digits), so ``../../etc/passwd`` and its encodings never
    get further; the file's path is rebuilt from the job record, never taken
    from the request. 404 for an unknown or unfinished job, 403 for a bad or
    expired link, 410 once retention removed the file.

``GET /reports/render?kind=&format=&start=&end=``
    Bearer auth, the rate limit and the request deadline at the edge; renders
    the same report as a job would and sends it back in the response (``kind``
    FULL and ``format`` PDF by default, the 30 days ending today without
    ``start``/``end``).

Errors are raised (:class:`~salesflow_graphql.errors.GatewayError`, or a
:class:`~salesflow_graphql.edge.Refusal` for a status of its own) and answered
as on ``/graphql``: ``{"errors": [{"message", "extensions": {"code"}}]}``.
"""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from ..adapters.signing import LinkSigner
from ..config import Settings
from ..edge import Refusal, exchange_of
from ..errors import BadUserInput, ErrorCode, NotFound
from ..jobs import JobRecord, JobStatus, is_job_id
from ..reports.jobs import REPORT_TASK, report_file, report_request
from ..reports.model import ReportFormat, ReportKind, ReportRequest
from ..services import Services


def report_routes() -> list[Route]:
    return [
        Route("/reports/render", render_report, methods=["GET"]),
        Route("/reports/{id}/download", download_report, methods=["GET"]),
    ]


def download_path(job_id: str) -> str:
    """The path a download link signs (and the route serves)."""
    return f"/reports/{job_id}/download"


def _services(request: Request) -> Services:
    services: Services = request.app.state.runtime.services
    return services


def download_link(record: JobRecord, signer: LinkSigner, settings: Settings) -> str:
    """The signed download path of a completed report, valid while its record and file are
    kept (``SALESFLOW_REPORT_RETENTION_DAYS`` from when it finished). Derived from the record
    alone, it is the same on every read and every replica: a client cache that normalizes
    the job by id sees one value."""
    finished = record.finished_at or record.created_at
    return signer.sign(
        download_path(record.id),
        ttl_s=settings.reports.retention_days * 86400,
        now=finished.timestamp(),
    )


async def download_report(request: Request) -> Response:
    services = _services(request)
    job_id = request.path_params["id"]
    if not is_job_id(job_id):
        raise NotFound("No such report.")
    services.signer.verify(
        download_path(job_id), request.query_params.get("exp"), request.query_params.get("sig")
    )
    record = await services.jobs.get(job_id)
    if record is None or record.task != REPORT_TASK:
        raise NotFound("This report no longer exists.")
    if record.status is not JobStatus.COMPLETED:
        raise NotFound("This report is not ready.")
    path = services.files.path(report_file(record))
    if not path.is_file():
        raise Refusal(410, ErrorCode.NOT_FOUND, "This report has expired; generate a new one.")
    report = ReportRequest.from_params(record.params)
    return FileResponse(
        path,
        media_type=report.format.mime_type,
        filename=report.filename,
        headers={"cache-control": "private, no-store", "x-content-type-options": "nosniff"},
    )


async def render_report(request: Request) -> Response:
    services = _services(request)
    principal = exchange_of(request.scope).principal
    assert principal is not None, "a bearer route: the edge checked the token"
    report_input = _render_input(request, services)
    report = await services.reports.generate_report(services.data(principal.token), report_input)
    return Response(
        report.content,
        media_type=report.mime_type,
        headers={
            "content-disposition": f'attachment; filename="{report.filename}"',
            "cache-control": "private, no-store",
            "x-content-type-options": "nosniff",
        },
    )


def _render_input(request: Request, services: Services) -> ReportRequest:
    query = request.query_params
    try:
        kind = ReportKind((query.get("kind") or "FULL").upper())
    except ValueError:
        raise BadUserInput("kind must be SALES, STOCK or FULL", field="kind") from None
    try:
        report_format = ReportFormat((query.get("format") or "PDF").upper())
    except ValueError:
        raise BadUserInput("format must be PDF or XLSX", field="format") from None
    start, end = _date(query.get("start"), "start"), _date(query.get("end"), "end")
    settings = services.settings
    return report_request(
        settings, settings.today(), kind=kind, report_format=report_format, start=start, end=end
    )


def _date(value: str | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadUserInput(f"{name} must be a date (YYYY-MM-DD)", field=name) from None
