"""The trainings in flight on one process: shared, capped per user, fair, cancelled when unwanted.

- **Shared.** Identical requests (one cache key) wait on one training.
- **Capped.** A user may wait on ``SALESFLOW_FORECAST_MAX_PER_USER`` trainings
  at once (queued or running) and the process holds at most
  ``SALESFLOW_FORECAST_MAX_QUEUED``; beyond either a new training is refused
  with ``RATE_LIMITED`` and ``retryAfter``. Joining a training already in
  flight is always allowed: it costs nothing. Internal callers (report jobs,
  ``user=None``) are bounded by the job concurrency instead.
- **Fair.** When a training slot frees, it goes to the waiting training whose
  owner (the user who started it) has the fewest running, then whose owner was
  served longest ago (never first), then the oldest: one user's burst never
  queues everyone else behind it.
- **Cancelled when unwanted.** When the last caller waiting on a training goes
  (its request was cancelled: the deadline, a disconnected HTTP client, a
  closed WebSocket), the training is cancelled, and a training that is
  already running stops with the child process that runs it (:mod:`..processes`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..errors import RateLimited

T = TypeVar("T")

#: Seconds a training is assumed to take before one has been measured (for ``retryAfter``).
FIRST_ESTIMATE_S = 10.0
#: Weight of the newest measured training in the running estimate.
ESTIMATE_WEIGHT = 0.3


@dataclass(eq=False)
class _Training(Generic[T]):
    key: str
    owner: str  # the user who started it ("" for internal callers)
    task: asyncio.Task[T] | None = None
    waiters: Counter[str] = field(default_factory=Counter)
    turn: asyncio.Future[None] | None = None


class Trainings:
    """Runs trainings ``slots`` at a time (the training processes), fairly, with caps."""

    def __init__(self, *, slots: int, per_user: int, max_queued: int) -> None:
        self.slots = slots
        self.per_user = per_user
        self.max_queued = max_queued
        self._inflight: dict[str, _Training[Any]] = {}
        self._waiting: list[_Training[Any]] = []  # arrival order
        self._running: Counter[str] = Counter()  # owner -> trainings running
        self._served: dict[str, int] = {}  # owner -> when last given a slot (a sequence number)
        self._turns = 0
        self._estimate_s = FIRST_ESTIMATE_S

    @property
    def in_flight(self) -> int:
        """Trainings queued or running (tests and diagnostics)."""
        return len(self._inflight)

    def waits(self, key: str) -> bool:
        """Asking for ``key`` now would wait for other work: a training of it is queued or
        running (the ask joins it), or every slot is taken."""
        return key in self._inflight or bool(self._waiting) or self._busy() >= self.slots

    def _busy(self) -> int:
        return sum(self._running.values())

    async def run(self, key: str, user: str | None, train: Callable[[], Awaitable[T]]) -> T:
        """``train()``'s result, shared by every caller of ``key`` while it runs."""
        training = self._inflight.get(key)
        if training is None:
            self._admit(user)
            training = _Training(key, user or "")
            training.task = asyncio.ensure_future(self._drive(training, train))
            self._inflight[key] = training
            training.task.add_done_callback(lambda _: self._finished(training))
        who = user or ""
        training.waiters[who] += 1
        assert training.task is not None
        try:
            return await asyncio.shield(training.task)
        finally:
            training.waiters[who] -= 1
            if training.waiters[who] <= 0:
                del training.waiters[who]
            if not training.waiters and not training.task.done():
                # Nobody waits for it any more: stop it, and let a new request start afresh.
                training.task.cancel()
                self._forget(training)

    def _admit(self, user: str | None) -> None:
        if user is None:
            return
        if len(self._inflight) >= self.max_queued:
            wait = self._estimate_s * len(self._inflight) / self.slots
            raise RateLimited(
                f"The forecast queue is full ({self.max_queued} trainings); try again in "
                f"{_seconds(wait)} s.",
                retryAfter=_seconds(wait),
            )
        mine = sum(1 for t in self._inflight.values() if user in t.waiters)
        if mine >= self.per_user:
            raise RateLimited(
                f"You have {mine} forecasts training already (at most {self.per_user} at "
                f"once); try again in {_seconds(self._estimate_s)} s.",
                retryAfter=_seconds(self._estimate_s),
            )

    async def _drive(self, training: _Training[T], train: Callable[[], Awaitable[T]]) -> T:
        turn = training.turn = asyncio.get_running_loop().create_future()
        self._waiting.append(training)
        self._dispatch()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release(training)  # the slot came, but too late
            elif training in self._waiting:
                self._waiting.remove(training)
                self._forget_owner_if_idle(training.owner)
            raise
        started = time.monotonic()
        try:
            result = await train()
        finally:
            self._release(training)
        elapsed = time.monotonic() - started
        self._estimate_s += ESTIMATE_WEIGHT * (elapsed - self._estimate_s)
        return result

    def _dispatch(self) -> None:
        while self._waiting and self._busy() < self.slots:
            nxt = min(
                self._waiting,  # min() keeps the first among equals: the oldest
                key=lambda t: (self._running[t.owner], self._served.get(t.owner, -1)),
            )
            self._waiting.remove(nxt)
            self._running[nxt.owner] += 1
            self._turns += 1
            self._served[nxt.owner] = self._turns
            assert nxt.turn is not None
            nxt.turn.set_result(None)

    def _release(self, training: _Training[Any]) -> None:
        owner = training.owner
        self._running[owner] -= 1
        if self._running[owner] <= 0:
            del self._running[owner]
        self._forget_owner_if_idle(owner)
        self._dispatch()

    def _forget_owner_if_idle(self, owner: str) -> None:
        if owner not in self._running and not any(t.owner == owner for t in self._waiting):
            self._served.pop(owner, None)

    def _finished(self, training: _Training[Any]) -> None:
        self._forget(training)
        assert training.task is not None
        if not training.task.cancelled():
            training.task.exception()  # retrieved: the waiters got it

    def _forget(self, training: _Training[Any]) -> None:
        if self._inflight.get(training.key) is training:
            del self._inflight[training.key]


def _seconds(estimate: float) -> int:
    return max(1, math.ceil(estimate))
