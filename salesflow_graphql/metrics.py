"""Prometheus metrics of the gateway, served at ``GET /metrics``.

One registry per process; names follow Prometheus conventions. Labels stay
bounded: routes are templates (``/reports/{id}/download``), operation names
are known ones or names that ran, within a total and a per-user share (see
:class:`OperationNames`; the rest count as ``other``); job kinds,
alert kinds and severities are closed sets.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter(
    "salesflow_requests_total",
    "HTTP requests (and WebSocket operations) by route template and outcome (ok, error, "
    "cached, unauthenticated, rate_limited, too_large, timeout, disconnected).",
    ["route", "outcome"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "salesflow_request_seconds",
    "Time to answer an HTTP request (or start a WebSocket operation), by route template.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
GRAPHQL_REQUESTS = Counter(
    "salesflow_graphql_requests_total",
    "GraphQL HTTP requests by outcome (ok, error, unauthenticated, rate_limited, cached, "
    "too_large, timeout, disconnected).",
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
CACHE_STALE_HITS = Counter(
    "salesflow_cache_stale_hits_total",
    "Hits answered with an expired value (within SALESFLOW_CACHE_STALE_S) while it refreshes.",
    ["layer"],
    registry=REGISTRY,
)
CACHE_REFRESHES = Counter(
    "salesflow_cache_refreshes_total",
    "Background refreshes of expired values started by this process, by layer.",
    ["layer"],
    registry=REGISTRY,
)
CACHE_INVALIDATIONS = Counter(
    "salesflow_cache_invalidations_total",
    "Data generations started here (a committed import): every replica drops derived values.",
    registry=REGISTRY,
)
FORECAST_SECONDS = Histogram(
    "salesflow_forecast_training_seconds",
    "Time to train and backtest one forecast, by method family (lightgbm, tsb, ...).",
    ["method"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
    registry=REGISTRY,
)

# ------------------------------------------------------------------ operations
GRAPHQL_OPERATIONS = Counter(
    "salesflow_graphql_operations_total",
    "Authenticated GraphQL HTTP requests by operation name, type (query, mutation, "
    "subscription, unknown) and outcome (as salesflow_graphql_requests_total).",
    ["operation", "type", "outcome"],
    registry=REGISTRY,
)
GRAPHQL_OPERATION_SECONDS = Histogram(
    "salesflow_graphql_operation_seconds",
    "Time to answer an authenticated GraphQL HTTP request, by operation name and type.",
    ["operation", "type"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)

#: Distinct operation names one process labels; later new names count as ``other``.
MAX_OPERATION_NAMES = 200
#: New names one user (JWT subject) may add, so one user's junk cannot fill the labels.
MAX_NEW_NAMES_PER_USER = 20
_OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")


class OperationNames:
    """Bounds the ``operation`` label: clients choose names, so they are not trusted to be few.

    Known names (the example operations, the trusted documents) are always
    labels. Another name becomes one only when an operation of that name has
    run successfully, while fewer than ``limit`` are in use, and at most
    ``per_user`` of them per user. A label, once given, is never taken back:
    junk that comes later (failed documents, one user's made-up names) can
    neither take the place of a real name nor push it out.
    """

    def __init__(
        self,
        limit: int = MAX_OPERATION_NAMES,
        per_user: int = MAX_NEW_NAMES_PER_USER,
        known: frozenset[str] = frozenset(),
    ) -> None:
        self.limit = limit
        self.per_user = per_user
        self.known = set(known)
        self._seen: set[str] = set()
        self._added_by: dict[str, int] = {}

    def add_known(self, names: set[str] | frozenset[str]) -> None:
        """Names that are labels from the start (they count toward no one's share)."""
        self.known.update(n for n in names if _OPERATION_NAME.fullmatch(n))

    def label(
        self,
        name: str | None,
        *,
        parsed: bool = True,
        subject: str = "",
        succeeded: bool = True,
    ) -> str:
        """``anonymous`` for an operation without a name, ``unknown`` when the request
        never got as far as a parsed document, ``other`` for a name without a label."""
        if not name:
            return "anonymous" if parsed else "unknown"
        if name in self.known or name in self._seen:
            return name
        if (
            not succeeded
            or len(self._seen) >= self.limit
            or self._added_by.get(subject, 0) >= self.per_user
            or not _OPERATION_NAME.fullmatch(name)
        ):
            return "other"
        self._seen.add(name)
        self._added_by[subject] = self._added_by.get(subject, 0) + 1
        return name


OPERATION_NAMES = OperationNames()

# ------------------------------------------------------------------ WebSockets
WS_CONNECTIONS = Gauge(
    "salesflow_ws_connections",
    "Authenticated WebSocket connections open on this process.",
    registry=REGISTRY,
)
WS_REFUSED = Counter(
    "salesflow_ws_refused_total",
    "WebSocket connections or operations refused, by reason (too_many_connections, "
    "rate_limited, message_too_large).",
    ["reason"],
    registry=REGISTRY,
)

# ------------------------------------------------------------------------ jobs
JOB_QUEUE_DEPTH = Gauge(
    "salesflow_job_queue_depth",
    "Jobs not finished (arq: the queue's sorted set in Redis, read at scrape time, which holds "
    "waiting, deferred and running jobs; embedded: jobs waiting for a slot or a retry). NaN "
    "when it could not be read.",
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "salesflow_job_seconds",
    "Time from a job's first start to its end, by kind (task) and outcome (completed, failed).",
    ["kind", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)

# ---------------------------------------------------------------------- alerts
ALERTS_RAISED = Counter(
    "salesflow_alerts_raised_total",
    "Alerts newly raised and published, by kind and severity.",
    ["kind", "severity"],
    registry=REGISTRY,
)

#: Longest a scrape waits for the job queue's depth.
QUEUE_DEPTH_TIMEOUT_S = 1.0


async def observe_job_queue(runner: Any) -> None:
    """Read the job queue's depth into :data:`JOB_QUEUE_DEPTH` (called at scrape time)."""
    depth = getattr(runner, "queue_depth", None)
    if depth is None:
        return
    try:
        JOB_QUEUE_DEPTH.set(await asyncio.wait_for(depth(), QUEUE_DEPTH_TIMEOUT_S))
    except Exception as exc:
        log.debug("job queue depth unavailable: %s", exc)
        JOB_QUEUE_DEPTH.set(float("nan"))
