"""Analytics benchmark: compute, warm-cache serving, and cold queries vs raw fetch+parse.

    uv run python bench/analytics.py            # full run (1M lines, 10 s load)
    uv run python bench/analytics.py --quick    # small, a few seconds (CI runs this)

Prints three tables:
1. compute time and peak memory of the pure analytics for 10k/100k/1M sale lines;
2. warm-cache ``salesAnalytics`` on one uvicorn worker (embedded default) with
   concurrent clients: req/s, p50, p99;
3. a cold dashboard query (empty caches) against the raw fetch + ``orjson.loads``
   of the same Java JSON from the stand-in on a real socket, with their ratio;
   plus how a batch of products is served (whole catalogue vs N single GETs).
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
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import analytics_compute
from harness import free_port, running, table
from loadgen import build_post, run_load

from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings

SALES_QUERY = """query Sales { salesAnalytics(top: 10) {
  range { start end } kpis { revenue orders unitsSold averageOrderValue revenueChange }
  trend { period revenue orders } topProducts { revenue shareOfRevenue product { sku name } }
  categories { category revenue shareOfRevenue } } }"""

DASHBOARD_QUERY = """query Dashboard { salesAnalytics(top: 10) {
  kpis { revenue orders unitsSold averageOrderValue itemsPerOrder revenueChange }
  trend { period revenue orders unitsSold }
  topProducts { revenue unitsSold product { sku name price category cost } }
  categories { category revenue shareOfRevenue } }
  stockAnalytics(lookbackDays: 30, leadTimeDays: 7) {
  kpis { productCount stockValue stockCost outOfStock lowStock reorderNeeded averageDaysOfCover }
  items { status daysOfCover suggestedReorderQuantity product { sku name category } } } }"""


# --------------------------------------------------------------------- 1
def bench_compute(quick: bool) -> None:
    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    results = analytics_compute.run(sizes)
    rows = [
        [
            f"{r['lines']:,}",
            f"{r['sales_s'] * 1000:.1f}",
            f"{r['stock_s'] * 1000:.1f}",
            f"{r['sales_peak_mib']:.1f}",
            f"{r['stock_peak_mib']:.1f}",
        ]
        for r in results
    ]
    table(
        "1. Pure analytics compute (best of 3)",
        [
            "sale lines",
            "salesAnalytics ms",
            "stockAnalytics ms",
            "sales peak MiB",
            "stock peak MiB",
        ],
        rows,
    )


# --------------------------------------------------------------------- 2
def bench_warm(quick: bool) -> None:
    settings = Settings.from_env({})
    token = mint_access_token(settings.auth.jwt_secret, Role.USER, ttl_s=3600)
    port = free_port()
    # one token drives thousands of requests a second: measure the gateway, not the rate limiter
    env = {
        "SALESFLOW_PORT": str(port),
        "SALESFLOW_LOG_LEVEL": "WARNING",
        "SALESFLOW_RATE_LIMIT_PER_S": "0",
    }
    body = orjson.dumps({"query": SALES_QUERY})
    request = build_post(
        f"127.0.0.1:{port}", "/graphql", body, {"Authorization": f"Bearer {token}"}
    )
    rows = []
    with running(["serve"], env, port, "/healthz"):
        warm = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            content=body,
            timeout=60,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert warm.status_code == 200 and "errors" not in warm.json(), warm.text[:500]
        for concurrency in [8] if quick else [1, 8, 32]:
            asyncio.run(run_load("127.0.0.1", port, request, concurrency=concurrency, seconds=0.5))
            result = asyncio.run(
                run_load(
                    "127.0.0.1",
                    port,
                    request,
                    concurrency=concurrency,
                    seconds=1.0 if quick else 10.0,
                )
            )
            rows.append(
                [
                    concurrency,
                    result.requests,
                    result.errors,
                    f"{result.rps:,.0f}",
                    f"{result.percentile(50):.2f}",
                    f"{result.percentile(99):.2f}",
                ]
            )
    table(
        "2. Warm-cache salesAnalytics, 1 uvicorn worker, embedded default (goal >= 1500 req/s, p99 <= 50 ms)",
        ["clients", "requests", "errors", "req/s", "p50 ms", "p99 ms"],
        rows,
    )


# --------------------------------------------------------------------- 3
async def _cold_vs_raw(java_url: str, secret: str, repeats: int) -> list[list[object]]:
    from salesflow_graphql.app import create_app
    from salesflow_graphql.runtime import Runtime

    settings = Settings.from_env(
        {"SALESFLOW_JAVA_API_URL": java_url, "SALESFLOW_JWT_SECRET": secret}
    )
    token = mint_access_token(secret, Role.USER)
    headers = {"Authorization": f"Bearer {token}"}
    days = 59  # the default 30-day range plus the previous 30 days: (today - (today - 59)).days
    async with httpx.AsyncClient(base_url=java_url, headers=headers, timeout=60) as java:

        async def raw() -> float:
            started = time.perf_counter()
            answers = await asyncio.gather(
                java.get("/sales/history", params={"days": days}),
                java.get("/products"),
                java.get("/inventory"),
            )
            for answer in answers:
                orjson.loads(answer.content)
            return time.perf_counter() - started

        await raw()  # the stand-in renders and caches its JSON once
        raw_times = [await raw() for _ in range(repeats)]
        size = len((await java.get("/sales/history", params={"days": days})).content)

        # One process, one schema: "cold" means empty caches, not a fresh interpreter.
        runtime = await Runtime.start(settings)
        app = create_app(runtime=runtime)
        cold_times = []
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw"
        ) as gw:
            for attempt in range(repeats + 1):
                runtime.cache.local.clear()
                query = DASHBOARD_QUERY.replace("query Dashboard", f"query Dashboard{attempt}")
                started = time.perf_counter()
                answer = await gw.post("/graphql", json={"query": query}, headers=headers)
                elapsed = time.perf_counter() - started
                assert answer.status_code == 200 and "errors" not in answer.json(), answer.text[
                    :300
                ]
                if attempt:  # the first builds the schema and opens connections
                    cold_times.append(elapsed)
        await runtime.close()

        catalogue = (await java.get("/products")).json()
        ids = [p["id"] for p in catalogue[:10]]
        started = time.perf_counter()
        await java.get("/products")
        one_call = time.perf_counter() - started
        started = time.perf_counter()
        await asyncio.gather(*(java.get(f"/products/by-id/{i}") for i in ids))
        ten_calls = time.perf_counter() - started

    raw_ms = statistics.median(raw_times) * 1000
    cold_ms = statistics.median(cold_times) * 1000
    return [
        [
            "raw fetch + orjson.loads (sales 59 d + products + inventory)",
            f"{raw_ms:.1f}",
            f"{size / 1e6:.1f} MB sales JSON",
        ],
        [
            "cold dashboard query (sales + stock analytics, nested products)",
            f"{cold_ms:.1f}",
            f"ratio {cold_ms / raw_ms:.2f}x (goal <= 1.3x)",
        ],
        [
            "batch of 10 products: GET /products once",
            f"{one_call * 1000:.1f}",
            "the loaders' choice",
        ],
        [
            "batch of 10 products: 10 x GET /products/by-id",
            f"{ten_calls * 1000:.1f}",
            "(Java has no multi-get)",
        ],
    ]


BENCH_SECRET = "bench-secret-shared-by-java-and-the-gateway-0123456789"


def bench_cold(quick: bool) -> None:
    port = free_port()
    env = {"SALESFLOW_LOG_LEVEL": "WARNING", "SALESFLOW_JWT_SECRET": BENCH_SECRET}
    with running(["standin", "--port", str(port)], env, port, "/api/v1/auth/me"):
        rows = asyncio.run(
            _cold_vs_raw(f"http://127.0.0.1:{port}/api/v1", BENCH_SECRET, 3 if quick else 7)
        )
    table(
        "3. Cold query vs raw fetch+parse of the same Java JSON (stand-in on a real socket, median)",
        ["what", "ms", "note"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and short runs (CI)")
    args = parser.parse_args()
    print(f"# bench/analytics ({'quick' if args.quick else 'full'}) on {os.cpu_count()} cores")
    bench_compute(args.quick)
    bench_warm(args.quick)
    bench_cold(args.quick)


if __name__ == "__main__":
    main()
