"""Protection of the endpoint: body size, request deadline, CORS, WebSocket limits.

Limits that depend on how bytes arrive (a body streamed without a length, a
body that never finishes, WebSocket frames and close codes) are tested over
real loopback sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import websockets
from alerts_support import GraphQLWebSocket
from support import error_codes, graphql, serving, wait_until

from salesflow_graphql.adapters.ratelimit import RateLimiter
from salesflow_graphql.app import create_app
from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings, SettingsError
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.standin import StandIn

QUERY = "{ salesAnalytics { kpis { revenue orders } } }"
SUBSCRIBE_ALERTS = "subscription { alerts { id } }"
RUN_CHECK = "mutation { runAnomalyCheck { checkedSeries found } }"
PREFLIGHT = {"Apollo-Require-Preflight": "true"}


def _client(runtime: Runtime) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_protection_is_on_by_default() -> None:
    settings = Settings.from_env({})
    assert settings.edge.max_body_bytes == 1024 * 1024
    assert settings.edge.request_timeout_s == 30
    assert settings.edge.upload_timeout_s == 120
    assert settings.edge.cors_origin_list == [], "same origin only"
    assert settings.ws.max_connections_per_user == 10
    assert settings.ws.init_timeout_s == 10
    assert settings.ws.max_message_bytes == 64 * 1024


def test_cors_origins_must_be_origins() -> None:
    assert Settings.from_env(
        {"SALESFLOW_CORS_ORIGINS": "https://dash.example, http://localhost:5173/"}
    ).edge.cors_origin_list == ["https://dash.example", "http://localhost:5173"]
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"SALESFLOW_CORS_ORIGINS": "https://dash.example/app,dash.example"})
    assert len(caught.value.problems) == 2
    assert all("SALESFLOW_CORS_ORIGINS" in problem for problem in caught.value.problems)


# ------------------------------------------------------------------------ body size


async def test_a_json_body_over_the_limit_is_refused_with_413_while_it_streams(
    started: Callable[..., Any], user_token: str
) -> None:
    padding = "x" * 64 * 1024
    document = json.dumps({"query": QUERY, "variables": {"padding": padding}}).encode()

    async def chunks() -> AsyncIterator[bytes]:  # no content-length: counted as it arrives
        for start in range(0, len(document), 1024):
            yield document[start : start + 1024]

    async with (
        started(edge={"max_body_bytes": 4096}) as runtime,
        serving(create_app(runtime=runtime)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        headers = {**_auth(user_token), "Content-Type": "application/json"}
        streamed = await client.post("/graphql", content=chunks(), headers=headers)
        declared = await client.post("/graphql", content=document, headers=headers)
        small = await client.post("/graphql", json={"query": QUERY}, headers=_auth(user_token))
    for refused in (streamed, declared):
        assert refused.status_code == 413, refused.text
        assert refused.headers["x-request-id"]
        (error,) = refused.json()["errors"]
        assert error["extensions"] == {
            "code": "BAD_USER_INPUT",
            "reason": "PAYLOAD_TOO_LARGE",
            "limitBytes": 4096,
        }
        assert "request body" in error["message"]
    assert "chunked" in streamed.request.headers.get("transfer-encoding", "")
    assert small.status_code == 200 and "errors" not in small.json()


async def test_uploads_keep_their_own_larger_limit(
    started: Callable[..., Any], admin_token: str
) -> None:
    rows = "".join(f"SKU-{i:05d},Product {i},{i % 90 + 1}.50,{i % 40}\n" for i in range(400))
    sheet = ("sku,name,price,stock\n" + rows).encode()
    assert len(sheet) > 8192
    operations = {
        "query": "mutation($f: Upload!) { importExcel(file: $f, kind: PRODUCTS) { status } }",
        "variables": {"f": None},
    }
    async with started(edge={"max_body_bytes": 4096}) as runtime, _client(runtime) as client:
        response = await client.post(
            "/graphql",
            data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.f"]})},
            files={"0": ("prices.csv", sheet, "text/csv")},
            headers={**_auth(admin_token), **PREFLIGHT},
        )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["importExcel"]["status"] != "REJECTED"


# ------------------------------------------------------------------------ deadline


async def test_a_query_over_the_time_limit_is_stopped_with_504(
    started: Callable[..., Any], standin: StandIn, user_token: str
) -> None:
    standin.faults.latency_s = 3.0
    async with started(edge={"request_timeout_s": 0.3}) as runtime, _client(runtime) as client:
        began = time.monotonic()
        response = await client.post("/graphql", json={"query": QUERY}, headers=_auth(user_token))
        took = time.monotonic() - began
        standin.faults.latency_s = 0.0
        # (Not the same query: its Java fetch is still under way, shared by later requests.)
        after = await graphql(client, "{ alerts(limit: 1) { id } }", user_token)
    assert response.status_code == 504, response.text
    assert took < 2, "stopped at the deadline, not after Java answered"
    (error,) = response.json()["errors"]
    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "reason": "TIMEOUT",
        "timeoutSeconds": 0.3,
    }
    assert response.headers["x-request-id"]
    assert "errors" not in after, "the gateway goes on serving"


async def test_a_started_mutation_is_never_stopped_by_the_time_limit(
    started: Callable[..., Any], standin: StandIn, admin_token: str
) -> None:
    standin.faults.latency_s = 0.6  # each Java call outlasts the deadline
    try:
        async with started(edge={"request_timeout_s": 0.2}) as runtime, _client(runtime) as client:
            answer = await graphql(client, RUN_CHECK, admin_token)
    finally:
        standin.faults.latency_s = 0.0
    assert "errors" not in answer, answer
    assert answer["data"]["runAnomalyCheck"]["checkedSeries"] > 0


async def test_a_body_that_does_not_arrive_in_time_gets_408(
    started: Callable[..., Any], user_token: str
) -> None:
    async with (
        started(edge={"request_timeout_s": 0.3}) as runtime,
        serving(create_app(runtime=runtime)) as url,
    ):
        port = int(url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(
                (
                    "POST /graphql HTTP/1.1\r\nHost: gateway\r\n"
                    f"Authorization: Bearer {user_token}\r\n"
                    "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
                    '{"query": "{ salesAn'  # ... and the rest never comes
                ).encode()
            )
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), timeout=10)
        finally:
            writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    assert b"connection: close" in head.lower()
    (error,) = json.loads(body)["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["reason"] == "REQUEST_TIMEOUT"


# ----------------------------------------------------------------------------- CORS


async def test_cors_lets_the_configured_origins_call_and_read_the_answer(
    started: Callable[..., Any], user_token: str
) -> None:
    dash = "https://dash.example"
    async with started(edge={"cors_origins": dash}) as runtime, _client(runtime) as client:
        preflight = await client.options(
            "/graphql",
            headers={
                "Origin": dash,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,apollo-require-preflight,x-request-id",
            },
        )
        stranger = await client.options(
            "/graphql",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        call = await client.post(
            "/graphql", json={"query": QUERY}, headers={**_auth(user_token), "Origin": dash}
        )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == dash
    allowed = preflight.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "content-type", "apollo-require-preflight", "x-request-id"):
        assert header in allowed
    assert "access-control-allow-credentials" not in preflight.headers
    assert stranger.status_code == 400
    assert "access-control-allow-origin" not in stranger.headers
    assert call.status_code == 200
    assert call.headers["access-control-allow-origin"] == dash
    exposed = call.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed and "retry-after" in exposed


async def test_without_cors_origins_no_other_origin_is_allowed(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    preflight = await gateway.options(
        "/graphql",
        headers={"Origin": "https://dash.example", "Access-Control-Request-Method": "POST"},
    )
    call = await gateway.post(
        "/graphql",
        json={"query": QUERY},
        headers={**_auth(user_token), "Origin": "https://dash.example"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in call.headers


# ----------------------------------------------------------------------- WebSockets


async def _connection_init(url: str, token: str, **connect: Any) -> tuple[str, object]:
    """connection_init on a fresh socket: ("ack", socket) kept open by the caller's stack, or
    ("closed", close code)."""
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], **connect) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        except websockets.ConnectionClosed as closed:
            return "closed", closed.rcvd.code if closed.rcvd else None
        return message["type"], None


@contextlib.asynccontextmanager
async def _ws_url(runtime: Runtime) -> AsyncIterator[str]:
    async with serving(create_app(runtime=runtime)) as url:
        yield url.replace("http://", "ws://") + "/graphql"


async def test_a_user_may_hold_only_so_many_websocket_connections(
    started: Callable[..., Any], settings: Settings, user_token: str
) -> None:
    other_user = mint_access_token(settings.auth.jwt_secret, Role.USER, subject="+15550000077")
    async with started(ws={"max_connections_per_user": 2}) as runtime, _ws_url(runtime) as url:
        async with (
            GraphQLWebSocket.connect(url, user_token),
            GraphQLWebSocket.connect(url, user_token) as second,
        ):
            assert await _connection_init(url, user_token) == ("closed", 4429)
            assert await _connection_init(url, other_user) == ("connection_ack", None)
            await second.socket.close()

            async def a_slot_is_free_again() -> bool:
                return await _connection_init(url, user_token) == ("connection_ack", None)

            await wait_until(a_slot_is_free_again, what="the closed connection's slot")


async def test_connection_init_must_come_in_time(started: Callable[..., Any]) -> None:
    async with started(ws={"init_timeout_s": 0.2}) as runtime, _ws_url(runtime) as url:
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408


async def test_the_legacy_graphql_ws_protocol_is_not_spoken(runtime: Runtime) -> None:
    async with _ws_url(runtime) as url, websockets.connect(url, subprotocols=["graphql-ws"]) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4406


async def test_subscribe_messages_count_against_the_users_rate_limit(
    runtime: Runtime, user_token: str
) -> None:
    runtime.rate_limiter = RateLimiter(0.001, 2)  # two tokens, then hardly any refill
    async with (
        serving(create_app(runtime=runtime)) as base,
        GraphQLWebSocket.connect(base.replace("http://", "ws://") + "/graphql", user_token) as ws,
        httpx.AsyncClient(base_url=base) as http,
    ):
        for operation_id in ("1", "2", "3"):
            await ws.subscribe(operation_id, SUBSCRIBE_ALERTS)
        refused = await ws.message()
        assert refused["type"] == "error" and refused["id"] == "3", refused
        (error,) = refused["payload"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["retryAfter"] >= 1
        await ws.socket.send(json.dumps({"type": "ping"}))
        assert (await ws.message())["type"] == "pong", "the connection stays open"
        answer = await graphql(http, QUERY, user_token, expect_status=429)
    assert error_codes(answer) == ["RATE_LIMITED"], "HTTP and WebSocket share the bucket"


async def test_an_oversized_websocket_message_closes_the_connection_with_1009(
    started: Callable[..., Any], user_token: str
) -> None:
    async with (
        started(ws={"max_message_bytes": 2048}) as runtime,
        _ws_url(runtime) as url,
        GraphQLWebSocket.connect(url, user_token) as ws,
    ):
        await ws.subscribe("big", SUBSCRIBE_ALERTS + " " * 4096)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.message()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_websocket_handshakes_follow_the_cors_origins(
    started: Callable[..., Any], user_token: str
) -> None:
    dash = "https://dash.example"
    async with started(edge={"cors_origins": dash}) as runtime, _ws_url(runtime) as url:
        assert await _connection_init(url, user_token, origin=dash) == ("connection_ack", None)
        with pytest.raises(websockets.InvalidStatus) as refused:
            await _connection_init(url, user_token, origin="https://evil.example")
    assert refused.value.response.status_code == 403
