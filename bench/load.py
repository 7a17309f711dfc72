"""Load figures: the dashboard query on the gateway, warm and cold, in both cache modes, across
cache expiries, vs the seed's design.

    uv run python bench/load.py            # full run: 1, 8, 32 clients, 10 s a cell, 60 s expiry run
    uv run python bench/load.py --quick    # one client count, short cells (CI runs this)
    uv run python bench/load.py --before /path/to/older/checkout   # the same, side by side

Everything runs as real processes on real sockets: the Java stand-in
(``salesflow-graphql standin``), the gateways (``salesflow-graphql serve``, one
uvicorn worker each, pointed at the stand-in, rate limiter and scheduled alert
checks off) and ``bench/baseline_rest.py`` (one uvicorn worker). The clients
are ``bench/loadgen.py``: closed-loop keep-alive connections, one request at a
time each, on uvloop in this process. Redis is ``--redis`` (default
``SALESFLOW_BENCH_REDIS_URL``, else database 11 of ``SALESFLOW_TEST_REDIS`` or
127.0.0.1:6379); its databases 11 to 14 (or the given one and the next three)
are flushed before and after.

``--before DIR`` also starts the gateways of another checkout of this project
(``DIR/.venv``, e.g. ``git archive <commit> | tar -x -C DIR && uv sync`` there)
and measures them in the same rounds, so a change is compared with what it
replaced on the same machine at the same time.

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
   - gateway warm: answered from the response cache; its TTLs are an hour so
     that no refresh falls inside a measurement (section 3 measures expiries);
   Before measuring, the answers of every gateway and the baseline are compared
   value by value.
2. the two cache modes side by side, warm: the embedded default (memory) and
   Redis (the production topology: a per-process tier in front of Redis), and
   the same two of ``--before``; setups take turns in three rounds per client
   count (full run), so the machine's busy spells spread over all of them;
3. a run spanning several expiries: 32 clients for 60 s (quick: 8 for 6 s) on a
   Redis-mode gateway whose TTLs are 10 s (quick: 3 s), with stale answers served
   for one TTL more while one refresh runs (``SALESFLOW_CACHE_STALE_S``); and the
   same on ``--before``'s;
4. warm throughput of 1 and 2 gateway replicas sharing one Redis behind
   ``bench/balancer.py`` (round-robin TCP), and (full run) of 1 replica without
   the balancer;
5. the goals: warm dashboard throughput >= 5x the baseline with p99 <= 50 ms;
   Redis mode >= 0.9x the embedded mode's warm throughput with p99 <= 25 ms at
   32 clients; p99 <= 50 ms across expiries.
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

from harness import ROOT, Process, free_port, running_together, table
from loadgen import LoadResult, build_get, build_post, run_load

from salesflow_graphql.auth import Role, mint_access_token

BENCH_SECRET = "bench-secret-shared-by-java-and-the-gateway-0123456789"
#: Databases 11-14 by default: not used by the tests (15, 14, 13, 10) nor bench/alerts.py (12, 13).
DEFAULT_REDIS_URL = os.environ.get("SALESFLOW_BENCH_REDIS_URL") or (
    f"redis://{os.environ.get('SALESFLOW_TEST_REDIS', '127.0.0.1:6379')}/11"
)
GOAL_RATIO, GOAL_P99_MS = 5.0, 50.0
#: Redis mode against the embedded mode, warm, and its p99 at 32 clients.
GOAL_REDIS_RATIO, GOAL_REDIS_P99_MS = 0.9, 25.0
#: p99 over a run that spans several expiries.
GOAL_EXPIRY_P99_MS = 50.0
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
    marker: bytes | None = None  # a header line whose answers are counted


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
                marker=target.marker,
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
    return Target(name, port, request, warm_up, b'"errors":', b"x-cache: stale")


def gateway_process(
    name: str, port: int, java_url: str, ttl_s: float, *, before: Path | None = None, **env: str
) -> Process:
    """A gateway of this checkout, or of the ``before`` one (its own venv and code)."""
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
    python = sys.executable if before is None else str(before / ".venv" / "bin" / "python")
    return Process(
        name,
        [python, "-m", "salesflow_graphql", "serve"],
        settings,
        port,
        "/healthz",
        cwd=ROOT if before is None else before,
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
    and compare the gateway's dashboard with every other gateway's and the baseline's."""
    others = servers.other_gateways()
    with ThreadPoolExecutor(len(others) + 2) as pool:
        baseline = pool.submit(baseline_answer, servers.baseline, token)
        warm = pool.submit(gateway_answer, servers.warm, token)
        answers = {name: pool.submit(gateway_answer, port, token) for name, port in others}
        compared, diffs = differences(warm.result(), baseline.result())
        for name, answer in answers.items():
            diffs += [f"{name} {d}" for d in differences(warm.result(), answer.result())[1]]
    if diffs:
        shown = "; ".join(diffs[:5])
        return f"- same answers: NO, {len(diffs)} values differ ({shown})"
    return (
        f"- same answers: yes, the baseline and every gateway ({len(others) + 1}) agree on all "
        f"{compared} values of the dashboard"
    )


# ---------------------------------------------------------------- servers
@dataclass(frozen=True)
class Redis:
    """The Redis databases of the run: one per gateway group, flushed before and after."""

    url: str

    def db(self, offset: int) -> str:
        base, _, number = self.url.rpartition("/")
        return f"{base}/{int(number or 0) + offset}"

    @property
    def databases(self) -> list[str]:
        return [self.db(i) for i in range(4)]

    def flushed(self) -> bool:
        """Empty every database of the run; False (Redis runs are skipped) without Redis."""
        import redis

        try:
            for url in self.databases:
                client = redis.Redis.from_url(url, socket_timeout=2)
                client.flushdb()
                client.close()
        except redis.RedisError as exc:
            print(f"- no Redis at {self.url} ({exc}): the Redis runs are skipped")
            return False
        return True


@dataclass(frozen=True)
class Servers:
    """The ports of every process; all of them start together (start-ups overlap)."""

    java: int
    warm: int
    cold: int
    baseline: int
    redis: Redis | None  # None: no Redis, no Redis runs
    before: Path | None  # another checkout to compare with
    expiry_ttl_s: float
    ports: dict[str, int]

    @classmethod
    def allocate(cls, redis: Redis | None, before: Path | None, expiry_ttl_s: float) -> Servers:
        names = ["redis", "expiring", "replica-1", "replica-2", "balancer-1", "balancer-2"]
        names += ["before-warm", "before-redis", "before-expiring"]
        return cls(
            java=free_port(),
            warm=free_port(),
            cold=free_port(),
            baseline=free_port(),
            redis=redis,
            before=before,
            expiry_ttl_s=expiry_ttl_s,
            ports={name: free_port() for name in names},
        )

    @property
    def java_url(self) -> str:
        return f"http://127.0.0.1:{self.java}/api/v1"

    def other_gateways(self) -> list[tuple[str, int]]:
        """Every gateway but the warm one, by name (those that run)."""
        names = ["cold"]
        if self.redis is not None:
            names += ["redis", "expiring", "replica-1", "replica-2"]
        if self.before is not None:
            names += ["before-warm"] + (["before-redis", "before-expiring"] if self.redis else [])
        return [(name, self.cold if name == "cold" else self.ports[name]) for name in names]

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
        ports = self.ports
        if self.before is not None:
            processes.append(
                gateway_process(
                    "before-warm",
                    ports["before-warm"],
                    self.java_url,
                    WARM_TTL_S,
                    before=self.before,
                )
            )
        if self.redis is None:
            return processes
        expiring = {
            "SALESFLOW_CACHE_STALE_S": str(self.expiry_ttl_s),  # one TTL more
            "SALESFLOW_REDIS_URL": self.redis.db(1),
        }
        processes += [
            gateway_process(
                "redis",
                ports["redis"],
                self.java_url,
                WARM_TTL_S,
                SALESFLOW_REDIS_URL=self.redis.db(0),
            ),
            gateway_process(
                "expiring", ports["expiring"], self.java_url, self.expiry_ttl_s, **expiring
            ),
        ]
        if self.before is not None:
            processes += [
                gateway_process(
                    "before-redis",
                    ports["before-redis"],
                    self.java_url,
                    WARM_TTL_S,
                    before=self.before,
                    SALESFLOW_REDIS_URL=self.redis.db(2),
                ),
                gateway_process(
                    "before-expiring",
                    ports["before-expiring"],
                    self.java_url,
                    self.expiry_ttl_s,
                    before=self.before,
                    SALESFLOW_REDIS_URL=self.redis.db(3),
                ),
            ]
        backends = [f"127.0.0.1:{ports[name]}" for name in ("replica-1", "replica-2")]
        balancer = [python, "bench/balancer.py", "--port"]
        processes += [
            gateway_process(
                name, ports[name], self.java_url, WARM_TTL_S, SALESFLOW_REDIS_URL=self.redis.db(0)
            )
            for name in ("replica-1", "replica-2")
        ]
        processes += [
            Process(
                "balancer-1",
                [*balancer, str(ports["balancer-1"]), "--backend", backends[0]],
                {},
                ports["balancer-1"],
                "/healthz",
            ),
            Process(
                "balancer-2",
                [*balancer, str(ports["balancer-2"])]
                + [arg for backend in backends for arg in ("--backend", backend)],
                {},
                ports["balancer-2"],
                "/healthz",
            ),
        ]
        return processes


def in_turns(setups: list[Target], concurrency: int, seconds: float) -> list[LoadResult]:
    """Each setup for ``seconds``, in turns of a few rounds (full run), so that a busy spell
    of the machine hits all of them alike."""
    rounds = 1 if seconds < 5 else 3
    parts: list[list[LoadResult]] = [[] for _ in setups]
    for _ in range(rounds):
        for setup, done in zip(setups, parts, strict=True):
            done.append(measure(setup, concurrency, seconds / rounds))
    return [merged(done) for done in parts]


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
        "refresh falls inside a cell (section 3 measures load across expiries)"
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
def bench_cache_modes(
    servers: Servers, token: str, concurrencies: list[int], seconds: float
) -> list[dict[str, Any]]:
    """Warm throughput of the embedded (memory) and Redis modes, taking turns."""
    if servers.redis is None:
        print("\n## 2. Cache modes: skipped, no Redis")
        return []
    setups = [
        gateway_target("embedded (memory)", servers.warm, token, warm_up=True),
        gateway_target("Redis", servers.ports["redis"], token, warm_up=True),
    ]
    if servers.before is not None:
        setups += [
            gateway_target("before: embedded", servers.ports["before-warm"], token, warm_up=True),
            gateway_target("before: Redis", servers.ports["before-redis"], token, warm_up=True),
        ]
    rows, summary = [], []
    for concurrency in concurrencies:
        results = in_turns(setups, concurrency, seconds)
        embedded = results[0].rps
        rows += [
            _row([concurrency, setup.name], result, embedded)
            for setup, result in zip(setups, results, strict=True)
        ]
        summary.append(
            {"clients": concurrency, **{s.name: r for s, r in zip(setups, results, strict=True)}}
        )
    table(
        "2. Cache modes side by side, warm dashboard, one uvicorn worker each",
        ["clients", "mode", "requests", "errors", "req/s", "p50 ms", "p99 ms", "vs embedded"],
        rows,
    )
    print(
        "- embedded: the cache is this process's memory; Redis: a per-process tier of hot, "
        "decoded answers in front of Redis (typed values, no pickle), kept correct across "
        "replicas by the invalidation broadcast and bounded by the data's TTL"
    )
    return summary


# ------------------------------------------------------------------- 3
def bench_expiry(
    servers: Servers, token: str, clients: int, seconds: float
) -> list[dict[str, Any]]:
    """Load across several expiries of every cached layer."""
    if servers.redis is None:
        print("\n## 3. Across expiries: skipped, no Redis")
        return []
    setups = [
        gateway_target(
            "Redis, stale-while-revalidate", servers.ports["expiring"], token, warm_up=True
        )
    ]
    if servers.before is not None:
        setups.append(
            gateway_target("before: Redis", servers.ports["before-expiring"], token, warm_up=True)
        )
    ttl = servers.expiry_ttl_s
    rows, summary = [], []
    for setup in setups:
        result = measure(setup, clients, seconds)
        rows.append(
            [
                setup.name,
                result.requests,
                result.errors,
                f"{result.rps:,.0f}",
                _ms(result.percentile(50)),
                _ms(result.percentile(99)),
                _ms(result.percentile(99.9)),
                _ms(float(result.latencies_ms.max())) if result.requests else "-",
                f"{result.marked:,}",
            ]
        )
        summary.append({"setup": setup.name, "result": result})
    table(
        f"3. Across expiries: {clients} clients for {seconds:g} s, every TTL {ttl:g} s "
        f"(about {seconds / ttl:.0f} expiries of each layer)",
        [
            "gateway",
            "requests",
            "errors",
            "req/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "stale answers",
        ],
        rows,
    )
    print(
        f"- stale-while-revalidate: an expired answer is served for {ttl:g} s more "
        "(SALESFLOW_CACHE_STALE_S) while exactly one background refresh runs; before, every "
        "request arriving during a refresh waited for it (single-flight)"
    )
    return summary


# ------------------------------------------------------------------- 4
def bench_replicas(
    servers: Servers, token: str, concurrencies: list[int], seconds: float, *, direct: bool
) -> None:
    if servers.redis is None:
        print("\n## 4. Replicas: skipped, no Redis")
        return
    ports = servers.ports
    setups = [
        gateway_target("1 replica, via balancer", ports["balancer-1"], token, warm_up=True),
        gateway_target("2 replicas, via balancer", ports["balancer-2"], token, warm_up=True),
    ]
    if direct:  # what the balancer's hop costs
        setups.insert(
            0, gateway_target("1 replica, direct", ports["replica-1"], token, warm_up=True)
        )
    rows = []
    for concurrency in concurrencies:
        results = in_turns(setups, concurrency, seconds)
        reference = results[-2].rps  # 1 replica via the balancer
        rows += [
            _row([concurrency, setup.name], result, reference)
            for setup, result in zip(setups, results, strict=True)
        ]
    table(
        "4. Warm dashboard throughput, gateway replicas on one Redis behind a round-robin "
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
        "the keep-alive connections; a warm answer comes from the replica's own tier, a "
        "cold one from Redis when another replica computed it"
    )


def merged(results: list[LoadResult]) -> LoadResult:
    return LoadResult(
        requests=sum(r.requests for r in results),
        errors=sum(r.errors for r in results),
        seconds=sum(r.seconds for r in results),
        latencies_ms=np.concatenate([r.latencies_ms for r in results]),
    )


# ------------------------------------------------------------------- 5
def report_goals(
    summary: list[dict[str, Any]], modes: list[dict[str, Any]], expiry: list[dict[str, Any]]
) -> None:
    rows = []
    for cell in summary:
        base, warm = cell["baseline"], cell["warm"]
        ratio = warm.rps / base.rps if base.rps else float("inf")
        met = ratio >= GOAL_RATIO and warm.percentile(99) <= GOAL_P99_MS and warm.errors == 0
        rows.append(
            [
                f"warm >= {GOAL_RATIO:g}x baseline, p99 <= {GOAL_P99_MS:g} ms",
                cell["clients"],
                f"{ratio:,.0f}x",
                _ms(warm.percentile(99)),
                "PASS" if met else "FAIL",
            ]
        )
    for cell in modes:
        embedded, redis = cell["embedded (memory)"], cell["Redis"]
        ratio = redis.rps / embedded.rps if embedded.rps else float("inf")
        at_32 = cell["clients"] == 32
        met = ratio >= GOAL_REDIS_RATIO and redis.errors == 0
        met = met and (not at_32 or redis.percentile(99) <= GOAL_REDIS_P99_MS)
        goal = f"Redis >= {GOAL_REDIS_RATIO:g}x embedded" + (
            f", p99 <= {GOAL_REDIS_P99_MS:g} ms" if at_32 else ""
        )
        rows.append(
            [
                goal,
                cell["clients"],
                f"{ratio:,.2f}x",
                _ms(redis.percentile(99)),
                "PASS" if met else "FAIL",
            ]
        )
    for cell in expiry[:1]:
        result = cell["result"]
        met = result.percentile(99) <= GOAL_EXPIRY_P99_MS and result.errors == 0
        rows.append(
            [
                f"across expiries p99 <= {GOAL_EXPIRY_P99_MS:g} ms",
                "",
                f"{result.rps:,.0f} req/s",
                _ms(result.percentile(99)),
                "PASS" if met else "FAIL",
            ]
        )
    table("5. Goals", ["goal", "clients", "figure", "p99 ms", "result"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one client count, short cells (CI)")
    parser.add_argument(
        "--redis", default=DEFAULT_REDIS_URL, help="Redis URL (its db and the next 3)"
    )
    parser.add_argument("--before", type=Path, help="another checkout to measure side by side")
    args = parser.parse_args()
    started = time.perf_counter()
    # The baseline answers one request at a time: a cell lasts at least clients x its latency.
    concurrencies = [2] if args.quick else [1, 8, 32]
    mode_concurrencies = [8] if args.quick else [1, 8, 32]
    replica_concurrencies = [8] if args.quick else [8, 32]
    seconds = 1.5 if args.quick else 10.0
    expiry_clients, expiry_seconds, expiry_ttl = (8, 6.0, 3.0) if args.quick else (32, 60.0, 10.0)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"# bench/load ({'quick' if args.quick else 'full'}) on {os.cpu_count()} cores, "
        f"{seconds:g} s a cell; load average before: {load}"
    )
    if args.before is not None:
        print(f"- before: {args.before.resolve()}")
    token = mint_access_token(BENCH_SECRET, Role.USER, ttl_s=3600)
    redis = Redis(args.redis)
    servers = Servers.allocate(redis if redis.flushed() else None, args.before, expiry_ttl)
    # A dozen processes start at once, on a machine that may be busy: give them time.
    with running_together(servers.processes(), timeout_s=180):
        ready = time.perf_counter() - started
        print(f"- {len(servers.processes())} processes up after {ready:.0f} s")
        print(check_answers(servers, token))
        summary = bench_single(servers, token, concurrencies, seconds)
        modes = bench_cache_modes(servers, token, mode_concurrencies, seconds)
        expiry = bench_expiry(servers, token, expiry_clients, expiry_seconds)
        bench_replicas(servers, token, replica_concurrencies, seconds, direct=not args.quick)
    if servers.redis is not None:
        servers.redis.flushed()  # leave nothing behind
    report_goals(summary, modes, expiry)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n- took {time.perf_counter() - started:.0f} s; load average after: {load}")


if __name__ == "__main__":
    main()
