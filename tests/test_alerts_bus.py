"""The alert bus: ordered ids, replay after an id exactly once and in order, then live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from alerts_support import ALERTS_REDIS_URL, flush_alerts_db, synthetic_alert
from support import wait_until

from salesflow_graphql.alerts import bus as bus_module
from salesflow_graphql.alerts.bus import AlertBus, MemoryAlertBus, RedisAlertBus
from salesflow_graphql.alerts.model import Alert, Severity, parse_alert_id


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[AlertBus]:
    if request.param == "memory":
        yield MemoryAlertBus(maxlen=1000)
        return
    await flush_alerts_db()
    redis_bus = RedisAlertBus(ALERTS_REDIS_URL, maxlen=1000)
    yield redis_bus
    await redis_bus.close()
    await flush_alerts_db()


class Collector:
    """Consumes a subscription in a task; ``alerts`` grows as they arrive."""

    def __init__(self, bus: AlertBus, after: str | None = None) -> None:
        self.alerts: list[Alert] = []
        self._stream = bus.subscribe(after)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for alert in self._stream:
            self.alerts.append(alert)

    async def until(self, count: int) -> list[Alert]:
        await wait_until(lambda: len(self.alerts) >= count, what=f"{count} alerts")
        return self.alerts

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def _subscribed(bus: AlertBus, before: int = 0) -> None:
    await wait_until(lambda: bus.subscribers > before, what="the subscription to register")


async def test_ids_grow_and_recent_alerts_come_newest_first(bus: AlertBus) -> None:
    published = [
        await bus.publish(synthetic_alert(f"SKU-{i}", severity=s))
        for i, s in enumerate([Severity.LOW, Severity.HIGH, Severity.MEDIUM, Severity.CRITICAL])
    ]
    keys = [parse_alert_id(a.id) for a in published]
    assert keys == sorted(keys) and len(set(keys)) == 4
    recent = await bus.recent(3)
    assert [a.subject for a in recent] == ["SKU-3", "SKU-2", "SKU-1"]
    serious = await bus.recent(10, Severity.HIGH)
    assert [a.subject for a in serious] == ["SKU-3", "SKU-1"]
    assert recent[0] == published[3]


async def test_the_count_is_every_kept_alert_at_or_above_a_severity(bus: AlertBus) -> None:
    assert await bus.count() == 0
    severities = [Severity.LOW, Severity.HIGH, Severity.MEDIUM, Severity.CRITICAL, Severity.LOW]
    for i, severity in enumerate(severities * 120):  # 600: more than one page of the stream
        await bus.publish(synthetic_alert(f"SKU-{i}", severity=severity))
    assert await bus.count() == 600
    assert await bus.count(Severity.MEDIUM) == 360
    assert await bus.count(Severity.CRITICAL) == 120


async def test_a_subscriber_gets_new_alerts_only_each_once_in_order(bus: AlertBus) -> None:
    await bus.publish(synthetic_alert("OLD"))
    collector = Collector(bus)
    await _subscribed(bus)
    for i in range(5):
        await bus.publish(synthetic_alert(f"NEW-{i}"))
    alerts = await collector.until(5)
    assert [a.subject for a in alerts] == [f"NEW-{i}" for i in range(5)]
    await collector.stop()


async def test_replay_after_an_id_then_live_exactly_once_in_order(bus: AlertBus) -> None:
    seen = [await bus.publish(synthetic_alert(f"A-{i}")) for i in range(3)]
    missed = [await bus.publish(synthetic_alert(f"B-{i}")) for i in range(4)]
    collector = Collector(bus, after=seen[-1].id)
    await collector.until(4)
    live = [await bus.publish(synthetic_alert(f"C-{i}")) for i in range(3)]
    alerts = await collector.until(7)
    assert [a.id for a in alerts] == [a.id for a in missed + live]
    assert len(collector.alerts) == 7
    await collector.stop()


async def test_alerts_published_while_replaying_are_neither_lost_nor_doubled(bus: AlertBus) -> None:
    first = await bus.publish(synthetic_alert("FIRST"))
    backlog = [await bus.publish(synthetic_alert(f"BACKLOG-{i}")) for i in range(600)]
    collector = Collector(bus, after=first.id)
    during = [await bus.publish(synthetic_alert(f"DURING-{i}")) for i in range(50)]
    alerts = await collector.until(650)
    assert [a.id for a in alerts] == [a.id for a in backlog + during]


async def test_a_subscriber_that_falls_behind_catches_up_from_the_log(
    bus: AlertBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bus_module, "SUBSCRIBER_QUEUE", 4)
    stream = bus.subscribe()
    first = asyncio.ensure_future(anext(stream))  # subscribes, then waits for an alert
    await wait_until(lambda: bus.subscribers == 1, what="the subscription to register")
    # Forty alerts in a burst, while the subscriber reads none: its queue of 4 overflows.
    published = [await bus.publish(synthetic_alert(f"BURST-{i}")) for i in range(40)]
    got = [await first]
    while len(got) < 40:
        got.append(await asyncio.wait_for(anext(stream), 10))
    assert [a.id for a in got] == [a.id for a in published]
    await stream.aclose()


async def test_redis_ids_grow_across_replicas() -> None:
    await flush_alerts_db()
    replica_a = RedisAlertBus(ALERTS_REDIS_URL)
    replica_b = RedisAlertBus(ALERTS_REDIS_URL)
    try:
        collector = Collector(replica_b)
        await _subscribed(replica_b)
        ids = []
        for i in range(10):
            publisher = replica_a if i % 2 else replica_b
            ids.append((await publisher.publish(synthetic_alert(f"X-{i}"))).id)
        assert [parse_alert_id(i) for i in ids] == sorted(parse_alert_id(i) for i in ids)
        alerts = await collector.until(10)
        assert [a.id for a in alerts] == ids
        await collector.stop()
    finally:
        await replica_a.close()
        await replica_b.close()
        await flush_alerts_db()


async def test_one_alert_reaches_many_subscribers(bus: AlertBus) -> None:
    collectors = [Collector(bus) for _ in range(200)]
    await wait_until(lambda: bus.subscribers == 200, what="200 subscriptions")
    alert = await bus.publish(synthetic_alert("EVERYONE"))
    for collector in collectors:
        assert [a.id for a in await collector.until(1)] == [alert.id]
    await asyncio.gather(*(c.stop() for c in collectors))
    await wait_until(lambda: bus.subscribers == 0, what="subscriptions to end")
