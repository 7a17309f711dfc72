"""A small round-robin TCP load balancer, for ``bench/load.py``'s replica run.

    uv run python bench/balancer.py --port 9000 --backend 127.0.0.1:8001 --backend 127.0.0.1:8002

Each accepted connection goes to the next backend in turn and its bytes are
piped both ways untouched (layer 4, like HAProxy in TCP mode or a cloud network
load balancer), so keep-alive HTTP connections stay on one replica: with N
client connections each of two replicas gets N/2. Built on asyncio protocols
(not streams) with back-pressure both ways, on uvloop when it is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from collections.abc import Iterator


class _Upstream(asyncio.Protocol):
    """The balancer's connection to a backend: what it sends goes to the client."""

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.client.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.transport.close()

    def pause_writing(self) -> None:  # the backend reads slower than the client sends
        self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        self.client.transport.resume_reading()


class _Client(asyncio.Protocol):
    """A client connection: waits for its backend, then pipes."""

    def __init__(self, backends: Iterator[tuple[str, int]]) -> None:
        self.backends = backends
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.upstream: _Upstream | None = None
        self.pending: list[bytes] = []
        self._connecting: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._connecting = asyncio.get_running_loop().create_task(
            self._connect(next(self.backends))
        )

    async def _connect(self, backend: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_connection(lambda: _Upstream(self), *backend)
        except OSError:
            self.transport.close()
            return
        self.upstream = upstream
        if self.transport.is_closing():
            upstream.transport.close()  # type: ignore[union-attr]
            return
        for chunk in self.pending:
            upstream.transport.write(chunk)  # type: ignore[union-attr]
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        if self.upstream is None:
            self.pending.append(data)
        else:
            self.upstream.transport.write(data)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()

    def pause_writing(self) -> None:  # the client reads slower than the backend answers
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.resume_reading()


async def serve(host: str, port: int, backends: list[tuple[str, int]]) -> None:
    cycle = itertools.cycle(backends)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Client(cycle), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--backend", type=_address, action="append", required=True, help="host:port, repeatable"
    )
    args = parser.parse_args()
    print(f"balancer on {args.host}:{args.port} -> {args.backend}", flush=True)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port, args.backend))
    else:
        uvloop.run(serve(args.host, args.port, args.backend))


if __name__ == "__main__":
    main()
