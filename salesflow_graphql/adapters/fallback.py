""" "Redis is down, use memory": one policy for the stores that have a memory twin.

The cache and the rate limiter keep their state in Redis when a URL is given,
so that replicas share it, and in memory otherwise. Neither may turn a Redis
outage into an error: while Redis fails they answer from memory, say so once
in the log (and once more when Redis is back), and try Redis again
``retry_s`` seconds after the last failure, not on every request.

What needs Redis to keep its promise (an idempotency key that must hold
across replicas) does not use this: it refuses instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import Counter

log = logging.getLogger(__name__)

T = TypeVar("T")


class RedisFallback:
    """Whether to try Redis now, and the memory answer when Redis fails or is resting."""

    def __init__(
        self, what: str, *, retry_s: float = 5.0, fallbacks: Counter | None = None
    ) -> None:
        #: What the log lines name ("cache", "rate limiter").
        self.what = what
        self.retry_s = retry_s
        #: Counts each operation that memory served because Redis was down.
        self.fallbacks = fallbacks
        self._down = False
        self._retry_at = 0.0

    @property
    def down(self) -> bool:
        """True while Redis last failed and is resting (not worth a try yet)."""
        return self._down and time.monotonic() < self._retry_at

    async def run(self, redis: Callable[[], Awaitable[T]], memory: Callable[[], T]) -> T:
        """``redis()``'s answer, or ``memory()``'s when Redis fails or is resting."""
        if not self.down:
            try:
                result = await redis()
            except Exception as exc:
                self.failed(exc)
            else:
                self.succeeded()
                return result
        if self.fallbacks is not None:
            self.fallbacks.inc()
        return memory()

    def failed(self, exc: BaseException) -> None:
        """Note a Redis failure: rest ``retry_s`` before trying again."""
        if not self._down:
            log.warning("redis %s unavailable (%s); using memory", self.what, exc)
        self._down = True
        self._retry_at = time.monotonic() + self.retry_s

    def succeeded(self) -> None:
        if self._down:
            log.info("redis %s is back", self.what)
            self._down = False
