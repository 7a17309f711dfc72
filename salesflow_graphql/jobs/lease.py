"""A worker's hold on a running job: a short lease in Redis, renewed while the job runs.

arq marks a running job with an in-progress key and runs the job again only once
that key has expired. arq gives the key the longest function timeout + 10 s, so a
report whose worker was SIGKILLed stayed RUNNING for 5 minutes (300 + 10 s). The
worker (:mod:`.worker`) therefore sets arq's own mark to ``SALESFLOW_JOB_LEASE_S``,
and each running job holds it as a :class:`Lease`:

- on start, the key takes the lease's own token (arq only checks that it exists,
  and deletes it when the job ends);
- every third of the lease the token's expiry is pushed back (a Lua script that
  only touches the key while it holds this token, or nobody's: then it is taken
  again);
- a worker that dies stops renewing, the key expires within one lease, and the
  next worker that polls the queue runs the job again (at-least-once; the attempt
  is idempotent, see :mod:`.execution`).

A worker that stalls past its lease (a long Redis outage, a frozen VM) may find
another worker running its job. Its writes to the job's record go through a
:meth:`~.store.JobStore.fenced` store that checks the token in the same step as
the write, so it can never overwrite the new holder's record: it gets
:class:`~.store.LeaseLost` and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from types import TracebackType
from typing import TYPE_CHECKING

from arq.constants import in_progress_key_prefix
from redis.exceptions import RedisError

from .store import Fence

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

#: arq's own value of its in-progress key, set when a worker picks the job.
ARQ_MARK = "1"
#: KEYS: arq's in-progress key. ARGV: token, lease ms, a value that may be taken over
#: (arq's mark, on start) or ''. Extends the key while it holds this token, takes it when
#: nobody holds it; answers 0 when another worker does.
_RENEW = """
local holder = redis.call('get', KEYS[1])
if holder and holder ~= ARGV[1] and holder ~= ARGV[3] then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class Lease:
    """``async with Lease(redis, job_id, lease_s) as lease:`` while the job runs.

    ``lease.fence`` is what the job's writes are fenced with; ``lease.lost`` turns
    true once another worker was seen holding the job.
    """

    def __init__(self, redis: Redis, job_id: str, lease_s: float) -> None:
        self.redis = redis
        self.job_id = job_id
        self.lease_s = lease_s
        self.fence = Fence(in_progress_key_prefix + job_id, uuid.uuid4().hex, int(lease_s * 1000))
        self.lost = False
        #: Times the lease was taken or extended (for logs and tests).
        self.renewed = 0
        self._renew_script = redis.register_script(_RENEW)
        self._beating: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Lease:
        # arq's mark, set when this worker picked the job, becomes the lease's token; if
        # another worker's token is there already, ``lost`` says so and nothing should run.
        await self.renew(taking_over=ARQ_MARK)
        self._beating = asyncio.create_task(self._beat(), name=f"lease-{self.job_id}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating

    async def renew(self, *, taking_over: str = "") -> bool:
        """Push the lease's expiry back; False (and ``lost``) when another worker holds it."""
        held = bool(
            await self._renew_script(
                keys=[self.fence.key], args=[self.fence.token, self.fence.ttl_ms, taking_over]
            )
        )
        if held:
            self.renewed += 1
        elif not self.lost:
            self.lost = True
            log.warning("job %s: another worker holds it now; this run stops", self.job_id)
        return held

    async def _beat(self) -> None:
        while not self.lost:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await asyncio.wait_for(self.renew(), timeout=self.lease_s / 3)
            except (RedisError, OSError, TimeoutError) as exc:  # try again at the next beat
                log.warning("job %s: renewing its lease failed: %s", self.job_id, exc)
