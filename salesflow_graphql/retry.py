"""The one retry policy: how many tries, and how long to wait before each retry.

Used by the Java client (idempotent GETs), the job runner (a job after Java was
unavailable) and the mailer (a failed send); each builds a :class:`RetryPolicy`
from its own settings.

The wait before retry ``n`` is exponential, ``first_s * 2 ** (n - 1)`` capped at
``cap_s``, with "equal jitter": drawn uniformly from the upper half of that, so a
retry never follows a failure at once (the lower half is kept) and callers that
failed together do not retry together (the upper half is random). A server's own
``Retry-After``, when it sends one, replaces the draw (capped too).

A small helper rather than tenacity or stamina: the three callers need one
formula and one loop, and the job runner only the formula (arq schedules its
retries), which those libraries do not expose on its own.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries in all (the first included), waiting :meth:`delay` in between."""

    attempts: int
    first_s: float
    cap_s: float = 60.0

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 is the first retry)."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.cap_s)
        ceiling = min(self.cap_s, self.first_s * 2 ** (retry - 1))
        return ceiling / 2 + random.uniform(0.0, ceiling / 2)

    async def call(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        retry_on: tuple[type[Exception], ...],
        retry_after: Callable[[Exception], float | None] | None = None,
        on_retry: Callable[[int, Exception, float], None] | None = None,
    ) -> T:
        """``attempt()``'s result; on ``retry_on`` it is tried again, and the last failure raised.

        ``retry_after`` reads a server-given wait from the failure; ``on_retry``
        hears (retry number, failure, wait) before each wait, e.g. to log it.
        """
        for number in range(1, self.attempts + 1):
            try:
                return await attempt()
            except retry_on as failure:
                if number >= self.attempts:
                    raise
                wait = self.delay(number, retry_after(failure) if retry_after else None)
                if on_retry is not None:
                    on_retry(number, failure, wait)
                await asyncio.sleep(wait)
        raise ValueError("a retry policy needs at least one attempt")
