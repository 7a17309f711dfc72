"""Gateway and stand-in each on their own uvicorn socket, configured as in production."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import pytest
from support import graphql, serving

from salesflow_graphql.app import create_app
from salesflow_graphql.config import Settings
from salesflow_graphql.standin import StandIn


async def test_gateway_serves_analytics_from_java_over_http(
    settings: Settings, standin: StandIn, user_token: str
) -> None:
    async with serving(standin.app) as java:
        configured = settings.replace(java={"api_url": f"{java}/api/v1"})
        async with serving(create_app(configured)) as gateway_url:  # lifespan starts the runtime
            async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as gateway:
                answer = await graphql(
                    gateway,
                    "{ salesAnalytics { kpis { revenue orders } } stockAnalytics { kpis { productCount } } }",
                    user_token,
                )
                health = await gateway.get("/healthz")
                ready = await gateway.get("/readyz")
                metrics = await gateway.get("/metrics")
    assert "errors" not in answer
    assert answer["data"]["salesAnalytics"]["kpis"]["orders"] > 0
    assert answer["data"]["stockAnalytics"]["kpis"]["productCount"] >= 200
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "systemOfRecord": "ok",
        "breaker": "closed",
        "cache": "memory:ok",
    }
    text = metrics.text
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'salesflow_upstream_calls_total{outcome="200",resource="sales"}' in text
    assert "salesflow_graphql_request_seconds_bucket" in text
    assert 'salesflow_cache_misses_total{layer="upstream"}' in text
    assert {r.path for r in standin.requests} >= {"/products", "/inventory", "/sales/history"}


async def test_readyz_reports_java_down(settings: Settings, standin: StandIn) -> None:
    configured = settings.replace(java={"api_url": "http://127.0.0.1:9/api/v1"})
    async with serving(create_app(configured)) as gateway_url:
        async with httpx.AsyncClient(base_url=gateway_url) as gateway:
            ready = await gateway.get("/readyz")
            health = await gateway.get("/healthz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["systemOfRecord"] == "unavailable"
    assert health.status_code == 200


async def test_readyz_has_a_total_deadline_against_a_java_that_trickles(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Java that answers one byte a second resets every read timeout; /readyz still answers."""
    from salesflow_graphql import app as app_module

    monkeypatch.setattr(app_module, "READY_DEADLINE_S", 0.5)
    stop = asyncio.Event()

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            while not stop.is_set():
                writer.write(b"x")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1)
        writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    configured = settings.replace(java={"api_url": f"http://127.0.0.1:{port}/api/v1"})
    try:
        async with serving(create_app(configured)) as gateway_url:
            async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as gateway:
                began = time.monotonic()
                ready = await gateway.get("/readyz")
                took = time.monotonic() - began
    finally:
        stop.set()
        server.close()
        await server.wait_closed()
    assert ready.status_code == 503
    assert ready.json()["checks"]["systemOfRecord"] == "unavailable"
    assert took < 5, "answered at its deadline, not after Java's trickle"
