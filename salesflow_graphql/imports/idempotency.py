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
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from dataclasses import dataclass

from ..cache import MISS, Cache
from ..errors import BadUserInput
from .model import ImportKind, ImportOutcome

log = logging.getLogger(__name__)

KEY_MAX = 200
#: A claim whose import never finished (a crashed process) frees itself after this.
PENDING_TTL_S = 15 * 60


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """What a key is bound to: the file and, once finished, the first outcome."""

    file_sha256: str
    claimed_at: float
    outcome: ImportOutcome | None = None


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

    async def claim(self, key: str, file_sha256: str) -> ImportOutcome | None:
        """``None`` when this request now owns ``key``; the first outcome when it was used.

        Raises :class:`BadUserInput` while another request with the key runs, or
        when the key was used for a different file.
        """
        pending = IdempotencyRecord(file_sha256, time.time())
        for _ in range(2):  # add, or read what won; a record may expire in between
            if await self._add(key, pending, PENDING_TTL_S):
                return None
            record = await self.cache.get(key, layer="idempotency")
            if record is MISS:
                continue
            assert isinstance(record, IdempotencyRecord)
            if record.file_sha256 != file_sha256:
                raise BadUserInput(
                    "This idempotencyKey was already used for a different file; "
                    "use a new key for a new import.",
                    reason="IDEMPOTENCY_KEY_REUSED",
                )
            if record.outcome is None:
                raise BadUserInput(
                    "An import with this idempotencyKey is still running; "
                    "ask again in a moment to get its result.",
                    reason="IDEMPOTENCY_KEY_IN_PROGRESS",
                )
            return dataclasses.replace(record.outcome, replayed=True)
        raise BadUserInput("This idempotencyKey could not be claimed; try again.")

    async def remember(self, key: str, file_sha256: str, outcome: ImportOutcome) -> None:
        record = IdempotencyRecord(file_sha256, time.time(), outcome)
        await self.cache.set(key, record, self.ttl_s)

    async def release(self, key: str) -> None:
        await self.cache.delete(key)

    async def _add(self, key: str, record: IdempotencyRecord, ttl_s: float) -> bool:
        """Store ``record`` only if ``key`` is free (atomically); False when it is taken."""
        if self.cache.redis is not None:
            try:
                await self.cache.redis.add(key, record, ttl=ttl_s)
                return True
            except ValueError:  # aiocache's "key already exists"
                return False
            except Exception as exc:  # Redis down: the cache serves from memory meanwhile
                log.warning("idempotency claim fell back to memory: %s", exc)
        try:
            await self.cache.memory.add(key, record, ttl=ttl_s)
            return True
        except ValueError:
            return False
