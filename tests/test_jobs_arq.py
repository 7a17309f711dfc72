"""Redis mode for real: a gateway and `salesflow-graphql worker` processes share Redis and Java.

The Java stand-in and the gateway each serve on a real loopback socket; workers
are subprocesses (``python -m salesflow_graphql worker``) pointed at the same
Redis database (14, flushed here) and the same stand-in URL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from email import policy
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
import websockets
from aiosmtpd.controller import Controller
from support import (
    free_port,
    graphql,
    log_tail,
    serving,
    shared_redis_url,
    wait_until,
    worker_process,
)

from salesflow_graphql.app import create_app
from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings
from salesflow_graphql.jobs.runner import QUEUE_NAME
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.standin import DemoShop, StandIn

pytestmark = pytest.mark.slow

REDIS_URL = shared_redis_url(14)
SECRET = "arq-test-secret-that-is-at-least-32-bytes-long"
JOB_TIMEOUT_S = 60  # generous: a loaded CI machine renders slowly

GENERATE = (
    """mutation($input: ReportInput!) { generateReport(input: $input) { id status filename } }"""
)
REPORT = """query($id: ID!) {
  report(id: $id) {
    status progress attempts notice error downloadUrl sizeBytes email { status }
  }
}"""
SUBSCRIBE = "subscription($id: ID!) { reportJob(id: $id) { status progress } }"


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@dataclasses.dataclass
class Stack:
    standin: StandIn
    java_url: str
    gateway_url: str
    runtime: Runtime
    exports: Path
    inbox: _Inbox
    smtp_port: int
    redis: redis.Redis
    token: str

    def worker_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SALESFLOW_REDIS_URL": REDIS_URL,
            "SALESFLOW_JAVA_API_URL": self.java_url,
            "SALESFLOW_JWT_SECRET": SECRET,
            "SALESFLOW_EXPORTS_DIR": str(self.exports),
            "SALESFLOW_JOB_TIMEOUT_S": str(JOB_TIMEOUT_S),
            "SALESFLOW_JOB_BACKOFF_S": "0.2",
            "SALESFLOW_JAVA_RETRIES": "0",
            "SALESFLOW_SALES_TTL_S": "0",
            "SALESFLOW_ANALYTICS_TTL_S": "0",
            "SALESFLOW_SMTP_HOST": "127.0.0.1",
            "SALESFLOW_SMTP_PORT": str(self.smtp_port),
            "SALESFLOW_LOG_LEVEL": "INFO",
        }


@pytest.fixture(scope="module")
async def stack(
    demo_shop: DemoShop, base_settings: Settings, tmp_path_factory
) -> AsyncIterator[Stack]:
    client = redis.Redis.from_url(REDIS_URL)
    await client.flushdb()
    inbox = _Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    standin = StandIn(demo_shop, secret=SECRET)
    exports = tmp_path_factory.mktemp("exports")
    try:
        async with serving(standin.app) as java:
            settings = base_settings.replace(
                auth={"jwt_secret": SECRET},
                java={"api_url": f"{java}/api/v1", "retries": 0},
                redis_url=REDIS_URL,
                exports_dir=str(exports),
                jobs={"timeout_s": JOB_TIMEOUT_S},
                cache={"sales_ttl_s": 0, "analytics_ttl_s": 0},
            )
            runtime = await Runtime.start(settings)
            try:
                async with serving(create_app(runtime=runtime)) as gateway_url:
                    yield Stack(
                        standin=standin,
                        java_url=f"{java}/api/v1",
                        gateway_url=gateway_url,
                        runtime=runtime,
                        exports=exports,
                        inbox=inbox,
                        smtp_port=smtp_port,
                        redis=client,
                        token=mint_access_token(SECRET, Role.USER, subject="+15550000002"),
                    )
            finally:
                await runtime.close()
    finally:
        controller.stop()
        await client.flushdb()
        await client.aclose()


async def _forget_workers(stack: Stack) -> None:
    """A killed worker leaves its health-check key behind; start from none."""
    await stack.redis.delete(QUEUE_NAME + ":health-check")


async def _worker_ready(stack: Stack, process: subprocess.Popen[bytes], log: Path) -> None:
    """arq writes its health-check key once it polls the queue."""

    async def ready() -> bool:
        assert process.poll() is None, log_tail(log)
        return bool(await stack.redis.exists(QUEUE_NAME + ":health-check"))

    await wait_until(ready, timeout=30, what="the worker to start")


async def _report(client: httpx.AsyncClient, stack: Stack, job_id: str) -> dict[str, Any]:
    return (await graphql(client, REPORT, stack.token, {"id": job_id}))["data"]["report"]


async def _subscribe(
    stack: Stack, job_id: str, events: list[dict[str, Any]], subscribed: asyncio.Event
):
    url = stack.gateway_url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {stack.token}"}}
            )
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
            if message["type"] == "ping":  # the server's keepalive, on a slow start
                await ws.send(json.dumps({"type": "pong"}))
                continue
            if message["type"] == "next":
                events.append(message["payload"]["data"]["reportJob"])
                subscribed.set()
            else:
                return message["type"]


async def test_a_worker_process_runs_a_report_end_to_end_through_the_api(stack: Stack, tmp_path):
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        answer = await graphql(
            client,
            GENERATE,
            stack.token,
            {"input": {"kind": "SALES", "format": "PDF", "emailTo": ["owner@shop.example"]}},
        )
        job = answer["data"]["generateReport"]
        assert job["status"] == "QUEUED"
        # Subscribe first: the job waits in Redis until a worker exists.
        events: list[dict[str, Any]] = []
        subscribed = asyncio.Event()
        follower = asyncio.create_task(_subscribe(stack, job["id"], events, subscribed))
        await asyncio.wait_for(subscribed.wait(), 10)
        log = tmp_path / "worker.log"
        await _forget_workers(stack)
        with worker_process(stack.worker_env(), log) as process:
            await _worker_ready(stack, process, log)
            end = await asyncio.wait_for(follower, 30)
            statuses = [e["status"] for e in events]
            collapsed = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
            assert collapsed == ["QUEUED", "RUNNING", "COMPLETED"] and end == "complete", (
                end,
                events,
                log_tail(log),
            )
            done = await _report(client, stack, job["id"])
            assert done["attempts"] == 1 and done["error"] is None
            download = await client.get(
                done["downloadUrl"]
            )  # served by the gateway, written by the worker
            assert download.status_code == 200 and download.content.startswith(b"%PDF-")
            assert (
                download.headers["content-disposition"]
                == f'attachment; filename="{job["filename"]}"'
            )
            await wait_until(lambda: len(stack.inbox.messages) == 1, what="the worker's e-mail")
            (attachment,) = list(stack.inbox.messages[0].iter_attachments())
            assert attachment.get_filename() == job["filename"]
            assert attachment.get_content() == download.content

            # Java fails once with 503: the attempt is retried by arq (Retry with backoff).
            stack.standin.faults.update(
                {"fail_next": 1, "error_status": 503, "only_paths": ["/sales"]}
            )
            answer = await graphql(
                client, GENERATE, stack.token, {"input": {"kind": "SALES", "format": "XLSX"}}
            )
            retried = answer["data"]["generateReport"]["id"]

            async def finished() -> bool:
                return (await _report(client, stack, retried))["status"] in ("COMPLETED", "FAILED")

            await wait_until(finished, timeout=30, what="the retried job")
            again = await _report(client, stack, retried)
            assert (again["status"], again["attempts"]) == ("COMPLETED", 2), log_tail(log)
        stack.standin.faults.reset()


async def test_a_job_whose_worker_is_killed_is_completed_by_another_worker_within_its_lease(
    stack: Stack, tmp_path
):
    # A realistic job timeout (arq alone would wait 300 + 10 s before running the job
    # again) and a short lease: the job must come back within the lease, not the timeout.
    env = {**stack.worker_env(), "SALESFLOW_JOB_TIMEOUT_S": "300", "SALESFLOW_JOB_LEASE_S": "3"}
    stack.standin.faults.update({"latency_s": 60, "only_paths": ["/sales"]})
    log = tmp_path / "workers.log"
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        await _forget_workers(stack)
        with worker_process(env, log) as first:
            await _worker_ready(stack, first, log)
            answer = await graphql(client, GENERATE, stack.token, {"input": {"kind": "SALES"}})
            job_id = answer["data"]["generateReport"]["id"]

            async def running() -> bool:
                return (await _report(client, stack, job_id))["status"] == "RUNNING"

            await wait_until(running, timeout=15, what="the first worker to start the job")
            await _forget_workers(stack)
            with worker_process(env, log) as second:
                await _worker_ready(stack, second, log)  # idle: the first holds the job
                assert (await _report(client, stack, job_id))["status"] == "RUNNING"
                first.send_signal(signal.SIGKILL)  # mid-report: no chance to clean up
                first.wait(10)
                killed = time.monotonic()
                stack.standin.faults.reset()

                async def finished() -> bool:
                    status = (await _report(client, stack, job_id))["status"]
                    return status in ("COMPLETED", "FAILED")

                await wait_until(finished, timeout=45, what="the second worker to finish it")
                recovery_s = time.monotonic() - killed
                done = await _report(client, stack, job_id)
    print(f"\nkilled worker's report COMPLETED by another worker {recovery_s:.1f} s after SIGKILL")
    assert (done["status"], done["attempts"]) == ("COMPLETED", 2), (done, log_tail(log))
    assert "Run 1 stopped with its worker; run 2 started again" in done["notice"], done
    # One file, whole: the re-run wrote the job's one path (no partial file left behind).
    written = [p.name for p in stack.exports.rglob("*") if job_id in p.name]
    assert written == [f"{job_id}.pdf"], written
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        download = await client.get(done["downloadUrl"])
    assert download.status_code == 200 and download.content.startswith(b"%PDF-")
