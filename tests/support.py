"""Helpers shared by the tests: polling with a deadline, real sockets, GraphQL calls."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as redis
import uvicorn
from redis.exceptions import RedisError

ROOT = Path(__file__).resolve().parent.parent
#: The shared Redis the tests use, one database per concern. ``SALESFLOW_TEST_REDIS``
#: (host:port) points a run at another server, so that two runs never share one.
TEST_REDIS = os.environ.get("SALESFLOW_TEST_REDIS", "127.0.0.1:6379")


def shared_redis_url(db: int) -> str:
    """A database of the shared test Redis."""
    return f"redis://{TEST_REDIS}/{db}"


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - a polling deadline, not a cancellation scope
    what: str = "condition",
) -> None:
    """Poll ``predicate`` until it is true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = predicate()
        if asyncio.iscoroutine(outcome) or isinstance(outcome, Awaitable):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(app: Any, *, port: int | None = None) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a real loopback socket; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started or task.done(), what="uvicorn to start")
        if task.done():
            task.result()
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    token: str | None,
    variables: dict[str, Any] | None = None,
    *,
    expect_status: int = 200,
) -> dict[str, Any]:
    """POST a GraphQL document and return the decoded answer."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == expect_status, response.text
    return response.json()


def error_codes(answer: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in answer.get("errors", [])]


def log_tail(log: Path, size: int = 4000) -> str:
    return log.read_text()[-size:] if log.exists() else "(no log)"


@contextlib.contextmanager
def worker_process(env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A ``salesflow-graphql worker`` subprocess; stopped with SIGTERM (unless killed before)."""
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "salesflow_graphql", "worker"],
            cwd=ROOT,
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@contextlib.contextmanager
def gateway_process(env: Mapping[str, str], port: int, log: Path) -> Iterator[str]:
    """A ``salesflow-graphql serve`` subprocess on ``port`` (its URL); SIGTERM at the end."""
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "salesflow_graphql", "serve", "--port", str(port)],
            cwd=ROOT,
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


async def answering(url: str, path: str = "/healthz", *, within: float = 60) -> None:
    """Wait until ``url + path`` answers 200 (a Python process starts slowly on a busy box)."""
    async with httpx.AsyncClient(timeout=2) as client:

        async def answers() -> bool:
            try:
                return (await client.get(url + path)).status_code == 200
            except httpx.TransportError:
                return False

        await wait_until(answers, timeout=within, what=f"{url}{path} to answer")


class RedisServer:
    """A ``redis-server`` of a test's own, on a free port it keeps across restarts."""

    def __init__(self, directory: Path, *, durable: bool) -> None:
        self.port = free_port()
        self.directory = directory
        self.durable = durable
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.directory / "redis.log"

    async def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--dir", str(self.directory), "--loglevel", "warning"]
        if self.durable:  # every write on disk before it is acknowledged
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        self._spawn(args)
        client = redis.Redis(host="127.0.0.1", port=self.port)

        async def answers() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            try:
                return bool(await client.ping())
            except (RedisError, OSError):
                return False

        try:
            await wait_until(answers, timeout=10, what="redis-server to answer")
        finally:
            await client.aclose()

    def _spawn(self, args: list[str]) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last save."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(5)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@contextlib.asynccontextmanager
async def gateway_on(settings: Any, standin: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A runtime started on ``settings`` and an in-process client of its app; closed after."""
    from salesflow_graphql.app import create_app
    from salesflow_graphql.runtime import Runtime

    runtime = await Runtime.start(settings, standin=standin)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client
    finally:
        await runtime.close()
