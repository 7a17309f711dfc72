"""Per-user rate limiting: a token bucket per JWT subject.

Each user has a bucket of ``burst`` tokens that refills at ``rate`` tokens a
second; a request takes one token or is refused with the seconds until one is
there. The buckets live in Redis when a URL is given (one atomic Lua script per
request, so replicas share them), in memory otherwise. If Redis fails, the
memory buckets answer instead (:mod:`.fallback`): rate limiting never turns
into an error.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .fallback import RedisFallback
from .redis_clients import redis_client

log = logging.getLogger(__name__)

Clock = Callable[[], float]

#: KEYS[1] the bucket; ARGV rate, burst, now (seconds). Returns the wait in seconds (0 = taken).
TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class MemoryTokenBuckets:
    """Token buckets in this process; the least recently used are forgotten past ``max_keys``
    (a forgotten bucket is a full one, which is what it would have refilled to anyway)."""

    def __init__(
        self, rate: float, burst: int, *, clock: Clock = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Take a token: 0.0 when allowed, else the seconds until a token is there."""
        now = self.clock()
        tokens, at = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


class RateLimiter:
    """The gateway's per-user limiter: Redis buckets, or memory ones (also the fallback)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        redis_url: str | None = None,
        clock: Clock = time.time,
        namespace: str = "salesflow:rate",
        redis_timeout_s: float = 1.0,
        redis_retry_s: float = 5.0,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.namespace = namespace
        # The memory buckets use the same clock, so a fallback refills consistently.
        self.memory = MemoryTokenBuckets(rate, burst, clock=clock)
        self.redis_url = redis_url
        self.redis_timeout_s = redis_timeout_s
        self.fallback = RedisFallback("rate limiter", retry_s=redis_retry_s)
        self._redis: Any = None
        self._script: Any = None

    @classmethod
    def from_settings(cls, settings: Any) -> RateLimiter:
        return cls(
            settings.edge.rate_limit_per_s,
            settings.edge.rate_limit_burst,
            redis_url=settings.redis_url,
        )

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    @property
    def backend(self) -> str:
        return "redis" if self.redis_url else "memory"

    async def check(self, subject: str) -> float:
        """Count a request of ``subject``: 0.0 when allowed, else the seconds to wait."""
        if not self.enabled:
            return 0.0
        if not self.redis_url:
            return self.memory.take(subject)
        return await self.fallback.run(
            lambda: self._take_redis(subject), lambda: self.memory.take(subject)
        )

    async def _take_redis(self, subject: str) -> float:
        if self._script is None:
            self._redis = redis_client(
                self.redis_url,
                connect_timeout_s=self.redis_timeout_s,
                timeout_s=self.redis_timeout_s,
            )
            self._script = self._redis.register_script(TAKE_SCRIPT)
        answer = await self._script(
            keys=[f"{self.namespace}:{subject}"], args=[self.rate, self.burst, self.clock()]
        )
        return float(answer.decode() if isinstance(answer, bytes) else answer)

    async def close(self) -> None:
        if self._redis is not None:
            try:
                await self._redis.aclose()
            except Exception:
                log.debug("closing the redis rate limiter failed", exc_info=True)
            self._redis = self._script = None


def retry_after_seconds(wait: float) -> int:
    """The ``Retry-After`` value: whole seconds, at least 1."""
    return max(1, math.ceil(wait))
