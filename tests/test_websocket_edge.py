"""The WebSocket through the edge: hostile frames, token expiry, the same limits as HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from alerts_support import GraphQLWebSocket
from support import serving

from salesflow_graphql.app import create_app
from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings
from salesflow_graphql.logs import ACCESS_LOGGER
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.standin import StandIn

SUBSCRIBE_ALERTS = "subscription($after: ID) { alerts(after: $after) { id } }"


@pytest.fixture
async def ws_url(runtime: Runtime) -> AsyncIterator[str]:
    async with serving(create_app(runtime=runtime)) as url:
        yield url.replace("http://", "ws://") + "/graphql"


async def _closed_with(ws: Any) -> int | None:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_deeply_nested_json_closes_the_socket_with_4400(ws_url: str, user_token: str) -> None:
    async with GraphQLWebSocket.connect(ws_url, user_token) as ws:
        await ws.socket.send(
            '{"type": "subscribe", "id": "1", "payload": ' + "[" * 5000 + "]" * 5000 + "}"
        )
        assert await _closed_with(ws.socket) == 4400


async def test_an_out_of_range_alert_id_is_bad_user_input(ws_url: str, user_token: str) -> None:
    async with GraphQLWebSocket.connect(ws_url, user_token) as ws:
        for operation_id, after in (
            ("1", "99999999999999999999999-0"),
            ("2", "1-18446744073709551616"),
        ):
            await ws.subscribe(operation_id, SUBSCRIBE_ALERTS, {"after": after})
            answer = await ws.message()
            assert answer["type"] in ("error", "next"), answer
            errors = answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
            assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", errors
            assert errors[0]["extensions"].get("field") == "after"
            if answer["type"] == "next":
                assert (await ws.message())["type"] == "complete"
        await ws.socket.send(json.dumps({"type": "ping"}))
        assert (await ws.message())["type"] == "pong", "the connection stays open"


async def test_the_socket_is_closed_with_4403_when_the_token_expires(
    settings: Settings, standin: StandIn
) -> None:
    runtime = await Runtime.start(settings.replace(auth={"jwt_leeway_s": 0}), standin=standin)
    short = mint_access_token(settings.auth.jwt_secret, Role.USER, ttl_s=2)
    try:
        async with serving(create_app(runtime=runtime)) as url:
            ws_url = url.replace("http://", "ws://") + "/graphql"
            async with GraphQLWebSocket.connect(ws_url, short) as ws:
                await ws.subscribe("1", "query { alerts(limit: 1) { id } }")
                assert (await ws.message())["type"] == "next", "it works while the token is valid"
                assert (await ws.message())["type"] == "complete"
                began = time.monotonic()
                assert await _closed_with(ws.socket) == 4403
                assert time.monotonic() - began < 5
    finally:
        await runtime.close()


async def test_a_subscribe_after_expiry_is_refused_with_4403(
    runtime: Runtime, settings: Settings, user_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even if the expiry timer were late, each subscribe checks ``exp`` itself."""
    from salesflow_graphql.graphql import websocket

    async with serving(create_app(runtime=runtime)) as url:
        ws_url = url.replace("http://", "ws://") + "/graphql"
        async with GraphQLWebSocket.connect(ws_url, user_token) as ws:
            later = time.time() + 3600 + settings.auth.jwt_leeway_s + 1
            monkeypatch.setattr(websocket.time, "time", lambda: later)
            await ws.subscribe("1", "query { alerts(limit: 1) { id } }")
            assert await _closed_with(ws.socket) == 4403


async def test_each_subscribe_leaves_an_access_line(
    ws_url: str, user_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    async with GraphQLWebSocket.connect(ws_url, user_token) as ws:
        await ws.socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": "query Recent { alerts(limit: 1) { id } }",
                        "operationName": "Recent",
                    },
                }
            )
        )
        assert (await ws.message())["type"] == "next"
    (line,) = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert (line.route, line.operation, line.status, line.outcome) == (
        "/graphql (websocket)",
        "Recent",
        200,
        "ok",
    )
    assert line.user is not None


async def test_a_document_over_the_limit_is_refused_on_the_websocket(
    settings: Settings, standin: StandIn, user_token: str
) -> None:
    runtime = await Runtime.start(
        settings.replace(edge={"max_document_bytes": 1024}), standin=standin
    )
    try:
        async with serving(create_app(runtime=runtime)) as url:
            ws_url = url.replace("http://", "ws://") + "/graphql"
            async with GraphQLWebSocket.connect(ws_url, user_token) as ws:
                await ws.subscribe("1", "subscription { alerts { id } }" + " " * 2000)
                refused = await ws.message()
    finally:
        await runtime.close()
    assert refused["type"] == "error"
    assert refused["payload"][0]["extensions"]["reason"] == "DOCUMENT_TOO_LARGE"
