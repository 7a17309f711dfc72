"""The one cache: hot values in process, shared ones in Redis, typed, invalidated by writes.

**Two tiers.** The *local* tier is this process's decoded values, least recently
used out first past a memory budget (``SALESFLOW_CACHE_LOCAL_MB``). On the
embedded default it is the whole cache; with Redis it answers hot keys with no
round trip and no decoding. The *shared* tier is Redis, when a URL is given, so
that what one replica fetched or computed serves them all. Values go to Redis
through a typed :class:`Codec` (msgpack through msgspec, Arrow IPC for frames,
raw bytes for answers), never pickle: whoever can write to Redis can at worst
make a replica compute again (a value that does not decode is a miss), never
run code in it.

**Fresh, stale, gone.** An entry is fresh for its TTL, counted from when the data
under it was read from Java, then *stale* for at most ``stale_s`` more
(``SALESFLOW_CACHE_STALE_S``), then gone. :meth:`Cache.get_or_load` answers a
fresh entry; a stale one too, at once, while exactly one background refresh
runs (one per process, and one across replicas thanks to a short lock in
Redis). A refresh loads through the layers beneath it fresh, never stale, so
what it stores is new. Concurrent misses of one key share one load
(single-flight), and a caller that goes away does not cancel it for the others.

**Generations: answers reflect writes at once.** Entries derived from Java's
data carry the data *generation* in their key. After a committed import,
:meth:`Cache.invalidate` increments it in Redis and publishes it; every
replica's listener adopts it and drops its local entries of other generations
at once, so the next request on any replica reads what Java holds now. A
request pins the generation it started with (``sor.reading``), so that no
answer mixes data from before and after a write. Without Redis, the
generation is this process's counter.

**Records.** :meth:`Cache.get`, :meth:`Cache.set`, :meth:`Cache.add` and
:meth:`Cache.delete` are a plain keyed store for records that do not derive
from Java's data (persisted query documents): Redis, read through every time
with no local copy, when configured; memory otherwise.

While Redis is down (:mod:`.fallback`) everything runs from memory; an
invalidation then reaches this process only, and is published as soon as
Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import secrets
import struct
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

import msgspec
import numpy as np
from redis.asyncio import Redis

from ..metrics import (
    CACHE_FALLBACKS,
    CACHE_HITS,
    CACHE_INVALIDATIONS,
    CACHE_MISSES,
    CACHE_REFRESHES,
    CACHE_STALE_HITS,
)
from ..request_stats import count_cache_lookup
from .fallback import RedisFallback
from .redis_clients import redis_client

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How often a replica re-reads the generation, in case a published one was missed.
SYNC_EVERY_S = 5.0
#: While another replica refreshes a value, stale hits look for its result this often.
REFRESH_BACKOFF_S = 0.5
#: After a refresh failed (Java down, a token expired), stale hits wait this long to try again.
REFRESH_FAILED_BACKOFF_S = 5.0
#: How long one replica's refresh of a key keeps the others from refreshing it too.
REFRESH_LOCK_S = 30.0
#: The header of a value in Redis: format version, fresh until, stale until (epoch seconds).
_HEADER = struct.Struct("<Bdd")
_VERSION = 1

#: Set inside a background refresh: the layers beneath answer fresh, never stale.
_refreshing: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "salesflow_cache_refreshing", default=False
)

#: KEYS[1] the generation; ARGV[1] a random first value for a new one, ARGV[2] the channel.
_BUMP = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
local generation = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[2], generation)
return generation
"""
#: KEYS[1] the generation; ARGV[1] a random first value, should there be none yet.
_READ = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('GET', KEYS[1])
"""


class _Miss:
    def __repr__(self) -> str:
        return "MISS"


MISS: Final = _Miss()


# ------------------------------------------------------------------------ codecs
class Codec(Generic[T]):
    """How values of one type become bytes for Redis, and back."""

    #: Encode and decode in a worker thread (large frames), not on the event loop.
    offload: bool = False

    def encode(self, value: T) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> T:
        raise NotImplementedError

    def size(self, value: T) -> int:
        """About how many bytes ``value`` takes in memory (the local tier's budget)."""
        return len(self.encode(value))


class Typed(Codec[T]):
    """msgpack through msgspec, decoded into ``kind`` and checked against it: dataclasses,
    named tuples, enums, dates, containers of them. numpy scalars are written as numbers."""

    def __init__(self, kind: Any) -> None:
        self._encoder = msgspec.msgpack.Encoder(enc_hook=_plain_number)
        self._decoder: msgspec.msgpack.Decoder[T] = msgspec.msgpack.Decoder(kind)

    def encode(self, value: T) -> bytes:
        return self._encoder.encode(value)

    def decode(self, data: bytes) -> T:
        return self._decoder.decode(data)


class Raw(Codec[bytes]):
    """Bytes as they are (JSON answers)."""

    def encode(self, value: bytes) -> bytes:
        return value

    def decode(self, data: bytes) -> bytes:
        return data

    def size(self, value: bytes) -> int:
        return len(value)


RAW: Final = Raw()


def _plain_number(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


# ------------------------------------------------------------------------ entries
@dataclass(slots=True)
class Entry(Generic[T]):
    """A cached value and its lifetimes (epoch seconds)."""

    value: T
    fresh_until: float
    stale_until: float
    size: int = 0
    generation: int | None = None
    #: Stale hits start no refresh before this (one failed, or another replica runs it).
    refresh_after: float = 0.0

    def fresh(self, now: float) -> bool:
        return now < self.fresh_until


@dataclass(frozen=True, slots=True)
class Spec(Generic[T]):
    """What a cached value is and how to get a new one."""

    load: Callable[[], Awaitable[T]]
    ttl_s: float
    codec: Codec[T]
    layer: str
    stale_s: float = 0.0
    generation: int | None = None
    #: When the Java data under a value was read (epoch seconds); None: when loaded.
    data_at: Callable[[T], float] | None = None


class LocalTier:
    """This process's decoded values; the least recently used go first past ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, Entry[Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, now: float) -> Entry[Any] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry.stale_until:
            self.drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: Entry[Any]) -> None:
        self.drop(key)
        if entry.size > self.max_bytes // 2:
            return  # one value never takes over the whole tier
        self._entries[key] = entry
        self.bytes += entry.size
        while self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.size

    def drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry.size

    def drop_generations_but(self, generation: int) -> None:
        """Forget the entries derived from data of any other generation."""
        for key in [k for k, e in self._entries.items() if e.generation not in (None, generation)]:
            self.drop(key)

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0


class _Records:
    """The memory twin of the records kept in Redis: values with an expiry, no eviction."""

    PURGE_EVERY = 1000

    def __init__(self) -> None:
        self._values: dict[str, tuple[Any, float]] = {}
        self._writes = 0

    def get(self, key: str) -> Any:
        found = self._values.get(key)
        if found is None or found[1] <= time.monotonic():
            return MISS
        return found[0]

    def set(self, key: str, value: Any, ttl_s: float) -> None:
        self._values[key] = (value, time.monotonic() + ttl_s)
        self._writes += 1
        if self._writes % self.PURGE_EVERY == 0:
            now = time.monotonic()
            self._values = {k: v for k, v in self._values.items() if v[1] > now}

    def add(self, key: str, value: Any, ttl_s: float) -> bool:
        if self.get(key) is not MISS:
            return False
        self.set(key, value, ttl_s)
        return True

    def delete(self, key: str) -> None:
        self._values.pop(key, None)


# ------------------------------------------------------------------------ the cache
class Cache:
    """The cache every layer shares: Java's resources, analytics, forecasts, answers, records."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        namespace: str = "salesflow",
        redis_timeout_s: float = 1.0,
        redis_retry_s: float = 5.0,
        local_bytes: int = 256 * 2**20,
        stale_s: float = 0.0,
    ) -> None:
        self.namespace = namespace
        #: How long past its TTL a value asked for ``stale=True`` may still be served.
        self.stale_s = stale_s
        self.local = LocalTier(local_bytes)
        self.records = _Records()
        self.redis_url = redis_url
        self.redis_timeout_s = redis_timeout_s
        self.redis: Redis | None = (
            redis_client(redis_url, connect_timeout_s=redis_timeout_s, timeout_s=redis_timeout_s)
            if redis_url
            else None
        )
        self.fallback = RedisFallback("cache", retry_s=redis_retry_s, fallbacks=CACHE_FALLBACKS)
        self._generation = 0
        self._unpublished = False  # an invalidation Redis has not heard of yet
        self._syncing = asyncio.Lock()
        self._inflight: dict[str, asyncio.Task[Any]] = {}
        self._refreshes: dict[str, asyncio.Task[Any]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._generation_key = f"{namespace}:generation"
        self._channel = f"{namespace}:invalidations"

    @property
    def backend(self) -> str:
        return "redis" if self.redis is not None else "memory"

    @property
    def redis_retry_s(self) -> float:
        return self.fallback.retry_s

    @redis_retry_s.setter
    def redis_retry_s(self, seconds: float) -> None:
        self.fallback.retry_s = seconds

    @property
    def generation(self) -> int:
        """The data generation this process reads (see the module's docstring)."""
        return self._generation

    # ------------------------------------------------------------ cached data
    async def get_or_load(
        self,
        key: str,
        ttl_s: float,
        load: Callable[[], Awaitable[T]],
        *,
        codec: Codec[T],
        layer: str,
        stale: bool = False,
        generation: int | None = None,
        data_at: Callable[[T], float] | None = None,
    ) -> T:
        """The value of ``key``: cached (fresh, or with ``stale`` stale while one refresh
        runs), else loaded.

        ``ttl_s`` counts from ``data_at(value)`` (when its Java data was read)
        when given, else from the load; 0 keeps nothing. ``generation`` (a
        request's pinned one) marks values derived from Java's data.
        """
        spec = Spec(load, ttl_s, codec, layer, self._stale_s(stale, ttl_s), generation, data_at)
        full = self._versioned(key, generation)
        now = time.time()
        entry = self.local.get(full, now)
        if entry is not None:
            if entry.fresh(now):
                self._count(layer, hit=True)
                return entry.value  # type: ignore[no-any-return]
            if not _refreshing.get():
                self._count(layer, hit=True, stale=True)
                self._revalidate(full, entry, spec)
                return entry.value  # type: ignore[no-any-return]
        return await self._load_once(full, spec)

    async def peek(
        self, key: str, *, codec: Codec[T], layer: str, generation: int | None = None
    ) -> Entry[T] | None:
        """The entry of ``key``, fresh or stale, from either tier; None when there is none."""
        full = self._versioned(key, generation)
        entry = self.local.get(full, time.time())
        if entry is None:
            entry = await self._shared_get(full, codec, generation)
            if entry is not None:
                self.local.put(full, entry)
        if entry is None:
            self._count(layer, hit=False)
        else:
            self._count(layer, hit=True, stale=not entry.fresh(time.time()))
        return entry

    async def put(
        self,
        key: str,
        value: T,
        ttl_s: float,
        *,
        codec: Codec[T],
        stale: bool = False,
        generation: int | None = None,
        data_at: float | None = None,
    ) -> None:
        """Keep ``value`` in both tiers: fresh ``ttl_s`` from ``data_at`` (default now)."""
        full = self._versioned(key, generation)
        stale_s = self._stale_s(stale, ttl_s)
        await self._put(full, value, ttl_s, codec, stale_s, generation, data_at)

    def revalidate(
        self,
        key: str,
        entry: Entry[T],
        load: Callable[[], Awaitable[T]],
        *,
        ttl_s: float,
        codec: Codec[T],
        layer: str,
        generation: int | None = None,
        data_at: Callable[[T], float] | None = None,
    ) -> None:
        """Refresh the stale ``entry`` of ``key`` in the background (once at a time); what
        it loads may be served stale in turn."""
        spec = Spec(load, ttl_s, codec, layer, self._stale_s(True, ttl_s), generation, data_at)
        self._revalidate(self._versioned(key, generation), entry, spec)

    async def invalidate(self) -> None:
        """Java's data changed: every replica forgets what it derived from it, now."""
        CACHE_INVALIDATIONS.inc()
        if self.redis is None:
            self._adopt(self._generation + 1)
            return
        try:
            self._adopt(await self._bump())
        except Exception as exc:
            self.fallback.failed(exc)
            self._unpublished = True
            # This process at least, now; negative: never one Redis hands out later.
            self._adopt(-1 - secrets.randbits(40))
            log.warning(
                "cache invalidation reached this process only (redis: %s); it is published "
                "when Redis answers again",
                exc,
            )

    # ------------------------------------------------------------ records
    async def get(self, key: str, *, layer: str, codec: Codec[T]) -> T | _Miss:
        """The record of ``key``, or :data:`MISS`."""
        value: Any = MISS
        if self.redis is not None:
            raw = await self.fallback.run(
                lambda: self.redis.get(self._redis_key(key)),  # type: ignore[union-attr]
                lambda: self.records.get(key),
            )
            if isinstance(raw, bytes):
                try:
                    value = codec.decode(raw)
                except (msgspec.MsgspecError, ValueError, TypeError):
                    log.warning("cache record %s does not decode; treated as absent", key)
            else:
                value = raw
        else:
            value = self.records.get(key)
        self._count(layer, hit=value is not MISS)
        return value  # type: ignore[no-any-return]

    async def set(self, key: str, value: T, ttl_s: float, *, codec: Codec[T]) -> None:
        if ttl_s <= 0:
            return
        if self.redis is None:
            self.records.set(key, value, ttl_s)
            return
        await self.fallback.run(
            lambda: self.redis.set(  # type: ignore[union-attr]
                self._redis_key(key), codec.encode(value), px=_ms(ttl_s)
            ),
            lambda: self.records.set(key, value, ttl_s),
        )

    async def add(self, key: str, value: T, ttl_s: float, *, codec: Codec[T]) -> bool:
        """Store ``value`` only if ``key`` is free (atomically); False when it is taken."""
        if self.redis is None:
            return self.records.add(key, value, ttl_s)

        async def add_in_redis() -> bool:
            return bool(
                await self.redis.set(  # type: ignore[union-attr]
                    self._redis_key(key), codec.encode(value), px=_ms(ttl_s), nx=True
                )
            )

        return await self.fallback.run(add_in_redis, lambda: self.records.add(key, value, ttl_s))

    async def delete(self, key: str) -> None:
        if self.redis is None:
            self.records.delete(key)
            return
        await self.fallback.run(
            lambda: self.redis.delete(self._redis_key(key)),  # type: ignore[union-attr]
            lambda: self.records.delete(key),
        )

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Read the current generation and listen for other replicas' invalidations (with
        Redis; nothing to do without)."""
        if self.redis is None or self._listener is not None:
            return
        try:
            await self._sync()
        except Exception as exc:  # the listener keeps trying
            self.fallback.failed(exc)
        self._listener = asyncio.create_task(self._listen(), name="cache-invalidations")

    async def ping(self) -> bool:
        """True when the configured backend answers (memory always does)."""
        if self.redis is None:
            return True
        try:
            return bool(await asyncio.wait_for(self.redis.ping(), timeout=self.redis_timeout_s))
        except Exception:
            return False

    async def close(self) -> None:
        tasks = [t for t in (self._listener, *self._refreshes.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._listener = None
        if self.redis is not None:
            try:
                await self.redis.aclose()
            except Exception:
                log.debug("closing the redis cache failed", exc_info=True)

    # ------------------------------------------------------------ machinery
    def _stale_s(self, stale: bool, ttl_s: float) -> float:
        return self.stale_s if stale and ttl_s > 0 else 0.0

    @staticmethod
    def _versioned(key: str, generation: int | None) -> str:
        return key if generation is None else f"{key}@{generation}"

    def _redis_key(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    def _count(self, layer: str, *, hit: bool, stale: bool = False) -> None:
        (CACHE_HITS if hit else CACHE_MISSES).labels(layer).inc()
        if stale:
            CACHE_STALE_HITS.labels(layer).inc()
        count_cache_lookup(hit=hit)

    async def _load_once(self, full: str, spec: Spec[T]) -> T:
        """Single-flight: the one load of ``full`` in this process, joined by every caller."""
        task = self._inflight.get(full)
        if task is None:
            task = asyncio.ensure_future(self._lookup_or_load(full, spec))
            self._inflight[full] = task
            task.add_done_callback(lambda done: self._forget(self._inflight, full, done))
        return await asyncio.shield(task)  # type: ignore[no-any-return]

    async def _lookup_or_load(self, full: str, spec: Spec[T]) -> T:
        shared = await self._shared_get(full, spec.codec, spec.generation)
        if shared is not None:
            now = time.time()
            self.local.put(full, shared)
            if shared.fresh(now):
                self._count(spec.layer, hit=True)
                return shared.value
            if not _refreshing.get():
                self._count(spec.layer, hit=True, stale=True)
                # Refresh once this load is over (and no longer counts as in flight).
                this = asyncio.current_task()
                assert this is not None
                this.add_done_callback(lambda _: self._revalidate(full, shared, spec))
                return shared.value
        self._count(spec.layer, hit=False)
        return await self._load_and_keep(full, spec)

    async def _load_and_keep(self, full: str, spec: Spec[T]) -> T:
        value = await spec.load()
        data_at = spec.data_at(value) if spec.data_at is not None else None
        await self._put(full, value, spec.ttl_s, spec.codec, spec.stale_s, spec.generation, data_at)
        return value

    async def _put(
        self,
        full: str,
        value: T,
        ttl_s: float,
        codec: Codec[T],
        stale_s: float,
        generation: int | None,
        data_at: float | None,
    ) -> None:
        if ttl_s <= 0:
            return
        now = time.time()
        fresh_until = (now if data_at is None else data_at) + ttl_s
        stale_until = fresh_until + max(0.0, stale_s)
        if stale_until <= now:
            return
        encoded = None
        if self.redis is not None and not self.fallback.down:
            payload = await _run(codec.offload, codec.encode, value)
            encoded = _HEADER.pack(_VERSION, fresh_until, stale_until) + payload
            await self.fallback.run(
                lambda: self.redis.set(  # type: ignore[union-attr]
                    self._redis_key(full), encoded, px=_ms(stale_until - now)
                ),
                lambda: None,
            )
        if generation is None or generation == self._generation:  # else: nobody reads it again
            size = len(encoded) if encoded is not None else codec.size(value)
            self.local.put(full, Entry(value, fresh_until, stale_until, size, generation))

    async def _shared_get(
        self, full: str, codec: Codec[T], generation: int | None
    ) -> Entry[T] | None:
        if self.redis is None:
            return None
        raw = await self.fallback.run(
            lambda: self.redis.get(self._redis_key(full)),  # type: ignore[union-attr]
            lambda: None,
        )
        if raw is None:
            return None
        try:
            version, fresh_until, stale_until = _HEADER.unpack_from(raw)
            if version != _VERSION:
                raise ValueError(f"format {version}")
            value = await _run(codec.offload, codec.decode, raw[_HEADER.size :])
        except Exception as exc:  # never trusted: a value that does not decode is a miss
            log.warning("cache entry %s does not decode (%s); treated as a miss", full, exc)
            return None
        if time.time() >= stale_until:
            return None
        return Entry(value, fresh_until, stale_until, len(raw), generation)

    def _revalidate(self, full: str, entry: Entry[Any], spec: Spec[Any]) -> None:
        now = time.time()
        if full in self._refreshes or full in self._inflight or now < entry.refresh_after:
            return
        entry.refresh_after = now + REFRESH_BACKOFF_S
        context = contextvars.copy_context()
        context.run(_refreshing.set, True)
        task = asyncio.create_task(self._refresh(full, entry, spec), context=context)
        self._refreshes[full] = task
        task.add_done_callback(lambda done: self._forget(self._refreshes, full, done))

    async def _refresh(self, full: str, entry: Entry[Any], spec: Spec[Any]) -> None:
        """One background refresh: adopt another replica's, or load under a lock."""
        lock = self._redis_key(f"refreshing:{full}")
        locked = False
        try:
            if self.redis is not None:
                shared = await self._shared_get(full, spec.codec, spec.generation)
                if shared is not None and shared.fresh(time.time()):
                    self.local.put(full, shared)
                    return
                locked = await self.fallback.run(
                    lambda: self.redis.set(lock, b"1", px=_ms(REFRESH_LOCK_S), nx=True),  # type: ignore[union-attr]
                    lambda: True,
                )
                if not locked:
                    return  # another replica refreshes it; its result lands in Redis
            CACHE_REFRESHES.labels(spec.layer).inc()
            await self._load_once(full, spec)
        except Exception as exc:
            entry.refresh_after = time.time() + REFRESH_FAILED_BACKOFF_S
            log.warning("refreshing %s failed (%s); its stale value is served meanwhile", full, exc)
        finally:
            if locked and self.redis is not None:
                await self.fallback.run(lambda: self.redis.delete(lock), lambda: 0)  # type: ignore[union-attr]

    @staticmethod
    def _forget(tasks: dict[str, asyncio.Task[Any]], key: str, done: asyncio.Task[Any]) -> None:
        if tasks.get(key) is done:
            del tasks[key]
        if not done.cancelled():
            done.exception()  # mark retrieved: the waiters got it already

    # ------------------------------------------------------------ generations
    def _adopt(self, generation: int) -> None:
        if generation != self._generation:
            self._generation = generation
            self.local.drop_generations_but(generation)

    async def _bump(self) -> int:
        assert self.redis is not None
        generation = await self.redis.eval(
            _BUMP, 1, self._generation_key, secrets.randbits(40), self._channel
        )
        return int(generation)

    async def _sync(self) -> None:
        """Publish an invalidation Redis missed, or adopt the generation Redis has."""
        assert self.redis is not None
        async with self._syncing:  # the listener and start-up: one publication, not two
            if self._unpublished:
                generation = await self._bump()
                self._unpublished = False
                log.info("cache invalidation published after the outage")
            else:
                generation = int(
                    await self.redis.eval(_READ, 1, self._generation_key, secrets.randbits(40))
                )
            self.fallback.succeeded()
            self._adopt(generation)

    async def _listen(self) -> None:
        """Adopt every published generation; re-read it now and then and after reconnecting."""
        assert self.redis_url is not None
        client = redis_client(
            self.redis_url, connect_timeout_s=self.redis_timeout_s, timeout_s=None
        )
        try:
            while True:
                try:
                    async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                        await pubsub.subscribe(self._channel)
                        await self._sync()
                        while True:
                            message = await pubsub.get_message(timeout=SYNC_EVERY_S)
                            if message is None:
                                await self._sync()
                            else:
                                self._adopt(int(message["data"]))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.debug("cache invalidation listener: %s; reconnecting", exc)
                    await asyncio.sleep(self.fallback.retry_s)
        finally:
            await client.aclose()


async def _run(offload: bool, function: Callable[[Any], T], argument: Any) -> T:
    return await asyncio.to_thread(function, argument) if offload else function(argument)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
