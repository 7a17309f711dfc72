"""Gateway and stand-in each on their own uvicorn socket, configured as in production."""

from __future__ import annotations

import dataclasses

import httpx
from support import graphql, serving

from salesflow_graphql.app import create_app
from salesflow_graphql.config import Settings
from salesflow_graphql.sor.standin import StandIn


async def test_gateway_serves_analytics_from_java_over_http(
    settings: Settings, standin: StandIn, user_token: str
) -> None:
    async with serving(standin.app) as java:
        configured = dataclasses.replace(settings, java_api_url=f"{java}/api/v1")
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
    configured = dataclasses.replace(settings, java_api_url="http://127.0.0.1:9/api/v1")
    async with serving(create_app(configured)) as gateway_url:
        async with httpx.AsyncClient(base_url=gateway_url) as gateway:
            ready = await gateway.get("/readyz")
            health = await gateway.get("/healthz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["systemOfRecord"] == "unavailable"
    assert health.status_code == 200
