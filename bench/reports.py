"""Reports benchmark: generating FULL PDF and XLSX reports, and the gateway staying responsive.

    uv run python bench/reports.py            # 30 and 365 days
    uv run python bench/reports.py --quick    # 30 days only, short latency run (CI runs this)
    uv run python bench/reports.py --before /path/to/older/checkout   # and its figures, side by side

Prints two tables, on the embedded default (seeded demo shop, stand-in in process):

1. per range and format: ``ReportService.generate_report`` end to end with
   empty caches (Java fetch, analytics, the 14-day forecast trained anew, render),
   after the dashboard's default queries filled the caches (as a user who opens
   the dashboard, then asks for the report), with only the forecast cached, and
   warm (all cached); the render alone, its peak memory (tracemalloc) and the
   file size. Goal: a 365-day FULL PDF and XLSX in 2 s or less, cold.
2. latency of concurrent ``salesAnalytics`` queries (over a real socket, one
   uvicorn server in the same process as the report) before and while FULL
   365-day (quick: 30-day) reports render: in a worker thread (what the
   gateway does), and, for contrast, on the event loop.

``run(quick)`` does the same and returns the numbers (the test calls the CLI).
With ``--before DIR``, the same script of another checkout of this project
(``DIR/.venv``) runs first, in a subprocess, and a last table sets its table 1
beside this one's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import table

from salesflow_graphql.analytics.periods import DateRange
from salesflow_graphql.app import create_app
from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings
from salesflow_graphql.reports.model import ReportContent, ReportFormat, ReportKind, ReportRequest
from salesflow_graphql.reports.pdf import render_pdf
from salesflow_graphql.reports.xlsx import render_xlsx
from salesflow_graphql.runtime import Runtime

GOAL_S = 2.0
RENDERERS: dict[ReportFormat, Callable[[ReportContent], bytes]] = {
    ReportFormat.PDF: render_pdf,
    ReportFormat.XLSX: render_xlsx,
}
QUERY = "query Q%d { salesAnalytics(top: 10) { kpis { revenue orders } trend { period revenue } } }"


def _period(settings: Settings, days: int) -> DateRange:
    end = settings.today() - timedelta(days=1)
    return DateRange(end - timedelta(days=days - 1), end)


# --------------------------------------------------------------------- 1
async def bench_generation(runtime: Runtime, token: str, quick: bool) -> list[dict[str, Any]]:
    results = []
    for days in (30,) if quick else (30, 365):
        for report_format in (ReportFormat.PDF, ReportFormat.XLSX):
            request = ReportRequest(ReportKind.FULL, report_format, _period(runtime.settings, days))
            runtime.cache.local.clear()  # cold: nothing fetched, computed or trained
            started = time.perf_counter()
            report = await runtime.reports.generate_report(runtime.source.reading(token), request)
            cold = time.perf_counter() - started
            runtime.cache.local.clear()
            await _open_dashboard(runtime, token)
            started = time.perf_counter()
            await runtime.reports.generate_report(runtime.source.reading(token), request)
            after_dashboard = time.perf_counter() - started
            await _forget_all_but_forecasts(runtime)  # the usual case: trained earlier today
            started = time.perf_counter()
            await runtime.reports.generate_report(runtime.source.reading(token), request)
            trained = time.perf_counter() - started
            started = time.perf_counter()
            await runtime.reports.generate_report(runtime.source.reading(token), request)
            warm = time.perf_counter() - started
            render = RENDERERS[report_format]
            render_times = []
            for _ in range(3):
                started = time.perf_counter()
                render(report.summary)
                render_times.append(time.perf_counter() - started)
            tracemalloc.start()
            render(report.summary)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            results.append(
                {
                    "days": days,
                    "format": report_format.value,
                    "cold_s": cold,
                    "after_dashboard_s": after_dashboard,
                    "trained_s": trained,
                    "warm_s": warm,
                    "render_s": min(render_times),
                    "peak_mib": peak / 2**20,
                    "size_kib": len(report.content) / 1024,
                    "forecast": report.summary.forecast is not None,
                }
            )
    rows = [
        [
            r["days"],
            f"FULL {r['format']}",
            f"{r['cold_s']:.2f}",
            f"{r['after_dashboard_s']:.2f}",
            f"{r['trained_s']:.2f}",
            f"{r['warm_s']:.2f}",
            f"{r['render_s'] * 1000:.0f}",
            f"{r['peak_mib']:.1f}",
            f"{r['size_kib']:.0f}",
            "yes" if r["forecast"] else "no",
            _goal(r) if r["days"] == 365 else "-",
        ]
        for r in results
    ]
    table(
        f"1. FULL report generation, embedded default (goal: 365-day FULL PDF and XLSX "
        f"<= {GOAL_S:g} s cold)",
        [
            "days",
            "report",
            "cold s",
            "after dashboard s",
            "forecast trained s",
            "warm s",
            "render ms",
            "render peak MiB",
            "size KiB",
            "forecast",
            "goal",
        ],
        rows,
    )
    print(
        "\ncold: empty gateway caches: the forecast's year of sales fetched and decoded, then"
        "\n  its training (in its process) overlaps the sections' window (three ranges: the"
        "\n  previous range's KPIs compare with the one before) and analytics; then the render;"
        "\n  the stand-in answers from its rendered-JSON memo;"
        "\nafter dashboard: empty caches, then the dashboard's default queries (sales, stock,"
        "\n  the TOTAL revenue forecast card), then the report;"
        "\nforecast trained: Java data and analytics cold, the 14-day forecast already trained"
        "\n  (it is cached for SALESFLOW_FORECAST_TTL_S by data fingerprint: once per day of data);"
        "\nwarm: everything cached; render: the PDF/XLSX writer alone, best of 3."
    )
    return results


def _goal(result: dict[str, Any]) -> str:
    return "met" if result["cold_s"] <= GOAL_S else "missed"


async def _open_dashboard(runtime: Runtime, token: str) -> None:
    """What the dashboard asks for by default: 30-day sales, stock, the forecast card."""
    from salesflow_graphql.forecast.series import ForecastLevel, ForecastMetric
    from salesflow_graphql.forecast.service import ForecastRequest

    data = runtime.source.reading(token)
    card = ForecastRequest(ForecastLevel.TOTAL, None, ForecastMetric.REVENUE, 14, 365, 0.9)
    await asyncio.gather(
        runtime.sales_analytics.compute_sales_analytics(data),
        runtime.stock_analytics.compute_stock_analytics(data, 30, 7),
        runtime.forecasts.generate_forecast(data, card),
    )


async def _forget_all_but_forecasts(runtime: Runtime) -> None:
    """Empty the memory cache except trained forecasts (a bench-only peek at the local tier)."""
    local = runtime.cache.local
    for key in list(local._entries):
        if not key.startswith("forecast:"):
            local.drop(key)


# --------------------------------------------------------------------- 2
@contextlib.asynccontextmanager
async def _serving(app: Any) -> AsyncIterator[str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started and not task.done() and time.monotonic() < deadline:  # noqa: ASYNC110 - uvicorn only exposes a flag
        await asyncio.sleep(0.01)
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _latencies(client: httpx.AsyncClient, token: str, seconds: float) -> list[float]:
    """Back-to-back salesAnalytics queries for ``seconds``; each a new document (no response cache)."""
    latencies = []
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        n += 1
        started = time.perf_counter()
        answer = await client.post(
            "/graphql", json={"query": QUERY % n}, headers={"Authorization": f"Bearer {token}"}
        )
        latencies.append(time.perf_counter() - started)
        assert answer.status_code == 200 and "errors" not in answer.json(), answer.text[:300]
    return latencies


async def bench_responsiveness(runtime: Runtime, token: str, quick: bool) -> list[dict[str, Any]]:
    seconds = 0.75 if quick else 5.0
    days = 30 if quick else 365
    request = ReportRequest(ReportKind.FULL, ReportFormat.PDF, _period(runtime.settings, days))
    data = runtime.source.reading(token)
    content = await runtime.reports.generate_sales_stock_report(data, request.kind, request.range)
    results = []
    async with _serving(create_app(runtime=runtime)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            await _latencies(client, token, 0.2)  # warm the analytics cache and the schema
            renders = 0

            async def keep_rendering(on_loop: bool, stop: asyncio.Event) -> None:
                nonlocal renders
                while not stop.is_set():
                    if on_loop:
                        render_pdf(content)  # blocks the loop: what the gateway must not do
                        await asyncio.sleep(0)
                    else:
                        await runtime.reports.generate_report(data, request)  # cached data
                    renders += 1

            for label, mode in (
                ("idle (no report)", None),
                (f"FULL {days}-day PDF rendering in a worker thread (the gateway)", False),
                (f"FULL {days}-day PDF rendering on the event loop (contrast)", True),
            ):
                renders = 0
                stop = asyncio.Event()
                background = (
                    asyncio.create_task(keep_rendering(mode, stop)) if mode is not None else None
                )
                latencies = await _latencies(client, token, seconds)
                stop.set()
                if background is not None:
                    await background
                latencies.sort()
                results.append(
                    {
                        "label": label,
                        "queries": len(latencies),
                        "reports": renders,
                        "p50_ms": statistics.median(latencies) * 1000,
                        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
                        "max_ms": latencies[-1] * 1000,
                    }
                )
    table(
        "2. Concurrent salesAnalytics latency while reports render (one process, real socket)",
        ["while", "queries", "reports done", "p50 ms", "p99 ms", "max ms"],
        [
            [
                r["label"],
                r["queries"],
                r["reports"],
                f"{r['p50_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                f"{r['max_ms']:.1f}",
            ]
            for r in results
        ],
    )
    return results


async def _main(quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as exports:
        settings = Settings.from_env(
            # one user probes at hundreds of requests a second: measure the gateway, not the limiter
            {
                "SALESFLOW_EXPORTS_DIR": exports,
                "SALESFLOW_LOG_LEVEL": "WARNING",
                "SALESFLOW_RATE_LIMIT_PER_S": "0",
            }
        )
        runtime = await Runtime.start(settings)
        token = mint_access_token(settings.auth.jwt_secret, Role.USER)
        started = time.perf_counter()
        try:
            # As the gateway does at start: forecast processes up, code paths warm. Each range
            # once, so the stand-in ("Java") answers every cold run below from its rendered-JSON
            # memo: the cold rows time the gateway's own work, alike for every row.
            for days in (30,) if quick else (30, 365):
                for report_format in (ReportFormat.PDF, ReportFormat.XLSX):
                    warm_up = ReportRequest(ReportKind.FULL, report_format, _period(settings, days))
                    await runtime.reports.generate_report(runtime.source.reading(token), warm_up)
            print(
                "\nwarm-up (forecast processes start, first reports, the stand-in renders its "
                f"JSON once): {time.perf_counter() - started:.1f} s"
            )
            gc.freeze()  # as the gateway does once started (app lifespan)
            generation = await bench_generation(runtime, token, quick)
            responsiveness = await bench_responsiveness(runtime, token, quick)
        finally:
            await runtime.close()
    return {"generation": generation, "responsiveness": responsiveness}


def run(quick: bool = False) -> dict[str, Any]:
    """Run the benchmark, print its tables, return the numbers."""
    return asyncio.run(_main(quick))


def before_rows(checkout: Path, quick: bool) -> dict[tuple[str, str], list[str]]:
    """Table 1 of ``checkout``'s own bench/reports.py, by (days, report): its cells."""
    command = [str(checkout / ".venv" / "bin" / "python"), "bench/reports.py"]
    done = subprocess.run(
        command + (["--quick"] if quick else []),
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    section = done.stdout.split("## 1.", 1)[1].split("\n\n", 1)[0].splitlines()
    header = [c.strip() for c in section[1].strip("|").split("|")]
    rows = {}
    for line in section[3:]:
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        rows[(cells["days"], cells["report"])] = [
            cells["cold s"],
            cells.get("after dashboard s", "-"),
            cells["forecast trained s"],
            cells["warm s"],
        ]
    return rows


def compare(before: dict[tuple[str, str], list[str]], after: list[dict[str, Any]]) -> None:
    rows = []
    for r in after:
        key = (str(r["days"]), f"FULL {r['format']}")
        mine = [r["cold_s"], r["after_dashboard_s"], r["trained_s"], r["warm_s"]]
        theirs = before.get(key, ["-"] * 4)
        rows.append(
            [*key]
            + [f"{b} / {a:.2f}" for b, a in zip(theirs, mine, strict=True)]
            + [_goal(r) if r["days"] == 365 else "-"]
        )
    table(
        "3. Before / after (seconds), the before checkout's run first, then this one",
        ["days", "report", "cold", "after dashboard", "forecast trained", "warm", "goal"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="30 days only, short latency run")
    parser.add_argument("--before", type=Path, help="another checkout to compare with")
    args = parser.parse_args()
    before = before_rows(args.before, args.quick) if args.before else None
    results = run(args.quick)
    if before is not None:
        compare(before, results["generation"])


if __name__ == "__main__":
    main()
