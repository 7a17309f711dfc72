"""Processes in the tests: the machine's table as /proc shows it (whose child each is, its
group, its command), commands run in a process group of their own, or as an unprivileged user.

The test run adopts orphans (a child subreaper, :func:`adopt_orphans`), so a
process whose parent a test stopped still counts among the run's descendants
instead of escaping to PID 1.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True, slots=True)
class Process:
    pid: int
    ppid: int
    pgid: int
    state: str  # R, S, D, Z (exited, waiting to be reaped), ...
    command: str

    def __str__(self) -> str:
        return f"{self.pid} (parent {self.ppid}, group {self.pgid}): {self.command}"


def available() -> bool:
    return sys.platform.startswith("linux") and (PROC / "self" / "stat").exists()


def processes() -> list[Process]:
    """Every process, zombies (exited, not yet reaped: they hold no memory) left out."""
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            raw = (entry / "cmdline").read_bytes()
        except OSError:  # it ended while we looked
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        comm_end = stat.rindex(")")
        state, ppid, pgid = stat[comm_end + 2 :].split()[:3]
        if state == "Z":
            continue
        command = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        command = command or stat[stat.index("(") + 1 : comm_end]
        found.append(Process(int(entry.name), int(ppid), int(pgid), state, command))
    return found


def descendants(pid: int) -> list[Process]:
    """The live processes below ``pid``: children, their children, and so on."""
    table = processes()
    below, frontier = [], {pid}
    while frontier:
        children = [p for p in table if p.ppid in frontier]
        below += children
        frontier = {p.pid for p in children}
    return below


def group(pgid: int) -> list[Process]:
    """The live members of process group ``pgid``."""
    return [p for p in processes() if p.pgid == pgid]


def wait_for_none(find: Callable[[], list[Process]], timeout: float) -> list[Process]:
    """Poll ``find()`` until it returns nothing or ``timeout`` passes; what it returned last."""
    deadline = time.monotonic() + timeout
    while True:
        left = find()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def adopt_orphans() -> None:
    """Make this process the reaper of its orphaned descendants (Linux ``prctl``)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def kill(found: list[Process]) -> None:
    for process in found:
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextlib.contextmanager
def group_leader(
    argv: list[str], *, env: Mapping[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` as the leader of a new process group, output to ``log``; the whole group is
    killed at the end whatever happened (a failed test leaves nothing either)."""
    with log.open("ab") as sink:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def unprivileged_user() -> pwd.struct_passwd | None:
    """``nobody`` when we are root and can drop to it (setpriv); None when we already are
    unprivileged. Raises LookupError when we are root and cannot drop."""
    if os.geteuid() != 0:
        return None
    if shutil.which("setpriv") is None:
        raise LookupError("needs setpriv (util-linux) to drop root")
    return pwd.getpwnam("nobody")


def as_user(user: pwd.struct_passwd | None, argv: list[str]) -> list[str]:
    """``argv`` run as ``user``, with its group and no others (None: as we are)."""
    if user is None:
        return argv
    ids = [f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
    return ["setpriv", *ids, "--", *argv]
