"""Jobs in Redis (issues 12 and 13): atomic submits, the per-user bound, leases and fencing.

Every test here runs against a ``redis-server`` of this module's own (never the
shared one), flushed before each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis.asyncio as redis
from arq.constants import in_progress_key_prefix, job_key_prefix
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from support import RedisServer, wait_until

from salesflow_graphql.auth import Role
from salesflow_graphql.config import Settings
from salesflow_graphql.errors import RateLimited, UpstreamUnavailable
from salesflow_graphql.jobs import (
    ArqRunner,
    JobOwner,
    JobRecord,
    JobRegistry,
    JobStatus,
    Task,
    TaskContext,
    new_job_id,
)
from salesflow_graphql.jobs.execution import run_attempt
from salesflow_graphql.jobs.lease import ARQ_MARK, Lease
from salesflow_graphql.jobs.runner import QUEUE_NAME
from salesflow_graphql.jobs.store import KEY_PREFIX, LeaseLost, MemoryJobStore, OpenJobsLimit

ALICE = JobOwner("+15550000031", "alice", Role.USER)
BOB = JobOwner("+15550000032", "bob", Role.USER)


def _record(owner: JobOwner = ALICE, task: str = "work") -> JobRecord:
    return JobRecord(new_job_id(), task, owner, {}, datetime.now(UTC))


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), durable=False)
    await server.start()
    yield server
    server.kill()


@pytest.fixture
async def client(server: RedisServer) -> AsyncIterator[redis.Redis]:
    client = server.client()
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def runner(server: RedisServer, client: redis.Redis, settings: Settings):
    registry = JobRegistry()

    async def work(ctx: TaskContext) -> dict[str, Any]:
        return {"done": ctx.attempt}

    registry.add_task(Task("work", run=work))
    runner = ArqRunner(settings.replace(redis_url=server.url), registry)
    yield runner
    await runner.close()


# ------------------------------------------------------------------ atomic submit
class _Trips:
    """Round trips to Redis made by the faulty connections; which one fails, and how."""

    count = 0
    fail_at: int | None = None
    when = "before"  # "before": never reaches Redis; "after": done, but the answer is lost


class _FaultyConnection(Connection):
    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        _Trips.count += 1
        self._trip = _Trips.count
        if self._trip == _Trips.fail_at and _Trips.when == "before":
            raise RedisConnectionError("injected: the connection broke before sending")
        await super().send_packed_command(command, check_health)

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        response = await super().read_response(*args, **kwargs)
        if getattr(self, "_trip", None) == _Trips.fail_at and _Trips.when == "after":
            await self.disconnect()
            raise RedisConnectionError("injected: the answer was lost")
        return response


async def _queued_or_nothing(client: redis.Redis, job_id: str) -> bool:
    """The record and its arq job exist together, or neither does."""
    record = await client.exists(KEY_PREFIX + job_id)
    queued = await client.zscore(QUEUE_NAME, job_id) is not None
    arq_job = await client.exists(job_key_prefix + job_id)
    return bool(record) == queued == bool(arq_job)


async def test_a_submit_that_redis_fails_at_any_point_leaves_a_queued_job_or_nothing(
    runner: ArqRunner, client: redis.Redis
) -> None:
    runner.redis.connection_pool.connection_class = _FaultyConnection
    _Trips.count, _Trips.fail_at = 0, None
    await runner.submit(_record())  # how many round trips a submit makes (connecting included)
    trips = _Trips.count
    assert trips >= 1
    try:
        for when in ("before", "after"):
            for fail_at in range(1, trips + 1):
                await runner.redis.connection_pool.disconnect()  # the handshake counts again
                _Trips.count, _Trips.fail_at, _Trips.when = 0, fail_at, when
                record = _record()
                try:
                    await runner.submit(record)
                except UpstreamUnavailable:
                    pass
                _Trips.fail_at = None
                assert await _queued_or_nothing(client, record.id), (when, fail_at)
                # the user tries again: one record, one job in the queue
                stored = await runner.submit(record)
                assert stored.status is JobStatus.QUEUED
                assert await client.zscore(QUEUE_NAME, record.id) is not None
                assert await _queued_or_nothing(client, record.id)
    finally:
        _Trips.fail_at = None


# ------------------------------------------------------------------ per-user bound
async def test_a_user_has_at_most_max_open_jobs_in_redis_and_a_finished_one_frees_a_slot(
    runner: ArqRunner,
) -> None:
    first = await runner.submit(_record(), max_open=2)
    await runner.submit(_record(), max_open=2)
    with pytest.raises(RateLimited) as refused:
        await runner.submit(_record(), max_open=2)
    assert refused.value.extensions["retryAfter"] > 0
    assert "2 jobs queued or running" in refused.value.message
    await runner.submit(_record(BOB), max_open=2)  # another user is not affected
    await runner.submit(_record(), max_open=None)  # nor are submits without a bound
    assert (await runner.store.get(first.id)) is not None
    await runner.store.save(first.changed(status=JobStatus.COMPLETED))
    with pytest.raises(RateLimited):  # still two open: the unbounded one counts
        await runner.submit(_record(), max_open=2)
    assert (await runner.submit(_record(), max_open=4)).status is JobStatus.QUEUED


async def test_the_in_process_store_bounds_open_jobs_the_same_way() -> None:
    store = MemoryJobStore()
    first, _ = await store.create(_record(), max_open=1)
    with pytest.raises(OpenJobsLimit):
        await store.create(_record(), max_open=1)
    await store.create(_record(BOB), max_open=1)
    await store.save(first.changed(status=JobStatus.FAILED))
    await store.create(_record(), max_open=1)


# ------------------------------------------------------------------ leases and fencing
async def _arq_picks(client: redis.Redis, job_id: str) -> None:
    """What arq does when a worker picks a job: its mark on the in-progress key."""
    await client.set(in_progress_key_prefix + job_id, ARQ_MARK, px=15_000)


async def test_a_lease_is_renewed_while_held_and_lost_to_another_worker(
    client: redis.Redis,
) -> None:
    job_id = new_job_id()
    key = in_progress_key_prefix + job_id
    await _arq_picks(client, job_id)
    async with Lease(client, job_id, lease_s=0.3) as lease:
        assert not lease.lost and (await client.get(key)).decode() == lease.fence.token
        await wait_until(lambda: lease.renewed >= 4, what="the lease to be renewed")
        assert await client.get(key) is not None, "kept alive past its own length"
        await client.delete(key)  # arq removed it (another run ended): nobody holds it
        assert await lease.renew() and (await client.get(key)).decode() == lease.fence.token
        await client.set(key, "another-worker", px=15_000)
        assert not await lease.renew() and lease.lost
        assert (await client.get(key)) == b"another-worker", "never taken from another"
    async with Lease(client, job_id, lease_s=5) as late:  # a worker picking it too late
        assert late.lost


async def test_a_worker_that_lost_its_lease_never_writes_over_the_new_run(
    runner: ArqRunner, client: redis.Redis, settings: Settings
) -> None:
    record = await runner.submit(_record())
    await _arq_picks(client, record.id)
    async with Lease(client, record.id, lease_s=5) as stale:
        stale_store = runner.store.fenced(stale.fence)
        await stale_store.save((await runner.get(record.id)).changed(status=JobStatus.RUNNING))
        # it stalls past its lease; another worker picks the job and runs it
        await client.delete(in_progress_key_prefix + record.id)
        await _arq_picks(client, record.id)
        async with Lease(client, record.id, lease_s=5) as fresh:
            assert not fresh.lost
            current = await runner.get(record.id)
            await runner.store.fenced(fresh.fence).save(current.changed(progress=0.5))
            before = await runner.get(record.id)
            with pytest.raises(LeaseLost):
                await run_attempt(
                    job_id=record.id,
                    attempt=2,
                    store=stale_store,
                    registry=runner.registry,
                    services=SimpleNamespace(settings=settings),
                    settings=settings,
                )
            assert await runner.get(record.id) == before, "the stale run wrote nothing"


async def test_a_run_after_one_that_was_cut_off_tells_the_user(settings: Settings) -> None:
    registry = JobRegistry()

    async def work(ctx: TaskContext) -> dict[str, Any]:
        return {"path": f"reports/{ctx.job.id}.pdf"}

    registry.add_task(Task("work", run=work))
    store = MemoryJobStore()
    record, _ = await store.create(_record())
    # run 1 started, then its worker died: the record still says RUNNING
    await store.save(record.changed(status=JobStatus.RUNNING, attempts=1))
    await run_attempt(
        job_id=record.id,
        attempt=2,
        store=store,
        registry=registry,
        services=SimpleNamespace(settings=settings),
        settings=settings,
    )
    done = await store.get(record.id)
    assert done is not None and done.status is JobStatus.COMPLETED and done.attempts == 2
    assert done.notice is not None
    assert done.notice.startswith("Run 1 stopped with its worker; run 2 started again")
    assert done.result == {"path": f"reports/{record.id}.pdf"}


def test_old_records_without_a_notice_still_read(tmp_path: Path) -> None:
    record = _record()
    raw = record.to_json().replace(b',"notice":null', b"")
    assert b"notice" not in raw
    assert JobRecord.from_json(raw) == record
