"""A gateway killed mid-commit, then the same commit retried (issue 7); and Java faults that
tests/test_java_faults.py leaves out (the Java process dying mid-run, slowness opening the breaker).

Every service is a process on a real socket: a ``redis-server`` of the test's own (the
idempotency records outlive the gateway there), the Java stand-in
(``python -m salesflow_graphql standin``) and the gateway (``... serve``). The stand-in's
own HTTP API is the witness: its stock levels, its sales and its request log.

The first gateway of a crash test holds its idempotency keys with a 2 s lease instead of
30 s (``LEASE_S``, set in that process only), so the test waits 2 s, not 30 s, for the
retry to find the dead owner's lease expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
import spreadsheets as files
from support import RedisServer, error_codes, free_port, graphql, wait_until

from salesflow_graphql.app import create_app
from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings
from salesflow_graphql.imports import ImportKind
from salesflow_graphql.imports.idempotency import (
    IdempotencyRecord,
    IdempotencyStore,
    decode_record,
)
from salesflow_graphql.metrics import UPSTREAM_CALLS
from salesflow_graphql.runtime import Runtime

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SECRET = "import-faults-secret-that-is-at-least-32-bytes-long"
SUBJECT = "+15550000009"
ADMIN = mint_access_token(SECRET, Role.ADMIN, subject=SUBJECT, username="adam")
#: Runs the CLI with the idempotency lease shortened (argv: lease seconds, then the command).
SHORT_LEASE = (
    "import sys; import salesflow_graphql.imports.idempotency as idempotency; "
    "idempotency.LEASE_S = float(sys.argv[1]); "
    "from salesflow_graphql.cli import main; raise SystemExit(main(sys.argv[2:]))"
)
MUTATION = """
mutation Import($file: Upload!, $kind: ImportKind!, $dryRun: Boolean!, $key: String) {
  importExcel(file: $file, kind: $kind, dryRun: $dryRun, idempotencyKey: $key) {
    importId status replayed created salesCreated failed message errors { row code }
  }
}
"""
#: Quantity of every imported line: no generated sale of the demo shop has it.
QUANTITY = 7


# ------------------------------------------------------------------ processes
@dataclasses.dataclass
class Service:
    """A subprocess serving on ``port``; its output goes to ``log``."""

    name: str
    port: int
    log: Path
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdout=sink, stderr=subprocess.STDOUT
            )

    async def ready(self, path: str) -> None:
        async with httpx.AsyncClient(timeout=2) as client:

            async def answers() -> bool:
                assert self.process is not None and self.process.poll() is None, self.tail()
                try:
                    return (await client.get(self.url + path)).status_code == 200
                except httpx.TransportError:
                    return False

            # generous: a loaded CI machine takes many seconds to start a Python process
            await wait_until(answers, timeout=60, what=f"the {self.name} to answer")

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else "(no log)"


@pytest.fixture(scope="module")
async def redis_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), durable=False)
    await server.start()
    yield server.url
    server.kill()


@dataclasses.dataclass
class Java:
    """The stand-in process, driven and read through its HTTP API."""

    service: Service
    client: httpx.AsyncClient

    @property
    def api(self) -> str:
        return self.service.url + "/api/v1"

    async def faults(self, **changes: Any) -> None:
        response = await self.client.put("/__standin/faults", json=changes)
        assert response.status_code == 200, response.text

    async def healthy(self) -> None:
        assert (await self.client.delete("/__standin/faults")).status_code == 200

    async def forget_requests(self) -> None:
        assert (await self.client.delete("/__standin/requests")).status_code == 204

    async def writes(self) -> list[dict[str, Any]]:
        log = (await self.client.get("/__standin/requests")).json()
        return [r for r in log if r["method"] in ("POST", "PUT", "DELETE")]

    async def get(self, path: str) -> Any:
        response = await self.client.get(
            "/api/v1" + path, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def stock(self, skus: list[str]) -> dict[str, int]:
        return {sku: (await self.get(f"/products/by-sku/{sku}"))["stockQuantity"] for sku in skus}

    async def imported_sales(self, skus: list[str]) -> dict[str, int]:
        """How many of today's sales are one line of ``QUANTITY`` of each sku."""
        counts = dict.fromkeys(skus, 0)
        for sale in await self.get("/sales/today"):
            items = sale["items"]
            if len(items) == 1 and items[0]["sku"] in counts and items[0]["quantity"] == QUANTITY:
                counts[items[0]["sku"]] += 1
        return counts


@contextlib.asynccontextmanager
async def java_process(tmp_path: Path, port: int | None = None) -> AsyncIterator[Java]:
    port = port or free_port()
    service = Service(
        "stand-in",
        port,
        tmp_path / "standin.log",
        [sys.executable, "-m", "salesflow_graphql", "standin", "--port", str(port)],
        {**os.environ, "SALESFLOW_JWT_SECRET": SECRET, "SALESFLOW_LOG_LEVEL": "WARNING"},
    )
    service.start()
    try:
        await service.ready("/__standin/faults")
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
            yield Java(service, client)
    finally:
        service.kill()


@pytest.fixture(scope="module")
async def java(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Java]:
    """One stand-in for the tests that do not kill it; each uses products of its own."""
    async with java_process(tmp_path_factory.mktemp("java")) as java:
        yield java


def gateway_service(
    tmp_path: Path, java: Java, redis_url: str, port: int, *, lease_s: float | None = None
) -> Service:
    env = {
        **os.environ,
        "SALESFLOW_JAVA_API_URL": java.api,
        "SALESFLOW_REDIS_URL": redis_url,
        "SALESFLOW_JWT_SECRET": SECRET,
        "SALESFLOW_EXPORTS_DIR": str(tmp_path / "exports"),
        "SALESFLOW_IMPORT_BULK_CHUNK_SIZE": "1",  # one sale per request: a crash falls between
        "SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES": "0",
        "SALESFLOW_RATE_LIMIT_PER_S": "0",
        "SALESFLOW_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",  # its log up to the SIGKILL
    }
    command = ["serve", "--port", str(port)]
    if lease_s is None:
        args = [sys.executable, "-m", "salesflow_graphql", *command]
    else:
        args = [sys.executable, "-c", SHORT_LEASE, str(lease_s), *command]
    return Service("gateway", port, tmp_path / "gateway.log", args, env)


async def commit(gateway: httpx.AsyncClient, content: bytes, key: str) -> dict[str, Any]:
    """importExcel(kind: SALES, dryRun: false) as a multipart upload; the decoded answer."""
    operations = {
        "query": MUTATION,
        "variables": {"file": None, "kind": "SALES", "dryRun": False, "key": key},
    }
    response = await gateway.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.file"]})},
        files={"0": ("sales.xlsx", content, "application/octet-stream")},
        headers={"Authorization": f"Bearer {ADMIN}", "Apollo-Require-Preflight": "true"},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def settled(gateway: httpx.AsyncClient, content: bytes, key: str) -> dict[str, Any]:
    """Retry the commit until it is no longer "still running" (the dead owner's lease ran out)."""
    answers: list[dict[str, Any]] = []

    async def not_in_progress() -> bool:
        answer = await commit(gateway, content, key)
        answers.append(answer)
        if "errors" in answer:
            assert "still running" in answer["errors"][0]["message"], answer
            return False
        return True

    await wait_until(not_in_progress, timeout=15, what="the dead import's lease to run out")
    assert all("errors" in a for a in answers[:-1])  # only IN_PROGRESS on the way
    return answers[-1]["data"]["importExcel"]


_TAKEN: set[str] = set()


async def stocked_skus(java: Java, count: int) -> list[str]:
    """Products with stock to sell that no other test of this module sold."""
    products = await java.get("/products")
    skus = [
        p["sku"] for p in products if p["stockQuantity"] >= 3 * QUANTITY and p["sku"] not in _TAKEN
    ][:count]
    _TAKEN.update(skus)
    return skus


async def key_record(redis_url: str, key: str) -> IdempotencyRecord | None:
    """What the gateways keep in Redis for the idempotency key ``key``."""
    client = redis.Redis.from_url(redis_url)
    try:
        raw = await client.get("salesflow:" + IdempotencyStore.key(ImportKind.SALES, key, SUBJECT))
    finally:
        await client.aclose()
    return decode_record(raw) if raw else None


def sales_file(skus: list[str]) -> bytes:
    return files.xlsx(
        [["Invoice", "SKU", "Qty"]] + [[f"INV-{i}", sku, QUANTITY] for i, sku in enumerate(skus)]
    )


# ------------------------------------------------------------------ the crash tests
async def test_a_commit_retried_after_the_gateway_died_mid_write_never_writes_twice(
    tmp_path: Path, redis_url: str, java: Java
) -> None:
    await java.forget_requests()
    skus = await stocked_skus(java, 4)
    content = sales_file(skus)
    stock_before = await java.stock(skus)
    sales_before = await java.imported_sales(skus)
    port = free_port()
    first = gateway_service(tmp_path, java, redis_url, port, lease_s=2.0)
    first.start()
    try:
        await first.ready("/healthz")
        await java.faults(latency_s=1.5, only_paths=["/sales/bulk"])  # 1.5 s a sale
        async with httpx.AsyncClient(base_url=first.url, timeout=60) as client:
            request = asyncio.create_task(commit(client, content, "crash-mid-write"))

            async def one_sale_written() -> bool:
                return any(w["status"] == 200 for w in await java.writes())

            await wait_until(one_sale_written, timeout=20, what="the first sale to be written")
            first.kill()  # mid-commit: the next sale is on its way, two more are not sent
            with pytest.raises(httpx.TransportError):
                await request
    finally:
        first.kill()
    await java.healthy()
    dead = await key_record(redis_url, "crash-mid-write")
    assert dead is not None and dead.outcome is None, "the dead gateway still holds the key"
    assert dead.if_interrupted is not None, "and it had said it was writing"

    second = gateway_service(tmp_path, java, redis_url, port)  # restarted, same port
    second.start()
    try:
        await second.ready("/healthz")
        writes_before_retry = await java.writes()
        async with httpx.AsyncClient(base_url=second.url, timeout=60) as client:
            answer = await settled(client, content, "crash-mid-write")
            again = (await commit(client, content, "crash-mid-write"))["data"]["importExcel"]
    finally:
        second.stop()
    # The retry is answered, not run: the first import died while writing.
    assert answer["status"] == "FAILED" and answer["replayed"] is True, answer
    assert "interrupted" in answer["message"], answer
    assert "some rows may have been saved" in answer["message"], answer
    assert again == answer  # and it stays so
    assert await java.writes() == writes_before_retry, "the retry sent nothing to Java"
    # Java holds what the dead gateway got in before it died, each sale once.
    stock_after = await java.stock(skus)
    sales_after = await java.imported_sales(skus)
    sold = {sku: stock_before[sku] - stock_after[sku] for sku in skus}
    recorded = {sku: sales_after[sku] - sales_before[sku] for sku in skus}
    assert set(sold.values()) <= {0, QUANTITY}, sold
    assert recorded == {sku: sold[sku] // QUANTITY for sku in skus}
    written = [w for w in writes_before_retry if w["path"] == "/sales/bulk"]
    assert sum(recorded.values()) == sum(w["status"] == 200 for w in written)
    assert 1 <= sum(recorded.values()) < len(skus), recorded


async def test_a_commit_retried_after_the_gateway_died_before_writing_is_imported_once(
    tmp_path: Path, redis_url: str, java: Java
) -> None:
    await java.forget_requests()
    skus = await stocked_skus(java, 3)
    content = sales_file(skus)
    stock_before = await java.stock(skus)
    port = free_port()
    first = gateway_service(tmp_path, java, redis_url, port, lease_s=2.0)
    first.start()
    try:
        await first.ready("/healthz")
        # The import reads Java's catalogue before it writes: make that slow.
        await java.faults(latency_s=5.0, only_paths=["/products"])
        async with httpx.AsyncClient(base_url=first.url, timeout=60) as client:
            request = asyncio.create_task(commit(client, content, "crash-before-write"))

            async def claimed() -> bool:
                return await key_record(redis_url, "crash-before-write") is not None

            await wait_until(claimed, timeout=20, what="the gateway to claim the key")
            first.kill()  # reading the catalogue: nothing was sent yet
            with pytest.raises(httpx.TransportError):
                await request
    finally:
        first.kill()
    await java.healthy()
    assert await java.writes() == []
    dead = await key_record(redis_url, "crash-before-write")
    assert dead is not None and dead.outcome is None and dead.if_interrupted is None

    second = gateway_service(tmp_path, java, redis_url, port)
    second.start()
    try:
        await second.ready("/healthz")
        async with httpx.AsyncClient(base_url=second.url, timeout=60) as client:
            answer = await settled(client, content, "crash-before-write")
            again = (await commit(client, content, "crash-before-write"))["data"]["importExcel"]
    finally:
        second.stop()
    # Nothing had been written, so the retry took the key over and imported the file.
    assert answer["status"] == "COMMITTED" and answer["replayed"] is False, answer
    assert answer["salesCreated"] == len(skus)
    assert again["replayed"] is True and again["importId"] == answer["importId"]
    assert len(await java.writes()) == len(skus)  # one request per sale, each once
    stock_after = await java.stock(skus)
    assert {sku: stock_before[sku] - stock_after[sku] for sku in skus} == dict.fromkeys(
        skus, QUANTITY
    )


# ------------------------------------------------ a Redis outage, two replicas
async def test_one_key_writes_at_most_once_across_a_redis_outage_and_two_replicas(
    tmp_path: Path, java: Java
) -> None:
    server = RedisServer(tmp_path / "redis", durable=False)  # this test's own: it stops it
    await server.start()
    skus = await stocked_skus(java, 3)
    content = sales_file(skus)
    stock_before = await java.stock(skus)
    replicas = [
        gateway_service(tmp_path / name, java, server.url, free_port()) for name in ("a", "b")
    ]
    for replica in replicas:
        replica.log.parent.mkdir()
        replica.start()
    try:
        for replica in replicas:
            await replica.ready("/healthz")
        await java.forget_requests()
        async with (
            httpx.AsyncClient(base_url=replicas[0].url, timeout=60) as a,
            httpx.AsyncClient(base_url=replicas[1].url, timeout=60) as b,
        ):
            # 1. Redis is down: a keyed commit is refused on either replica, nothing written.
            server.kill()
            for gateway in (a, b):
                refused = await commit(gateway, content, "outage")
                assert error_codes(refused) == ["UPSTREAM_UNAVAILABLE"], refused
                assert "nothing was written" in refused["errors"][0]["message"]
            assert await java.writes() == []
            assert await java.stock(skus) == stock_before

            # 2. Redis is back (empty): the same key on both replicas at once writes once.
            await server.start()
            first, second = await asyncio.gather(
                commit(a, content, "outage"), commit(b, content, "outage")
            )
            done = [x["data"]["importExcel"] for x in (first, second) if "errors" not in x]
            waiting = [x for x in (first, second) if "errors" in x]
            assert [d["status"] for d in done if not d["replayed"]] == ["COMMITTED"], (
                first,
                second,
            )
            assert all("still running" in x["errors"][0]["message"] for x in waiting)
            # 3. retries on either replica answer the first result
            again = [(await commit(g, content, "outage"))["data"]["importExcel"] for g in (a, b)]
    finally:
        for replica in replicas:
            replica.stop()
        server.kill()
    committed = next(d for d in done if not d["replayed"])
    assert all(x["replayed"] and x["importId"] == committed["importId"] for x in again)
    # Java: each sale once, stock down by one line each
    assert len([w for w in await java.writes() if w["path"] == "/sales/bulk"]) == len(skus)
    stock_after = await java.stock(skus)
    assert {sku: stock_before[sku] - stock_after[sku] for sku in skus} == dict.fromkeys(
        skus, QUANTITY
    )


# ------------------------------------------------ Java faults test_java_faults.py leaves out
QUERY = "query($top: Int!) { salesAnalytics(top: $top) { kpis { revenue orders } } }"
OLD_RANGE = """{ salesAnalytics(range: {start: "2025-01-01", end: "2025-01-31"}) {
  kpis { revenue orders } } }"""


@contextlib.asynccontextmanager
async def gateway_in_process(settings: Settings, java: Java, /, **overrides: Any):
    configured = settings.replace(
        auth={"jwt_secret": SECRET}, java={"api_url": java.api, "retries": 0}
    ).replace(**overrides)
    runtime = await Runtime.start(configured)
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield runtime, client
    finally:
        await runtime.close()


async def test_java_dying_mid_run_serves_cached_answers_then_recovers_when_it_is_back(
    tmp_path: Path, settings: Settings
) -> None:
    port = free_port()
    async with java_process(tmp_path, port) as java:
        async with gateway_in_process(settings, java) as (_, gateway):
            healthy = await graphql(gateway, QUERY, ADMIN, {"top": 3})
            assert "errors" not in healthy
            java.service.kill()  # the Java process dies mid-run

            again = await graphql(gateway, QUERY, ADMIN, {"top": 3})  # cached answer
            assert again["data"] == healthy["data"]
            cached = await graphql(gateway, QUERY, ADMIN, {"top": 5})  # cached Java data
            assert "errors" not in cached
            assert (
                cached["data"]["salesAnalytics"]["kpis"]
                == healthy["data"]["salesAnalytics"]["kpis"]
            )
            down = await graphql(gateway, OLD_RANGE, ADMIN)  # needs data never fetched
            assert error_codes(down) == ["UPSTREAM_UNAVAILABLE"]
            ready = await gateway.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["systemOfRecord"] == "unavailable"

            java.service.start()  # back on the same port
            await java.service.ready("/__standin/faults")

            async def recovered() -> bool:
                return "errors" not in await graphql(gateway, OLD_RANGE, ADMIN)

            await wait_until(recovered, timeout=15, what="answers from the restarted Java")
            assert (await gateway.get("/readyz")).status_code == 200


def upstream_calls(outcome: str) -> float:
    """Calls to Java so far (all resources) that ended with ``outcome``."""
    return sum(
        sample.value
        for metric in UPSTREAM_CALLS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["outcome"] == outcome
    )


async def test_slow_java_opens_the_breaker_which_closes_once_java_is_fast_again(
    java: Java, settings: Settings
) -> None:
    overrides = {"java": {"read_timeout_s": 0.2, "breaker_failures": 3, "breaker_reset_s": 0.5}}
    async with gateway_in_process(settings, java, **overrides) as (runtime, gateway):
        await java.faults(latency_s=1.0)  # every call outlasts the read timeout
        timeouts = upstream_calls("timeout")
        for top in (1, 2):
            answer = await graphql(gateway, QUERY, ADMIN, {"top": top})
            assert error_codes(answer) == ["UPSTREAM_UNAVAILABLE"]
        assert upstream_calls("timeout") - timeouts >= 3
        assert runtime.client.breaker.state == "open"

        timeouts, refused = upstream_calls("timeout"), upstream_calls("breaker_open")
        answer = await graphql(gateway, QUERY, ADMIN, {"top": 3})
        assert error_codes(answer) == ["UPSTREAM_UNAVAILABLE"]
        assert upstream_calls("breaker_open") > refused, "refused by the open breaker"
        assert upstream_calls("timeout") == timeouts, "without waiting on Java"

        await java.healthy()

        async def closed() -> bool:
            return "errors" not in await graphql(gateway, QUERY, ADMIN, {"top": 4})

        await wait_until(closed, timeout=10, what="the breaker to close again")
        assert runtime.client.breaker.state == "closed"
