"""``BusinessAlertService.check_and_notify_anomalies``: checks, dedup across runtimes, digests, schedule."""

from __future__ import annotations

import asyncio
import email
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from email import policy

import httpx
import pytest
from aiosmtpd.controller import Controller
from alerts_support import ALERTS_REDIS_URL, flush_alerts_db
from support import free_port, wait_until

from salesflow_graphql.alerts.jobs import ANOMALY_JOB, register_alert_jobs
from salesflow_graphql.alerts.model import AlertKind, Severity
from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings, SettingsError
from salesflow_graphql.datasource import DataSource
from salesflow_graphql.jobs import JobRegistry, build_registry
from salesflow_graphql.jobs.runner import run_periodic
from salesflow_graphql.runtime import JOB_PROVIDERS, Runtime
from salesflow_graphql.standin import DemoShop, StandIn


@pytest.fixture
def alert_settings(settings: Settings) -> Settings:
    # No scheduled checks (the tests run them), fresh reads of Java for every check.
    return settings.replace(
        alerts={"check_interval_minutes": 0, "scan_days": 60},
        cache={"catalogue_ttl_s": 0, "sales_ttl_s": 0, "analytics_ttl_s": 0},
    )


def _data(runtime: Runtime) -> DataSource:
    token = mint_access_token(runtime.settings.auth.jwt_secret, Role.ADMIN, username="adam")
    return runtime.services.data(token)


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
async def alert_runtime(alert_settings: Settings, standin: StandIn) -> AsyncIterator[Runtime]:
    runtime = await Runtime.start(alert_settings, standin=standin)
    yield runtime
    await runtime.close()


async def test_a_check_raises_the_planted_anomalies_once(
    alert_runtime: Runtime, demo_shop: DemoShop
) -> None:
    run = await alert_runtime.alerts.check_and_notify_anomalies(_data(alert_runtime))
    raised = {(a.kind, a.subject, a.date) for a in run.alerts}
    for planted in demo_shop.planted_anomalies:
        kind = AlertKind.SALES_SPIKE if planted.kind == "spike" else AlertKind.SALES_DROP
        assert (kind, planted.sku or planted.category, planted.date) in raised
    assert len(raised) == len(run.alerts) and run.checked_series > 200
    ids = [a.id for a in run.alerts]
    assert ids == sorted(ids, key=_key)
    assert run.notified == 0  # no recipients configured

    again = await alert_runtime.alerts.check_and_notify_anomalies(_data(alert_runtime))
    assert again.alerts == [] and again.found == run.found
    recent = await alert_runtime.alerts.recent_alerts(500, Severity.LOW)
    assert len(recent) == len(run.alerts)


def _key(alert_id: str) -> tuple[int, int]:
    ms, seq = alert_id.split("-")
    return int(ms), int(seq)


async def test_a_product_running_out_of_stock_alerts_on_the_next_check(
    alert_runtime: Runtime, standin: StandIn, demo_shop: DemoShop
) -> None:
    await alert_runtime.alerts.check_and_notify_anomalies(_data(alert_runtime))
    seller = next(a.sku for a in demo_shop.planted_anomalies if a.kind == "spike" and a.sku)
    admin = mint_access_token(alert_runtime.settings.auth.jwt_secret, Role.ADMIN)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=standin.app),
        base_url="http://standin/api/v1",
        headers={"Authorization": f"Bearer {admin}"},
    ) as java:
        product = (await java.get(f"/products/by-sku/{seller}")).json()
        assert product["stockQuantity"] > 0
        answer = await java.put(f"/products/by-sku/{seller}", json={**product, "stockQuantity": 0})
        assert answer.status_code == 200, answer.text

    run = await alert_runtime.alerts.check_and_notify_anomalies(_data(alert_runtime))
    (stockout,) = [a for a in run.alerts if a.subject == seller]
    assert stockout.kind is AlertKind.STOCKOUT and stockout.observed == 0
    assert stockout.product is not None and stockout.product.stock_quantity == 0
    assert "out of stock" in stockout.message


async def test_the_digest_arrives_with_html_and_text_parts(
    alert_settings: Settings, standin: StandIn, smtp: tuple[_Inbox, int]
) -> None:
    inbox, port = smtp
    settings = alert_settings.replace(
        mail={"smtp_host": "127.0.0.1", "smtp_port": port},
        alerts={
            "email_to": ("ops@shop.example", "boss@shop.example"),
            "email_min_severity": Severity.HIGH,
        },
    )
    runtime = await Runtime.start(settings, standin=standin)
    try:
        run = await runtime.alerts.check_and_notify_anomalies(_data(runtime))
    finally:
        await runtime.close()
    serious = [a for a in run.alerts if a.severity.at_least(Severity.HIGH)]
    assert serious and run.notified == len(serious)
    await wait_until(lambda: len(inbox.messages) == 1, what="the digest")
    (message,) = inbox.messages
    assert message["To"] == "ops@shop.example, boss@shop.example"
    assert f"{len(serious)} new alerts" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    ids_in_text = {
        line.rsplit("alert id ", 1)[1].strip() for line in text.splitlines() if "alert id " in line
    }
    assert ids_in_text == {a.id for a in serious}  # and none of the LOW/MEDIUM ones
    assert len(serious) < len(run.alerts)
    for alert in serious:
        assert alert.subject.replace("&", "&amp;") in html
    assert "<table" in html and "CRITICAL" in html


async def test_a_failing_mail_server_never_breaks_the_check(
    alert_settings: Settings, standin: StandIn, caplog: pytest.LogCaptureFixture
) -> None:
    settings = alert_settings.replace(
        mail={"smtp_host": "127.0.0.1", "smtp_port": free_port(), "retries": 1, "backoff_s": 0},
        alerts={"email_to": ("ops@shop.example",)},
    )
    runtime = await Runtime.start(settings, standin=standin)
    try:
        run = await runtime.alerts.check_and_notify_anomalies(_data(runtime))
    finally:
        await runtime.close()
    assert run.alerts and run.notified == 0
    assert "alert digest" in caplog.text and "not delivered" in caplog.text


@pytest.fixture
async def redis_settings(alert_settings: Settings) -> AsyncIterator[Settings]:
    await flush_alerts_db()
    yield alert_settings.replace(redis_url=ALERTS_REDIS_URL)
    await flush_alerts_db()


async def test_two_runtimes_on_one_redis_do_not_double_alert(
    redis_settings: Settings, demo_shop: DemoShop
) -> None:
    replicas = [
        await Runtime.start(
            redis_settings, standin=StandIn(demo_shop, secret=redis_settings.auth.jwt_secret)
        )
        for _ in range(2)
    ]
    try:
        runs = await asyncio.gather(
            *(r.alerts.check_and_notify_anomalies(_data(r)) for r in replicas)
        )
        raised = [a for run in runs for a in run.alerts]
        keys = [(a.kind, a.subject, a.date) for a in raised]
        assert len(keys) == len(set(keys)) > 50
        assert sorted(len(run.alerts) for run in runs)[0] == 0  # the second found them claimed
        on_stream = await replicas[0].alerts.recent_alerts(500, Severity.LOW)
        assert sorted(a.id for a in on_stream) == sorted(a.id for a in raised)
    finally:
        for runtime in replicas:
            await runtime.close()


def test_the_scheduled_check_is_registered_every_n_minutes(settings: Settings) -> None:
    registry = build_registry(
        JOB_PROVIDERS, settings.replace(alerts={"check_interval_minutes": 10})
    )
    job = registry.periodic[ANOMALY_JOB]
    assert str(job.schedule) == "every 10m" and job.role is Role.ADMIN
    hourly = JobRegistry()
    register_alert_jobs(hourly, settings.replace(alerts={"check_interval_minutes": 120}))
    assert str(hourly.periodic[ANOMALY_JOB].schedule) == "every 2h"
    off = JobRegistry()
    register_alert_jobs(off, settings.replace(alerts={"check_interval_minutes": 0}))
    assert off.periodic == {}
    # Only the embedded demo checks at start-up; with Java the schedule decides.
    assert settings.embedded and job.run_at_startup
    with_java = JobRegistry()
    java = settings.replace(
        alerts={"check_interval_minutes": 10}, java={"api_url": "http://java:8080/api/v1"}
    )
    register_alert_jobs(with_java, java)
    assert not with_java.periodic[ANOMALY_JOB].run_at_startup


async def test_the_embedded_default_checks_once_at_start_up(
    alert_settings: Settings, standin: StandIn
) -> None:
    """The demo's live alerts card has alerts at once, not after the first interval."""
    settings = alert_settings.replace(alerts={"check_interval_minutes": 10})
    runtime = await Runtime.start(settings, standin=standin)
    try:
        await wait_until(
            lambda: runtime.alerts.recent_alerts(5, Severity.LOW),
            timeout=30,
            what="the start-up anomaly check to raise alerts",
        )
    finally:
        await runtime.close()
    assert any(r.path == "/sales/history" and r.role == "ADMIN" for r in standin.requests)


async def test_a_scheduled_tick_runs_a_check_with_the_scheduler_identity(
    alert_settings: Settings, standin: StandIn
) -> None:
    runtime = await Runtime.start(alert_settings, standin=standin)
    try:
        registry = build_registry(
            JOB_PROVIDERS, alert_settings.replace(alerts={"check_interval_minutes": 5})
        )
        await run_periodic(
            registry.periodic[ANOMALY_JOB], runtime.jobs, runtime.services, datetime.now()
        )
        assert await runtime.alerts.recent_alerts(5, Severity.LOW)
    finally:
        await runtime.close()
    sales = [r for r in standin.requests if r.path == "/sales/history"]
    assert sales and all(r.role == "ADMIN" for r in sales)


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES", "7", "must divide 60"),
        ("SALESFLOW_ALERT_EMAIL_MIN_SEVERITY", "URGENT", "LOW, MEDIUM, HIGH, CRITICAL"),
        ("SALESFLOW_ALERT_EMAIL_TO", "ops@shop.example, nobody", "not an e-mail address"),
    ],
)
def test_bad_alert_settings_stop_start_up(variable: str, value: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        Settings.from_env({variable: value})


async def test_with_redis_the_check_is_a_unique_arq_cron_job_of_the_workers(
    redis_settings: Settings, standin: StandIn
) -> None:
    from salesflow_graphql.jobs.worker import build_worker

    settings = redis_settings.replace(alerts={"check_interval_minutes": 15})
    runtime = await Runtime.start(settings, standin=standin)
    try:
        worker = build_worker(runtime.jobs, runtime.services, burst=True)
        (cron,) = [c for c in worker.cron_jobs if c.name == f"cron:{ANOMALY_JOB}"]
        assert cron.unique and cron.minute == {0, 15, 30, 45}
        await worker.close()
    finally:
        await runtime.close()
