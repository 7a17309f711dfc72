"""A small closed-loop HTTP/1.1 load generator over raw keep-alive sockets.

httpx spends more CPU per request than the gateway's warm path does, so it
cannot measure it on a 2-core machine; this client parses only the status line
and Content-Length. ``concurrency`` connections each send one request at a time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: np.ndarray
    #: Answers whose head had the ``marked`` header line (e.g. ``x-cache: stale``).
    marked: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return (
            float(np.percentile(self.latencies_ms, q)) if len(self.latencies_ms) else float("nan")
        )


def build_post(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def build_get(host: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _connection(
    host: str,
    port: int,
    request: bytes,
    stop_at: float,
    max_requests: int,
    out: list[float],
    errors: list[int],
    error_marker: bytes | None,
    marker: bytes | None = None,
    marks: list[int] | None = None,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        done = 0
        while time.perf_counter() < stop_at and done < max_requests:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            out.append((time.perf_counter() - started) * 1000)
            if status != 200 or (error_marker is not None and error_marker in body):
                errors.append(status)
            if marker is not None and marks is not None and marker in head.lower():
                marks.append(1)
            done += 1
    finally:
        writer.close()


async def run_load(
    host: str,
    port: int,
    request: bytes,
    *,
    concurrency: int,
    seconds: float,
    max_requests: int = 10**9,
    error_marker: bytes | None = None,
    marker: bytes | None = None,
) -> LoadResult:
    """Run ``concurrency`` connections for ``seconds``; an answer is an error when its
    status is not 200 or, given ``error_marker``, its body contains it (a GraphQL
    answer with ``"errors":`` is HTTP 200). ``marker``: a lower-case header line to
    count the answers of (``b"x-cache: stale"``)."""
    latencies: list[float] = []
    errors: list[int] = []
    marks: list[int] = []
    started = time.perf_counter()
    stop_at = started + seconds
    per_connection = max(1, max_requests // concurrency)
    await asyncio.gather(
        *(
            _connection(
                host,
                port,
                request,
                stop_at,
                per_connection,
                latencies,
                errors,
                error_marker,
                marker,
                marks,
            )
            for _ in range(concurrency)
        )
    )
    elapsed = time.perf_counter() - started
    return LoadResult(len(latencies), len(errors), elapsed, np.array(latencies), len(marks))
