"""``idempotencyKey``: the same key never writes twice, and answers with the first result.

A record is keyed by (kind, key, caller), hashed so no user text becomes a
Redis key, and lives 24 h in the shared store: Redis when configured, so every
replica sees it; this process's memory in the embedded default (one process).
A second request with the key while the first still runs is told to wait; one
with the key but another file or kind is refused rather than silently answered
with a result that is not about its file.

**Only the shared store.** With Redis configured, a keyed commit never falls back
to memory: a record in one process's memory is invisible to the other replicas
and forgotten when Redis returns, so a retry would write again. While Redis is
unreachable a keyed commit is refused with ``UPSTREAM_UNAVAILABLE`` before
anything is written (commits without a key, and dry runs, go on).

**Every change is a compare-and-set** in the store (``SET NX`` to claim,
``WATCH``/``MULTI`` to change a record only if it is still the one read), so
two replicas racing for one key, or a stalled owner renewing after another
request took the key over, can never both write.

Only imports that tried to write keep their record. A commit refused before
any write (a REJECTED or INVALID file) releases its key, so the user can fix
the file and retry with the same key, as payment APIs do.

A running import holds its key with a lease that it renews every
:data:`LEASE_S` / 3 seconds, and marks the record before its first write to
Java. When the process dies (a crash, ``kill -9``, a lost machine) the renewals
stop, and once the lease has run out the next request with the key:

- takes the key over and imports, if the dead one had written nothing;
- answers the dead one's outcome, "interrupted while writing, some rows may be
  saved" (``FAILED``), if it had started writing: Java's writes are not
  idempotent, so rows it may already hold are never sent again.

If the store fails after the writes (the outcome cannot be recorded), the
record keeps saying "writing", and a retry is answered "interrupted while
writing" once the lease has run out: never a second write.

Records are msgspec JSON (typed, no pickle). The record itself lives as long as
the key (24 h), whatever happened to its owner.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from redis.exceptions import RedisError, WatchError

from ..errors import BadUserInput, UpstreamUnavailable
from .model import ImportKind, ImportOutcome

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from ..adapters.cache import Cache

log = logging.getLogger(__name__)

KEY_MAX = 200
#: How long a running import's hold on its key lasts without renewal (it renews every third).
LEASE_S = 30.0
#: Redis operations of the store give up after this long.
REDIS_TIMEOUT_S = 2.0
NAMESPACE = "salesflow:"


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """What a key is bound to: the file and, once finished, the first outcome."""

    file_sha256: str
    claimed_at: float
    outcome: ImportOutcome | None = None
    #: Who holds the key while the import runs, and until when (renewed while it runs).
    owner: str = ""
    lease_until: float = 0.0
    #: Set before the first write: the key's outcome should its owner die from then on.
    if_interrupted: ImportOutcome | None = None


_encode = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder(IdempotencyRecord)


def decode_record(raw: bytes) -> IdempotencyRecord:
    """A stored record (tests read the store with it too)."""
    return _decoder.decode(raw)


def check_key(key: str) -> str:
    """The key as given, or :class:`BadUserInput` when it is unusable."""
    if not key or not key.strip() or len(key) > KEY_MAX or not key.isprintable():
        raise BadUserInput(
            f"idempotencyKey must be 1 to {KEY_MAX} printable characters, e.g. a UUID."
        )
    return key


class _Unreachable(UpstreamUnavailable):
    def __init__(self) -> None:
        super().__init__(
            "The shared store of idempotency keys (Redis) is not answering, so this keyed "
            "import was not run and nothing was written; try again shortly."
        )


class _RedisRecords:
    """Records in Redis; any failure is :class:`UpstreamUnavailable`, never a fallback."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def add(self, key: str, record: IdempotencyRecord, ttl_s: float) -> bool:
        return bool(
            await self._call(
                self.redis.set(NAMESPACE + key, _encode(record), px=_ms(ttl_s), nx=True)
            )
        )

    async def get(self, key: str) -> IdempotencyRecord | None:
        raw = await self._call(self.redis.get(NAMESPACE + key))
        return decode_record(raw) if raw else None

    async def swap(
        self,
        key: str,
        expected: Callable[[IdempotencyRecord | None], bool],
        new: IdempotencyRecord | None,
        ttl_s: float,
    ) -> bool:
        """Replace (or, with ``new=None``, delete) the record if ``expected(current)``."""

        async def transaction() -> bool:
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.watch(NAMESPACE + key)
                raw = await pipe.get(NAMESPACE + key)
                if not expected(decode_record(raw) if raw else None):
                    return False
                pipe.multi()
                if new is None:
                    pipe.delete(NAMESPACE + key)
                else:
                    pipe.set(NAMESPACE + key, _encode(new), px=_ms(ttl_s))
                try:
                    await pipe.execute()
                except WatchError:  # changed since it was read: the caller looks again
                    return False
                return True

        return await self._call(transaction())

    async def _call(self, operation: Any) -> Any:
        try:
            return await asyncio.wait_for(operation, timeout=REDIS_TIMEOUT_S)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("idempotency store: redis failed: %s", exc)
            raise _Unreachable() from exc


class _MemoryRecords:
    """Records in this process (the embedded default); every operation is atomic here."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[IdempotencyRecord, float]] = {}

    async def add(self, key: str, record: IdempotencyRecord, ttl_s: float) -> bool:
        if self._current(key) is not None:
            return False
        self._records[key] = (record, time.monotonic() + ttl_s)
        return True

    async def get(self, key: str) -> IdempotencyRecord | None:
        return self._current(key)

    async def swap(
        self,
        key: str,
        expected: Callable[[IdempotencyRecord | None], bool],
        new: IdempotencyRecord | None,
        ttl_s: float,
    ) -> bool:
        if not expected(self._current(key)):
            return False
        if new is None:
            self._records.pop(key, None)
        else:
            self._records[key] = (new, time.monotonic() + ttl_s)
        return True

    def _current(self, key: str) -> IdempotencyRecord | None:
        entry = self._records.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._records[key]
            return None
        return entry[0]


class IdempotencyStore:
    def __init__(self, cache: Cache, ttl_s: float) -> None:
        # The cache's Redis connection pool when Redis is configured (one pool per process).
        shared = cache.redis
        self.records: _RedisRecords | _MemoryRecords = (
            _RedisRecords(shared) if shared is not None else _MemoryRecords()
        )
        self.ttl_s = ttl_s

    @staticmethod
    def key(kind: ImportKind, idempotency_key: str, caller: str) -> str:
        material = f"{kind.value}\x00{caller}\x00{idempotency_key}".encode()
        return "import:idempotency:" + hashlib.sha256(material).hexdigest()

    async def claim(self, key: str, file_sha256: str) -> Claim | ImportOutcome:
        """A :class:`Claim` when this request now owns ``key``; the first outcome when it was used.

        Raises :class:`BadUserInput` while another request with the key runs, or
        when the key was used for a different file; :class:`UpstreamUnavailable`
        when the shared store does not answer.
        """
        now = time.time()
        pending = IdempotencyRecord(
            file_sha256, now, owner=uuid.uuid4().hex, lease_until=now + LEASE_S
        )
        for _ in range(3):  # add, or read what won and act on it; it may change in between
            if await self.records.add(key, pending, self.ttl_s):
                return Claim(self, key, pending)
            record = await self.records.get(key)
            if record is None:
                continue
            if record.file_sha256 != file_sha256:
                raise BadUserInput(
                    "This idempotencyKey was already used for a different file; "
                    "use a new key for a new import.",
                    reason="IDEMPOTENCY_KEY_REUSED",
                )
            if record.outcome is not None:
                return dataclasses.replace(record.outcome, replayed=True)
            if record.lease_until > time.time():  # still running
                raise BadUserInput(
                    "An import with this idempotencyKey is still running; "
                    "ask again in a moment to get its result.",
                    reason="IDEMPOTENCY_KEY_IN_PROGRESS",
                )

            # Its owner died. Exactly one request acts on that: the one whose swap wins.
            def unchanged(
                current: IdempotencyRecord | None, read: IdempotencyRecord = record
            ) -> bool:
                return current == read

            if record.if_interrupted is not None:
                final = IdempotencyRecord(file_sha256, time.time(), record.if_interrupted)
                if await self.records.swap(key, unchanged, final, self.ttl_s):
                    log.warning("idempotency key: its import died while writing; outcome unknown")
                    return dataclasses.replace(record.if_interrupted, replayed=True)
            elif await self.records.swap(key, unchanged, pending, self.ttl_s):
                log.info("idempotency key: its import died before writing; taken over")
                return Claim(self, key, pending)
        raise BadUserInput("This idempotencyKey could not be claimed; try again.")


class Claim:
    """A running import's hold on its key: renewed in the background until it ends."""

    def __init__(self, store: IdempotencyStore, key: str, record: IdempotencyRecord) -> None:
        self.store = store
        self.key = key
        self.record = record
        #: Another request took the key over (this one stalled past its lease).
        self.lost = False
        self._saving = asyncio.Lock()
        self._stop = asyncio.Event()
        self._renewal = asyncio.create_task(self._renew(), name="idempotency-lease")

    async def writing(self, if_interrupted: ImportOutcome) -> None:
        """Before the first write: record what the key answers should this process die now.

        Raises :class:`BadUserInput` (nothing written) if the key is no longer ours,
        :class:`UpstreamUnavailable` (nothing written) if the store does not answer.
        """
        await self._save(dataclasses.replace(self.record, if_interrupted=if_interrupted))
        if self.lost:
            raise BadUserInput(
                "This import took too long to start writing and another request with its "
                "idempotencyKey took over; nothing was written by this one.",
                reason="IDEMPOTENCY_KEY_IN_PROGRESS",
            )

    async def finish(self, outcome: ImportOutcome) -> None:
        """The import ended: the key answers ``outcome`` from now on (if it is still ours)."""
        await self.end()
        final = IdempotencyRecord(self.record.file_sha256, time.time(), outcome)
        await self._settle(final, "its outcome could not be recorded")

    async def release(self) -> None:
        """Nothing was written: free the key for a retry (if it is still ours)."""
        await self.end()
        await self._settle(None, "it could not be released")

    async def end(self) -> None:
        """Stop renewing."""
        self._stop.set()
        await asyncio.gather(self._renewal, return_exceptions=True)

    async def _settle(self, final: IdempotencyRecord | None, failure: str) -> None:
        # Best effort: if the store fails now, the lease runs out and the record tells
        # the next request what happened (taken over if nothing was written, else
        # "interrupted while writing").
        try:
            async with self._saving:
                if not await self.store.records.swap(self.key, self._ours, final, self.store.ttl_s):
                    self.lost = True
        except UpstreamUnavailable:
            log.error("idempotency key: %s; its lease will run out", failure)

    def _ours(self, current: IdempotencyRecord | None) -> bool:
        return current is not None and current.owner == self.record.owner

    async def _renew(self) -> None:
        while not self.lost:
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=LEASE_S / 3)
                return
            except TimeoutError:
                pass
            try:
                await self._save(self.record)
            except UpstreamUnavailable:  # logged by the store; try again next time
                pass

    async def _save(self, record: IdempotencyRecord) -> None:
        async with self._saving:
            renewed = dataclasses.replace(record, lease_until=time.time() + LEASE_S)
            if await self.store.records.swap(self.key, self._ours, renewed, self.store.ttl_s):
                self.record = renewed
            else:
                self.lost = True


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
