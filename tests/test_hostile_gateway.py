"""Inputs that used to crash or bloat the gateway, sent to one in its own process.

Each case checks that the process survives (it still answers a real query) and
how much resident memory (VmRSS) it gained. Before the edge: 520 distinct 1 MB
documents grew it by 1 GB (parser and validation caches), 200 junk operation
names pushed real ones out of the metrics, a 10 MB header was accepted and ten
sockets trickling 30 MB headers held +394 MB for over a minute.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import gateway_process, resident_mib

from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import DEMO_JWT_SECRET

#: Most resident memory one case may add (the process itself is ~250 MB).
MAX_GAIN_MIB = 64
QUERY = "{ salesAnalytics { kpis { orders } } }"


@pytest.fixture(scope="module")
def log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile") / "gateway.log"


@pytest.fixture(scope="module")
def gateway(log_path: Path) -> Iterator[tuple[int, str]]:
    folder = log_path.parent
    env = {
        "SALESFLOW_RATE_LIMIT_PER_S": "0",  # the cases are within any rate limit, only faster
        "SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES": "0",
        "SALESFLOW_EXPORTS_DIR": str(folder / "exports"),
        "SALESFLOW_LOG_LEVEL": "WARNING",
        "SALESFLOW_HEADER_TIMEOUT_S": "1",
        "SALESFLOW_JAVA_API_URL": "",
        "SALESFLOW_REDIS_URL": "",
    }
    with gateway_process(env, log_path) as (process, url):
        yield process.pid, url


@pytest.fixture(scope="module")
def token() -> str:
    return mint_access_token(DEMO_JWT_SECRET, Role.USER, subject="+15550006666", ttl_s=3600)


def _alive(url: str, token: str) -> None:
    answer = httpx.post(
        f"{url}/graphql",
        json={"query": QUERY},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200 and answer.json()["data"]["salesAnalytics"]["kpis"]["orders"]


def _settled_rss(pid: int) -> float:
    """Resident memory once the allocator has settled (a few samples, the lowest)."""
    samples = []
    for _ in range(3):
        samples.append(resident_mib(pid))
        time.sleep(0.05)
    return min(samples)


def test_distinct_large_documents_neither_crash_nor_bloat_the_gateway(
    gateway: tuple[int, str], token: str
) -> None:
    pid, url = gateway
    _alive(url, token)
    before = _settled_rss(pid)
    refused, ran = [], []
    with httpx.Client(
        base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        for index in range(60):  # 1 MB each: over the document limit, refused unparsed
            big = f'{{ product(sku: "{index}{uuid.uuid4().hex}{"x" * 1_000_000}") {{ sku }} }}'
            refused.append(client.post("/graphql", json={"query": big}).status_code)
        for index in range(200):  # 60 KB each: parsed and run, never kept in the caches
            large = f'{{ product(sku: "{index}{uuid.uuid4().hex}{"y" * 60_000}") {{ sku }} }}'
            ran.append(client.post("/graphql", json={"query": large}).json())
    gained = _settled_rss(pid) - before
    assert set(refused) == {413}
    assert all(answer.get("data") == {"product": None} and "errors" not in answer for answer in ran)
    assert gained < MAX_GAIN_MIB, f"+{gained:.0f} MiB"
    _alive(url, token)


def test_junk_operation_names_do_not_push_real_ones_out_of_the_metrics(
    gateway: tuple[int, str], token: str
) -> None:
    _, url = gateway
    junk = mint_access_token(DEMO_JWT_SECRET, Role.USER, subject="+15550006667", ttl_s=3600)
    with httpx.Client(base_url=url, timeout=30) as client:
        for index in range(200):
            client.post(
                "/graphql",
                json={"query": f"query Junk{index}x{uuid.uuid4().hex[:6]} {{ __typename }}"},
                headers={"Authorization": f"Bearer {junk}"},
            )
        client.post(
            "/graphql",
            json={"query": "query RealDashboard { salesAnalytics { kpis { orders } } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
        metrics = client.get("/metrics").text
    assert 'operation="RealDashboard"' in metrics
    junk_labels = sum(
        1 for line in metrics.splitlines() if 'operation="Junk' in line and "_total{" in line
    )
    assert junk_labels <= 20, "one user's names take at most their share of the labels"


def _raw(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def test_a_10_mb_header_is_refused_with_431(gateway: tuple[int, str], token: str) -> None:
    pid, url = gateway
    before = _settled_rss(pid)
    with _raw(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent, answer = 0, b""
        try:
            while sent < 10_000_000:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass  # the gateway closed the connection: it stopped reading
        sock.settimeout(5)
        try:
            answer = sock.recv(4096)
        except OSError:
            answer = b""
    assert sent < 10_000_000, "the connection was cut before 10 MB went through"
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert _settled_rss(pid) - before < MAX_GAIN_MIB
    _alive(url, token)


def test_what_is_not_http_is_refused_as_a_graphql_error(gateway: tuple[int, str]) -> None:
    _, url = gateway
    with _raw(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad\x01Name: y\r\n\r\n")
        answer = sock.recv(4096)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head, answer
    assert json.loads(body)["errors"][0]["extensions"]["reason"] == "INVALID_HTTP"


def test_ten_sockets_trickling_huge_headers_hold_no_memory(
    gateway: tuple[int, str], token: str
) -> None:
    pid, url = gateway
    before = _settled_rss(pid)
    peak = [before]
    outcomes: list[tuple[int, float, bytes]] = []

    def trickle() -> None:
        began = time.monotonic()
        sent, answer = 0, b""
        with _raw(url) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            try:
                while sent < 30_000_000 and time.monotonic() - began < 30:
                    sock.sendall(b"b" * 16384)
                    sent += 16384
                    time.sleep(0.01)
            except OSError:
                pass
            sock.settimeout(5)
            try:
                answer = sock.recv(4096)
            except OSError:
                pass
        outcomes.append((sent, time.monotonic() - began, answer[:40]))

    def slowloris() -> None:  # small, but never finishing
        began = time.monotonic()
        with _raw(url) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            answer = b""
            try:
                while time.monotonic() - began < 30:
                    sock.sendall(b"X-A: b\r\n")
                    time.sleep(0.2)
            except OSError:
                sock.settimeout(5)
                try:
                    answer = sock.recv(4096)
                except OSError:
                    pass
        outcomes.append((0, time.monotonic() - began, answer[:40]))

    threads = [threading.Thread(target=trickle) for _ in range(10)]
    threads += [threading.Thread(target=slowloris) for _ in range(2)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        peak.append(resident_mib(pid))
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert len(outcomes) == 12
    for sent, took, answer in outcomes:
        assert took < 15, "cut long before the client gave up"
        assert sent < 1_000_000
        assert answer == b"" or answer.startswith((b"HTTP/1.1 431", b"HTTP/1.1 408")), answer
    assert max(peak) - before < MAX_GAIN_MIB, f"+{max(peak) - before:.0f} MiB at the peak"
    _alive(url, token)


def test_nothing_was_an_internal_error(gateway: tuple[int, str], log_path: Path) -> None:
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text and "internal error" not in text, text[-3000:]
