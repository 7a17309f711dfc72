"""Untrusted files are parsed in child processes with a memory limit, never in the gateway.

A spreadsheet reader is a large body of native code fed with hostile bytes; when
it fails badly (a Rust allocation abort, a segfault, a MemoryError) it takes its
process down with it. So the gateway parses nothing itself: a few children do,
each started as ``python -m salesflow_graphql.imports.sandbox HANDLER BYTES``,
which limits its own address space (``RLIMIT_AS``) and core dumps before it reads
anything. A child that dies fails the one call it was serving with
:class:`SandboxFailed`; the gateway carries on and the next lease starts a new one.

- **A small warm pool.** ``workers`` children serve one lease each at a time, and
  a lease waits while all are busy. A fresh interpreter per parse would cost its
  start-up (imports, ~0.3 s) on every import; the pool pays it once per child.
- **A channel that can't run code.** Frames go over the child's stdin and stdout.
  What comes back is bytes that the handler's caller decodes into typed structs
  (msgspec), never unpickled: a child taken over through a parser bug must not be
  able to run code in the gateway. Replies are bounded in size.
- **Deadlines.** A call that runs past its deadline, or whose caller gives up, kills
  its child: a half-answered protocol can't be resumed.
- **Little to find.** A child gets no file descriptors but its pipes and none of the
  gateway's environment beyond ``PATH``, locale and ``PYTHONPATH`` (no JWT secret, no
  Redis URL). It is not a jail (no seccomp, same user): the limits are about memory,
  time and what a crash can reach, not about code execution in the child.
- **Nothing outlives the gateway.** :meth:`Sandbox.close` (from the runtime's close,
  which uvicorn runs on SIGTERM) kills every child; a child also asks the kernel to
  kill it when the gateway dies (``PR_SET_PDEATHSIG``), and exits when its stdin closes.

The handler is a module with ``handle(payload: bytes) -> bytes``; an exception it
lets out ends its child, as its state can no longer be trusted.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib
import logging
import os
import signal
import struct
import sys
from collections.abc import AsyncIterator
from typing import BinaryIO

log = logging.getLogger(__name__)

#: A frame: its status and the length of what follows.
_FRAME = struct.Struct("<BI")
_OK, _FAILED, _READY, _TELL = 0, 1, 2, 3
#: A child's exit status after a MemoryError (it may have had no memory left to say so).
OUT_OF_MEMORY_EXIT = 3
_START_TIMEOUT_S = 60.0
_STDERR_LINES = 20
_STDERR_LINE_CHARS = 500
#: All of the gateway's environment a child gets: no secrets (JWT, Redis, SMTP) for a parser
#: bug to find. The interpreter finds its packages from its own path.
_CHILD_ENVIRONMENT = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")
#: Words in a child's last words that mean it ran out of memory.
_MEMORY_WORDS = ("MemoryError", "memory allocation of", "Cannot allocate memory", "out of memory")


class SandboxFailed(Exception):
    """A child died, timed out or failed while serving a call; ``reason`` is for the log."""

    def __init__(self, reason: str, *, out_of_memory: bool = False, timed_out: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.out_of_memory = out_of_memory
        self.timed_out = timed_out


class Sandbox:
    """A pool of ``workers`` child processes running ``handler`` under ``memory_bytes``."""

    def __init__(
        self,
        handler: str,
        *,
        workers: int,
        memory_bytes: int,
        timeout_s: float,
        max_reply_bytes: int,
    ) -> None:
        self.handler = handler
        self.workers = workers
        self.memory_bytes = memory_bytes
        self.timeout_s = timeout_s
        self.max_reply_bytes = max_reply_bytes
        self._idle: list[Child] = []
        self._all: set[Child] = set()
        self._slots = asyncio.Semaphore(workers)
        self._closed = False
        self._starting: set[asyncio.Task[None]] = set()

    @property
    def pids(self) -> list[int]:
        """The children alive now (for tests and operators)."""
        return [c.pid for c in self._all if c.alive]

    async def start(self) -> None:
        """Start the children now instead of on first use (start-up takes a moment)."""
        for _ in range(self.workers - len(self._all) - len(self._starting)):
            self._grow()
        await asyncio.gather(*self._starting, return_exceptions=True)

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[Child]:
        """A child for this caller alone until the block ends (waits while all are busy)."""
        async with self._slots:
            child = await self._take()
            try:
                yield child
            finally:
                if child.alive and not child.broken and not self._closed:
                    self._idle.append(child)
                else:
                    await self._discard(child)
                    self._grow()  # a replacement, so that the next lease finds one warm

    async def close(self) -> None:
        """Kill every child, idle or busy (their calls fail); no new one starts after."""
        self._closed = True
        self._idle.clear()
        for task in self._starting:
            task.cancel()
        await asyncio.gather(*self._starting, return_exceptions=True)
        await asyncio.gather(*(self._discard(c) for c in list(self._all)))

    def _grow(self) -> None:
        """Start one more idle child in the background."""
        if self._closed:
            return

        async def grow() -> None:
            with contextlib.suppress(SandboxFailed, OSError):
                child = await self._spawn()
                if len(self._all) <= self.workers:
                    self._idle.append(child)
                else:
                    await self._discard(child)

        task = asyncio.get_running_loop().create_task(grow())
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _take(self) -> Child:
        if self._closed:
            raise SandboxFailed("the sandbox is shut down")
        while not self._idle and self._starting:  # one is starting: cheaper to wait for it
            await asyncio.wait(set(self._starting), return_when=asyncio.FIRST_COMPLETED)
        while self._idle:
            child = self._idle.pop()
            if child.alive:
                return child
            await self._discard(child)
        return await self._spawn()

    async def _spawn(self) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            self.handler,
            str(self.memory_bytes),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={
                **{k: v for k, v in os.environ.items() if k in _CHILD_ENVIRONMENT},
                "RUST_BACKTRACE": "0",
            },
        )
        child = Child(process, self)
        self._all.add(child)
        try:
            async with asyncio.timeout(_START_TIMEOUT_S):
                status, _ = await child.read_frame()
            if status != _READY:
                raise SandboxFailed("the child did not start")
        except BaseException as error:
            self._all.discard(child)
            if isinstance(error, asyncio.IncompleteReadError):  # it died: let it finish
                await child.end(grace_s=5)
                raise child.failure("could not start") from None
            await child.kill()
            if isinstance(error, TimeoutError):
                raise child.failure("could not start") from None
            raise
        if self._closed:  # closed while this one started
            await self._discard(child)
            raise SandboxFailed("the sandbox is shut down")
        return child

    async def _discard(self, child: Child) -> None:
        self._all.discard(child)
        await child.kill()


class Child:
    """One sandbox process: call it with a payload, get the handler's reply."""

    def __init__(self, process: asyncio.subprocess.Process, sandbox: Sandbox) -> None:
        self.process = process
        self.sandbox = sandbox
        self.broken = False
        self.last_words: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._stderr = asyncio.create_task(self._drain_stderr())

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def call(self, payload: bytes) -> bytes:
        """The handler's reply to ``payload``; :class:`SandboxFailed` if the child fails."""
        if self.broken or not self.alive:
            raise SandboxFailed("the child is gone")
        stdin = self.process.stdin
        assert stdin is not None
        try:
            async with asyncio.timeout(self.sandbox.timeout_s):
                stdin.write(_FRAME.pack(_OK, len(payload)))
                stdin.write(payload)
                await stdin.drain()
                status, reply = await self.read_frame()
        except TimeoutError:
            await self.kill()
            raise SandboxFailed(
                f"no answer within {self.sandbox.timeout_s:g} s; the child was killed",
                timed_out=True,
            ) from None
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.end(grace_s=5)
            raise self.failure("died while working") from None
        except BaseException:  # cancelled, or anything else: the exchange can't resume
            await self.kill()
            raise
        if status == _FAILED:  # the handler raised; the child exits after saying so
            self.broken = True
            self.last_words.append(reply.decode("utf-8", "replace"))
            await self.end(grace_s=5)
            raise self.failure("failed")
        return reply

    def tell(self, payload: bytes) -> None:
        """Send ``payload`` without waiting: the child answers nothing, and handles it before
        the next call (so housekeeping such as dropping a finished file costs no caller time)."""
        if self.alive and not self.broken and self.process.stdin is not None:
            self.process.stdin.write(_FRAME.pack(_TELL, len(payload)))
            self.process.stdin.write(payload)

    async def read_frame(self) -> tuple[int, bytes]:
        stdout = self.process.stdout
        assert stdout is not None
        status, size = _FRAME.unpack(await stdout.readexactly(_FRAME.size))
        if size > self.sandbox.max_reply_bytes:
            self.broken = True
            raise SandboxFailed(
                f"sandbox child {self.pid} answered {size:,} bytes, over the bound of "
                f"{self.sandbox.max_reply_bytes:,}"
            )
        return status, await stdout.readexactly(size)

    def failure(self, what: str) -> SandboxFailed:
        """What happened to this (dead or dying) child, from its exit status and last words."""
        code = self.process.returncode
        said = " | ".join(self.last_words)[-_STDERR_LINE_CHARS:]
        if code is not None and code < 0:
            how = (
                f"killed by {signal.Signals(-code).name}" if -code in signal.valid_signals() else ""
            )
        else:
            how = f"exit status {code}" if code is not None else ""
        memory = code == OUT_OF_MEMORY_EXIT or any(w in said for w in _MEMORY_WORDS)
        reason = (
            f"sandbox child {self.pid} {what} ({how or 'running'}){': ' + said if said else ''}"
        )
        return SandboxFailed(reason, out_of_memory=memory)

    async def end(self, *, grace_s: float) -> None:
        """Let a dying child finish dying (its real exit status is what says why), then
        make sure. Killing at once would race the reaper: ``Popen.kill`` reaps a zombie
        itself, and asyncio then reports a made-up exit status."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), timeout=grace_s)
        await self.kill()

    async def kill(self) -> None:
        self.broken = True
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        with contextlib.suppress(Exception):
            await self.process.wait()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self._stderr, timeout=2)  # its last words, then EOF

    async def _drain_stderr(self) -> None:
        """Pass the child's stderr on to the log, keeping its last lines for the failure."""
        stderr = self.process.stderr
        assert stderr is not None
        with contextlib.suppress(Exception):
            while line := await stderr.readline():
                text = line.decode("utf-8", "replace").rstrip()[:_STDERR_LINE_CHARS]
                self.last_words.append(text)
                log.warning("sandbox child %d: %s", self.pid, text)


# ------------------------------------------------------------------ the child
def _serve(handler_name: str, memory_bytes: int) -> None:
    """The child's life: limit itself, say it is ready, answer frames until stdin closes."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash must not write gigabytes
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    _die_with_parent()
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, never into the channel
    sys.stdout = sys.stderr
    handler = importlib.import_module(handler_name)
    _send(channel, _READY, b"")
    source = sys.stdin.buffer
    while True:
        header = _read_exactly(source, _FRAME.size)
        if header is None:
            return  # the gateway closed the channel
        kind, size = _FRAME.unpack(header)
        payload = _read_exactly(source, size)
        if payload is None:
            return
        try:
            reply = handler.handle(payload)
        except MemoryError:
            payload = b""  # room to say so
            with contextlib.suppress(BaseException):
                _send(channel, _FAILED, b"MemoryError")
            os._exit(OUT_OF_MEMORY_EXIT)
        except BaseException as error:  # includes Rust panics surfacing as PanicException
            with contextlib.suppress(BaseException):
                _send(channel, _FAILED, f"{type(error).__name__}: {error}"[:2000].encode())
            os._exit(1)
        if kind != _TELL:
            _send(channel, _OK, reply)


def _send(channel: BinaryIO, status: int, body: bytes) -> None:
    channel.write(_FRAME.pack(status, len(body)))
    channel.write(body)
    channel.flush()


def _read_exactly(source: BinaryIO, size: int) -> bytes | None:
    parts, missing = [], size
    while missing:
        part = source.read(missing)
        if not part:
            return None
        parts.append(part)
        missing -= len(part)
    return b"".join(parts)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the gateway dies (no-op elsewhere)."""
    parent = os.getppid()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the gateway died before the request took effect
        os._exit(0)


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))
