"""What every benchmark script shares: printing a table, a free port, a gateway process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def table(title: str, header: list[str], rows: list[list[object]]) -> None:
    """Print a Markdown table under a ``## title`` heading."""
    widths = [max(len(str(x)) for x in [h, *[r[i] for r in rows]]) for i, h in enumerate(header)]
    print(f"\n## {title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)) + " |")
    sys.stdout.flush()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    args: list[str], env: dict[str, str], port: int, ready_path: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``salesflow-graphql ARGS`` until ``ready_path`` answers; its log goes to a file
    (a full pipe would stall it) and is printed if anything fails."""
    log = tempfile.NamedTemporaryFile(prefix=f"salesflow-{args[0]}-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "salesflow_graphql", *args],
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{args[0]} exited: {Path(log.name).read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{args[0]} did not start")
            time.sleep(0.1)
        yield proc
    except BaseException:
        print(
            f"--- log of {args[0]} ({log.name}):\n{Path(log.name).read_text()[-4000:]}",
            file=sys.stderr,
        )
        raise
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
