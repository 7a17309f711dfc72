"""The one retry policy (salesflow_graphql/retry.py) that the Java client, jobs and mail share."""

from __future__ import annotations

import pytest

from salesflow_graphql.retry import RetryPolicy


def test_waits_double_and_keep_their_lower_half_with_equal_jitter() -> None:
    policy = RetryPolicy(attempts=6, first_s=1.0, cap_s=5.0)
    for retry, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (5, 5.0)]:
        waits = [policy.delay(retry) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits), (retry, min(waits), max(waits))
        assert max(waits) - min(waits) > ceiling / 4, "the upper half is drawn at random"


def test_a_server_given_wait_replaces_the_draw_within_the_cap() -> None:
    policy = RetryPolicy(attempts=3, first_s=1.0, cap_s=5.0)
    assert policy.delay(1, retry_after=0.0) == 0.0
    assert policy.delay(2, retry_after=3.0) == 3.0
    assert policy.delay(1, retry_after=120.0) == 5.0
    assert policy.delay(1, retry_after=-1.0) == 0.0


async def test_call_retries_only_what_it_is_told_and_gives_up_after_its_attempts() -> None:
    policy = RetryPolicy(attempts=3, first_s=0.0)
    tries: list[int] = []
    heard: list[tuple[int, float]] = []

    async def flaky() -> str:
        tries.append(len(tries) + 1)
        if len(tries) < 3:
            raise ConnectionError("refused")
        return "ok"

    result = await policy.call(
        flaky, retry_on=(ConnectionError,), on_retry=lambda n, _, w: heard.append((n, w))
    )
    assert result == "ok" and tries == [1, 2, 3] and heard == [(1, 0.0), (2, 0.0)]

    tries.clear()

    async def always() -> str:
        tries.append(1)
        raise ConnectionError("still refused")

    with pytest.raises(ConnectionError, match="still refused"):
        await policy.call(always, retry_on=(ConnectionError,))
    assert len(tries) == 3

    async def wrong() -> str:
        tries.append(1)
        raise ValueError("not transient")

    tries.clear()
    with pytest.raises(ValueError):
        await policy.call(wrong, retry_on=(ConnectionError,))
    assert len(tries) == 1
