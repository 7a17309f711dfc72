"""Per-user rate limiting: token buckets in memory and in Redis, and the 429 answer.

Time is a fake clock handed to the buckets: refills are tested without sleeping.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as redis
from support import error_codes, graphql, shared_redis_url

from salesflow_graphql.adapters.ratelimit import (
    MemoryTokenBuckets,
    RateLimiter,
    retry_after_seconds,
)
from salesflow_graphql.app import create_app
from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings
from salesflow_graphql.runtime import Runtime

REDIS_URL = shared_redis_url(15)
QUERY = "{ salesAnalytics { kpis { revenue } } }"


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_rate_limiting_is_on_by_default() -> None:
    settings = Settings()
    assert settings.edge.rate_limit_per_s == 20.0
    assert settings.edge.rate_limit_burst == 40
    assert RateLimiter.from_settings(settings).enabled
    env = Settings.from_env({"SALESFLOW_RATE_LIMIT_PER_S": "0"})
    assert not RateLimiter.from_settings(env).enabled


def test_a_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    buckets = MemoryTokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("u") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("u") == pytest.approx(0.5)  # one token comes back in 1/rate s
    assert buckets.take("other") == 0.0, "each user has their own bucket"
    clock.advance(0.5)
    assert buckets.take("u") == 0.0
    assert buckets.take("u") == pytest.approx(0.5)
    clock.advance(100)  # a long pause refills up to the burst, not beyond
    assert [buckets.take("u") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("u") > 0


def test_refused_requests_do_not_push_the_wait_further() -> None:
    clock = FakeClock()
    buckets = MemoryTokenBuckets(rate=1.0, burst=1, clock=clock)
    assert buckets.take("u") == 0.0
    assert buckets.take("u") == pytest.approx(1.0)
    assert buckets.take("u") == pytest.approx(1.0)
    clock.advance(1.0)
    assert buckets.take("u") == 0.0


def test_the_memory_buckets_are_bounded() -> None:
    buckets = MemoryTokenBuckets(rate=1.0, burst=1, clock=FakeClock(), max_keys=10)
    for i in range(100):
        buckets.take(f"user-{i}")
    assert len(buckets._buckets) == 10


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after_seconds(0.01) == 1
    assert retry_after_seconds(1.0) == 1
    assert retry_after_seconds(1.2) == 2


async def test_a_disabled_limiter_allows_everything() -> None:
    limiter = RateLimiter(0.0, 1)
    assert [await limiter.check("u") for _ in range(100)] == [0.0] * 100


# --------------------------------------------------------------------- Redis


@pytest.fixture
async def redis_limiter() -> AsyncIterator[tuple[RateLimiter, FakeClock, redis.Redis]]:
    namespace = f"test-rate-{uuid.uuid4().hex}"  # own keys: other runs share this db
    clock = FakeClock()
    limiter = RateLimiter(2.0, 3, redis_url=REDIS_URL, clock=clock, namespace=namespace)
    client = redis.Redis.from_url(REDIS_URL)
    yield limiter, clock, client
    keys = await client.keys(f"{namespace}:*")
    if keys:
        await client.delete(*keys)
    await client.aclose()
    await limiter.close()


async def test_redis_buckets_are_shared_by_replicas(
    redis_limiter: tuple[RateLimiter, FakeClock, redis.Redis],
) -> None:
    limiter, clock, client = redis_limiter
    other = RateLimiter(2.0, 3, redis_url=REDIS_URL, clock=clock, namespace=limiter.namespace)
    try:
        assert [await limiter.check("u") for _ in range(2)] == [0.0, 0.0]
        assert await other.check("u") == 0.0, "the third token, taken through another replica"
        assert await other.check("u") == pytest.approx(0.5)
        assert await limiter.check("u") == pytest.approx(0.5)
        assert await limiter.check("v") == 0.0
        clock.advance(0.5)
        assert await limiter.check("u") == 0.0
        key = f"{limiter.namespace}:u"
        assert await client.exists(key)
        assert 0 < await client.pttl(key) <= 3 / 2 * 1000 + 1000, "idle buckets expire"
        assert limiter.memory._buckets == {}, "nothing was counted in memory"
    finally:
        await other.close()


async def test_an_unreachable_redis_falls_back_to_memory_without_error() -> None:
    clock = FakeClock()
    limiter = RateLimiter(
        1.0, 2, redis_url="redis://127.0.0.1:1/0", clock=clock, redis_timeout_s=0.2
    )
    try:
        assert [await limiter.check("u") for _ in range(2)] == [0.0, 0.0]
        assert await limiter.check("u") == pytest.approx(1.0), "still limited, in memory"
        clock.advance(1.0)
        assert await limiter.check("u") == 0.0
    finally:
        await limiter.close()


# ------------------------------------------------------------------- gateway


@pytest.fixture
async def limited_gateway(runtime: Runtime) -> AsyncIterator[tuple[httpx.AsyncClient, FakeClock]]:
    """The gateway with a 1 request/s, burst 2 limit on a fake clock."""
    clock = FakeClock()
    runtime.rate_limiter = RateLimiter(1.0, 2, clock=clock)
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client, clock


async def test_over_the_limit_a_user_gets_429_with_retry_after(
    limited_gateway: tuple[httpx.AsyncClient, FakeClock], settings: Settings, user_token: str
) -> None:
    client, clock = limited_gateway
    first = await client.post(
        "/graphql", json={"query": QUERY}, headers={"Authorization": f"Bearer {user_token}"}
    )
    assert first.status_code == 200 and "errors" not in first.json()
    second = await client.post(
        "/graphql", json={"query": QUERY}, headers={"Authorization": f"Bearer {user_token}"}
    )
    assert second.headers.get("x-cache") == "hit", "a cached answer ..."
    refused = await client.post(
        "/graphql", json={"query": QUERY}, headers={"Authorization": f"Bearer {user_token}"}
    )  # ... counted all the same
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["x-request-id"]
    answer = refused.json()
    assert error_codes(answer) == ["RATE_LIMITED"]
    assert answer["errors"][0]["extensions"]["retryAfter"] == 1
    assert "data" not in answer

    # Buckets are per JWT subject (the fixtures' user and admin tokens share one).
    other = mint_access_token(settings.auth.jwt_secret, Role.USER, subject="+15550000001")
    assert "errors" not in await graphql(client, QUERY, other), "another user is not held"
    clock.advance(1.0)
    assert "errors" not in await graphql(client, QUERY, user_token), "a token came back"
    await graphql(client, QUERY, user_token, expect_status=429)


async def test_unauthenticated_requests_are_refused_before_counting(
    limited_gateway: tuple[httpx.AsyncClient, FakeClock], user_token: str
) -> None:
    client, _ = limited_gateway
    for _ in range(5):
        await graphql(client, QUERY, None, expect_status=401)
    assert "errors" not in await graphql(client, QUERY, user_token)


async def test_the_runtime_wires_the_limiter_from_settings(runtime: Runtime) -> None:
    assert runtime.rate_limiter is not None
    assert runtime.rate_limiter.rate == runtime.settings.edge.rate_limit_per_s
    assert runtime.rate_limiter.burst == runtime.settings.edge.rate_limit_burst
    assert runtime.rate_limiter.backend == "memory"
