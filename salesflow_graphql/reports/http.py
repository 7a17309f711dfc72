"""Reports over plain HTTP: the signed download link and the synchronous render.

``GET /reports/{id}/download?exp=..&sig=..``
    No bearer token: the HMAC signature over the path and expiry is the
    permission (links are handed out only to who may see the job). The id must
    be a job id (32 hex digits), so ``../../etc/passwd`` and its encodings never
    get further; the file's path is rebuilt from the job record, never taken
    from the request. 404 for an unknown or unfinished job, 403 for a bad or
    expired link, 410 once retention removed the file.

``GET /reports/render?kind=&format=&start=&end=``
    Bearer auth; renders the same report as a job would and sends it back in
    the response (``kind`` FULL and ``format`` PDF by default, the 30 days
    ending today without ``start``/``end``).

Errors are JSON ``{"errors": [{"message", "extensions": {"code"}}]}`` as on ``/graphql``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from ..auth import TokenRejected, bearer_token, verify_access_token
from ..errors import BadUserInput, ErrorCode, GatewayError
from ..jobs import JobStatus, is_job_id
from ..signing import LinkRejected
from ..sor.loaders import Loaders
from .jobs import REPORT_TASK, report_file, report_request
from .model import ReportFormat, ReportKind, ReportRequest

log = logging.getLogger(__name__)

_STATUS = {
    ErrorCode.BAD_USER_INPUT: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UPSTREAM_ERROR: 502,
    ErrorCode.UPSTREAM_UNAVAILABLE: 503,
}


def report_routes() -> list[Route]:
    return [
        Route("/reports/render", render_report, methods=["GET"]),
        Route("/reports/{id}/download", download_report, methods=["GET"]),
    ]


def download_path(job_id: str) -> str:
    """The path a download link signs (and the route serves)."""
    return f"/reports/{job_id}/download"


async def download_report(request: Request) -> Response:
    runtime = request.app.state.runtime
    job_id = request.path_params["id"]
    if not is_job_id(job_id):
        return _error(404, ErrorCode.NOT_FOUND, "No such report.")
    try:
        runtime.signer.verify(
            download_path(job_id), request.query_params.get("exp"), request.query_params.get("sig")
        )
    except LinkRejected as rejected:
        return _error(403, ErrorCode.FORBIDDEN, rejected.message)
    try:
        record = await runtime.jobs.get(job_id)
    except GatewayError as exc:
        return _error(_STATUS.get(exc.code, 500), exc.code, exc.message)
    if record is None or record.task != REPORT_TASK:
        return _error(404, ErrorCode.NOT_FOUND, "This report no longer exists.")
    if record.status is not JobStatus.COMPLETED:
        return _error(404, ErrorCode.NOT_FOUND, "This report is not ready.")
    path = runtime.files.path(report_file(record))
    if not path.is_file():
        return _error(410, ErrorCode.NOT_FOUND, "This report has expired; generate a new one.")
    report = ReportRequest.from_params(record.params)
    return FileResponse(
        path,
        media_type=report.format.mime_type,
        filename=report.filename,
        headers={"cache-control": "private, no-store", "x-content-type-options": "nosniff"},
    )


async def render_report(request: Request) -> Response:
    runtime = request.app.state.runtime
    try:
        principal = verify_access_token(
            bearer_token(request.headers.get("authorization")), runtime.settings.jwt_secret
        )
    except TokenRejected as rejected:
        response = _error(401, ErrorCode.UNAUTHENTICATED, rejected.message)
        response.headers["www-authenticate"] = 'Bearer realm="salesflow"'
        return response
    try:
        report_input = _render_input(request, runtime)
        report = await runtime.reports.generate_report(
            Loaders(runtime.source, principal.token), report_input
        )
    except GatewayError as exc:
        return _error(_STATUS.get(exc.code, 500), exc.code, exc.message, exc.as_extensions())
    except Exception:
        request_id = uuid.uuid4().hex[:16]
        log.exception("report render failed (request %s)", request_id)
        return _error(500, ErrorCode.INTERNAL, f"Internal error; quote request id {request_id}.")
    return Response(
        report.content,
        media_type=report.mime_type,
        headers={
            "content-disposition": f'attachment; filename="{report.filename}"',
            "cache-control": "private, no-store",
            "x-content-type-options": "nosniff",
        },
    )


def _render_input(request: Request, runtime: Any) -> ReportRequest:
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
    settings = runtime.settings
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


def _error(
    status: int, code: ErrorCode, message: str, extensions: dict[str, Any] | None = None
) -> Response:
    body = orjson.dumps(
        {"errors": [{"message": message, "extensions": extensions or {"code": str(code)}}]}
    )
    return Response(body, status_code=status, media_type="application/json")
