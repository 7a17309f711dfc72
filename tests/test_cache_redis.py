"""The cache against the real Redis on 127.0.0.1:6379, and its fallback to memory."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import httpx
import pandas as pd
import pytest
import redis.asyncio as redis
from support import free_port, graphql, shared_redis_url

from salesflow_graphql.app import create_app
from salesflow_graphql.cache import MISS, Cache
from salesflow_graphql.config import Settings
from salesflow_graphql.metrics import CACHE_FALLBACKS
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.sor.standin import StandIn

REDIS_URL = shared_redis_url(15)


@pytest.fixture
async def redis_db() -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def test_values_round_trip_through_redis(redis_db: redis.Redis) -> None:
    cache = Cache(REDIS_URL)
    frame = pd.DataFrame({"sku": pd.array(["A", "B"], dtype="str"), "quantity": [1, 2]})
    await cache.set("frame", frame, ttl_s=30)
    assert await redis_db.exists("salesflow:frame")
    assert 0 < await redis_db.ttl("salesflow:frame") <= 30
    fresh = Cache(REDIS_URL)  # another replica sees it
    pd.testing.assert_frame_equal(await fresh.get("frame", layer="test"), frame)
    assert await fresh.get("absent", layer="test") is MISS
    await cache.close()
    await fresh.close()


async def test_single_flight_loads_once_for_100_concurrent_misses(redis_db: redis.Redis) -> None:
    cache = Cache(REDIS_URL)
    loads = 0
    release = asyncio.Event()

    async def load() -> dict[str, int]:
        nonlocal loads
        loads += 1
        await release.wait()
        return {"answer": 42}

    waiters = [
        asyncio.ensure_future(cache.get_or_load("sf", 30, load, layer="test")) for _ in range(100)
    ]
    await asyncio.sleep(0)  # let every waiter register before the load finishes
    release.set()
    assert [await w for w in waiters] == [{"answer": 42}] * 100
    assert loads == 1
    assert await cache.get("sf", layer="test") == {"answer": 42}
    await cache.close()


async def test_a_cancelled_caller_does_not_cancel_the_shared_load(redis_db: redis.Redis) -> None:
    cache = Cache(REDIS_URL)
    release = asyncio.Event()

    async def load() -> str:
        await release.wait()
        return "done"

    leader = asyncio.ensure_future(cache.get_or_load("k", 30, load, layer="test"))
    follower = asyncio.ensure_future(cache.get_or_load("k", 30, load, layer="test"))
    await asyncio.sleep(0)
    leader.cancel()
    release.set()
    assert await follower == "done"
    await cache.close()


async def test_a_dead_redis_falls_back_to_memory_without_errors() -> None:
    cache = Cache(f"redis://127.0.0.1:{free_port()}/0", redis_timeout_s=0.2)
    before = CACHE_FALLBACKS._value.get()
    assert await cache.get_or_load("k", 30, _value(7), layer="test") == 7
    assert await cache.get("k", layer="test") == 7  # served by the memory fallback
    assert CACHE_FALLBACKS._value.get() > before
    assert not await cache.ping()
    await cache.close()


def _value(value: int):
    async def load() -> int:
        return value

    return load


async def test_the_gateway_caches_in_redis_shared_by_replicas(
    settings: Settings, standin: StandIn, user_token: str, redis_db: redis.Redis
) -> None:
    configured = dataclasses.replace(settings, redis_url=REDIS_URL)
    query = "{ salesAnalytics { kpis { revenue orders } } }"
    answers = []
    for _replica in range(2):
        runtime = await Runtime.start(configured, standin=standin)
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            answers.append(await graphql(client, query, user_token))
        await runtime.close()
    assert answers[0] == answers[1] and "errors" not in answers[0]
    assert len(standin.requests) == 3, "the second replica found everything in Redis"
    keys = {k.decode().split(":")[1] for k in await redis_db.keys("salesflow:*")}
    assert {"sor", "analytics", "resp"} <= keys


async def test_the_gateway_answers_when_redis_is_down(
    settings: Settings, standin: StandIn, user_token: str
) -> None:
    configured = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    runtime = await Runtime.start(configured, standin=standin)
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        answer = await graphql(client, "{ salesAnalytics { kpis { orders } } }", user_token)
        ready = await client.get("/readyz")
    assert answer["data"]["salesAnalytics"]["kpis"]["orders"] > 0
    assert ready.status_code == 503 and ready.json()["checks"]["cache"] == "redis:unavailable"
    await runtime.close()


async def test_answers_live_no_longer_than_the_data_under_them(
    settings: Settings, standin: StandIn, user_token: str, redis_db: redis.Redis
) -> None:
    configured = dataclasses.replace(settings, redis_url=REDIS_URL, analytics_ttl_s=60)
    runtime = await Runtime.start(configured, standin=standin)
    today = configured.today()
    fetched = {
        "sor:products": await runtime.source.catalogue(user_token),
        "sor:inventory": await runtime.source.inventory(user_token),
        f"sor:sales:{today}:59": await runtime.source.sales_window(59, user_token),
    }
    for key, value in fetched.items():  # as if fetched 50 s ago
        await runtime.cache.set(key, dataclasses.replace(value, fetched_at=time.time() - 50), 60)
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        answer = await graphql(client, "{ salesAnalytics { kpis { orders } } }", user_token)
    assert "errors" not in answer
    (response_key,) = await redis_db.keys("salesflow:resp:*")
    (analytics_key,) = await redis_db.keys("salesflow:analytics:*")
    assert 0 < await redis_db.ttl(response_key) <= 10
    assert 0 < await redis_db.ttl(analytics_key) <= 10
    await runtime.close()
