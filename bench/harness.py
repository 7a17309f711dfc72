"""What every benchmark script shares: printing a table, a free port, gateway processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    gateway = Process(
        args[0], [sys.executable, "-m", "salesflow_graphql", *args], env, port, ready_path
    )
    with running_together([gateway]) as (proc,):
        yield proc


@dataclass(frozen=True)
class Process:
    """A command to run from the project root, ready when ``ready_path`` answers on ``port``."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    ready_path: str
    #: Where it runs (another checkout, for a before/after comparison).
    cwd: Path = ROOT


@contextmanager
def running_together(
    processes: list[Process], *, timeout_s: float = 60
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start every process at once (start-ups overlap), wait until each is ready, stop
    them all at the end; as :func:`running`, logs go to files, printed if anything fails."""
    logs: list[Any] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for process in processes:
            log = tempfile.NamedTemporaryFile(
                prefix=f"salesflow-{process.name}-", suffix=".log", delete=False
            )
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    process.command,
                    env={**os.environ, **process.env},
                    cwd=process.cwd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + timeout_s
        waiting = list(zip(processes, procs, logs, strict=True))
        while waiting:
            for entry in list(waiting):
                process, proc, log = entry
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{process.name} exited: {Path(log.name).read_text()[-2000:]}"
                    )
                url = f"http://127.0.0.1:{process.port}{process.ready_path}"
                try:
                    if httpx.get(url, timeout=1).status_code < 500:
                        waiting.remove(entry)
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{', '.join(p.name for p, _, _ in waiting)} did not start")
            if waiting:
                time.sleep(0.1)
        yield procs
    except BaseException:
        for process, log in zip(processes, logs, strict=False):
            print(
                f"--- log of {process.name} ({log.name}):\n{Path(log.name).read_text()[-4000:]}",
                file=sys.stderr,
            )
        raise
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
        for log in logs:
            log.close()
