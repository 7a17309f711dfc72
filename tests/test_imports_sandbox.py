"""The sandbox: children that abort, segfault, run out of memory or hang fail one call;
the pool replaces them, and nothing of them outlives the gateway."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import spreadsheets as files
from support import wait_until

from salesflow_graphql.imports.sandbox import Sandbox, SandboxFailed

TESTS = Path(__file__).resolve().parent


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
async def sandbox(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Sandbox]:
    monkeypatch.setenv("PYTHONPATH", str(TESTS))  # the children import the probe from here
    pool = Sandbox(
        "sandbox_probe",
        workers=1,
        memory_bytes=512 * 1024 * 1024,
        timeout_s=20,
        max_reply_bytes=1 << 20,
    )
    yield pool
    await pool.close()


async def call(pool: Sandbox, payload: bytes) -> bytes:
    async with pool.lease() as child:
        return await child.call(payload)


async def test_a_child_serves_call_after_call(sandbox: Sandbox) -> None:
    first = await call(sandbox, b"echo one")
    second = await call(sandbox, b"echo two")
    assert first.split()[1] == b"one" and second.split()[1] == b"two"
    assert first.split()[0] == second.split()[0]  # the same warm process
    assert await call(sandbox, b"print") == b"quiet"
    assert int(first.split()[0]) != os.getpid()


@pytest.mark.parametrize(
    ("payload", "words", "memory"),
    [
        (b"abort", "SIGABRT", False),
        (b"segfault", "SIGSEGV", False),
        (b"hog", "MemoryError", True),
        (b"raise broken", "ValueError: broken", False),
    ],
)
async def test_a_child_that_dies_fails_its_call_and_is_replaced(
    sandbox: Sandbox, payload: bytes, words: str, memory: bool
) -> None:
    before = int((await call(sandbox, b"echo x")).split()[0])
    with pytest.raises(SandboxFailed) as failed:
        await call(sandbox, payload)
    assert words in failed.value.reason
    assert failed.value.out_of_memory is memory
    await wait_until(lambda: not alive(before), what="the dead child to be reaped")
    after = int((await call(sandbox, b"echo y")).split()[0])
    assert after != before


async def test_calamine_failing_to_allocate_a_grid_is_out_of_memory(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = tmp_path / "far.xlsx"
    path.write_bytes(files.far_cell_xlsx("XFD1048576"))
    with pytest.raises(SandboxFailed) as failed:
        await call(sandbox, b"calamine " + str(path).encode())
    assert failed.value.out_of_memory
    assert "memory allocation of 549755813888 bytes failed" in failed.value.reason


async def test_a_call_past_its_deadline_kills_the_child(sandbox: Sandbox) -> None:
    pid = int((await call(sandbox, b"echo x")).split()[0])
    sandbox.timeout_s = 0.5
    with pytest.raises(SandboxFailed) as failed:
        await call(sandbox, b"sleep 30")
    assert failed.value.timed_out
    assert not alive(pid)


async def test_a_caller_that_gives_up_kills_the_child(sandbox: Sandbox) -> None:
    pid = int((await call(sandbox, b"echo x")).split()[0])
    task = asyncio.create_task(call(sandbox, b"sleep 30"))
    await wait_until(lambda: not sandbox._idle, what="the call to lease the child")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not alive(pid)


async def test_a_reply_over_the_bound_is_refused(sandbox: Sandbox) -> None:
    sandbox.max_reply_bytes = 10
    with pytest.raises(SandboxFailed):
        await call(sandbox, b"echo " + b"x" * 100)


async def test_close_kills_every_child(sandbox: Sandbox) -> None:
    sandbox.workers = 2
    await sandbox.start()
    pids = sandbox.pids
    assert len(pids) == 2
    await sandbox.close()
    assert not any(alive(p) for p in pids)
    with pytest.raises(SandboxFailed):
        await call(sandbox, b"echo x")


def test_children_die_with_a_gateway_that_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves no shutdown to run: the kernel ends the children (PR_SET_PDEATHSIG)."""
    script = textwrap.dedent(
        """
        import asyncio, sys
        from salesflow_graphql.imports.sandbox import Sandbox

        async def main():
            pool = Sandbox("sandbox_probe", workers=2, memory_bytes=2**29, timeout_s=5,
                           max_reply_bytes=2**20)
            await pool.start()
            print(*pool.pids, flush=True)
            await asyncio.sleep(60)

        asyncio.run(main())
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
    )
    try:
        assert parent.stdout is not None
        children = [int(p) for p in parent.stdout.readline().split()]
        assert len(children) == 2 and all(alive(p) for p in children)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        asyncio.run(wait_until(lambda: not any(alive(p) for p in children), what="orphans gone"))
    finally:
        parent.kill()
        parent.wait(10)
