"""The idempotency store on a real Redis of its own (issue 13 §2): never a memory fallback,
and every change a compare-and-set, so one key writes at most once across replicas.

Each "replica" is an :class:`IdempotencyStore` with its own cache (its own connections);
the Redis server is this module's and is stopped and started by the tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from support import RedisServer, wait_until

from salesflow_graphql.adapters.cache import Cache
from salesflow_graphql.errors import BadUserInput, UpstreamUnavailable
from salesflow_graphql.imports import idempotency
from salesflow_graphql.imports.idempotency import Claim, IdempotencyStore
from salesflow_graphql.imports.model import ImportKind, ImportOutcome, ImportStatus

KEY = IdempotencyStore.key(ImportKind.SALES, "order-7", "+15550000041")
FILE = "f" * 64


def _outcome(status: ImportStatus = ImportStatus.COMMITTED) -> ImportOutcome:
    return ImportOutcome("1" * 32, ImportKind.SALES, status, dry_run=False, created=2)


@pytest.fixture
async def server(tmp_path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", durable=False)
    await server.start()
    yield server
    server.kill()


@pytest.fixture
async def replicas(server: RedisServer) -> AsyncIterator[list[IdempotencyStore]]:
    caches = [Cache(server.url) for _ in range(2)]
    yield [IdempotencyStore(cache, ttl_s=3600) for cache in caches]
    for cache in caches:
        await cache.close()


@pytest.fixture
def short_lease(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(idempotency, "LEASE_S", 0.6)
    return 0.6


async def test_two_replicas_claiming_one_key_at_once_get_one_claim(
    replicas: list[IdempotencyStore],
) -> None:
    answers = await asyncio.gather(
        *(store.claim(KEY, FILE) for store in replicas * 3), return_exceptions=True
    )
    claims = [a for a in answers if isinstance(a, Claim)]
    assert len(claims) == 1
    assert all(isinstance(a, BadUserInput) for a in answers if a is not claims[0])
    await claims[0].finish(_outcome())
    replayed = await replicas[1].claim(KEY, FILE)
    assert isinstance(replayed, ImportOutcome) and replayed.replayed
    assert replayed.status is ImportStatus.COMMITTED


async def test_while_redis_is_down_a_key_is_refused_never_kept_in_memory(
    server: RedisServer, replicas: list[IdempotencyStore]
) -> None:
    server.kill()
    with pytest.raises(UpstreamUnavailable, match="nothing was written"):
        await replicas[0].claim(KEY, FILE)
    await server.start()  # empty: no record came from the outage
    claim = await replicas[0].claim(KEY, FILE)
    assert isinstance(claim, Claim)
    await claim.finish(_outcome())
    assert (await replicas[1].claim(KEY, FILE)).replayed  # type: ignore[union-attr]


async def test_redis_lost_before_the_first_write_stops_the_import_and_frees_the_key_later(
    server: RedisServer, replicas: list[IdempotencyStore], short_lease: float
) -> None:
    claim = await replicas[0].claim(KEY, FILE)
    assert isinstance(claim, Claim)
    server.kill()
    with pytest.raises(UpstreamUnavailable):  # the import stops here: nothing sent to Java
        await claim.writing(_outcome(ImportStatus.FAILED))
    await claim.release()  # cannot reach Redis: logged, the lease runs out instead
    await server.start()
    # (the restart emptied Redis; a durable one keeps the pending record, whose lease runs out)
    taken = await replicas[1].claim(KEY, FILE)
    assert isinstance(taken, Claim)
    await taken.release()


async def test_a_stalled_owner_cannot_write_after_another_replica_took_its_key_over(
    replicas: list[IdempotencyStore], short_lease: float
) -> None:
    stalled = await replicas[0].claim(KEY, FILE)
    assert isinstance(stalled, Claim)
    await stalled.end()  # it stops renewing (a long pause), its lease runs out

    async def taken_over() -> bool:
        try:
            answer = await replicas[1].claim(KEY, FILE)
        except BadUserInput:
            return False
        assert isinstance(answer, Claim)
        taken.append(answer)
        return True

    taken: list[Claim] = []
    await wait_until(taken_over, timeout=5, what="the lease to run out")
    with pytest.raises(BadUserInput, match="took over"):
        await stalled.writing(_outcome(ImportStatus.FAILED))
    await stalled.finish(_outcome())  # refused too: the record stays the new owner's
    assert stalled.lost
    with pytest.raises(BadUserInput, match="still running"):
        await replicas[0].claim(KEY, FILE)
    await taken[0].finish(_outcome(ImportStatus.PARTIAL))
    replay = await replicas[0].claim(KEY, FILE)
    assert isinstance(replay, ImportOutcome) and replay.status is ImportStatus.PARTIAL


async def test_an_owner_that_died_while_writing_is_answered_not_retried(
    replicas: list[IdempotencyStore], short_lease: float
) -> None:
    dead = await replicas[0].claim(KEY, FILE)
    assert isinstance(dead, Claim)
    await dead.writing(_outcome(ImportStatus.FAILED))
    await dead.end()  # the process died: no more renewals, no outcome

    async def answered() -> bool:
        try:
            answers.append(await replicas[1].claim(KEY, FILE))
        except BadUserInput:
            return False
        return True

    answers: list[object] = []
    await wait_until(answered, timeout=5, what="the lease to run out")
    (answer,) = answers
    assert isinstance(answer, ImportOutcome) and answer.replayed
    assert answer.status is ImportStatus.FAILED


async def test_without_redis_the_process_memory_is_the_store() -> None:
    store = IdempotencyStore(Cache(None), ttl_s=3600)
    claim = await store.claim(KEY, FILE)
    assert isinstance(claim, Claim)
    with pytest.raises(BadUserInput, match="still running"):
        await store.claim(KEY, FILE)
    await claim.finish(_outcome())
    assert (await store.claim(KEY, FILE)).replayed  # type: ignore[union-attr]
    with pytest.raises(BadUserInput, match="different file"):
        await store.claim(KEY, "0" * 64)
