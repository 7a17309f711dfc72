"""Two gateway processes on one Redis and one Java stand-in: alerts cross replicas, replay resumes.

The stand-in serves the demo shop on a real socket from this process; each
gateway is ``python -m salesflow_graphql serve`` with the stand-in's URL, the
shared secret and Redis database 13.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from alerts_support import ALERTS_REDIS_URL, GraphQLWebSocket, flush_alerts_db, subscription
from support import free_port, graphql, serving, wait_until

from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.standin import DemoShop, StandIn

ROOT = Path(__file__).resolve().parents[1]
SECRET = "replica-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
RUN_CHECK = "mutation { runAnomalyCheck { alerts { id kind subject } } }"

pytestmark = pytest.mark.slow


@contextmanager
def _gateway(java_url: str, port: int) -> Iterator[str]:
    """A gateway process; its log goes to a file (a full pipe would stall it)."""
    env = {
        **os.environ,
        "SALESFLOW_JAVA_API_URL": java_url,
        "SALESFLOW_JWT_SECRET": SECRET,
        "SALESFLOW_REDIS_URL": ALERTS_REDIS_URL,
        "SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES": "0",
        "SALESFLOW_ALERT_SCAN_DAYS": "60",
        "SALESFLOW_CATALOGUE_TTL_S": "0",
        "SALESFLOW_SALES_TTL_S": "0",
        "SALESFLOW_ANALYTICS_TTL_S": "0",
        "SALESFLOW_LOG_LEVEL": "WARNING",
    }
    with tempfile.NamedTemporaryFile(prefix=f"gateway-{port}-", suffix=".log", delete=False) as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "salesflow_graphql", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.returncode not in (0, -15):
            print(Path(log.name).read_text()[-3000:])


async def _ready(url: str) -> None:
    async def answers() -> bool:
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{url}/healthz", timeout=1)).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_until(answers, timeout=60, what=f"the gateway at {url}")


@pytest.fixture
async def replicas(demo_shop: DemoShop) -> AsyncIterator[tuple[StandIn, str, str]]:
    await flush_alerts_db()
    standin = StandIn(demo_shop, secret=SECRET)
    async with serving(standin.app) as java:
        with (
            _gateway(f"{java}/api/v1", free_port()) as a,
            _gateway(f"{java}/api/v1", free_port()) as b,
        ):
            await asyncio.gather(_ready(a), _ready(b))
            yield standin, a, b
    await flush_alerts_db()


async def _run_check(url: str, token: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        answer = await graphql(client, RUN_CHECK, token)
    assert "errors" not in answer, answer
    return answer["data"]["runAnomalyCheck"]["alerts"]


async def _run_out_of_stock(standin: StandIn, sku: str) -> None:
    admin = mint_access_token(SECRET, Role.ADMIN)
    transport = httpx.ASGITransport(app=standin.app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://standin/api/v1",
        headers={"Authorization": f"Bearer {admin}"},
    ) as java:
        product = (await java.get(f"/products/by-sku/{sku}")).json()
        answer = await java.put(f"/products/by-sku/{sku}", json={**product, "stockQuantity": 0})
        assert answer.status_code == 200, answer.text


async def test_an_alert_raised_on_replica_a_reaches_a_subscriber_on_replica_b_and_replay_resumes(
    replicas: tuple[StandIn, str, str], demo_shop: DemoShop
) -> None:
    standin, a, b = replicas
    user = mint_access_token(SECRET, Role.USER)
    admin = mint_access_token(SECRET, Role.ADMIN)
    ws_a, ws_b = (u.replace("http://", "ws://") + "/graphql" for u in (a, b))

    # Live across replicas: subscribed on B, the check runs on A.
    async with GraphQLWebSocket.connect(ws_b, user) as on_b:
        # From the start of the (empty) stream: nothing can slip by while it registers.
        await on_b.subscribe("live", *subscription(after="0-0"))
        raised = await _run_check(a, admin)
        planted = {a.sku or a.category for a in demo_shop.planted_anomalies}
        assert planted <= {alert["subject"] for alert in raised}
        received = await on_b.alerts(len(raised), timeout=20)
        assert [x["id"] for x in received] == [x["id"] for x in raised]
        last_seen = received[-1]["id"]

    # Missed while disconnected: a product runs out of stock, A raises the alert.
    sellers = [p.sku for p in demo_shop.planted_anomalies if p.kind == "spike" and p.sku]
    await _run_out_of_stock(standin, sellers[0])
    missed = await _run_check(a, admin)
    assert [(x["kind"], x["subject"]) for x in missed] == [("STOCKOUT", sellers[0])]

    # Reconnect to the other replica with `after`: the missed one once, then live ones.
    async with GraphQLWebSocket.connect(ws_a, user) as on_a:
        await on_a.subscribe("resume", *subscription(after=last_seen))
        assert [x["id"] for x in await on_a.alerts(1, timeout=20)] == [missed[0]["id"]]
        await _run_out_of_stock(standin, sellers[1])
        live = await _run_check(b, admin)
        assert [x["id"] for x in await on_a.alerts(len(live), timeout=20)] == [
            x["id"] for x in live
        ]
        assert await on_a.quiet(0.5) == []
