"""Load figures: the dashboard query on the gateway, warm and cold, vs the seed's design.

    uv run python bench/load.py            # full run: 1, 8, 32 clients, 10 s a cell
    uv run python bench/load.py --quick    # one client count, short cells (CI runs this)

Everything runs as real processes on real sockets: the Java stand-in
(``salesflow-graphql standin``), the gateway (``salesflow-graphql serve``, one
uvicorn worker, pointed at the stand-in, rate limiter and scheduled alert
checks off) and ``bench/baseline_rest.py`` (one uvicorn worker). The clients
are ``bench/loadgen.py``: closed-loop keep-alive connections, one request at a
time each, on uvloop in this process.

Prints:
1. the dashboard (sales KPIs, daily trend, top 10 products with their details,
   categories, stock KPIs and every product's stock status, as in API.md):
   req/s, p50 and p99 per client count for
   - baseline: the seed's design, a REST endpoint that fetches products,
     inventory and the 59 days of sales from Java on every call, computes with
     pandas, and fetches each top product by id (see ``bench/baseline_rest.py``);
   - gateway cold: a second gateway with every TTL at 0 (catalogue, sales,
     analytics and the response cache keep nothing), so every answer is fetched
     from Java and computed again; concurrent identical misses still share one
     fetch and one computation (single-flight), as the gateway is designed to;
   - gateway warm: answered from the response cache; its TTLs (and the
     replicas') are set to an hour so that no refresh falls inside a
     measurement (a refresh is one cold computation, see the cold rows, and
     requests arriving meanwhile wait for it);
   Before measuring, the three answers are compared value by value.
2. warm throughput of 1 and 2 gateway replicas sharing one Redis (db 11,
   flushed before and after) behind ``bench/balancer.py`` (round-robin TCP),
   and (full run) of 1 replica without the balancer; setups take turns in
   three rounds per client count (full run), so the machine's busy spells
   spread over all of them;
3. the goals: warm dashboard throughput >= 5x the baseline with p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Process, free_port, running_together, table
from loadgen import LoadResult, build_get, build_post, run_load

from salesflow_graphql.auth import Role, mint_access_token

BENCH_SECRET = "bench-secret-shared-by-java-and-the-gateway-0123456789"
#: Not used by the tests (15, 14, 13) nor bench/alerts.py (12, 13).
REDIS_URL = "redis://127.0.0.1:6379/11"
GOAL_RATIO, GOAL_P99_MS = 5.0, 50.0
#: Long enough for the whole run: the warm cells measure cache hits, not refreshes.
WARM_TTL_S = 3600

#: What the dashboard asks for on one page (API.md): the same numbers the baseline answers.
DASHBOARD_QUERY = """query Dashboard {
  salesAnalytics(granularity: DAY, top: 10) {
    range { start end days }
    kpis { revenue orders unitsSold averageOrderValue itemsPerOrder distinctProducts
           previousRevenue revenueChange }
    trend { period revenue orders unitsSold }
    topProducts { revenue unitsSold orders shareOfRevenue
                  product { id sku name price stockQuantity category cost } }
    categories { category revenue unitsSold shareOfRevenue }
  }
  stockAnalytics(lookbackDays: 30, leadTimeDays: 7) {
    kpis { productCount totalUnits stockValue stockCost outOfStock lowStock reorderNeeded
           deadStock averageDaysOfCover }
    items { status stockQuantity stockValue averageDailySales daysOfCover
            suggestedReorderQuantity lastSaleDate product { sku name category } }
  }
}"""
BASELINE_PATH = "/dashboard?days=30&top=10&lookbackDays=30&leadTimeDays=7"


@dataclass(frozen=True)
class Target:
    """A server under load and the one request every client repeats."""

    name: str
    port: int
    request: bytes
    warm_up: bool  # a short unmeasured run first (cheap answers only)
    error_marker: bytes | None = None  # in a 200 answer's body, it is an error


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """uvloop when installed: the load generator shares 2 cores with the servers."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def measure(target: Target, concurrency: int, seconds: float) -> LoadResult:
    def load(duration: float) -> LoadResult:
        return _run(  # type: ignore[no-any-return]
            run_load(
                "127.0.0.1",
                target.port,
                target.request,
                concurrency=concurrency,
                seconds=duration,
                error_marker=target.error_marker,
            )
        )

    if target.warm_up:
        load(0.3)
    return load(seconds)


def gateway_target(name: str, port: int, token: str, *, warm_up: bool) -> Target:
    body = orjson.dumps({"query": DASHBOARD_QUERY})
    request = build_post(
        f"127.0.0.1:{port}", "/graphql", body, {"Authorization": f"Bearer {token}"}
    )
    return Target(name, port, request, warm_up, error_marker=b'"errors":')


def gateway_process(name: str, port: int, java_url: str, ttl_s: int, **env: str) -> Process:
    settings = {
        "SALESFLOW_PORT": str(port),
        "SALESFLOW_JAVA_API_URL": java_url,
        "SALESFLOW_JWT_SECRET": BENCH_SECRET,
        "SALESFLOW_LOG_LEVEL": "WARNING",
        # one token drives thousands of requests a second: measure the gateway, not the limiter
        "SALESFLOW_RATE_LIMIT_PER_S": "0",
        "SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES": "0",
        "SALESFLOW_REDIS_URL": "",
        **{f"SALESFLOW_{data}_TTL_S": str(ttl_s) for data in ("CATALOGUE", "SALES", "ANALYTICS")},
        **env,
    }
    return Process(
        name, [sys.executable, "-m", "salesflow_graphql", "serve"], settings, port, "/healthz"
    )


# ---------------------------------------------------------------- answers
def gateway_answer(port: int, token: str) -> dict[str, Any]:
    answer = httpx.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": DASHBOARD_QUERY},
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    payload = answer.json()
    if answer.status_code != 200 or payload.get("errors"):
        raise RuntimeError(f"gateway on {port} answered {answer.status_code}: {answer.text[:500]}")
    return payload["data"]  # type: ignore[no-any-return]


def baseline_answer(port: int, token: str) -> dict[str, Any]:
    answer = httpx.get(
        f"http://127.0.0.1:{port}{BASELINE_PATH}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    answer.raise_for_status()
    return answer.json()  # type: ignore[no-any-return]


def differences(ours: Any, theirs: Any, path: str = "") -> tuple[int, list[str]]:
    """Values compared and where ``theirs`` differs from ``ours`` (only ``ours``' keys)."""
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return 1, [f"{path}: {theirs!r}"]
        counted, found = 0, []
        for key, value in ours.items():
            if key not in theirs:
                counted, found = counted + 1, [*found, f"{path}.{key}: missing"]
                continue
            n, diffs = differences(value, theirs[key], f"{path}.{key}")
            counted, found = counted + n, found + diffs
        return counted, found
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(ours) != len(theirs):
            return 1, [f"{path}: {len(ours)} entries vs {theirs!r:.80}"]
        counted, found = 0, []
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            n, diffs = differences(a, b, f"{path}[{i}]")
            counted, found = counted + n, found + diffs
        return counted, found
    numbers = (int, float)
    if isinstance(ours, numbers) and isinstance(theirs, numbers) and not isinstance(ours, bool):
        same = math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-9)
    else:
        same = (None if ours is None else str(ours)) == (None if theirs is None else str(theirs))
    return 1, [] if same else [f"{path}: {ours!r} vs {theirs!r}"]


def check_answers(servers: Servers, token: str) -> str:
    """Ask every server once, all at once (first answers build schemas and fill caches),
    and compare the gateway's dashboard with the cold gateway's and the baseline's."""
    gateways = [servers.warm, servers.cold, *(servers.replicas or ())]
    with ThreadPoolExecutor(len(gateways) + 1) as pool:
        baseline = pool.submit(baseline_answer, servers.baseline, token)
        warm, *others = pool.map(lambda port: gateway_answer(port, token), gateways)
        compared, diffs = differences(warm, baseline.result())
    names = ["cold", "replica 1", "replica 2"]
    for name, answer in zip(names, others, strict=False):
        diffs += [f"{name} {d}" for d in differences(warm, answer)[1]]
    if diffs:
        shown = "; ".join(diffs[:5])
        return f"- same answers: NO, {len(diffs)} values differ ({shown})"
    return (
        f"- same answers: yes, the baseline and every gateway ({len(gateways)}) agree on all "
        f"{compared} values of the dashboard"
    )


# ---------------------------------------------------------------- servers
@dataclass(frozen=True)
class Servers:
    """The ports of every process; all of them start together (start-ups overlap)."""

    java: int
    warm: int
    cold: int
    baseline: int
    replicas: tuple[int, int] | None  # None: no Redis, no replica run
    one_replica: int  # the balancer in front of the first replica alone
    two_replicas: int  # the balancer in front of both

    @property
    def java_url(self) -> str:
        return f"http://127.0.0.1:{self.java}/api/v1"

    def processes(self) -> list[Process]:
        python = sys.executable
        java_url = ["--java-url", self.java_url]
        processes = [
            Process(
                "standin",
                [python, "-m", "salesflow_graphql", "standin", "--port", str(self.java)],
                {"SALESFLOW_LOG_LEVEL": "WARNING", "SALESFLOW_JWT_SECRET": BENCH_SECRET},
                self.java,
                "/api/v1/auth/me",
            ),
            gateway_process("gateway-warm", self.warm, self.java_url, WARM_TTL_S),
            gateway_process("gateway-cold", self.cold, self.java_url, ttl_s=0),
            Process(
                "baseline",
                [python, "bench/baseline_rest.py", f"--port={self.baseline}", *java_url],
                {},
                self.baseline,
                "/healthz",
            ),
        ]
        if self.replicas is not None:
            redis = {"SALESFLOW_REDIS_URL": REDIS_URL}
            backends = [f"127.0.0.1:{port}" for port in self.replicas]
            balancer = [python, "bench/balancer.py", "--port"]
            processes += [
                gateway_process(f"replica-{i}", port, self.java_url, WARM_TTL_S, **redis)
                for i, port in enumerate(self.replicas, 1)
            ]
            processes += [
                Process(
                    "balancer-1",
                    [*balancer, str(self.one_replica), "--backend", backends[0]],
                    {},
                    self.one_replica,
                    "/healthz",
                ),
                Process(
                    "balancer-2",
                    [*balancer, str(self.two_replicas)]
                    + [arg for backend in backends for arg in ("--backend", backend)],
                    {},
                    self.two_replicas,
                    "/healthz",
                ),
            ]
        return processes


# ------------------------------------------------------------------- 1
def bench_single(
    servers: Servers, token: str, concurrencies: list[int], seconds: float
) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    baseline = Target(
        "baseline (REST, no cache)",
        servers.baseline,
        build_get(f"127.0.0.1:{servers.baseline}", BASELINE_PATH, headers),
        warm_up=False,
    )
    cold = gateway_target("gateway cold (TTLs 0)", servers.cold, token, warm_up=False)
    warm = gateway_target("gateway warm", servers.warm, token, warm_up=True)
    rows, summary = [], []
    for concurrency in concurrencies:
        results = {t.name: measure(t, concurrency, seconds) for t in (baseline, cold, warm)}
        base_rps = results[baseline.name].rps
        for name, result in results.items():
            rows.append(_row([concurrency, name], result, base_rps))
        summary.append(
            {"clients": concurrency, "baseline": results[baseline.name], "warm": results[warm.name]}
        )
    table(
        "1. Dashboard query, one uvicorn worker each: gateway warm and cold vs the seed's "
        "design (REST, no cache)",
        ["clients", "server", "requests", "errors", "req/s", "p50 ms", "p99 ms", "vs baseline"],
        rows,
    )
    print(
        "- baseline: products + inventory + 59 days of sales (~5 MB JSON) from Java, pandas, "
        "then GET /products/by-id for each top product, on every call"
    )
    print(
        "- gateway cold: every TTL 0, so nothing is kept between requests; concurrent "
        "identical misses share one Java fetch and one computation (single-flight)"
    )
    print(
        f"- gateway warm: answers come from the response cache; TTLs {WARM_TTL_S} s so no "
        "refresh falls inside a cell (with the default 60 s, each refresh costs one cold "
        "computation that every request arriving meanwhile waits for)"
    )
    return summary


def _row(label: list[object], result: LoadResult, reference_rps: float) -> list[object]:
    ratio = result.rps / reference_rps if reference_rps else float("nan")
    return [
        *label,
        result.requests,
        result.errors,
        f"{result.rps:,.1f}" if result.rps < 100 else f"{result.rps:,.0f}",
        _ms(result.percentile(50)),
        _ms(result.percentile(99)),
        f"{ratio:,.2f}x" if ratio < 10 else f"{ratio:,.0f}x",
    ]


def _ms(value: float) -> str:
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


# ------------------------------------------------------------------- 2
def redis_flushed() -> bool:
    """Empty the replicas' Redis db; False (and the replica run is skipped) without Redis."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        print(f"- no Redis at {REDIS_URL} ({exc}): the replica run is skipped")
        return False
    return True


def bench_replicas(
    servers: Servers, token: str, concurrencies: list[int], seconds: float, *, direct: bool
) -> None:
    if servers.replicas is None:
        print("\n## 2. Replicas: skipped, no Redis")
        return
    setups = [
        gateway_target("1 replica, via balancer", servers.one_replica, token, warm_up=True),
        gateway_target("2 replicas, via balancer", servers.two_replicas, token, warm_up=True),
    ]
    if direct:  # what the balancer's hop costs
        setups.insert(
            0, gateway_target("1 replica, direct", servers.replicas[0], token, warm_up=True)
        )
    rows = []
    rounds = 1 if seconds < 5 else 3
    for concurrency in concurrencies:
        # Setups take turns, a few rounds each, so a busy spell of the machine hits all alike.
        parts: list[list[LoadResult]] = [[] for _ in setups]
        for _ in range(rounds):
            for setup, done in zip(setups, parts, strict=True):
                done.append(measure(setup, concurrency, seconds / rounds))
        results = [merged(done) for done in parts]
        reference = results[-2].rps  # 1 replica via the balancer
        rows += [
            _row([concurrency, setup.name], result, reference)
            for setup, result in zip(setups, results, strict=True)
        ]
    table(
        "2. Warm dashboard throughput, gateway replicas on one Redis behind a round-robin "
        "TCP balancer",
        ["clients", "setup", "requests", "errors", "req/s", "p50 ms", "p99 ms", "vs 1 replica"],
        rows,
    )
    print(
        f"- this machine has {os.cpu_count()} cores: the load generator, the balancer and the "
        "replicas compete for them, so a second replica only gets the CPU the others leave"
    )
    print(
        "- the balancer hands out connections in turn (layer 4): each replica serves half of "
        "the keep-alive connections; on Redis every warm answer is one Redis GET of the "
        "cached answer (no in-process copy)"
    )


def merged(results: list[LoadResult]) -> LoadResult:
    return LoadResult(
        requests=sum(r.requests for r in results),
        errors=sum(r.errors for r in results),
        seconds=sum(r.seconds for r in results),
        latencies_ms=np.concatenate([r.latencies_ms for r in results]),
    )


# ------------------------------------------------------------------- 3
def report_goals(summary: list[dict[str, Any]]) -> None:
    rows = []
    for cell in summary:
        base, warm = cell["baseline"], cell["warm"]
        ratio = warm.rps / base.rps if base.rps else float("inf")
        met = ratio >= GOAL_RATIO and warm.percentile(99) <= GOAL_P99_MS and warm.errors == 0
        rows.append(
            [
                cell["clients"],
                f"{warm.rps:,.0f}",
                f"{base.rps:,.1f}",
                f"{ratio:,.0f}x",
                _ms(warm.percentile(99)),
                "PASS" if met else "FAIL",
            ]
        )
    table(
        f"3. Goals: warm dashboard throughput >= {GOAL_RATIO:g}x the baseline, "
        f"p99 <= {GOAL_P99_MS:g} ms",
        ["clients", "warm req/s", "baseline req/s", "ratio", "warm p99 ms", "goal"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one client count, short cells (CI)")
    args = parser.parse_args()
    started = time.perf_counter()
    # The baseline answers one request at a time: a cell lasts at least clients x its latency.
    concurrencies = [2] if args.quick else [1, 8, 32]
    replica_concurrencies = [8] if args.quick else [8, 32]
    seconds = 1.5 if args.quick else 10.0
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"# bench/load ({'quick' if args.quick else 'full'}) on {os.cpu_count()} cores, "
        f"{seconds:g} s a cell; load average before: {load}"
    )
    token = mint_access_token(BENCH_SECRET, Role.USER, ttl_s=3600)
    servers = Servers(
        java=free_port(),
        warm=free_port(),
        cold=free_port(),
        baseline=free_port(),
        replicas=(free_port(), free_port()) if redis_flushed() else None,
        one_replica=free_port(),
        two_replicas=free_port(),
    )
    # Eight processes start at once, on a machine that may be busy: give them time.
    with running_together(servers.processes(), timeout_s=120):
        ready = time.perf_counter() - started
        print(f"- {len(servers.processes())} processes up after {ready:.0f} s")
        print(check_answers(servers, token))
        summary = bench_single(servers, token, concurrencies, seconds)
        bench_replicas(servers, token, replica_concurrencies, seconds, direct=not args.quick)
    if servers.replicas is not None:
        redis_flushed()  # leave nothing behind
    report_goals(summary)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n- took {time.perf_counter() - started:.0f} s; load average after: {load}")


if __name__ == "__main__":
    main()
