"""Answers reflect writes at once (issue 13 §4): after a committed import, the next query on
any replica sees it, although every cache layer was warm and its TTL an hour long.

Two gateways share one Redis and one Java stand-in, all on real sockets: replica A
runs in this process, replica B is a ``salesflow-graphql serve`` subprocess.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
import spreadsheets as files
from support import gateway_process, serving, shared_redis_url

from salesflow_graphql.app import create_app
from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.standin import DemoShop, StandIn

pytestmark = pytest.mark.slow

REDIS_URL = shared_redis_url(10)
SECRET = "read-your-writes-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
HOUR = "3600"
TODAY = """query Today($day: Date!) {
  salesAnalytics(range: {start: $day, end: $day}) { kpis { unitsSold orders } }
}"""
IMPORT = """mutation Import($file: Upload!) {
  importExcel(file: $file, kind: SALES, dryRun: false) { status salesCreated message }
}"""


@pytest.fixture
async def redis_db() -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def today(client: httpx.AsyncClient, token: str, day: str) -> tuple[dict[str, int], str]:
    """Today's KPIs as a replica answers them, and its ``x-cache`` header."""
    response = await client.post(
        "/graphql",
        json={"query": TODAY, "variables": {"day": day}},
        headers={"Authorization": f"Bearer {token}"},
    )
    answer = response.json()
    assert response.status_code == 200 and "errors" not in answer, response.text
    return answer["data"]["salesAnalytics"]["kpis"], response.headers.get("x-cache", "miss")


async def import_sales(client: httpx.AsyncClient, token: str, content: bytes) -> dict[str, Any]:
    operations = {"query": IMPORT, "variables": {"file": None}}
    response = await client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": ("sales.xlsx", content, "application/octet-stream")},
        headers={"Authorization": f"Bearer {token}", "Apollo-Require-Preflight": "true"},
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]["importExcel"]


async def test_a_committed_sales_import_shows_at_once_on_this_replica_and_another(
    demo_shop: DemoShop, settings: Settings, tmp_path: Path, redis_db: redis.Redis
) -> None:
    standin = StandIn(demo_shop, secret=SECRET)
    user = mint_access_token(SECRET, Role.USER)
    admin = mint_access_token(SECRET, Role.ADMIN)
    product = next(p for p in standin.state.catalogue.products() if p.stock_quantity >= 10)
    day = settings.today().isoformat()
    async with serving(standin.app) as java:
        env = {
            **os.environ,
            "SALESFLOW_JAVA_API_URL": f"{java}/api/v1",
            "SALESFLOW_REDIS_URL": REDIS_URL,
            "SALESFLOW_JWT_SECRET": SECRET,
            "SALESFLOW_EXPORTS_DIR": str(tmp_path / "exports"),
            "SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES": "0",
            "SALESFLOW_RATE_LIMIT_PER_S": "0",
            "SALESFLOW_LOG_LEVEL": "WARNING",
            # every layer would keep its answer for an hour but for the invalidation
            **{f"SALESFLOW_{ttl}_TTL_S": HOUR for ttl in ("CATALOGUE", "SALES", "ANALYTICS")},
        }
        configured = Settings.from_env(env).replace(exports_dir=str(tmp_path / "exports-a"))
        runtime = await Runtime.start(configured)
        try:
            with gateway_process(env, tmp_path / "replica-b.log") as (_, b_url):
                async with (
                    serving(create_app(runtime=runtime)) as a_url,
                    httpx.AsyncClient(base_url=a_url, timeout=60) as a,
                    httpx.AsyncClient(base_url=b_url, timeout=60) as b,
                ):
                    before, _ = await today(a, user, day)
                    for replica in (a, b):  # both warm: answers, analytics and windows cached
                        kpis, cached = await today(replica, user, day)
                        assert (kpis, cached) == (before, "hit")

                    sheet = files.xlsx([["SKU", "Quantity"], [product.sku, 2]])
                    outcome = await import_sales(a, admin, sheet)
                    assert outcome["status"] == "COMMITTED", outcome
                    assert outcome["salesCreated"] == 1

                    for name, replica in (("this replica", a), ("the other replica", b)):
                        kpis, _ = await today(replica, user, day)
                        assert kpis["unitsSold"] == before["unitsSold"] + 2, name
                        assert kpis["orders"] == before["orders"] + 1, name
        finally:
            await runtime.close()
