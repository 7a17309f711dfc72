"""Prometheus metrics of the gateway, served at ``GET /metrics``.

One registry per process; names follow Prometheus conventions.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

GRAPHQL_REQUESTS = Counter(
    "salesflow_graphql_requests_total",
    "GraphQL HTTP requests by outcome (ok, error, unauthenticated, rate_limited, cached).",
    ["outcome"],
    registry=REGISTRY,
)
GRAPHQL_LATENCY = Histogram(
    "salesflow_graphql_request_seconds",
    "Time to answer a GraphQL HTTP request.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
UPSTREAM_CALLS = Counter(
    "salesflow_upstream_calls_total",
    "Calls to the Java API by resource and outcome.",
    ["resource", "outcome"],
    registry=REGISTRY,
)
UPSTREAM_LATENCY = Histogram(
    "salesflow_upstream_seconds",
    "Latency of calls to the Java API by resource.",
    ["resource"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
BREAKER_OPEN = Gauge(
    "salesflow_upstream_breaker_open",
    "1 while the circuit breaker toward Java is open (or half-open), else 0.",
    registry=REGISTRY,
)
CACHE_HITS = Counter(
    "salesflow_cache_hits_total", "Cache hits by layer.", ["layer"], registry=REGISTRY
)
CACHE_MISSES = Counter(
    "salesflow_cache_misses_total", "Cache misses by layer.", ["layer"], registry=REGISTRY
)
CACHE_FALLBACKS = Counter(
    "salesflow_cache_fallbacks_total",
    "Cache operations served by the memory fallback because Redis failed.",
    registry=REGISTRY,
)
FORECAST_SECONDS = Histogram(
    "salesflow_forecast_training_seconds",
    "Time to train and backtest one forecast, by method family (lightgbm, tsb, ...).",
    ["method"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
    registry=REGISTRY,
)
