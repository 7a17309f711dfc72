"""Redis restarted mid-run (issue 7): the cache, the job queue and the live streams recover.

Every test runs its own ``redis-server`` on a free port (never the shared one on
6379) and SIGKILLs it mid-run, then starts it again on the same port:

- durable (``--appendonly yes --appendfsync always``), as Redis runs in production:
  what was queued survives the restart, and queued report jobs complete;
- non-durable (nothing on disk): the restart loses the job records and the arq
  queue, and the gateway says so (NOT_FOUND) instead of leaving a subscriber
  waiting for a job that no longer exists.

The Java stand-in and the gateway serve on real loopback sockets; workers are
``python -m salesflow_graphql worker`` subprocesses.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from alerts_support import synthetic_alert
from support import (
    RedisServer,
    error_codes,
    graphql,
    log_tail,
    serving,
    wait_until,
    worker_process,
)

from salesflow_graphql.alerts.bus import RedisAlertBus
from salesflow_graphql.app import create_app
from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings
from salesflow_graphql.errors import UpstreamUnavailable
from salesflow_graphql.jobs.runner import QUEUE_NAME
from salesflow_graphql.metrics import CACHE_FALLBACKS
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.standin import DemoShop, StandIn

SECRET = "redis-faults-secret-that-is-at-least-32-bytes-long"
JOB_TIMEOUT_S = 20

QUERY = "query($top: Int!) { salesAnalytics(top: $top) { kpis { revenue orders } } }"
GENERATE = "mutation($input: ReportInput!) { generateReport(input: $input) { id status } }"
REPORT = "query($id: ID!) { report(id: $id) { status attempts error downloadUrl } }"
SUBSCRIBE = "subscription($id: ID!) { reportJob(id: $id) { status } }"


@pytest.fixture
def java(demo_shop: DemoShop) -> StandIn:
    """The stand-in, trusting the tokens that the gateway and the workers mint."""
    return StandIn(demo_shop, secret=SECRET)


@pytest.fixture
async def durable_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", durable=True)
    await server.start()
    yield server
    server.kill()


@pytest.fixture
async def volatile_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", durable=False)
    await server.start()
    yield server
    server.kill()


# ------------------------------------------------------------------ the stack
@dataclasses.dataclass
class Stack:
    redis: RedisServer
    standin: StandIn
    java_url: str
    runtime: Runtime
    client: httpx.AsyncClient
    gateway_url: str
    exports: Path
    token: str

    def worker_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SALESFLOW_REDIS_URL": self.redis.url,
            "SALESFLOW_JAVA_API_URL": self.java_url,
            "SALESFLOW_JWT_SECRET": SECRET,
            "SALESFLOW_EXPORTS_DIR": str(self.exports),
            "SALESFLOW_JOB_TIMEOUT_S": str(JOB_TIMEOUT_S),
            "SALESFLOW_JOB_BACKOFF_S": "0.2",
            "SALESFLOW_JOB_CONCURRENCY": "1",  # a second job waits in the arq queue
            "SALESFLOW_JAVA_RETRIES": "0",
            "SALESFLOW_SALES_TTL_S": "0",
            "SALESFLOW_ANALYTICS_TTL_S": "0",
            "SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES": "0",
            "SALESFLOW_LOG_LEVEL": "INFO",
        }

    async def report(self, job_id: str) -> dict[str, Any]:
        return await graphql(self.client, REPORT, self.token, {"id": job_id})

    async def status(self, job_id: str) -> str | None:
        answer = await self.report(job_id)
        report = (answer.get("data") or {}).get("report")
        return report["status"] if report else None

    async def generate(self) -> dict[str, Any]:
        return await graphql(
            self.client, GENERATE, self.token, {"input": {"kind": "SALES", "format": "XLSX"}}
        )


@contextlib.asynccontextmanager
async def stack_on(
    server: RedisServer, standin: StandIn, base_settings: Settings, exports: Path
) -> AsyncIterator[Stack]:
    """The stand-in and a gateway in Redis mode (jobs on arq), each on a real socket."""
    async with serving(standin.app) as java:
        settings = base_settings.replace(
            auth={"jwt_secret": SECRET},
            java={"api_url": f"{java}/api/v1", "retries": 0},
            redis_url=server.url,
            exports_dir=str(exports),
            jobs={"timeout_s": JOB_TIMEOUT_S},
            cache={"sales_ttl_s": 0, "analytics_ttl_s": 0},
        )
        runtime = await Runtime.start(settings)
        try:
            async with serving(create_app(runtime=runtime)) as gateway_url:
                async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
                    yield Stack(
                        redis=server,
                        standin=standin,
                        java_url=f"{java}/api/v1",
                        runtime=runtime,
                        client=client,
                        gateway_url=gateway_url,
                        exports=exports,
                        token=mint_access_token(SECRET, Role.USER, subject="+15550000007"),
                    )
        finally:
            await runtime.close()


async def _worker_ready(stack: Stack, process: subprocess.Popen[bytes], log: Path) -> None:
    client = stack.redis.client()

    async def ready() -> bool:
        assert process.poll() is None, log_tail(log)
        return bool(await client.exists(QUEUE_NAME + ":health-check"))

    try:
        await wait_until(ready, timeout=60, what="the worker to poll the queue")
    finally:
        await client.aclose()


async def _follow(stack: Stack, job_id: str, messages: list[dict[str, Any]]) -> None:
    """Subscribe to ``reportJob(id)`` over graphql-transport-ws; collect messages to the end."""
    url = stack.gateway_url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {stack.token}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": SUBSCRIBE, "variables": {"id": job_id}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
                continue
            messages.append(message)
            if message["type"] in ("complete", "error"):
                return


def _statuses(messages: list[dict[str, Any]]) -> list[str]:
    return [
        m["payload"]["data"]["reportJob"]["status"]
        for m in messages
        if m["type"] == "next" and (m["payload"].get("data") or {}).get("reportJob")
    ]


# ------------------------------------------------------------------ the cache
async def test_the_cache_serves_through_a_redis_restart_then_uses_redis_again(
    volatile_redis: RedisServer, settings: Settings, standin: StandIn, user_token: str
) -> None:
    runtime = await Runtime.start(settings.replace(redis_url=volatile_redis.url), standin=standin)
    runtime.cache.redis_retry_s = 0.3  # how soon Redis is tried again after a failure
    client = volatile_redis.client()
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as gateway:
            healthy = await graphql(gateway, QUERY, user_token, {"top": 3})
            assert "errors" not in healthy
            assert await client.keys("salesflow:resp:*"), "answers are cached in Redis"

            volatile_redis.kill()
            fallbacks = CACHE_FALLBACKS._value.get()
            # the same question and a new one: answered, no error, nothing about Redis
            again = await graphql(gateway, QUERY, user_token, {"top": 3})
            assert again["data"] == healthy["data"]
            other = await graphql(gateway, QUERY, user_token, {"top": 4})
            assert "errors" not in other
            assert (
                other["data"]["salesAnalytics"]["kpis"] == healthy["data"]["salesAnalytics"]["kpis"]
            )
            assert CACHE_FALLBACKS._value.get() > fallbacks, "served by the memory fallback"
            ready = await gateway.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["cache"] == "redis:unavailable"

            await volatile_redis.start()  # empty: nothing was on disk
            assert await client.keys("salesflow:*") == []

            async def back_in_redis() -> bool:
                answer = await graphql(gateway, QUERY, user_token, {"top": 5})
                assert "errors" not in answer
                return bool(await client.keys("salesflow:resp:*"))

            await wait_until(back_in_redis, timeout=10, what="answers cached in Redis again")
            assert (await gateway.get("/readyz")).status_code == 200
    finally:
        await runtime.close()
        await client.aclose()


# ------------------------------------------------------------------ the alert bus
async def test_alert_subscribers_get_alerts_published_after_a_redis_restart(
    volatile_redis: RedisServer,
) -> None:
    listening = RedisAlertBus(volatile_redis.url)  # a replica with a live subscriber
    publishing = RedisAlertBus(volatile_redis.url)  # another replica, or a worker
    received: list[Any] = []

    async def consume() -> None:
        async for alert in listening.subscribe():
            received.append(alert)

    consumer = asyncio.create_task(consume())
    try:
        await wait_until(lambda: listening.subscribers == 1, what="the subscription")
        await publishing.publish(synthetic_alert("SKU-BEFORE"))
        await wait_until(lambda: len(received) == 1, what="the alert before the restart")

        volatile_redis.kill()
        with pytest.raises(UpstreamUnavailable):  # a clear error, not a hang
            await publishing.publish(synthetic_alert("SKU-DURING"))
        await volatile_redis.start()

        published = await publishing.publish(synthetic_alert("SKU-AFTER"))
        await wait_until(lambda: len(received) == 2, timeout=15, what="the alert after it")
        assert [a.subject for a in received] == ["SKU-BEFORE", "SKU-AFTER"]
        assert received[1].id == published.id
        assert not consumer.done()
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await listening.close()
        await publishing.close()


# ------------------------------------------------------------------ jobs
@pytest.mark.slow
async def test_a_worker_rides_out_durable_redis_restarts_and_the_queued_reports_complete(
    durable_redis: RedisServer, java: StandIn, base_settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    async with stack_on(durable_redis, java, base_settings, tmp_path / "exports") as stack:
        with worker_process(stack.worker_env(), log) as process:
            await _worker_ready(stack, process, log)

            # 1. Redis restarts while the worker idles (it polls the queue twice a second).
            durable_redis.kill()
            await _logged(log, "worker: redis unavailable", process)
            assert error_codes(await stack.generate()) == ["UPSTREAM_UNAVAILABLE"]  # clear, at once
            await durable_redis.start()

            # 2. Redis restarts while the worker runs one report and another waits in arq.
            java.faults.update({"latency_s": 4.0, "only_paths": ["/sales"]})
            running = (await stack.generate())["data"]["generateReport"]["id"]

            async def is_running() -> bool:
                return await stack.status(running) == "RUNNING"

            await wait_until(is_running, timeout=15, what="the worker to start the first job")
            queued = (await stack.generate())["data"]["generateReport"]["id"]
            assert await stack.status(queued) == "QUEUED"  # one job at a time: it waits in arq
            messages: list[dict[str, Any]] = []
            follower = asyncio.create_task(_follow(stack, queued, messages))
            await wait_until(lambda: _statuses(messages) == ["QUEUED"], what="the subscription")

            durable_redis.kill()
            assert error_codes(await stack.report(queued)) == ["UPSTREAM_UNAVAILABLE"]
            # the running job cannot record its progress: it waits for Redis, then retries
            await _logged(log, "job store: redis failed", process)
            await durable_redis.start()  # the queue and the records come back from the AOF
            java.faults.reset()

            async def both_finished() -> bool:
                statuses = [await stack.status(job) for job in (running, queued)]
                return all(s in ("COMPLETED", "FAILED") for s in statuses)

            try:
                await wait_until(both_finished, timeout=30, what="both reports to finish")
            except AssertionError as timeout:
                states = [await stack.report(job) for job in (running, queued)]
                raise AssertionError(f"{timeout}: {states}\n{log_tail(log)}") from None
            for job in (running, queued):
                report = (await stack.report(job))["data"]["report"]
                assert report["status"] == "COMPLETED", (report, log_tail(log))
                download = await stack.client.get(report["downloadUrl"])
                assert download.status_code == 200 and download.content.startswith(b"PK")
            # the subscriber heard the end although the events connection dropped meanwhile
            await asyncio.wait_for(follower, 10)
            assert _statuses(messages)[-1] == "COMPLETED" and messages[-1]["type"] == "complete"
            assert process.poll() is None, "the same worker did it all: " + log_tail(log)


async def _logged(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    """Wait for the worker to log ``text``, alive."""

    def seen() -> bool:
        assert process.poll() is None, "the worker died: " + log_tail(log)
        return text in log.read_text()

    await wait_until(seen, timeout=10, what=f"the worker to log {text!r}")


async def test_a_volatile_redis_restart_loses_queued_jobs_and_says_so(
    volatile_redis: RedisServer, java: StandIn, base_settings: Settings, tmp_path: Path
) -> None:
    async with stack_on(volatile_redis, java, base_settings, tmp_path / "exports") as stack:
        lost = (await stack.generate())["data"]["generateReport"]  # no worker: it stays queued
        assert lost["status"] == "QUEUED"
        messages: list[dict[str, Any]] = []
        follower = asyncio.create_task(_follow(stack, lost["id"], messages))
        await wait_until(lambda: _statuses(messages) == ["QUEUED"], what="the subscription")

        volatile_redis.kill()
        await volatile_redis.start()  # empty: the record and the arq queue are gone

        # The subscriber is told the job no longer exists, soon, rather than waiting forever.
        await asyncio.wait_for(follower, 10)
        *_, told, end = messages
        assert told["type"] == "next" and end["type"] == "complete", messages
        (error,) = told["payload"]["errors"]
        assert error["extensions"]["code"] == "NOT_FOUND"
        assert (await stack.report(lost["id"]))["data"]["report"] is None
        # The gateway takes new jobs at once: the queue connection came back by itself.
        again = (await stack.generate())["data"]["generateReport"]
        assert again["status"] == "QUEUED"
        client = volatile_redis.client()
        try:
            queued = await client.zrange(QUEUE_NAME, 0, -1)
        finally:
            await client.aclose()
        assert [q.decode() for q in queued] == [again["id"]]
