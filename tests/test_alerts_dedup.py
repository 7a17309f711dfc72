"""The alert ledger: no (kind, subject, date) twice, a cooldown per subject, one check at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta

import msgspec
import pytest
from alerts_support import ALERTS_REDIS_URL, flush_alerts_db, synthetic_alert

from salesflow_graphql.alerts.dedup import (
    AlertLedger,
    Claim,
    MemoryAlertLedger,
    RedisAlertLedger,
)
from salesflow_graphql.alerts.model import AlertKind
from salesflow_graphql.errors import UpstreamUnavailable

MONDAY = date(2026, 3, 2)


@pytest.fixture(params=["memory", "redis"])
async def ledger(request: pytest.FixtureRequest) -> AsyncIterator[AlertLedger]:
    if request.param == "memory":
        yield MemoryAlertLedger(cooldown_days=3, retention_days=30)
        return
    await flush_alerts_db()
    redis_ledger = RedisAlertLedger(ALERTS_REDIS_URL, cooldown_days=3, retention_days=30)
    yield redis_ledger
    await redis_ledger.close()
    await flush_alerts_db()


def _on(subject: str, day: date, kind: AlertKind = AlertKind.SALES_SPIKE):
    return msgspec.structs.replace(synthetic_alert(subject, day=day), kind=kind)


async def test_the_same_kind_subject_and_date_is_claimed_once(ledger: AlertLedger) -> None:
    first = await ledger.claim(_on("SKU-1", MONDAY))
    again = await ledger.claim(_on("SKU-1", MONDAY))
    assert (first, again) == (Claim.NEW, Claim.DUPLICATE)


async def test_a_subject_cools_down_for_some_days_after_an_alert(ledger: AlertLedger) -> None:
    verdicts = [await ledger.claim(_on("SKU-1", MONDAY + timedelta(days=n))) for n in range(5)]
    assert verdicts == [
        Claim.NEW,
        Claim.COOLING_DOWN,
        Claim.COOLING_DOWN,
        Claim.NEW,
        Claim.COOLING_DOWN,
    ]
    # Another subject, or another kind on the same subject, has its own cooldown.
    assert await ledger.claim(_on("SKU-2", MONDAY + timedelta(days=1))) is Claim.NEW
    drop = _on("SKU-1", MONDAY + timedelta(days=1), AlertKind.SALES_DROP)
    assert await ledger.claim(drop) is Claim.NEW


async def test_a_suppressed_day_never_surfaces_later(ledger: AlertLedger) -> None:
    assert await ledger.claim(_on("SKU-1", MONDAY)) is Claim.NEW
    assert await ledger.claim(_on("SKU-1", MONDAY + timedelta(days=2))) is Claim.COOLING_DOWN
    assert await ledger.claim(_on("SKU-1", MONDAY + timedelta(days=6))) is Claim.NEW
    # Day +2 is 4 days from the newest alert (day +6), outside its cooldown, but it was
    # seen once already: it stays quiet.
    assert await ledger.claim(_on("SKU-1", MONDAY + timedelta(days=2))) is Claim.DUPLICATE


async def test_a_released_claim_can_be_raised_again(ledger: AlertLedger) -> None:
    alert = _on("SKU-1", MONDAY)
    assert await ledger.claim(alert) is Claim.NEW
    await ledger.release(alert)  # its publication failed
    assert await ledger.claim(alert) is Claim.NEW


async def test_concurrent_claims_of_one_alert_give_exactly_one_winner(ledger: AlertLedger) -> None:
    verdicts = await asyncio.gather(*(ledger.claim(_on("SKU-9", MONDAY)) for _ in range(20)))
    assert verdicts.count(Claim.NEW) == 1


async def test_checks_hold_the_check_lock_one_at_a_time(ledger: AlertLedger) -> None:
    inside = 0
    most = 0

    async def check() -> None:
        nonlocal inside, most
        async with ledger.check_lock(timeout_s=10):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.05)  # a check doing its work while holding the lock
            inside -= 1

    await asyncio.gather(check(), check(), check())
    assert most == 1


async def test_a_check_that_cannot_get_the_lock_in_time_is_refused(ledger: AlertLedger) -> None:
    async with ledger.check_lock(timeout_s=10):
        with pytest.raises(UpstreamUnavailable, match="still running"):
            async with ledger.check_lock(timeout_s=0.3):
                pass


async def test_two_redis_ledgers_share_their_memory() -> None:
    await flush_alerts_db()
    one = RedisAlertLedger(ALERTS_REDIS_URL, cooldown_days=3, retention_days=30)
    two = RedisAlertLedger(ALERTS_REDIS_URL, cooldown_days=3, retention_days=30)
    try:
        assert await one.claim(_on("SKU-1", MONDAY)) is Claim.NEW
        assert await two.claim(_on("SKU-1", MONDAY)) is Claim.DUPLICATE
        assert await two.claim(_on("SKU-1", MONDAY + timedelta(days=1))) is Claim.COOLING_DOWN
    finally:
        await one.close()
        await two.close()
        await flush_alerts_db()
