"""Observability: JSON logs, one access line per GraphQL request, metrics, and traces.

Metrics live in one process-wide registry shared with every other test, so
each test compares a sample before and after what it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import logging
import math
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from support import error_codes, free_port, gateway_on, graphql, shared_redis_url, wait_until

from salesflow_graphql.auth import Role, mint_access_token, verify_access_token
from salesflow_graphql.config import Settings, SettingsError
from salesflow_graphql.graphql.tracing import REDACTED, redact_arguments, redacted_document
from salesflow_graphql.jobs import (
    ArqRunner,
    InProcessRunner,
    JobOwner,
    JobRecord,
    JobRegistry,
    Task,
    TaskContext,
    new_job_id,
)
from salesflow_graphql.jobs.runner import QUEUE_NAME
from salesflow_graphql.logs import ACCESS_LOGGER, JsonFormatter, TextFormatter, configure_logging
from salesflow_graphql.metrics import REGISTRY, OperationNames, observe_job_queue
from salesflow_graphql.request_stats import RequestStats, current_request, tracking
from salesflow_graphql.standin import StandIn

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = shared_redis_url(15)
DASHBOARD = "query Dashboard { salesAnalytics { kpis { revenue orders } } }"


def _sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------------------ logs


def _record(**extra: Any) -> logging.LogRecord:
    record = logging.getLogger("salesflow_graphql.test").makeRecord(
        "salesflow_graphql.test", logging.WARNING, __file__, 1, "disk %s", ("full",), None
    )
    record.__dict__.update(extra)
    return record


def test_a_json_log_line_is_one_object_with_the_calls_extras() -> None:
    line = JsonFormatter().format(
        _record(request_id="r-1", error_codes=["INTERNAL"], at=datetime.now(UTC))
    )
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "salesflow_graphql.test"
    assert entry["message"] == "disk full"
    assert entry["request_id"] == "r-1" and entry["error_codes"] == ["INTERNAL"]
    assert isinstance(entry["at"], str), "values JSON cannot hold are written as text"
    assert datetime.fromisoformat(entry["ts"]).tzinfo is not None
    assert "args" not in entry and "msg" not in entry, "only extras, not LogRecord internals"


def test_a_json_log_line_carries_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in entry["exc"]


def test_a_text_log_line_shows_the_extras_as_key_value() -> None:
    line = TextFormatter().format(_record(request_id="r-1", error_codes=[]))
    assert line.endswith("salesflow_graphql.test: disk full request_id=r-1 error_codes=-")


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger; what ``configure_logging`` changes is put back afterwards."""
    root = logging.getLogger()
    others = [logging.getLogger(n) for n in ("httpx", "uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(logger, list(logger.handlers), logger.level, logger.propagate) for logger in others]
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for logger, logger_handlers, logger_level, propagate in saved:
        logger.handlers[:] = logger_handlers
        logger.setLevel(logger_level)
        logger.propagate = propagate
    logging.captureWarnings(False)


def test_configure_logging_sends_every_logger_through_one_formatter(
    root_logger: logging.Logger,
) -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    logging.getLogger("salesflow_graphql.anything").info("hello %s", "there", extra={"n": 1})
    logging.getLogger("uvicorn.error").info("uvicorn speaks")
    logging.getLogger("salesflow_graphql.quiet").debug("not at INFO")
    entries = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["logger"], e["message"]) for e in entries] == [
        ("salesflow_graphql.anything", "hello there"),
        ("uvicorn.error", "uvicorn speaks"),
    ]
    assert entries[0]["n"] == 1
    configure_logging("DEBUG", "text", stream=out)
    assert len(root_logger.handlers) == 1, "configuring again replaces, never stacks"
    assert isinstance(root_logger.handlers[0].formatter, TextFormatter)


def test_log_format_is_json_by_default_and_checked() -> None:
    assert Settings.from_env({}).observability.log_format == "json"
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"SALESFLOW_LOG_FORMAT": "xml"})
    assert "SALESFLOW_LOG_FORMAT" in str(caught.value)


# ------------------------------------------------------------------- access lines


@pytest.fixture
def access_lines(caplog: pytest.LogCaptureFixture) -> Callable[[], list[Any]]:
    """The access lines logged so far (records; their fields are attributes)."""
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    return lambda: [record for record in caplog.records if record.name == ACCESS_LOGGER]


async def test_each_graphql_request_leaves_one_access_line_with_what_it_cost(
    gateway: httpx.AsyncClient,
    standin: StandIn,
    settings: Settings,
    user_token: str,
    access_lines: Callable[[], list[Any]],
) -> None:
    standin.clear_requests()
    cold = await gateway.post(
        "/graphql",
        json={"query": DASHBOARD},
        headers={**_auth(user_token), "X-Request-Id": "req-cold-0001"},
    )
    java_calls = len(standin.requests)
    warm = await gateway.post("/graphql", json={"query": DASHBOARD}, headers=_auth(user_token))
    assert cold.status_code == warm.status_code == 200
    assert warm.headers["x-cache"] == "hit"
    first, second = access_lines()

    assert first.request_id == "req-cold-0001" == cold.headers["x-request-id"]
    assert first.user == verify_access_token(user_token, settings.auth.jwt_secret).subject
    assert first.role == "USER"
    assert (first.operation, first.operation_type) == ("Dashboard", "query")
    assert (first.status, first.outcome, first.error_codes) == (200, "ok", [])
    assert java_calls > 0 and first.upstream_calls == java_calls, "every Java call is counted"
    assert first.cache_misses > 0
    assert first.duration_ms > 0

    assert second.request_id == warm.headers["x-request-id"] != first.request_id
    assert (second.operation, second.operation_type) == ("Dashboard", "query")
    assert (second.status, second.outcome) == (200, "cached")
    assert second.upstream_calls == 0 and second.cache_hits == 1 and second.cache_misses == 0


async def test_refused_and_failed_requests_say_why_in_their_access_line(
    gateway: httpx.AsyncClient, admin_token: str, access_lines: Callable[[], list[Any]]
) -> None:
    await graphql(gateway, DASHBOARD, None, expect_status=401)
    answer = await graphql(gateway, "query Broken { salesAnalytics { nope } }", admin_token)
    assert error_codes(answer) == ["BAD_USER_INPUT"]
    done = await graphql(gateway, "mutation Check { runAnomalyCheck { found } }", admin_token)
    assert "errors" not in done
    refused, broken, mutation = access_lines()
    assert (refused.status, refused.outcome, refused.error_codes) == (
        401,
        "unauthenticated",
        ["UNAUTHENTICATED"],
    )
    assert refused.user is None and refused.operation_type == "unknown"
    assert (broken.operation, broken.outcome, broken.error_codes) == (
        "Broken",
        "error",
        ["BAD_USER_INPUT"],
    )
    assert broken.role == "ADMIN"
    assert (mutation.operation, mutation.operation_type, mutation.outcome) == (
        "Check",
        "mutation",
        "ok",
    )
    assert mutation.upstream_calls > 0


async def test_request_stats_follow_work_the_request_hands_to_other_tasks() -> None:
    assert current_request() is None
    with tracking() as stats:

        async def elsewhere() -> RequestStats | None:
            return current_request()

        assert await asyncio.ensure_future(elsewhere()) is stats
    assert current_request() is None


# -------------------------------------------------------------------------- metrics


async def test_operations_are_counted_and_timed_by_name_and_type(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    name = f"Op{uuid.uuid4().hex[:8]}"
    query = f"query {name} {{ salesAnalytics {{ kpis {{ orders }} }} }}"
    before_anonymous = _sample(
        "salesflow_graphql_operations_total", operation="anonymous", type="query", outcome="ok"
    )
    await graphql(gateway, query, user_token)
    await graphql(gateway, query, user_token)  # a cached answer counts under the same name
    await graphql(gateway, "{ alerts(limit: 1) { id } }", user_token)
    ok = _sample("salesflow_graphql_operations_total", operation=name, type="query", outcome="ok")
    cached = _sample(
        "salesflow_graphql_operations_total", operation=name, type="query", outcome="cached"
    )
    assert (ok, cached) == (1, 1)
    assert _sample("salesflow_graphql_operation_seconds_count", operation=name, type="query") == 2
    assert (
        _sample(
            "salesflow_graphql_operations_total", operation="anonymous", type="query", outcome="ok"
        )
        == before_anonymous + 1
    )


def test_operation_names_are_bounded() -> None:
    names = OperationNames(limit=2)
    assert names.label(None) == "anonymous"
    assert names.label(None, parsed=False) == "unknown"
    assert [names.label(n) for n in ("First", "Second", "Third", "First")] == [
        "First",
        "Second",
        "other",
        "First",
    ]
    assert OperationNames().label("not a name\n{") == "other"


def test_junk_operation_names_cannot_take_the_labels_of_real_ones() -> None:
    names = OperationNames(limit=50, per_user=20, known=frozenset({"Dashboard"}))
    assert names.label("RealA", subject="alice") == "RealA"
    junk = [names.label(f"Junk{i}", subject="mallory") for i in range(200)]
    assert junk.count("other") == 180, "one user adds at most their share"
    failed = {names.label(f"Broken{i}", subject="eve", succeeded=False) for i in range(200)}
    assert failed == {"other"}, "a name that never ran is no label"
    assert names.label("Dashboard", subject="eve") == "Dashboard", "known names always are"
    assert names.label("RealA") == "RealA", "a label is never taken back"
    assert names.label("RealB", subject="bob") == "RealB", "room is left for real names"


async def test_200_junk_operation_names_leave_real_names_labelled(
    gateway: httpx.AsyncClient, settings: Settings, user_token: str
) -> None:
    junk_user = mint_access_token(settings.auth.jwt_secret, Role.USER, subject="+15550007777")
    for index in range(200):
        await graphql(
            gateway, f"query Junk{uuid.uuid4().hex[:8]}{index} {{ __typename }}", junk_user
        )
    real = f"Real{uuid.uuid4().hex[:8]}"
    await graphql(gateway, f"query {real} {{ alerts(limit: 1) {{ id }} }}", user_token)
    await graphql(gateway, "query Dashboard { alerts(limit: 1) { id } }", junk_user)
    for name in (real, "Dashboard"):
        assert (
            _sample(
                "salesflow_graphql_operations_total", operation=name, type="query", outcome="ok"
            )
            >= 1
        ), name


def _gate_registry(gate: asyncio.Event, kind: str) -> JobRegistry:
    async def run(ctx: TaskContext) -> dict[str, Any]:
        await gate.wait()
        if ctx.job.params.get("fail"):
            raise ValueError("this one fails")
        return {}

    registry = JobRegistry()
    registry.add_task(Task(kind, run=run))
    return registry


def _job(kind: str, **params: Any) -> JobRecord:
    return JobRecord(
        id=new_job_id(),
        task=kind,
        owner=JobOwner("+15550000002", "user", Role.USER),
        params=params,
        created_at=datetime.now(UTC),
    )


async def test_in_process_queue_depth_and_job_durations(settings: Settings) -> None:
    kind = f"gate-{uuid.uuid4().hex[:6]}"
    gate = asyncio.Event()
    runner = InProcessRunner(settings.replace(jobs={"concurrency": 1}), _gate_registry(gate, kind))
    await runner.start(SimpleNamespace(settings=settings))
    try:
        for params in ({}, {}, {"fail": True}):
            await runner.submit(_job(kind, **params))

        async def one_running_two_waiting() -> bool:
            return await runner.queue_depth() == 2

        await wait_until(one_running_two_waiting, what="the first job to take the only slot")
        await observe_job_queue(runner)
        assert _sample("salesflow_job_queue_depth") == 2, "two wait for the only slot"
        gate.set()
        await runner.idle()
        await observe_job_queue(runner)
        assert _sample("salesflow_job_queue_depth") == 0
    finally:
        await runner.close()
    assert _sample("salesflow_job_seconds_count", kind=kind, outcome="completed") == 2
    assert _sample("salesflow_job_seconds_count", kind=kind, outcome="failed") == 1


async def test_the_arq_queue_depth_is_read_from_redis_at_scrape_time(settings: Settings) -> None:
    runner = ArqRunner(settings.replace(redis_url=REDIS_URL), _gate_registry(asyncio.Event(), "x"))
    client = redis.Redis.from_url(REDIS_URL)
    jobs = [_job("x"), _job("x")]
    try:
        for job in jobs:
            await runner.submit(job)  # no worker takes from db 15: they stay queued
        await observe_job_queue(runner)
        depth = _sample("salesflow_job_queue_depth")
        assert depth == await client.zcard(QUEUE_NAME) and depth >= 2
    finally:
        await client.zrem(QUEUE_NAME, *[job.id for job in jobs])
        await client.delete(*[f"arq:job:{job.id}" for job in jobs])
        await client.aclose()
        await runner.close()


async def test_an_unreadable_queue_depth_is_nan_not_an_error() -> None:
    class Broken:
        async def queue_depth(self) -> int:
            raise ConnectionError("redis is down")

    await observe_job_queue(Broken())
    assert math.isnan(_sample("salesflow_job_queue_depth"))


async def test_the_metrics_endpoint_reads_the_job_queue(gateway: httpx.AsyncClient) -> None:
    text = (await gateway.get("/metrics")).text
    (line,) = [row for row in text.splitlines() if row.startswith("salesflow_job_queue_depth ")]
    assert float(line.split()[1]) == 0.0


async def test_raised_alerts_are_counted_by_kind_and_severity(
    gateway: httpx.AsyncClient, admin_token: str
) -> None:
    def counts() -> dict[tuple[str, str], float]:
        (family,) = [m for m in REGISTRY.collect() if m.name == "salesflow_alerts_raised"]
        return {
            (s.labels["kind"], s.labels["severity"]): s.value
            for s in family.samples
            if s.name.endswith("_total")
        }

    before = counts()
    answer = await graphql(
        gateway, "mutation { runAnomalyCheck { alerts { kind severity } } }", admin_token
    )
    raised = answer["data"]["runAnomalyCheck"]["alerts"]
    assert raised, "the demo shop has planted anomalies"
    after = counts()
    expected: dict[tuple[str, str], int] = {}
    for alert in raised:
        key = (alert["kind"], alert["severity"])
        expected[key] = expected.get(key, 0) + 1
    assert {
        k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)
    } == expected


# --------------------------------------------------------------------------- traces


@pytest.fixture(scope="module")
def span_exporter() -> Any:
    """Spans of this process, in memory (the provider is global, as in production)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@contextlib.asynccontextmanager
async def _traced_gateway(settings: Settings, standin: StandIn) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_on(
        settings.replace(observability={"otel_enabled": True}), standin
    ) as client:
        yield client


async def test_traces_have_operation_and_resolver_spans_without_secrets(
    settings: Settings, standin: StandIn, user_token: str, span_exporter: Any
) -> None:
    secret_address = "owner@shop.example"
    span_exporter.clear()
    async with _traced_gateway(settings, standin) as client:
        with_variables = await client.post(
            "/graphql",
            json={
                "query": "mutation Report($input: ReportInput!) { generateReport(input: $input) { id } }",
                "variables": {
                    "input": {"kind": "STOCK", "format": "XLSX", "emailTo": [secret_address]}
                },
            },
            headers=_auth(user_token),
        )
        inline = await client.post(
            "/graphql",
            json={
                "query": 'mutation Inline { generateReport(input: {kind: STOCK, format: XLSX, emailTo: ["'
                + secret_address
                + '"]}) { id } }'
            },
            headers=_auth(user_token),
        )
    assert "errors" not in with_variables.json() and "errors" not in inline.json()
    spans = span_exporter.get_finished_spans()
    names = [span.name for span in spans]
    assert "GraphQL Query: Report" in names and "GraphQL Query: Inline" in names
    resolvers = [s for s in spans if s.name == "GraphQL Resolving: generateReport"]
    assert len(resolvers) == 2
    recorded = json.dumps([dict(span.attributes or {}) for span in spans])
    assert secret_address not in recorded, "e-mail recipients never reach a span"
    assert REDACTED in str(resolvers[0].attributes["graphql.param.input"])
    assert "STOCK" in str(resolvers[0].attributes["graphql.param.input"]), "the rest stays"
    operation = next(s for s in spans if s.name == "GraphQL Query: Inline")
    assert "generateReport" in operation.attributes["query"]
    assert operation.attributes["salesflow.request_id"] == inline.headers["x-request-id"]


async def test_tracing_is_off_by_default(
    gateway: httpx.AsyncClient, user_token: str, span_exporter: Any
) -> None:
    span_exporter.clear()
    await graphql(gateway, DASHBOARD, user_token)
    assert span_exporter.get_finished_spans() == ()


def test_sensitive_arguments_and_uploads_are_redacted() -> None:
    class Upload:  # shaped like Starlette's UploadFile
        filename = "prices.xlsx"

        async def read(self) -> bytes:
            return b""

    @dataclasses.dataclass
    class Input:
        kind: str
        email_to: list[str]

    redacted = redact_arguments(
        {
            "file": Upload(),
            "attachment": Upload(),
            "idempotencyKey": "k-1",
            "input": Input("FULL", ["a@b.example"]),
            "nested": {"accessToken": "t", "key": "Electronics"},
        }
    )
    assert redacted == {
        "file": REDACTED,
        "attachment": REDACTED,
        "idempotencyKey": REDACTED,
        "input": {"kind": "FULL", "email_to": REDACTED},
        "nested": {"accessToken": REDACTED, "key": "Electronics"},
    }
    document = redacted_document(
        'mutation { importExcel(file: $f, idempotencyKey: "k-1") { status } }'
    )
    assert "k-1" not in document and REDACTED in document
    assert redacted_document("{ not valid") == ""


def test_otlp_needs_its_exporter_package() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"SALESFLOW_OTEL_ENABLED": "true", "SALESFLOW_OTEL_EXPORTER": "otlp"})
    assert "opentelemetry-exporter-otlp" in str(caught.value)
    with pytest.raises(SettingsError):
        Settings.from_env({"SALESFLOW_OTEL_EXPORTER": "jaeger"})
    assert (
        Settings.from_env({"SALESFLOW_OTEL_ENABLED": "true"}).observability.otel_exporter
        == "console"
    )


# -------------------------------------------------------------------------- serve


def test_serve_writes_json_log_lines_with_an_access_line_per_request() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESFLOW_")}
    env["SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES"] = "0"
    proc = subprocess.Popen(
        [sys.executable, "-m", "salesflow_graphql", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        token = ""
        deadline = time.monotonic() + 60
        while not token and time.monotonic() < deadline:
            found = re.search(r"Bearer (\S+)\"", proc.stdout.readline())
            token = found.group(1) if found else ""
        assert token, "serve printed no token"
        entries: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            entry = json.loads(proc.stderr.readline())  # every stderr line is one JSON object
            entries.append(entry)
            if entry["logger"] == "uvicorn.error" and "running on" in entry["message"].lower():
                break
        answer = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": DASHBOARD},
            headers=_auth(token),
            timeout=30,
        )
        assert answer.status_code == 200
        while time.monotonic() < deadline:
            entry = json.loads(proc.stderr.readline())
            if entry["logger"] == ACCESS_LOGGER:
                break
        assert entry["operation"] == "Dashboard" and entry["status"] == 200
        assert entry["request_id"] == answer.headers["x-request-id"]
        assert {"ts", "level", "upstream_calls", "cache_hits", "duration_ms"} <= set(entry)
    finally:
        proc.terminate()
        proc.wait(10)


def test_tracing_without_the_otel_extra_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import salesflow_graphql.extras as extras

    real = extras.installed
    monkeypatch.setattr(
        extras, "installed", lambda name: not name.startswith("opentelemetry") and real(name)
    )
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"SALESFLOW_OTEL_ENABLED": "true"})
    assert "SALESFLOW_OTEL_ENABLED" in str(caught.value)
    assert "salesflow-graphql[otel]" in str(caught.value)
    assert Settings.from_env({}).observability.otel_enabled is False  # tracing off needs nothing


def test_without_tracing_the_gateway_never_imports_opentelemetry() -> None:
    probe = (
        "import sys\n"
        "from salesflow_graphql.app import create_app\n"
        "from salesflow_graphql.config import Settings\n"
        "create_app(Settings.from_env({}))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'opentelemetry'))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESFLOW_")}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
