"""The alert ledger: no alert twice, a cooldown per subject, and one check at a time.

- **Dedup**: the same (kind, subject, date) is raised at most once, whichever
  replica or worker finds it, however often checks re-scan that day.
- **Cooldown**: after an alert of one kind on a subject dated D, the same kind
  on the same subject stays quiet for dates within ``cooldown_days`` of D. It
  counts in days of data, not wall-clock time, so a check that scans two weeks
  at once raises exactly what daily checks would have raised, and a level
  shift that lasts reminds every ``cooldown_days`` days instead of daily. A
  suppressed (kind, subject, date) is remembered as seen too, so it never
  surfaces later.
- **Check lock**: concurrent checks (two replicas' ``runAnomalyCheck``, a worker's
  cron) run one after the other; the second finds the first one's alerts
  already claimed.

In Redis (``SALESFLOW_REDIS_URL``) a claim is one Lua script, atomic across
replicas; the lock is redis-py's ``Lock`` (``SET NX PX`` with a token, released
only by its holder). In memory the same rules hold within the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from enum import Enum
from typing import Any

from ..adapters.redis_clients import redis_client
from ..config import Settings
from ..errors import UpstreamUnavailable
from .model import Alert

KEY_PREFIX = "salesflow:alerts:{ledger}:"  # one hash slot: the script's keys live together
DAY_S = 86_400


class Claim(Enum):
    """What the ledger says about a found alert."""

    NEW = "new"  # raise it
    DUPLICATE = "duplicate"  # this (kind, subject, date) was raised or suppressed before
    COOLING_DOWN = "cooling-down"  # the subject had an alert of this kind a few days ago


def _day_number(alert: Alert) -> int:
    day = alert.date or alert.detected_at.date()
    return day.toordinal()


class AlertLedger(ABC):
    """Remembers what was raised; decides whether a found alert is new."""

    def __init__(self, cooldown_days: int, retention_days: int) -> None:
        self.cooldown_days = cooldown_days
        #: Seen keys must outlive the days checks re-scan, or an old day would alert again.
        self.retention_s = max(1, retention_days) * DAY_S

    @abstractmethod
    async def claim(self, alert: Alert) -> Claim:
        """Atomically: NEW (and remembered), DUPLICATE or COOLING_DOWN (remembered as seen)."""

    @abstractmethod
    async def release(self, alert: Alert) -> None:
        """Forget a NEW claim whose alert could not be published, so a later check retries it."""

    @abstractmethod
    def check_lock(self, timeout_s: float) -> contextlib.AbstractAsyncContextManager[None]:
        """Held for the whole of one check; waits up to ``timeout_s`` for another check."""

    async def close(self) -> None:  # noqa: B027 - nothing to release in memory
        """Release connections."""


class MemoryAlertLedger(AlertLedger):
    """The ledger of the embedded default: dictionaries with expiry, an asyncio lock."""

    def __init__(self, cooldown_days: int, retention_days: int) -> None:
        super().__init__(cooldown_days, retention_days)
        self._seen: dict[str, float] = {}  # dedup key -> expiry (monotonic)
        self._last_day: dict[str, tuple[int, float]] = {}  # cooldown key -> (day, expiry)
        self._lock = asyncio.Lock()

    def _expire(self, now: float) -> None:
        if len(self._seen) > 4096:  # prune now and then, not on every claim
            self._seen = {k: e for k, e in self._seen.items() if e > now}
            self._last_day = {k: v for k, v in self._last_day.items() if v[1] > now}

    async def claim(self, alert: Alert) -> Claim:
        now = time.monotonic()
        self._expire(now)
        key = alert.dedup_key
        if self._seen.get(key, 0.0) > now:
            return Claim.DUPLICATE
        self._seen[key] = now + self.retention_s
        day = _day_number(alert)
        last = self._last_day.get(alert.cooldown_key)
        if last is not None and last[1] > now and abs(day - last[0]) < self.cooldown_days:
            return Claim.COOLING_DOWN
        if last is None or last[1] <= now or day > last[0]:
            self._last_day[alert.cooldown_key] = (day, now + self.retention_s)
        return Claim.NEW

    async def release(self, alert: Alert) -> None:
        self._seen.pop(alert.dedup_key, None)
        last = self._last_day.get(alert.cooldown_key)
        if last is not None and last[0] == _day_number(alert):
            del self._last_day[alert.cooldown_key]

    @contextlib.asynccontextmanager
    async def check_lock(self, timeout_s: float) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(timeout_s):
                await self._lock.acquire()
        except TimeoutError:
            raise UpstreamUnavailable(
                "Another anomaly check is still running; try again."
            ) from None
        try:
            yield
        finally:
            self._lock.release()


# KEYS[1] seen key, KEYS[2] cooldown key; ARGV: day, cooldown days, ttl seconds.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[3])
local day = tonumber(ARGV[1])
local last = redis.call('GET', KEYS[2])
if last and math.abs(day - tonumber(last)) < tonumber(ARGV[2]) then return -1 end
if (not last) or day > tonumber(last) then
  redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[3])
end
return 1
"""
# KEYS as above; ARGV[1] day. The cooldown goes only if this claim had set it.
_RELEASE = """
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""
_VERDICTS = {1: Claim.NEW, 0: Claim.DUPLICATE, -1: Claim.COOLING_DOWN}


class RedisAlertLedger(AlertLedger):
    """The ledger shared by every replica and worker: Lua claims and a Redis lock."""

    def __init__(self, redis_url: str, cooldown_days: int, retention_days: int) -> None:
        super().__init__(cooldown_days, retention_days)
        self.redis: Any = redis_client(redis_url)
        self._claim = self.redis.register_script(_CLAIM)
        self._release = self.redis.register_script(_RELEASE)

    @staticmethod
    def _keys(alert: Alert) -> list[str]:
        return [KEY_PREFIX + "seen:" + alert.dedup_key, KEY_PREFIX + "last:" + alert.cooldown_key]

    async def claim(self, alert: Alert) -> Claim:
        try:
            verdict = await self._claim(
                keys=self._keys(alert),
                args=[_day_number(alert), self.cooldown_days, self.retention_s],
            )
        except Exception as exc:
            raise UpstreamUnavailable("The alert ledger (Redis) is not answering.") from exc
        return _VERDICTS[int(verdict)]

    async def release(self, alert: Alert) -> None:
        with contextlib.suppress(Exception):  # best effort: the alert is lost otherwise anyway
            await self._release(keys=self._keys(alert), args=[_day_number(alert)])

    @contextlib.asynccontextmanager
    async def check_lock(self, timeout_s: float) -> AsyncIterator[None]:
        lock = self.redis.lock(
            KEY_PREFIX + "check-lock", timeout=timeout_s, blocking_timeout=timeout_s
        )
        try:
            acquired = await lock.acquire()
        except Exception as exc:
            raise UpstreamUnavailable("The alert ledger (Redis) is not answering.") from exc
        if not acquired:
            raise UpstreamUnavailable("Another anomaly check is still running; try again.")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # expired meanwhile: the lock is gone anyway
                await lock.release()

    async def close(self) -> None:
        await self.redis.aclose()


def create_alert_ledger(settings: Settings) -> AlertLedger:
    """Redis when configured (shared by replicas), memory otherwise."""
    retention = settings.alert_scan_window_days + settings.alerts.cooldown_days + 7
    if settings.redis_url:
        return RedisAlertLedger(settings.redis_url, settings.alerts.cooldown_days, retention)
    return MemoryAlertLedger(settings.alerts.cooldown_days, retention)
