"""``idempotencyKey``: the same key never writes twice, and answers with the first result.

A record is keyed by (kind, key, caller), hashed so no user text becomes a
Redis key, and lives 24 h in the shared cache (Redis when configured, so every
replica sees it; memory otherwise). Claiming a key is atomic: ``SET NX`` in
Redis, a check-and-set without an ``await`` in between in memory. A second
request with the key while the first still runs is told to wait; one with
the key but another file or kind is refused rather than silently answered
with a result that is not about its file.

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

The record itself lives as long as the key (24 h), whatever happened to its owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass

from ..cache import MISS, Cache, Codec, Typed
from ..errors import BadUserInput
from .model import ImportKind, ImportOutcome

log = logging.getLogger(__name__)

KEY_MAX = 200
#: How long a running import's hold on its key lasts without renewal (it renews every third).
LEASE_S = 30.0


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


#: How records are kept in Redis (typed: a record that does not decode is absent).
RECORD: Codec[IdempotencyRecord] = Typed(IdempotencyRecord)
FLAG: Codec[bool] = Typed(bool)


def check_key(key: str) -> str:
    """The key as given, or :class:`BadUserInput` when it is unusable."""
    if not key or not key.strip() or len(key) > KEY_MAX or not key.isprintable():
        raise BadUserInput(
            f"idempotencyKey must be 1 to {KEY_MAX} printable characters, e.g. a UUID."
        )
    return key


class IdempotencyStore:
    def __init__(self, cache: Cache, ttl_s: float) -> None:
        self.cache = cache
        self.ttl_s = ttl_s

    @staticmethod
    def key(kind: ImportKind, idempotency_key: str, caller: str) -> str:
        material = f"{kind.value}\x00{caller}\x00{idempotency_key}".encode()
        return "import:idempotency:" + hashlib.sha256(material).hexdigest()

    async def claim(self, key: str, file_sha256: str) -> Claim | ImportOutcome:
        """A :class:`Claim` when this request now owns ``key``; the first outcome when it was used.

        Raises :class:`BadUserInput` while another request with the key runs, or
        when the key was used for a different file.
        """
        now = time.time()
        pending = IdempotencyRecord(
            file_sha256, now, owner=uuid.uuid4().hex, lease_until=now + LEASE_S
        )
        for _ in range(2):  # add, or read what won; a record may expire in between
            if await self._add(key, pending, self.ttl_s):
                return Claim(self, key, pending)
            record = await self.cache.get(key, layer="idempotency", codec=RECORD)
            if record is MISS:
                continue
            assert isinstance(record, IdempotencyRecord)
            if record.file_sha256 != file_sha256:
                raise BadUserInput(
                    "This idempotencyKey was already used for a different file; "
                    "use a new key for a new import.",
                    reason="IDEMPOTENCY_KEY_REUSED",
                )
            if record.outcome is not None:
                return dataclasses.replace(record.outcome, replayed=True)
            # Still running, or its owner died: its lease tells, and one request takes over.
            if record.lease_until > time.time() or not await self._add(
                f"{key}:takeover:{record.owner}", True, LEASE_S
            ):
                raise BadUserInput(
                    "An import with this idempotencyKey is still running; "
                    "ask again in a moment to get its result.",
                    reason="IDEMPOTENCY_KEY_IN_PROGRESS",
                )
            if record.if_interrupted is not None:
                log.warning("idempotency key: its import died while writing; outcome unknown")
                await self.remember(key, file_sha256, record.if_interrupted)
                return dataclasses.replace(record.if_interrupted, replayed=True)
            log.info("idempotency key: its import died before writing; taken over")
            await self.cache.set(key, pending, self.ttl_s, codec=RECORD)
            return Claim(self, key, pending)
        raise BadUserInput("This idempotencyKey could not be claimed; try again.")

    async def remember(self, key: str, file_sha256: str, outcome: ImportOutcome) -> None:
        record = IdempotencyRecord(file_sha256, time.time(), outcome)
        await self.cache.set(key, record, self.ttl_s, codec=RECORD)

    async def release(self, key: str) -> None:
        await self.cache.delete(key)

    async def _add(self, key: str, value: IdempotencyRecord | bool, ttl_s: float) -> bool:
        """Store ``value`` only if ``key`` is free (atomically); False when it is taken."""
        if isinstance(value, IdempotencyRecord):
            return await self.cache.add(key, value, ttl_s, codec=RECORD)
        return await self.cache.add(key, value, ttl_s, codec=FLAG)


class Claim:
    """A running import's hold on its key: renewed in the background until :meth:`end`."""

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

        Raises :class:`BadUserInput` (nothing written) if the key is no longer ours.
        """
        await self._save(dataclasses.replace(self.record, if_interrupted=if_interrupted))
        if self.lost:
            raise BadUserInput(
                "This import took too long to start writing and another request with its "
                "idempotencyKey took over; nothing was written by this one.",
                reason="IDEMPOTENCY_KEY_IN_PROGRESS",
            )

    async def end(self) -> None:
        """Stop renewing (before the outcome is remembered or the key released)."""
        self._stop.set()
        with contextlib.suppress(Exception):
            await self._renewal

    async def _renew(self) -> None:
        while not self.lost:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=LEASE_S / 3)
            if self._stop.is_set():
                return
            try:
                await self._save(self.record)
            except Exception:  # the cache logs Redis trouble itself; try again next time
                log.debug("renewing an idempotency lease failed", exc_info=True)

    async def _save(self, record: IdempotencyRecord) -> None:
        async with self._saving:
            current = await self.store.cache.get(self.key, layer="idempotency", codec=RECORD)
            if isinstance(current, IdempotencyRecord) and current.owner != record.owner:
                self.lost = True
                return
            self.record = dataclasses.replace(record, lease_until=time.time() + LEASE_S)
            await self.store.cache.set(self.key, self.record, self.store.ttl_s, codec=RECORD)
