"""ChildPool: calls in child processes that can be stopped, crash alone and never outlive the parent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import process_table
import pytest
from support import ROOT, wait_until

from salesflow_graphql.processes import ChildDied, ChildPool

pytestmark = pytest.mark.skipif(not process_table.available(), reason="needs Linux /proc")


def _alive(pid: int) -> bool:
    return any(p.pid == pid for p in process_table.processes())


async def test_a_call_runs_in_a_child_and_its_exceptions_come_back() -> None:
    pool = ChildPool(1, name="test")
    try:
        pid = await pool.run(os.getpid)
        assert pid != os.getpid() and pool.pids == [pid]
        with pytest.raises(ValueError, match="invalid literal"):
            await pool.run(int, "not a number")
        # A stray print() in the child goes to stderr, not into the answers.
        assert await pool.run(print, "hello from the child") is None
        assert await pool.run(os.getpid) == pid, "the child is reused"
    finally:
        await pool.close()
    await wait_until(lambda: not _alive(pid), what="the child to end at close")


async def test_a_child_runs_the_parents_code_whatever_its_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder named like the package in the working directory is not what the child imports."""
    (tmp_path / "salesflow_graphql").mkdir()
    (tmp_path / "salesflow_graphql" / "__init__.py").write_text("raise SystemExit(3)\n")
    monkeypatch.chdir(tmp_path)
    pool = ChildPool(1, name="test")
    try:
        assert await pool.run(os.getcwd) == str(tmp_path)
    finally:
        await pool.close()


def _started_then_sleeps(marker: Path) -> str:
    """Code for ``exec`` in a child: say it started, then take a minute."""
    return f"import pathlib, time; pathlib.Path({str(marker)!r}).touch(); time.sleep(60)"


async def test_cancelling_a_running_call_kills_its_child_and_a_fresh_one_takes_over(
    tmp_path: Path,
) -> None:
    pool = ChildPool(1, name="test")
    marker = tmp_path / "started"
    try:
        first = await pool.run(os.getpid)
        running = asyncio.ensure_future(pool.run(exec, _started_then_sleeps(marker)))
        await wait_until(marker.exists, what="the call to start in the child")
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert not _alive(first), "the child that ran the call was killed"
        second = await pool.run(os.getpid)
        assert second != first
    finally:
        await pool.close()


async def test_a_child_that_crashes_fails_its_call_and_the_pool_goes_on() -> None:
    pool = ChildPool(1, name="test")
    try:
        with pytest.raises(ChildDied, match="exited with -6"):
            await pool.run(os.abort)
        assert await pool.run(sum, [1, 2, 3]) == 6
    finally:
        await pool.close()


async def test_a_memory_limit_fails_the_call_not_the_parent() -> None:
    pool = ChildPool(1, name="test", memory_limit_bytes=512 * 1024 * 1024)
    try:
        with pytest.raises(MemoryError):
            await pool.run(bytearray, 2 * 1024 * 1024 * 1024)
        assert await pool.run(len, "still here") == 10
    finally:
        await pool.close()


async def test_close_ends_busy_and_idle_children(tmp_path: Path) -> None:
    pool = ChildPool(2, name="test")
    pool.start()
    await wait_until(lambda: len(pool.pids) == 2, timeout=30, what="two warm children")
    pids = pool.pids
    marker = tmp_path / "started"
    busy = asyncio.ensure_future(pool.run(exec, _started_then_sleeps(marker)))
    await wait_until(marker.exists, what="the call to start in the child")
    await pool.close()
    with pytest.raises(ChildDied):
        await busy
    assert not any(_alive(pid) for pid in pids)


async def test_once_sent_the_child_has_the_whole_call_even_if_this_process_then_stalls() -> None:
    """A call larger than a pipe holds: when ``sent`` is called, none of it waits in this
    process any more, so the child starts it while the event loop is held (as a thread
    decoding a large body holds the GIL), not once the loop is free again."""
    pool = ChildPool(1, name="test")
    pool.start()
    try:
        await wait_until(lambda: len(pool.pids) == 1, timeout=30, what="a warm child")
        loop_free_at = 0.0

        def hold_the_loop() -> None:
            nonlocal loop_free_at
            time.sleep(0.5)  # not a wait: the stall under test (nothing runs on the loop)
            loop_free_at = time.time()

        padding = b"x" * 2**20  # 16 pipes' worth
        started_at = await pool.run(
            eval, "__import__('time').time()", {"padding": padding}, sent=hold_the_loop
        )
        assert loop_free_at > 0, "sent was called"
        assert started_at < loop_free_at, "the child waited for this process's loop"
    finally:
        await pool.close()


def test_a_child_dies_with_its_parent_even_when_the_parent_is_killed() -> None:
    """SIGKILL gives the parent no chance to clean up: the kernel ends the child."""
    script = (
        "import asyncio, os\n"
        "from salesflow_graphql.processes import ChildPool\n"
        "async def main():\n"
        "    pool = ChildPool(1, name='orphan')\n"
        "    print(await pool.run(os.getpid), flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
    left = process_table.wait_for_none(
        lambda: [p for p in process_table.processes() if p.pid == child], timeout=10
    )
    assert not left, f"the child outlived its parent: {left}"
