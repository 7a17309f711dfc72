"""generateReport, report(id) and reportJob(id) on the embedded default; e-mail and schedules."""

from __future__ import annotations

import contextlib
import email
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from aiosmtpd.controller import Controller
from support import error_codes, free_port, graphql, serving, wait_until

from salesflow_graphql.app import create_app
from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings
from salesflow_graphql.jobs import JobStatus, PeriodicContext, service_owner
from salesflow_graphql.reports.jobs import report_file
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.schedules import parse_report_schedules

GENERATE = """mutation($input: ReportInput!) {
  generateReport(input: $input) {
    id kind format status progress createdAt startedAt finishedAt downloadUrl sizeBytes error
    filename range { start end days } email { to status error }
  }
}"""
REPORT = """query($id: ID!) {
  report(id: $id) { id status progress downloadUrl sizeBytes error attempts email { to status error } }
}"""
SUBSCRIBE = "subscription($id: ID!) { reportJob(id: $id) { status progress downloadUrl error } }"


@pytest.fixture
def settings(base_settings: Settings, tmp_path: Path) -> Settings:
    return base_settings.replace(java={"backoff_s": 0.0}, exports_dir=str(tmp_path))


@pytest.fixture(autouse=True)
def _no_forecast_training(runtime: Runtime) -> None:
    runtime.reports.forecasts = None


async def _generate(gateway, token: str, **report_input: Any) -> dict[str, Any]:
    answer = await graphql(gateway, GENERATE, token, {"input": report_input})
    assert "errors" not in answer, answer
    return answer["data"]["generateReport"]


@contextlib.asynccontextmanager
async def _gateway(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def _finished(gateway, token: str, job_id: str) -> dict[str, Any]:
    latest: dict[str, Any] = {}

    async def done() -> bool:
        latest.update((await graphql(gateway, REPORT, token, {"id": job_id}))["data"]["report"])
        return latest["status"] in ("COMPLETED", "FAILED")

    await wait_until(done, timeout=30, what=f"job {job_id} to finish")
    return latest


async def test_generate_report_answers_queued_at_once(gateway, user_token, settings) -> None:
    job = await _generate(gateway, user_token, kind="SALES", format="XLSX")
    assert job["status"] == "QUEUED" and job["progress"] == 0
    assert job["downloadUrl"] is None and job["sizeBytes"] is None and job["startedAt"] is None
    assert len(job["id"]) == 32 and job["kind"] == "SALES" and job["format"] == "XLSX"
    assert job["range"]["days"] == 30 and job["range"]["end"] == settings.today().isoformat()
    assert job["filename"] == f"salesflow-sales-{job['range']['start']}-{job['range']['end']}.xlsx"
    assert datetime.fromisoformat(job["createdAt"]).utcoffset().total_seconds() == 0
    done = await _finished(gateway, user_token, job["id"])
    assert done["status"] == "COMPLETED" and done["progress"] == 1 and done["attempts"] == 1
    # absolute (a page on another origin resolves a relative one against its own host)
    assert done["downloadUrl"].startswith(f"http://gateway/reports/{job['id']}/download?exp=")
    assert done["sizeBytes"] > 1000


async def test_users_see_only_their_own_jobs_and_admin_sees_all(gateway, settings) -> None:
    ursula = mint_access_token(settings.auth.jwt_secret, Role.USER, subject="+15550000101")
    victor = mint_access_token(settings.auth.jwt_secret, Role.USER, subject="+15550000102")
    admin = mint_access_token(settings.auth.jwt_secret, Role.ADMIN, subject="+15550000001")
    job = await _generate(gateway, ursula, kind="STOCK")
    await _finished(gateway, ursula, job["id"])
    # Same document, same role, another user: never the cached answer of the first.
    assert (await graphql(gateway, REPORT, victor, {"id": job["id"]}))["data"]["report"] is None
    assert (await graphql(gateway, REPORT, admin, {"id": job["id"]}))["data"]["report"][
        "id"
    ] == job["id"]
    again = await graphql(gateway, REPORT, ursula, {"id": job["id"]})
    assert again["data"]["report"]["status"] == "COMPLETED"


async def test_bad_report_input_is_refused_with_a_code(gateway, user_token) -> None:
    for report_input, field in [
        ({"range": {"start": "2020-01-01", "end": "2025-06-01"}}, "range"),
        ({"range": {"start": "2025-06-02", "end": "2025-06-01"}}, "range"),
        ({"emailTo": ["not-an-address"]}, "emailTo"),
        ({"emailTo": ["a@b.example\r\nBcc: x@y.example"]}, "emailTo"),
    ]:
        answer = await graphql(gateway, GENERATE, user_token, {"input": report_input})
        assert error_codes(answer) == ["BAD_USER_INPUT"], (report_input, answer)
        assert answer["errors"][0]["extensions"]["field"] == field
    malformed = await graphql(gateway, REPORT, user_token, {"id": "../../etc/passwd"})
    assert error_codes(malformed) == ["BAD_USER_INPUT"]
    unknown = await graphql(gateway, REPORT, user_token, {"id": "0" * 32})
    assert unknown["data"]["report"] is None
    assert await graphql(gateway, REPORT, None, {"id": "0" * 32}, expect_status=401)


async def _subscribe(url: str, token: str, job_id: str) -> tuple[list[dict[str, Any]], str]:
    """Follow reportJob until the server completes the subscription; returns (events, end)."""
    events: list[dict[str, Any]] = []
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIBE, "variables": {"id": job_id}},
                }
            )
        )
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "next":
                payload = message["payload"]
                if payload.get("errors"):
                    return [payload], "error"
                events.append(payload["data"]["reportJob"])
            elif message["type"] in ("complete", "error"):
                return events, message["type"]


async def test_the_subscription_pushes_each_change_and_ends(
    base_settings, tmp_path, standin, user_token
) -> None:
    # One job at a time and a slow Java: the second job waits QUEUED while we subscribe.
    one_at_a_time = base_settings.replace(
        java={"backoff_s": 0.0}, exports_dir=str(tmp_path), jobs={"concurrency": 1}
    )
    runtime = await Runtime.start(one_at_a_time, standin=standin)
    runtime.reports.forecasts = None
    standin.faults.latency_s = 0.3
    try:
        async with serving(create_app(runtime=runtime)) as url:
            async with httpx.AsyncClient(base_url=url) as client:
                await _generate(client, user_token, kind="SALES", format="PDF")
                job = await _generate(client, user_token, kind="FULL", format="PDF")
            events, end = await _subscribe(
                url.replace("http://", "ws://") + "/graphql", user_token, job["id"]
            )
    finally:
        await runtime.close()
    statuses = [e["status"] for e in events]
    collapsed = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
    assert collapsed == ["QUEUED", "RUNNING", "COMPLETED"] and end == "complete"
    progress = [e["progress"] for e in events if e["status"] == "RUNNING"]
    assert progress == sorted(progress) and len(progress) >= 3  # live progress, forward only
    assert events[-1]["downloadUrl"] and events[0]["downloadUrl"] is None


async def test_a_subscription_to_someone_elses_job_is_not_found(runtime, settings, user_token):
    other = mint_access_token(settings.auth.jwt_secret, Role.USER, subject="+15550000199")
    async with serving(create_app(runtime=runtime)) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            job = await _generate(client, user_token, kind="STOCK")
        events, end = await _subscribe(
            url.replace("http://", "ws://") + "/graphql", other, job["id"]
        )
    assert end == "error" and events[0]["errors"][0]["extensions"]["code"] == "NOT_FOUND"


# ----------------------------------------------------------------- e-mail
class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> Any:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def test_email_to_delivers_the_file_as_an_attachment(started, user_token, smtp):
    inbox, port = smtp
    async with (
        started(
            mail={"smtp_host": "127.0.0.1", "smtp_port": port},
            public_url="https://salesflow.example",
        ) as runtime,
        _gateway(runtime) as gateway,
    ):
        runtime.reports.forecasts = None
        await _delivers_the_file_as_an_attachment(gateway, user_token, inbox)


async def _delivers_the_file_as_an_attachment(gateway, user_token, inbox) -> None:
    job = await _generate(
        gateway, user_token, kind="SALES", format="PDF", emailTo=["boss@shop.example"]
    )
    assert job["email"] == {"to": ["boss@shop.example"], "status": "PENDING", "error": None}
    done = await _finished(gateway, user_token, job["id"])
    await wait_until(lambda: len(inbox.messages) == 1, what="the e-mail")
    message = inbox.messages[0]
    assert message["To"] == "boss@shop.example" and message["Subject"].startswith(
        "SalesFlow sales report"
    )
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == job["filename"]
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content().startswith(b"%PDF-")
    assert len(attachment.get_content()) == done["sizeBytes"]
    body = message.get_body(("plain",)).get_content()
    assert (
        "Revenue $" in body
        and f"https://salesflow.example/reports/{job['id']}/download?exp=" in body
    )

    async def recorded() -> bool:
        report = (await graphql(gateway, REPORT, user_token, {"id": job["id"]}))["data"]["report"]
        return report["email"]["status"] == "SENT"

    await wait_until(recorded, what="the delivery to be recorded")


async def test_a_failed_send_is_retried_logged_and_keeps_the_report(
    gateway, user_token, runtime, caplog
):
    runtime.mailer.settings = runtime.settings.replace(
        mail={"smtp_host": "127.0.0.1", "smtp_port": free_port(), "retries": 2, "backoff_s": 0}
    )
    job = await _generate(
        gateway, user_token, kind="STOCK", format="XLSX", emailTo=["boss@shop.example"]
    )

    async def delivery_failed() -> bool:
        report = (await graphql(gateway, REPORT, user_token, {"id": job["id"]}))["data"]["report"]
        return report["email"]["status"] == "FAILED"

    await wait_until(delivery_failed, timeout=20, what="the delivery to fail")
    done = (await graphql(gateway, REPORT, user_token, {"id": job["id"]}))["data"]["report"]
    assert done["status"] == "COMPLETED" and done["error"] is None
    assert (
        done["email"]["error"]
        == "The e-mail could not be delivered; the report can still be downloaded."
    )
    assert (await gateway.get(done["downloadUrl"])).status_code == 200
    attempts = [r for r in caplog.records if "e-mail attempt" in r.getMessage()]
    assert len(attempts) == 3  # first try + 2 retries
    assert any("failed; the report is kept" in r.getMessage() for r in caplog.records)


async def test_a_scheduled_report_is_generated_and_mailed_once_per_tick(runtime, smtp, settings):
    inbox, port = smtp
    scheduled = settings.replace(
        mail={"smtp_host": "127.0.0.1", "smtp_port": port},
        reports={
            "schedules": parse_report_schedules(
                '[{"cron": "0 7 * * 1", "kind": "SALES", "format": "XLSX", '
                '"recipients": ["owner@shop.example"], "days": 7}]'
            )
        },
    )
    runtime.settings = runtime.mailer.settings = scheduled
    from salesflow_graphql.jobs import JobRegistry
    from salesflow_graphql.reports.jobs import register_report_jobs

    registry = JobRegistry()
    register_report_jobs(registry, scheduled)
    job = registry.periodic["reports.schedule.0"]
    assert str(job.schedule) == "0 7 * * 1"
    tick = datetime(2025, 6, 9, 5, 0, tzinfo=UTC)
    context = PeriodicContext(
        services=runtime.services, runner=runtime.jobs, scheduled_at=tick, owner=service_owner()
    )
    await job.run(context)
    await job.run(context)  # the same tick again (a second worker, a retry): no second report
    await runtime.jobs.idle()
    await wait_until(lambda: len(inbox.messages) >= 1, what="the scheduled e-mail")
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == "owner@shop.example"
    (attachment,) = list(message.iter_attachments())
    yesterday = settings.today().toordinal() - 1
    end = datetime.fromordinal(yesterday).date().isoformat()
    assert attachment.get_filename().startswith(
        "salesflow-sales-"
    ) and attachment.get_filename().endswith(f"-{end}.xlsx")
    records = [
        r for r in runtime.jobs.store._records.values() if r.owner.subject == "salesflow-scheduler"
    ]
    assert len(records) == 1 and records[0].status is JobStatus.COMPLETED
    assert _is_file(Path(settings.exports_dir, report_file(records[0])))


def _is_file(path: Path) -> bool:
    return path.is_file()
