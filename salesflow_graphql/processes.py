"""Child processes for CPU-bound work that never outlive the process that started them.

:class:`ChildPool` runs picklable calls (``fn(*args)``, ``fn`` importable by
name) in child Python processes (:func:`_serve`), one call at a time
each, talking over the child's stdin and stdout in length-prefixed pickles. The
rules that make a child safe to start from a gateway or a worker:

- **It dies with its parent.** The child asks the kernel for SIGKILL when its
  parent goes (``PR_SET_PDEATHSIG``, Linux), and an idle child also leaves when
  its stdin closes. A gateway that is SIGKILLed, or that a supervisor stops by
  signalling only its main PID, leaves nothing behind.
- **The parent stops it.** :meth:`ChildPool.close` ends every child and reaps
  it; the runtime's close calls it. Cancelling a call that is running kills its
  child (a computation in progress can be stopped no other way) and starts a
  fresh one, so abandoned work frees its slot at once.
- **Ctrl-C is the parent's business.** A terminal sends SIGINT to the whole
  process group; the child ignores it and the parent shuts it down in order.
- **Optional memory ceiling** (``RLIMIT_AS``): a call that needs more fails
  with ``MemoryError``, or the child dies (:class:`ChildDied`); the parent lives on.

No ``multiprocessing``: its spawn start method also starts a resource-tracker
process, and its pools cannot stop a task that is running.

``PR_SET_PDEATHSIG`` fires when the *thread* that started the child ends: start
children from the event loop's thread (as :class:`ChildPool` does), never from
a short-lived worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import struct
import sys
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Where this package was imported from: a child imports it from there too, never from
#: its working directory (``-P``), so parent and child always run the same code.
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_BOOTSTRAP = (
    f"# {__name__} child\n"
    "import sys; root = sys.argv.pop(1); root in sys.path or sys.path.insert(0, root)\n"
    f"from {__name__} import _serve; _serve(sys.argv[1:])"
)
#: A frame is its length (8 bytes, big-endian) and a pickle.
_LENGTH = struct.Struct("!Q")
#: Seconds children get to leave on their own at close before they are killed.
CLOSE_GRACE_S = 1.0
_PR_SET_PDEATHSIG = 1


class ChildDied(RuntimeError):
    """A child process exited while it ran a call (a crash, its memory limit, a kill)."""


class ChildPool:
    """Up to ``size`` child processes; :meth:`run` a call in one, waiting for a free one."""

    def __init__(
        self,
        size: int,
        *,
        name: str,
        preload: tuple[str, ...] = (),
        memory_limit_bytes: int | None = None,
    ) -> None:
        self.size = size
        self.name = name
        self.preload = preload
        self.memory_limit_bytes = memory_limit_bytes
        self._idle: list[_Child] = []
        self._children: set[_Child] = set()
        self._slots = asyncio.Semaphore(size)
        self._spawning: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """The children alive now (tests and diagnostics)."""
        return sorted(c.pid for c in self._children if c.alive)

    def start(self) -> None:
        """Start the children now, in the background (importing what they preload takes
        seconds), rather than on first use."""
        for _ in range(self.size):
            self._spawn_in_background()

    async def run(
        self, fn: Callable[..., T], *args: Any, sent: Callable[[], object] | None = None
    ) -> T:
        """``fn(*args)`` in a child. Cancelling it while it runs kills that child.

        ``sent()`` is called once the whole call is in the child's pipe: from then on the
        child needs nothing of this process until it answers, so the caller may start work
        that holds the GIL (a long C call) without delaying the child's start."""
        if self._closed:
            raise RuntimeError(f"{self.name} pool is closed")
        request = await asyncio.to_thread(pickle.dumps, (fn, args), pickle.HIGHEST_PROTOCOL)
        async with self._slots:
            child = await self._take()
            try:
                ok, value = await child.call(request, sent)
            except BaseException:
                # Cancelled, or the child died: its state is unknown, so it goes.
                await child.kill()
                self._children.discard(child)
                self._spawn_in_background()  # the next call finds a warm child
                raise
            if self._closed:
                await child.stop(0)
            else:
                self._idle.append(child)
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    async def close(self) -> None:
        """End every child (idle ones on their own, busy ones killed) and reap them."""
        self._closed = True
        for task in list(self._spawning):
            task.cancel()
        await asyncio.gather(*self._spawning, return_exceptions=True)
        children, self._children, self._idle = list(self._children), set(), []
        await asyncio.gather(*(c.stop(CLOSE_GRACE_S) for c in children))

    async def _take(self) -> _Child:
        """An idle child, or the next one started. Children are always started in tasks of
        their own, so a caller that is cancelled meanwhile never strands a new child."""
        while True:
            while self._idle:
                child = self._idle.pop()
                if child.alive:
                    return child
                self._children.discard(child)
            starting = self._spawn_in_background() or next(iter(self._spawning), None)
            if starting is None:  # cannot happen while the caller holds a slot
                raise RuntimeError(f"{self.name}: no child process to run on")
            await asyncio.wait({starting})
            if not self._idle and not starting.cancelled() and starting.exception():
                raise ChildDied(f"{self.name}: a child process could not start") from (
                    starting.exception()
                )

    def _spawn_in_background(self) -> asyncio.Task[None] | None:
        """Start a child unless the pool is full (or closed); the task that starts it."""
        if self._closed or len(self._children) + len(self._spawning) >= self.size:
            return None

        async def spawn() -> None:
            child = await _Child.start(self.preload, self.memory_limit_bytes)
            if self._closed:
                await child.stop(0)
                raise RuntimeError(f"{self.name} pool is closed")
            self._children.add(child)
            self._idle.append(child)

        task = asyncio.ensure_future(spawn())
        self._spawning.add(task)
        task.add_done_callback(self._spawned)
        return task

    def _spawned(self, task: asyncio.Task[None]) -> None:
        self._spawning.discard(task)
        if not task.cancelled() and task.exception() is not None and not self._closed:
            log.error("%s: starting a child process failed: %s", self.name, task.exception())


class _Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pid = process.pid

    @classmethod
    async def start(cls, preload: tuple[str, ...], memory_limit_bytes: int | None) -> _Child:
        command = [sys.executable, "-P", "-c", _BOOTSTRAP, _PACKAGE_ROOT]
        command += ["--parent", str(os.getpid())]
        if memory_limit_bytes:
            command += ["--memory-limit", str(memory_limit_bytes)]
        for module in preload:
            command += ["--preload", module]
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # the child's logs go where the parent's go
        )
        # drain() returns only once every byte is in the pipe (see call).
        assert process.stdin is not None
        process.stdin.transport.set_write_buffer_limits(0)
        return cls(process)

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def call(
        self, request: bytes, sent: Callable[[], object] | None = None
    ) -> tuple[bool, Any]:
        """Send a pickled ``(fn, args)``; its outcome: (True, value) or (False, exception).
        ``sent()`` once all of it is in the pipe."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        try:
            # A pipe takes 64 KiB at once; the rest waits in the transport for the event loop,
            # so the child could not start while something else holds the loop or the GIL.
            stdin.write(_LENGTH.pack(len(request)) + request)
            await stdin.drain()  # with a write limit of 0: until the last byte is in the pipe
            if sent is not None:
                sent()
            (size,) = _LENGTH.unpack(await stdout.readexactly(_LENGTH.size))
            answer = await stdout.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            code = await self._reaped()
            raise ChildDied(f"child process {self.pid} exited with {code} during a call") from exc
        return pickle.loads(answer)  # type: ignore[no-any-return]

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self._reaped()

    async def stop(self, grace_s: float) -> None:
        """Close stdin (an idle child leaves on its own), then kill what is still there."""
        try:
            await asyncio.wait_for(self._reaped(), grace_s)
        except TimeoutError:
            await self.kill()

    async def _reaped(self) -> int:
        """Its exit status, once it has exited. Our end of its stdin is closed first: until
        every pipe is closed, asyncio (3.11) does not report the exit."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        return await asyncio.shield(self.process.wait())


# ------------------------------------------------------------------ the child's side
def die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent ends; exit if it already has.

    Linux only (elsewhere the closed stdin still ends an idle child).
    """
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent ended before the request above
        os._exit(0)


def _serve(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog=f"{__name__} child")
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--memory-limit", type=int)
    parser.add_argument("--preload", action="append", default=[])
    args = parser.parse_args(argv)
    die_with_parent(args.parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The protocol gets private copies of stdin and stdout; fd 1 becomes stderr, so a
    # stray print() in a library cannot corrupt the stream.
    requests = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    if args.memory_limit:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (args.memory_limit, args.memory_limit))
    import importlib

    for module in args.preload:
        importlib.import_module(module)
    while (request := _read_frame(requests)) is not None:
        try:
            fn, fn_args = pickle.loads(request)
            answer = (True, fn(*fn_args))
        except BaseException as exc:  # every failure goes back to the caller
            answer = (False, exc)
        try:
            payload = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an unpicklable result or exception
            payload = pickle.dumps((False, RuntimeError(f"{answer[1]!r} ({exc})")))
        answers.write(_LENGTH.pack(len(payload)) + payload)
        answers.flush()


def _read_frame(stream: BinaryIO) -> bytes | None:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None  # the parent closed our stdin: time to go
    (size,) = _LENGTH.unpack(header)
    payload = stream.read(size)
    return payload if len(payload) == size else None
