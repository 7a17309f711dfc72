"""SIGTERM to the main process only leaves nothing behind (issue 13 §5).

A supervisor (Docker, systemd, Kubernetes) signals only the main PID. The
gateway and the worker run in process groups of their own here, do real work
that starts child processes (a forecast, an anomaly check, a FULL report,
which trains a forecast in the worker), get SIGTERM on the main PID, and must
leave no process of their group within Docker's default grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import process_table
import pytest
from support import ROOT, RedisServer, free_port, graphql, log_tail, wait_until

from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not process_table.available(), reason="needs Linux /proc"),
]

#: Docker's default stop timeout: after it, SIGKILL.
GRACE_S = 10.0
FORECAST = "query($i: ForecastInput!) { forecast(input: $i) { model } }"
CHECK = "mutation { runAnomalyCheck { checkedSeries } }"
REPORT = "mutation($i: ReportInput!) { generateReport(input: $i) { id } }"
STATUS = "query($id: ID!) { report(id: $id) { status error } }"


def _salesflow(
    args: list[str], env: dict[str, str], log: Path
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """``salesflow-graphql ARGS`` leading a process group of its own."""
    argv = [sys.executable, "-m", "salesflow_graphql", *args]
    return process_table.group_leader(argv, env=env, cwd=ROOT, log=log)


async def test_sigterm_to_the_main_pid_stops_every_child_of_gateway_and_worker(
    tmp_path: Path, base_settings: Settings
) -> None:
    redis = RedisServer(tmp_path / "redis", durable=False)
    await redis.start()
    port = free_port()
    env = {
        **os.environ,
        "SALESFLOW_REDIS_URL": redis.url,
        "SALESFLOW_EXPORTS_DIR": str(tmp_path / "exports"),
        "SALESFLOW_LOG_FORMAT": "text",
        "SALESFLOW_RATE_LIMIT_PER_S": "0",  # the test polls the report's status
    }
    user = mint_access_token(base_settings.auth.jwt_secret, Role.USER)
    admin = mint_access_token(base_settings.auth.jwt_secret, Role.ADMIN)
    logs = tmp_path / "gateway.log", tmp_path / "worker.log"
    try:
        with (
            _salesflow(["serve", "--port", str(port)], env, logs[0]) as gateway,
            _salesflow(["worker"], env, logs[1]) as worker,
        ):
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", timeout=120
            ) as client:
                await _ready(client, gateway, logs[0])
                forecast = await graphql(client, FORECAST, user, {"i": {"historyDays": 56}})
                assert "errors" not in forecast, forecast
                check = await graphql(client, CHECK, admin)
                assert "errors" not in check, check
                job = await graphql(client, REPORT, user, {"i": {"kind": "FULL"}})
                job_id = job["data"]["generateReport"]["id"]

                async def finished() -> bool:
                    answer = await graphql(client, STATUS, user, {"id": job_id})
                    return answer["data"]["report"]["status"] in ("COMPLETED", "FAILED")

                await wait_until(finished, timeout=120, what=f"the report: {log_tail(logs[1])}")
                report = (await graphql(client, STATUS, user, {"id": job_id}))["data"]["report"]
                assert report["status"] == "COMPLETED", report
            # Both have children (their training processes): the test means something.
            for process in (gateway, worker):
                members = process_table.group(process.pid)
                assert len(members) > 1, [str(p) for p in members]

            gateway.send_signal(signal.SIGTERM)
            worker.send_signal(signal.SIGTERM)
            left = process_table.wait_for_none(
                lambda: process_table.group(gateway.pid) + process_table.group(worker.pid),
                timeout=GRACE_S,
            )
            assert not left, (
                f"left after SIGTERM: {[str(p) for p in left]}\n"
                f"gateway: {log_tail(logs[0])}\nworker: {log_tail(logs[1])}"
            )
            # uvicorn ends by re-raising the signal it caught; arq returns normally.
            assert gateway.wait(5) in (0, -signal.SIGTERM), log_tail(logs[0])
            assert worker.wait(5) == 0, log_tail(logs[1])
    finally:
        redis.kill()


async def _ready(client: httpx.AsyncClient, process: subprocess.Popen, log: Path) -> None:
    async def answers() -> bool:
        assert process.poll() is None, log_tail(log)
        try:
            return (await client.get("/healthz", timeout=1)).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_until(answers, timeout=60, what="the gateway to answer")
