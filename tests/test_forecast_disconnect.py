"""A user who abandons a forecast over HTTP stops its training, on a real gateway process.

She asks for a forecast that takes seconds to train and closes the connection
while it trains: the gateway cancels the request's work, the training with it
(its training process is killed), writes an access line with HTTP 499,
outcome ``disconnected``, and counts it in ``/metrics``. Another user's
forecast then trains in a fresh process.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import process_table
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import gateway_process, graphql, wait_until

from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import DEMO_JWT_SECRET

FORECAST = "query($i: ForecastInput!) { forecast(input: $i) { model points { value } } }"
QUICK = {"horizonDays": 1, "historyDays": 56}
SLOW = {"horizonDays": 90, "historyDays": 1095}  # the longest: seconds of training
#: CPU time (in clock ticks, 1/100 s) the training process spends before the client leaves.
TRAINING_TICKS = 10


def _token(subject: str) -> str:
    return mint_access_token(DEMO_JWT_SECRET, Role.USER, subject=subject, ttl_s=3600)


def _trainers(gateway: int) -> list[int]:
    """The gateway's forecast training processes."""
    return [
        p.pid
        for p in process_table.descendants(gateway)
        if "--preload salesflow_graphql.forecast.core" in p.command
    ]


def _cpu_ticks(pid: int) -> int:
    """User plus system CPU time of a process, in clock ticks (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def _requests(metrics: str, route: str, outcome: str) -> float:
    """``salesflow_requests_total`` of a route and outcome, as ``/metrics`` shows it."""
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "salesflow_requests_total" and sample.labels == {
                "route": route,
                "outcome": outcome,
            }:
                return float(sample.value)
    return 0.0


def _access_line(log: Path, request_id: str) -> dict[str, Any] | None:
    for line in log.read_text().splitlines():
        if line.startswith("{") and f'"request_id":"{request_id}"' in line:
            return json.loads(line)  # type: ignore[no-any-return]
    return None


@pytest.mark.skipif(not process_table.available(), reason="needs Linux /proc")
async def test_a_forecast_abandoned_over_http_stops_its_training(tmp_path: Path) -> None:
    env = {
        "SALESFLOW_RATE_LIMIT_PER_S": "0",
        "SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES": "0",
        "SALESFLOW_EXPORTS_DIR": str(tmp_path / "exports"),
        "SALESFLOW_JAVA_API_URL": "",  # the demo shop
        "SALESFLOW_REDIS_URL": "",  # a cold cache of its own
        "SALESFLOW_FORECAST_WORKERS": "1",
        "SALESFLOW_LOG_LEVEL": "INFO",
    }
    log = tmp_path / "gateway.log"
    with gateway_process(env, log) as (gateway, url):
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            # A first forecast: the training process is up and has trained once.
            warm = await graphql(client, FORECAST, _token("+15550001001"), {"i": QUICK})
            assert "errors" not in warm, warm
            (trainer,) = _trainers(gateway.pid)
            idle = _cpu_ticks(trainer)

            request_id = uuid.uuid4().hex[:16]
            body = json.dumps({"query": FORECAST, "variables": {"i": SLOW}}).encode()
            host, port = url.removeprefix("http://").split(":")
            _, writer = await asyncio.open_connection(host, int(port))
            try:
                writer.write(
                    (
                        "POST /graphql HTTP/1.1\r\nHost: gateway\r\n"
                        f"Authorization: Bearer {_token('+15550001002')}\r\n"
                        f"X-Request-Id: {request_id}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n"
                    ).encode()
                    + body
                )
                await writer.drain()
                await wait_until(
                    lambda: _cpu_ticks(trainer) > idle + TRAINING_TICKS,
                    timeout=60,
                    what="the forecast to be training",
                )
            finally:
                writer.close()  # she walks away
                await writer.wait_closed()

            await wait_until(
                lambda: trainer not in _trainers(gateway.pid),
                timeout=20,
                what="the training process to be stopped",
            )
            await wait_until(
                lambda: _access_line(log, request_id) is not None, what="the access line"
            )
            line = _access_line(log, request_id)
            assert line is not None
            assert (line["status"], line["outcome"], line["operation_type"]) == (
                499,
                "disconnected",
                "query",
            ), line
            metrics = (await client.get("/metrics")).text
            assert _requests(metrics, "/graphql", "disconnected") == 1.0

            other = await graphql(
                client, FORECAST, _token("+15550001003"), {"i": {**QUICK, "horizonDays": 7}}
            )
            assert "errors" not in other, other
            assert len(other["data"]["forecast"]["points"]) == 7
            assert _trainers(gateway.pid) not in ([], [trainer]), "a fresh training process"
