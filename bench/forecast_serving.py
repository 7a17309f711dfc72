"""Serving benchmark: does the gateway stay responsive while forecasts train?

    uv run python bench/forecast_serving.py [--quick]

Starts the gateway on its embedded default (one uvicorn worker, one training
process), then measures ``salesAnalytics`` latency (each query with a new
``top``, so it is computed, not served from the answer cache) while idle and
while 5 different forecasts train, and the forecasts' own wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import free_port, running, table

from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings

FORECAST = "query($i: ForecastInput!) { forecast(input: $i) { model points { value } } }"
ANALYTICS = (
    "query($top: Int!, $g: Granularity!) { salesAnalytics(top: $top, granularity: $g) "
    "{ kpis { revenue } trend { revenue } topProducts { revenue } } }"
)
#: Distinct (top, granularity) pairs: every query is computed, none is a cache hit.
VARIANTS = [(top, g) for g in ("DAY", "WEEK", "MONTH") for top in range(1, 101)]
FORECASTS = [
    {},
    {"level": "CATEGORY", "key": "Electronics"},
    {"level": "CATEGORY", "key": "Books", "metric": "REVENUE"},
    {"level": "PRODUCT", "key": "ELE-00001"},
    {"level": "CATEGORY", "key": "Grocery", "horizonDays": 28},
]


async def _latencies(
    client: httpx.AsyncClient,
    headers: dict,
    variants: list[tuple[int, str]],
    stop: asyncio.Event | None,
) -> list[float]:
    samples = []
    for top, granularity in variants:
        if stop is not None and stop.is_set():
            break
        started = time.perf_counter()
        variables = {"top": top, "g": granularity}
        answer = await client.post(
            "/graphql", json={"query": ANALYTICS, "variables": variables}, headers=headers
        )
        samples.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200 and "errors" not in answer.json(), answer.text[:300]
    return samples


async def _run(base: str, token: str, quick: bool) -> list[list[object]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        await _latencies(client, headers, VARIANTS[:2], None)  # warm the fetch cache
        idle = await _latencies(client, headers, VARIANTS[2 : 30 if quick else 60], None)
        stop = asyncio.Event()

        async def train(given: dict) -> float:
            started = time.perf_counter()
            answer = await client.post(
                "/graphql", json={"query": FORECAST, "variables": {"i": given}}, headers=headers
            )
            assert "errors" not in answer.json(), answer.text[:300]
            return time.perf_counter() - started

        started = time.perf_counter()
        trainings = asyncio.gather(*(train(g) for g in (FORECASTS[:2] if quick else FORECASTS)))
        busy_task = asyncio.ensure_future(_latencies(client, headers, VARIANTS[60:], stop))
        durations = await trainings
        wall = time.perf_counter() - started
        stop.set()
        busy = await busy_task

    def row(name: str, samples: list[float]) -> list[object]:
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return [name, len(samples), f"{statistics.median(samples):.1f}", f"{p99:.1f}"]

    return [
        row("salesAnalytics, idle", idle),
        row(f"salesAnalytics, while {len(durations)} forecasts train", busy),
        [
            f"{len(durations)} forecasts (1 training process)",
            len(durations),
            f"{statistics.median(durations) * 1000:.0f}",
            f"wall {wall * 1000:.0f}",
        ],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    settings = Settings.from_env({})
    token = mint_access_token(settings.auth.jwt_secret, Role.USER)
    port = free_port()
    with running(
        ["serve"],
        # one user sends queries back to back: measure the gateway, not the rate limiter
        {
            "SALESFLOW_PORT": str(port),
            "SALESFLOW_LOG_LEVEL": "WARNING",
            "SALESFLOW_RATE_LIMIT_PER_S": "0",
        },
        port,
        "/healthz",
    ):
        rows = asyncio.run(_run(f"http://127.0.0.1:{port}", token, args.quick))
    print(
        f"# bench/forecast_serving ({'quick' if args.quick else 'full'}) on {os.cpu_count()} cores"
    )
    table(
        "Query latency while forecasts train (embedded default, 1 uvicorn worker)",
        ["what", "n", "p50 ms", "p99 ms"],
        rows,
    )


if __name__ == "__main__":
    main()
