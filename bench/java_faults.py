"""Java answering 500 to 30 % of requests: how many cold dashboard queries still succeed.

    uv run python bench/java_faults.py            # 20 seeds of 20 queries
    uv run python bench/java_faults.py --quick    # 1 seed (CI runs this)

The stand-in runs as its own process on a real socket with its fault switches set
to ``error_rate=0.3, error_status=500`` (one seed per row: each seed is another
pattern of failures); the gateway runs in this process with its default retry and
breaker settings, one fresh runtime per seed. Each query is the dashboard's
(``salesAnalytics`` + ``stockAnalytics``) with every cache emptied first, so every
query makes its three GETs to Java. Goal: at least 19 of 20 queries answer
without an error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analytics import BENCH_SECRET, DASHBOARD_QUERY
from harness import free_port, running, table

from salesflow_graphql.app import create_app
from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings
from salesflow_graphql.runtime import Runtime

QUERIES = 20
GOAL = 19
ERROR_RATE = 0.3


async def _seed(java: str, seed: int) -> tuple[int, int]:
    """(queries answered without error, GETs Java received) for one fault pattern."""
    async with httpx.AsyncClient(base_url=java.removesuffix("/api/v1"), timeout=30) as control:
        await control.delete("/__standin/faults")
        await control.delete("/__standin/requests")
        faults = {"error_rate": ERROR_RATE, "error_status": 500, "seed": seed}
        assert (await control.put("/__standin/faults", json=faults)).status_code == 200
        settings = Settings.from_env(
            {
                "SALESFLOW_JAVA_API_URL": java,
                "SALESFLOW_JWT_SECRET": BENCH_SECRET,
                "SALESFLOW_RATE_LIMIT_PER_S": "0",
                "SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES": "0",
            }
        )
        headers = {"Authorization": f"Bearer {mint_access_token(BENCH_SECRET, Role.USER)}"}
        runtime = await Runtime.start(settings)
        succeeded = 0
        try:
            transport = httpx.ASGITransport(app=create_app(runtime=runtime))
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as gateway:
                for number in range(QUERIES):
                    await runtime.cache.invalidate()  # every query below starts cold
                    query = DASHBOARD_QUERY.replace("query Dashboard", f"query Dashboard{number}")
                    answer = await gateway.post("/graphql", json={"query": query}, headers=headers)
                    succeeded += answer.status_code == 200 and "errors" not in answer.json()
        finally:
            await runtime.close()
        calls = len((await control.get("/__standin/requests")).json())
        await control.delete("/__standin/faults")
    return succeeded, calls


async def _run(java: str, seeds: int) -> list[list[object]]:
    rows: list[list[object]] = []
    for seed in range(1, seeds + 1):
        succeeded, calls = await _seed(java, seed)
        rows.append([seed, f"{succeeded}/{QUERIES}", f"{calls / QUERIES:.1f}"])
    total = sum(int(str(r[1]).split("/")[0]) for r in rows)
    met = sum(int(str(r[1]).split("/")[0]) >= GOAL for r in rows)
    rows.append(
        [
            "all",
            f"{total}/{QUERIES * seeds} ({100 * total / (QUERIES * seeds):.1f} %)",
            f"goal >= {GOAL}/{QUERIES} met for {met} of {seeds} seeds",
        ]
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 seed instead of 20 (CI)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # each injected 500 is logged as a warning
    print(f"# bench/java_faults ({'quick' if args.quick else 'full'}) on {os.cpu_count()} cores")
    port = free_port()
    env = {"SALESFLOW_LOG_LEVEL": "WARNING", "SALESFLOW_JWT_SECRET": BENCH_SECRET}
    with running(["standin", "--port", str(port)], env, port, "/api/v1/auth/me"):
        rows = asyncio.run(_run(f"http://127.0.0.1:{port}/api/v1", 1 if args.quick else 20))
    table(
        f"Cold dashboard queries with {ERROR_RATE:.0%} of Java's answers 500 "
        f"(goal >= {GOAL} of {QUERIES})",
        ["seed", "answered", "GETs to Java per query"],
        rows,
    )


if __name__ == "__main__":
    main()
