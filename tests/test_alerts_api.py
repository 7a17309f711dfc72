"""The alerts API on the embedded default: query, runAnomalyCheck, and the subscription over WebSocket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from alerts_support import GraphQLWebSocket, subscription, synthetic_alert
from support import error_codes, graphql, serving, wait_until

from salesflow_graphql.alerts.model import Severity
from salesflow_graphql.app import create_app
from salesflow_graphql.config import Settings
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.standin import StandIn

RUN_CHECK = """mutation { runAnomalyCheck { checkedSeries notified found suppressed
  alerts { id kind severity subject date } } }"""
RECENT = "query($limit: Int!, $min: Severity!) { alerts(limit: $limit, minSeverity: $min) { id subject severity } }"


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.replace(alerts={"check_interval_minutes": 0, "scan_days": 60})


@pytest.fixture
async def served(api_settings: Settings, standin: StandIn) -> AsyncIterator[tuple[Runtime, str]]:
    runtime = await Runtime.start(api_settings, standin=standin)
    try:
        async with serving(create_app(runtime=runtime)) as url:
            yield runtime, url
    finally:
        await runtime.close()


def _ws(url: str) -> str:
    return url.replace("http://", "ws://") + "/graphql"


async def test_run_anomaly_check_is_for_admins_only(
    served: tuple[Runtime, str], user_token: str, admin_token: str
) -> None:
    _, url = served
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        refused = await graphql(client, RUN_CHECK, user_token)
        assert error_codes(refused) == ["FORBIDDEN"] and refused["data"] is None
        anonymous = await graphql(client, RUN_CHECK, None, expect_status=401)
        assert error_codes(anonymous) == ["UNAUTHENTICATED"]
        done = await graphql(client, RUN_CHECK, admin_token)
    run = done["data"]["runAnomalyCheck"]
    assert run["checkedSeries"] > 200 and len(run["alerts"]) > 20
    assert run["found"] >= len(run["alerts"])


async def test_the_alerts_query_is_newest_first_filtered_and_never_cached(
    served: tuple[Runtime, str], user_token: str
) -> None:
    runtime, url = served
    async with httpx.AsyncClient(base_url=url) as client:
        empty = await graphql(client, RECENT, user_token, {"limit": 10, "min": "LOW"})
        assert empty == {"data": {"alerts": []}}
        for subject, severity in [
            ("A", Severity.LOW),
            ("B", Severity.CRITICAL),
            ("C", Severity.MEDIUM),
        ]:
            await runtime.alerts.bus.publish(synthetic_alert(subject, severity=severity))
        # The same document again: a cached answer would still be empty.
        listed = await graphql(client, RECENT, user_token, {"limit": 10, "min": "LOW"})
        assert [a["subject"] for a in listed["data"]["alerts"]] == ["C", "B", "A"]
        serious = await graphql(client, RECENT, user_token, {"limit": 10, "min": "MEDIUM"})
        assert [a["subject"] for a in serious["data"]["alerts"]] == ["C", "B"]
        two = await graphql(client, RECENT, user_token, {"limit": 2, "min": "LOW"})
        assert len(two["data"]["alerts"]) == 2
        bad = await graphql(client, RECENT, user_token, {"limit": 0, "min": "LOW"})
        assert error_codes(bad) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("token", ["missing", "forged"])
async def test_a_subscription_without_a_valid_token_is_refused(
    served: tuple[Runtime, str], user_token: str, token: str
) -> None:
    _, url = served
    payload = {} if token == "missing" else {"Authorization": f"Bearer {user_token[:-3]}xyz"}
    async with websockets.connect(_ws(url), subprotocols=["graphql-transport-ws"]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        query, variables = subscription()
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables},
                }
            )
        )
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:  # nothing but the close may arrive: no ack, no alert
                message = json.loads(await socket.recv())
                assert message["type"] not in ("connection_ack", "next"), message
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_a_subscriber_sees_the_alerts_of_a_check_live(
    served: tuple[Runtime, str], user_token: str, admin_token: str
) -> None:
    _, url = served
    async with GraphQLWebSocket.connect(_ws(url), user_token) as ws:
        await ws.subscribe("live", *subscription("HIGH"))
        await wait_until(lambda: served[0].alerts.bus.subscribers == 1, what="the subscription")
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            run = (await graphql(client, RUN_CHECK, admin_token))["data"]["runAnomalyCheck"]
        serious = [a for a in run["alerts"] if a["severity"] in ("HIGH", "CRITICAL")]
        received = await ws.alerts(len(serious))
        assert [a["id"] for a in received] == [a["id"] for a in serious]
        assert all(a["product"] is None or a["product"]["sku"] == a["subject"] for a in received)
        assert await ws.quiet(0.3) == []


async def test_a_reconnecting_subscriber_gets_each_missed_alert_once_in_order_then_live(
    served: tuple[Runtime, str], user_token: str
) -> None:
    runtime, url = served
    bus = runtime.alerts.bus
    async with GraphQLWebSocket.connect(_ws(url), user_token) as ws:
        await ws.subscribe("1", *subscription())
        await wait_until(lambda: bus.subscribers == 1, what="the subscription")
        first = [await bus.publish(synthetic_alert(f"SEEN-{i}")) for i in range(2)]
        seen = await ws.alerts(2)
        assert [a["id"] for a in seen] == [a.id for a in first]
    await wait_until(lambda: bus.subscribers == 0, what="the disconnect")

    missed = [await bus.publish(synthetic_alert(f"MISSED-{i}")) for i in range(3)]
    async with GraphQLWebSocket.connect(_ws(url), user_token) as ws:
        await ws.subscribe("2", *subscription(after=seen[-1]["id"]))
        replayed = await ws.alerts(3)
        assert [a["id"] for a in replayed] == [a.id for a in missed]
        live = [await bus.publish(synthetic_alert(f"LIVE-{i}")) for i in range(2)]
        assert [a["id"] for a in await ws.alerts(2)] == [a.id for a in live]
        assert await ws.quiet(0.3) == []  # nothing twice


async def test_after_must_be_an_alert_id(served: tuple[Runtime, str], user_token: str) -> None:
    _, url = served
    async with GraphQLWebSocket.connect(_ws(url), user_token) as ws:
        await ws.subscribe("1", *subscription(after="yesterday"))
        message = await ws.message()
    assert message["type"] in ("error", "next")
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_idle_subscriptions_get_server_pings_in_text_frames(
    api_settings: Settings, standin: StandIn, user_token: str
) -> None:
    runtime = await Runtime.start(api_settings.replace(ws={"keepalive_s": 0.1}), standin=standin)
    try:
        async with serving(create_app(runtime=runtime)) as url:
            async with GraphQLWebSocket.connect(_ws(url), user_token) as ws:
                await ws.subscribe("idle", *subscription())
                assert await ws.quiet(0.5) == []  # nothing but pings (answered with pong)
                assert ws.pings >= 2 and ws.text_frames
    finally:
        await runtime.close()


async def test_subscriptions_per_connection_are_limited(
    api_settings: Settings, standin: StandIn, user_token: str
) -> None:
    runtime = await Runtime.start(
        api_settings.replace(ws={"max_subscriptions": 2}), standin=standin
    )
    try:
        async with serving(create_app(runtime=runtime)) as url:
            async with GraphQLWebSocket.connect(_ws(url), user_token) as ws:
                for operation in ("1", "2", "3"):
                    await ws.subscribe(operation, *subscription())
                refused = await ws.message()
                assert refused["type"] == "error" and refused["id"] == "3"
                assert "limit" in refused["payload"][0]["message"].lower()
                await wait_until(
                    lambda: runtime.alerts.bus.subscribers == 2, what="two subscriptions"
                )
    finally:
        await runtime.close()


async def test_alert_count_is_the_total_the_recent_list_is_part_of(
    served: tuple[Runtime, str], user_token: str, admin_token: str
) -> None:
    _, url = served
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        raised = (await graphql(client, RUN_CHECK, admin_token))["data"]["runAnomalyCheck"]
        answer = await graphql(
            client,
            "{ all: alertCount high: alertCount(minSeverity: HIGH)"
            " recent: alerts(limit: 30) { id } highs: alerts(limit: 500, minSeverity: HIGH) { id } }",
            user_token,
        )
    data = answer["data"]
    assert data["all"] == len(raised["alerts"]) > 30 == len(data["recent"])
    assert data["high"] == len(data["highs"]) < data["all"]
