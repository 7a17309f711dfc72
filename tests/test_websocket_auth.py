"""graphql-transport-ws: a connection is authenticated by its connection_init payload."""

from __future__ import annotations

import json

import pytest
import websockets
from support import serving

from salesflow_graphql.app import create_app
from salesflow_graphql.auth import mint_refresh_token
from salesflow_graphql.config import Settings
from salesflow_graphql.runtime import Runtime


async def _connection_init(url: str, payload: dict | None) -> tuple[str, object]:
    """Send connection_init; return ("ack", message) or ("closed", close code)."""
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
        try:
            message = json.loads(await ws.recv())
        except websockets.ConnectionClosed as closed:
            return "closed", closed.rcvd.code if closed.rcvd else None
        return "ack" if message["type"] == "connection_ack" else message["type"], message


@pytest.fixture
async def ws_url(runtime: Runtime) -> str:
    async with serving(create_app(runtime=runtime)) as url:
        yield url.replace("http://", "ws://") + "/graphql"


async def test_a_valid_token_is_acknowledged(ws_url: str, user_token: str) -> None:
    outcome, _ = await _connection_init(ws_url, {"Authorization": f"Bearer {user_token}"})
    assert outcome == "ack"


@pytest.mark.parametrize("kind", ["missing", "forged", "refresh", "not-bearer"])
async def test_connections_without_a_valid_token_are_closed_with_4403(
    ws_url: str, settings: Settings, user_token: str, kind: str
) -> None:
    payload = {
        "missing": {},
        "forged": {"Authorization": f"Bearer {user_token[:-4]}AAAA"},
        "refresh": {"Authorization": f"Bearer {mint_refresh_token(settings.auth.jwt_secret)}"},
        "not-bearer": {"Authorization": user_token},
    }[kind]
    outcome, code = await _connection_init(ws_url, payload)
    assert (outcome, code) == ("closed", 4403)
