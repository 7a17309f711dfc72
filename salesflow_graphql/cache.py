"""The one cache helper: cache-aside with single-flight over aiocache.

Memory by default; Redis when a URL is given. If Redis fails, the operation is
served by the memory cache instead, the outage is logged once, and Redis is
tried again a few seconds later: a cache never turns into an error.

Values are pickled for Redis. Redis is a trusted, internal component here; never
point the gateway at a Redis that untrusted parties can write to.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar
from urllib.parse import unquote, urlparse

from aiocache import RedisCache, SimpleMemoryCache
from aiocache.serializers import NullSerializer, PickleSerializer

from .metrics import CACHE_FALLBACKS, CACHE_HITS, CACHE_MISSES
from .request_stats import count_cache_lookup

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Miss:
    def __repr__(self) -> str:
        return "MISS"


MISS: Final = _Miss()


class Cache:
    """Cache-aside store shared by every layer (upstream fetches, analytics, answers)."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        namespace: str = "salesflow",
        redis_timeout_s: float = 1.0,
        redis_retry_s: float = 5.0,
    ) -> None:
        self.memory = SimpleMemoryCache(serializer=NullSerializer(), namespace=namespace)
        self.redis = _redis_cache(redis_url, namespace, redis_timeout_s) if redis_url else None
        self.redis_retry_s = redis_retry_s
        self._redis_down_until = 0.0
        self._inflight: dict[str, asyncio.Task[Any]] = {}

    @property
    def backend(self) -> str:
        return "redis" if self.redis is not None else "memory"

    # ---------------------------------------------------------------- basics
    async def get(self, key: str, *, layer: str) -> Any:
        """The cached value, or :data:`MISS`."""
        value = await self._op("get", key)
        if value is None:
            CACHE_MISSES.labels(layer).inc()
            count_cache_lookup(hit=False)
            return MISS
        CACHE_HITS.labels(layer).inc()
        count_cache_lookup(hit=True)
        return value

    async def set(self, key: str, value: Any, ttl_s: float) -> None:
        if ttl_s > 0:
            await self._op("set", key, value, ttl=ttl_s)

    async def delete(self, key: str) -> None:
        await self._op("delete", key)

    async def get_or_load(
        self,
        key: str,
        ttl_s: float | Callable[[T], float],
        load: Callable[[], Awaitable[T]],
        *,
        layer: str,
    ) -> T:
        """Cache-aside with single-flight: concurrent misses on one key share one ``load``.

        ``ttl_s`` may be a function of the loaded value, for values built on data
        that is already some seconds old.

        The load runs in its own task, so a caller that goes away (a client
        disconnecting) does not cancel it for everyone else waiting on it.
        """
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._lookup_or_load(key, ttl_s, load, layer))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task)

    async def ping(self) -> bool:
        """True when the configured backend answers (memory always does)."""
        if self.redis is None:
            return True
        try:
            client = self.redis.client
            return bool(await asyncio.wait_for(client.ping(), timeout=self.redis.timeout or 1.0))
        except Exception:
            return False

    async def close(self) -> None:
        if self.redis is not None:
            try:
                await self.redis.close()
            except Exception:
                log.debug("closing the redis cache failed", exc_info=True)

    # ------------------------------------------------------------- machinery
    async def _lookup_or_load(
        self,
        key: str,
        ttl_s: float | Callable[[T], float],
        load: Callable[[], Awaitable[T]],
        layer: str,
    ) -> T:
        value = await self.get(key, layer=layer)
        if value is not MISS:
            return value  # type: ignore[no-any-return]
        value = await load()
        await self.set(key, value, ttl_s(value) if callable(ttl_s) else ttl_s)
        return value

    def _forget(self, key: str, done: asyncio.Task[Any]) -> None:
        if self._inflight.get(key) is done:
            del self._inflight[key]
        if not done.cancelled():
            done.exception()  # mark retrieved: the waiters got it already

    async def _op(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.redis is not None and time.monotonic() >= self._redis_down_until:
            try:
                result = await getattr(self.redis, name)(*args, **kwargs)
            except Exception as exc:
                if self._redis_down_until == 0.0 or time.monotonic() >= self._redis_down_until:
                    log.warning("redis cache unavailable (%s); serving from memory", exc)
                self._redis_down_until = time.monotonic() + self.redis_retry_s
            else:
                if self._redis_down_until:
                    log.info("redis cache is back")
                    self._redis_down_until = 0.0
                return result
        if self.redis is not None:
            CACHE_FALLBACKS.inc()
        return await getattr(self.memory, name)(*args, **kwargs)


def _redis_cache(url: str, namespace: str, timeout_s: float) -> RedisCache:
    parsed = urlparse(url)
    db = int(parsed.path.strip("/") or 0) if parsed.scheme != "unix" else 0
    return RedisCache(
        endpoint=parsed.hostname or "127.0.0.1",
        port=parsed.port or 6379,
        db=db,
        password=unquote(parsed.password) if parsed.password else None,
        ssl=parsed.scheme == "rediss",
        create_connection_timeout=timeout_s,
        serializer=PickleSerializer(),
        namespace=namespace,
        timeout=timeout_s,
    )
