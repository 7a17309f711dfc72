"""The cache against a real Redis: typed values, two tiers, generations, stale-while-revalidate,
single-flight, and its fallback to memory."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pandas as pd
import pytest
import redis.asyncio as redis
from support import free_port, graphql, shared_redis_url, wait_until

from salesflow_graphql.adapters.cache import MISS, RAW, Cache, Entry, LocalTier, Typed
from salesflow_graphql.analytics.service import SALES_CODEC
from salesflow_graphql.app import create_app
from salesflow_graphql.config import Settings
from salesflow_graphql.metrics import CACHE_FALLBACKS
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.sor.frames import SALES_WINDOW_CODEC, SalesWindow
from salesflow_graphql.standin import StandIn

REDIS_URL = shared_redis_url(15)
NUMBERS = Typed(dict[str, int])


@pytest.fixture
async def redis_db() -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


def counting(value: object, *, release: asyncio.Event | None = None) -> tuple[list[int], Callable]:
    """A load that returns ``value`` (once ``release`` is set) and the list it counts calls in."""
    calls: list[int] = []

    async def load() -> object:
        calls.append(1)
        if release is not None:
            await release.wait()
        return value

    return calls, load


# ------------------------------------------------------------------ values
async def test_a_sales_window_round_trips_through_redis_as_arrow(
    redis_db: redis.Redis, runtime: Runtime, user_token: str
) -> None:
    window = await runtime.source.sales_window(59, user_token)
    encoded = SALES_WINDOW_CODEC.encode(window)
    assert encoded.startswith(b"\xff\xff\xff\xff")  # an Arrow IPC stream, not a pickle
    writer, reader = Cache(REDIS_URL), Cache(REDIS_URL)
    await writer.put("window", window, 30, codec=SALES_WINDOW_CODEC)
    assert 0 < await redis_db.pttl("salesflow:window") <= 30_000
    entry = await reader.peek("window", codec=SALES_WINDOW_CODEC, layer="test")
    assert entry is not None and entry.fresh(time.time())
    copy: SalesWindow = entry.value
    assert (copy.today, copy.start, copy.fetched_at) == (
        window.today,
        window.start,
        window.fetched_at,
    )
    pd.testing.assert_frame_equal(copy.items, window.items)  # same columns, values and dtypes
    await writer.close()
    await reader.close()


async def test_analytics_round_trip_typed(runtime: Runtime, user_token: str) -> None:
    answer = await runtime.sales_analytics.compute_sales_analytics(
        runtime.source.reading(user_token)
    )
    dated = (123.5, answer)
    assert SALES_CODEC.decode(SALES_CODEC.encode(dated)) == dated


async def test_a_value_that_does_not_decode_is_a_miss_and_never_runs_code(
    redis_db: redis.Redis, tmp_path: Path
) -> None:
    """Whoever can write to Redis cannot run code on a replica: nothing is unpickled."""
    witness = tmp_path / "ran"

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {witness}",))

    header = struct.pack("<Bdd", 1, time.time() + 60, time.time() + 120)
    await redis_db.set("salesflow:planted", header + pickle.dumps(Exploit()), px=60_000)
    await redis_db.set("salesflow:record", pickle.dumps(Exploit()), px=60_000)
    cache = Cache(REDIS_URL)
    calls, load = counting({"fresh": 1})
    assert await cache.get_or_load("planted", 30, load, codec=NUMBERS, layer="test") == {"fresh": 1}
    assert calls == [1], "the planted value was a miss"
    assert await cache.get("record", layer="test", codec=NUMBERS) is MISS
    assert not witness.exists()
    await cache.close()


# ------------------------------------------------------------------ single-flight
async def test_single_flight_loads_once_for_100_concurrent_misses(redis_db: redis.Redis) -> None:
    cache = Cache(REDIS_URL)
    release = asyncio.Event()
    calls, load = counting({"answer": 42}, release=release)
    waiters = [
        asyncio.ensure_future(cache.get_or_load("sf", 30, load, codec=NUMBERS, layer="test"))
        for _ in range(100)
    ]
    await asyncio.sleep(0)  # let every waiter register before the load finishes
    release.set()
    assert [await w for w in waiters] == [{"answer": 42}] * 100
    assert calls == [1]
    other = Cache(REDIS_URL)  # another replica finds it in Redis
    assert await other.get_or_load("sf", 30, load, codec=NUMBERS, layer="test") == {"answer": 42}
    assert calls == [1]
    await cache.close()
    await other.close()


async def test_a_cancelled_caller_does_not_cancel_the_shared_load(redis_db: redis.Redis) -> None:
    cache = Cache(REDIS_URL)
    release = asyncio.Event()
    _, load = counting(b"done", release=release)
    leader = asyncio.ensure_future(cache.get_or_load("k", 30, load, codec=RAW, layer="test"))
    follower = asyncio.ensure_future(cache.get_or_load("k", 30, load, codec=RAW, layer="test"))
    await asyncio.sleep(0)
    leader.cancel()
    release.set()
    assert await follower == b"done"
    await cache.close()


# ------------------------------------------------------------------ tiers
async def test_a_warm_hit_is_answered_by_the_local_tier_without_redis(
    redis_db: redis.Redis,
) -> None:
    cache = Cache(REDIS_URL)
    _, load = counting({"n": 1})
    await cache.get_or_load("hot", 30, load, codec=NUMBERS, layer="test")
    await redis_db.delete("salesflow:hot")  # gone from Redis: only the local tier has it
    assert await cache.get_or_load("hot", 30, load, codec=NUMBERS, layer="test") == {"n": 1}
    await cache.close()


def test_the_local_tier_keeps_to_its_memory_budget_least_recently_used_out_first() -> None:
    tier = LocalTier(max_bytes=1000)
    forever = time.time() + 3600
    for name in ("a", "b", "c"):
        tier.put(name, Entry(name, forever, forever, size=300))
    assert tier.get("a", time.time()) is not None  # a is now the most recently used
    tier.put("d", Entry("d", forever, forever, size=300))
    assert tier.get("b", time.time()) is None and tier.bytes == 900
    tier.put("huge", Entry("huge", forever, forever, size=600))  # over half the budget alone
    assert tier.get("huge", time.time()) is None and len(tier) == 3


# ------------------------------------------------------------------ stale-while-revalidate
async def _expire(cache: Cache, key: str) -> None:
    """Age ``key``'s local entry past its TTL (still within its stale window)."""
    entry = cache.local.get(key, time.time())
    assert entry is not None
    entry.fresh_until = time.time() - 1


async def test_an_expired_value_is_served_at_once_while_exactly_one_refresh_runs() -> None:
    cache = Cache(stale_s=60)
    versions = iter(range(1, 100))
    release = asyncio.Event()
    loads: list[int] = []

    async def load() -> dict[str, int]:
        version = next(versions)
        loads.append(version)
        if version > 1:
            await release.wait()
        return {"version": version}

    def get() -> Awaitable[dict[str, int]]:
        return cache.get_or_load("swr", 30, load, codec=NUMBERS, layer="test", stale=True)

    assert await get() == {"version": 1}
    await _expire(cache, "swr")
    answers = await asyncio.gather(*(get() for _ in range(50)))
    assert answers == [{"version": 1}] * 50, "stale answers at once, nobody waits"
    await wait_until(lambda: len(loads) == 2, what="the background refresh")
    release.set()
    await wait_until(lambda: cache.local.get("swr", time.time()).value == {"version": 2})
    assert loads == [1, 2], "exactly one refresh"
    await cache.close()


async def test_past_its_stale_window_a_value_is_loaded_again_before_answering() -> None:
    cache = Cache(stale_s=60)
    calls, load = counting({"n": 1})
    await cache.get_or_load("k", 30, load, codec=NUMBERS, layer="test", stale=True)
    entry = cache.local.get("k", time.time())
    entry.fresh_until = entry.stale_until = time.time() - 1
    await cache.get_or_load("k", 30, load, codec=NUMBERS, layer="test", stale=True)
    assert calls == [1, 1]
    await cache.close()


async def test_a_refresh_loads_the_layers_beneath_it_fresh() -> None:
    """The outer value's refresh must not be built from the stale inner one."""
    cache = Cache(stale_s=60)
    inner_version = 0

    async def inner() -> dict[str, int]:
        nonlocal inner_version
        inner_version += 1
        return {"inner": inner_version}

    async def outer() -> dict[str, int]:
        got = await cache.get_or_load("inner", 30, inner, codec=NUMBERS, layer="t", stale=True)
        return {"outer_of": got["inner"]}

    def get() -> Awaitable[dict[str, int]]:
        return cache.get_or_load("outer", 30, outer, codec=NUMBERS, layer="t", stale=True)

    assert await get() == {"outer_of": 1}
    await _expire(cache, "inner")
    await _expire(cache, "outer")
    assert await get() == {"outer_of": 1}  # stale, at once
    await wait_until(
        lambda: cache.local.get("outer", time.time()).value == {"outer_of": 2},
        what="the outer value rebuilt from a fresh inner one",
    )
    await cache.close()


async def test_replicas_refresh_an_expired_value_once_between_them(
    redis_db: redis.Redis,
) -> None:
    a, b = Cache(REDIS_URL, stale_s=60), Cache(REDIS_URL, stale_s=60)
    release = asyncio.Event()
    loads: list[str] = []

    def loader(name: str) -> Callable[[], Awaitable[dict[str, int]]]:
        async def load() -> dict[str, int]:
            loads.append(name)
            if len(loads) > 1:
                await release.wait()
            return {"loads": len(loads)}

        return load

    for cache, name in ((a, "a"), (b, "b")):
        await cache.get_or_load("k", 30, loader(name), codec=NUMBERS, layer="t", stale=True)
    assert loads == ["a"]  # b found a's value in Redis
    # Both see it expired, everywhere: in their local tiers and in Redis.
    header = struct.pack("<Bdd", 1, time.time() - 1, time.time() + 60)
    await redis_db.set("salesflow:k", header + NUMBERS.encode({"loads": 1}), px=60_000)
    for cache in (a, b):
        await _expire(cache, "k")
    for cache, name in ((a, "a"), (b, "b")):
        stale = await cache.get_or_load("k", 30, loader(name), codec=NUMBERS, layer="t", stale=True)
        assert stale == {"loads": 1}
    # One replica loads (and waits for the release); the other's attempt found the lock taken.
    await wait_until(
        lambda: len(loads) == 2 and not (a._refreshes and b._refreshes),
        what="one refresh running and the other attempt over",
    )
    release.set()
    await wait_until(lambda: not a._refreshes and not b._refreshes, what="the refresh to end")
    assert len(loads) == 2, "one replica refreshed, the other left it to it"
    await a.close()
    await b.close()


# ------------------------------------------------------------------ generations
async def test_an_invalidation_reaches_another_replica_at_once(redis_db: redis.Redis) -> None:
    a, b = Cache(REDIS_URL), Cache(REDIS_URL)
    await a.start()
    await b.start()
    await wait_until(lambda: a.generation == b.generation != 0, what="both to read the generation")
    calls, load = counting({"n": 1})
    for cache in (a, b):
        await cache.get_or_load("data", 60, load, codec=NUMBERS, layer="t", generation=b.generation)
    before = b.generation
    assert len(b.local) == 1
    await a.invalidate()
    await wait_until(lambda: b.generation == a.generation != before, what="b to hear of it")
    assert len(b.local) == 0, "b dropped what it derived from the old data"
    await b.get_or_load("data", 60, load, codec=NUMBERS, layer="t", generation=b.generation)
    assert len(calls) == 2, "the new generation is loaded anew"
    await a.close()
    await b.close()


async def test_an_invalidation_while_redis_is_down_is_published_when_it_is_back(
    redis_db: redis.Redis,
) -> None:
    cache = Cache(REDIS_URL)
    await cache.start()
    await wait_until(lambda: cache.generation != 0, what="the generation to be read")
    before = cache.generation
    cache.redis = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    await cache.invalidate()
    assert cache.generation != before, "this process forgot its derived data at once"
    cache.redis, dead = redis.Redis.from_url(REDIS_URL), cache.redis
    await dead.aclose()
    await cache._sync()  # what the listener does every few seconds
    assert int(await redis_db.get("salesflow:generation")) == cache.generation != before
    await cache.close()


# ------------------------------------------------------------------ fallback
async def test_a_dead_redis_falls_back_to_memory_without_errors() -> None:
    cache = Cache(f"redis://127.0.0.1:{free_port()}/0", redis_timeout_s=0.2)
    before = CACHE_FALLBACKS._value.get()
    _, load = counting({"n": 7})
    assert await cache.get_or_load("k", 30, load, codec=NUMBERS, layer="test") == {"n": 7}
    assert await cache.add("rec", {"n": 1}, 30, codec=NUMBERS)
    assert not await cache.add("rec", {"n": 2}, 30, codec=NUMBERS)
    assert await cache.get("rec", layer="test", codec=NUMBERS) == {"n": 1}
    assert CACHE_FALLBACKS._value.get() > before
    assert not await cache.ping()
    await cache.close()


# ------------------------------------------------------------------ the gateway
async def test_the_gateway_caches_in_redis_shared_by_replicas(
    settings: Settings, standin: StandIn, user_token: str, redis_db: redis.Redis
) -> None:
    configured = settings.replace(redis_url=REDIS_URL)
    query = "{ salesAnalytics { kpis { revenue orders } } }"
    answers = []
    for _replica in range(2):
        runtime = await Runtime.start(configured, standin=standin)
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            answers.append(await graphql(client, query, user_token))
        await runtime.close()
    assert answers[0]["data"] == answers[1]["data"] and "errors" not in answers[0]
    assert len(standin.requests) == 3, "the second replica found everything in Redis"
    keys = {k.decode().split(":")[1] for k in await redis_db.keys("salesflow:*")}
    assert {"sor", "analytics", "resp", "generation"} <= keys


async def test_the_gateway_answers_when_redis_is_down(
    settings: Settings, standin: StandIn, user_token: str
) -> None:
    configured = settings.replace(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    runtime = await Runtime.start(configured, standin=standin)
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        answer = await graphql(client, "{ salesAnalytics { kpis { orders } } }", user_token)
        ready = await client.get("/readyz")
    assert answer["data"]["salesAnalytics"]["kpis"]["orders"] > 0
    assert ready.status_code == 503 and ready.json()["checks"]["cache"] == "redis:unavailable"
    await runtime.close()


async def test_answers_are_fresh_no_longer_than_the_data_under_them_and_say_its_age(
    settings: Settings, standin: StandIn, user_token: str, redis_db: redis.Redis
) -> None:
    configured = settings.replace(redis_url=REDIS_URL, cache={"analytics_ttl_s": 60, "stale_s": 30})
    runtime = await Runtime.start(configured, standin=standin)
    source, generation = runtime.source, runtime.cache.generation
    today = configured.today()
    fetched = {  # as if fetched 50 s ago
        "sor:products": (await source.catalogue(user_token), source_codec("CATALOGUE")),
        "sor:inventory": (await source.inventory(user_token), source_codec("INVENTORY")),
        f"sor:sales:{today}:59": (await source.sales_window(59, user_token), SALES_WINDOW_CODEC),
    }
    for key, (value, codec) in fetched.items():
        old = dataclasses.replace(value, fetched_at=time.time() - 50)
        await runtime.cache.put(
            key, old, 60, codec=codec, generation=generation, data_at=old.fetched_at, stale=True
        )
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        answer = await graphql(client, "{ salesAnalytics { kpis { orders } } }", user_token)
        assert "errors" not in answer and 50 <= answer["extensions"]["dataAge"] <= 55
        (response_key,) = await redis_db.keys("salesflow:resp:*")
        (analytics_key,) = await redis_db.keys("salesflow:analytics:*")
        for key in (response_key, analytics_key):  # fresh ~10 s more, then stale 30 s at most
            raw = await redis_db.get(key)
            _, fresh_until, stale_until = struct.unpack_from("<Bdd", raw)
            assert 0 < fresh_until - time.time() <= 10
            assert stale_until - fresh_until == 30
            assert 0 < await redis_db.ttl(key) <= 40
        again = await client.post(
            "/graphql",
            json={"query": "{ salesAnalytics { kpis { orders } } }", "variables": {}},
            headers={"Authorization": f"Bearer {user_token}"},
        )  # the same body as graphql() sends
        assert again.headers["x-cache"] == "hit"
        assert again.json()["extensions"]["dataAge"] >= 50, "a cached answer's age is current"
    await runtime.close()


def source_codec(name: str):  # a codec of sor.frames by name
    from salesflow_graphql.sor import frames

    return getattr(frames, f"{name}_CODEC")


async def test_a_stale_answer_is_served_at_once_and_refreshed_by_running_the_request_again(
    settings: Settings, standin: StandIn, user_token: str
) -> None:
    runtime = await Runtime.start(settings.replace(cache={"stale_s": 60}), standin=standin)
    query = "{ salesAnalytics { kpis { orders } } }"
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    headers = {"Authorization": f"Bearer {user_token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        first = await client.post("/graphql", json={"query": query}, headers=headers)
        assert first.headers.get("x-cache") is None
        for key in [k for k in runtime.cache.local._entries if not k.startswith("sor:")]:
            runtime.cache.local.get(key, time.time()).fresh_until = time.time() - 1
        calls = len(standin.requests)
        stale = await client.post("/graphql", json={"query": query}, headers=headers)
        assert stale.headers["x-cache"] == "stale"
        assert stale.json()["data"] == first.json()["data"]

        async def refreshed() -> bool:
            answer = await client.post("/graphql", json={"query": query}, headers=headers)
            return answer.headers["x-cache"] == "hit"

        await wait_until(refreshed, what="the answer refreshed in the background")
        assert len(standin.requests) == calls, "its data was still fresh: no Java call"
    await runtime.close()
