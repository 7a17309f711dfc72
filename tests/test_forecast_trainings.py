"""Trainings in flight: shared, capped per user and in total, fair between users, cancelled when unwanted."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from support import wait_until

from salesflow_graphql.errors import RateLimited
from salesflow_graphql.forecast.trainings import Trainings


class Bench:
    """Trainings whose work waits for the test: it opens each one's gate."""

    def __init__(self, trainings: Trainings) -> None:
        self.trainings = trainings
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}

    def work(self, name: str) -> Callable[[], Awaitable[str]]:
        gate = self.gates.setdefault(name, asyncio.Event())

        async def train() -> str:
            self.started.append(name)
            try:
                await gate.wait()
            except asyncio.CancelledError:
                self.cancelled.append(name)
                raise
            return f"trained {name}"

        return train

    def ask(self, key: str, user: str | None) -> asyncio.Task[str]:
        return asyncio.ensure_future(self.trainings.run(key, user, self.work(key)))


async def _settle() -> None:
    for _ in range(5):  # let the tasks just created reach their first wait
        await asyncio.sleep(0)


async def test_identical_requests_share_one_training() -> None:
    bench = Bench(Trainings(slots=1, per_user=2, max_queued=10))
    first, second = bench.ask("k", "alice"), bench.ask("k", "bob")
    await wait_until(lambda: bench.started == ["k"], what="the training to start")
    bench.gates["k"].set()
    assert await first == await second == "trained k"
    assert bench.started == ["k"]


async def test_a_user_over_the_cap_is_refused_with_retry_after_but_may_join() -> None:
    trainings = Trainings(slots=1, per_user=2, max_queued=10)
    bench = Bench(trainings)
    mine = [bench.ask("a1", "alice"), bench.ask("a2", "alice")]
    await _settle()
    with pytest.raises(RateLimited) as refused:
        await trainings.run("a3", "alice", bench.work("a3"))
    extensions = refused.value.as_extensions()
    assert extensions["code"] == "RATE_LIMITED" and extensions["retryAfter"] >= 1
    assert "at most 2" in refused.value.message
    # Joining a training in flight costs nothing: allowed, for her and for others.
    joined = [bench.ask("a1", "alice"), bench.ask("a2", "bob"), bench.ask("b1", "bob")]
    await _settle()
    assert trainings.in_flight == 3
    for gate in bench.gates.values():
        gate.set()
    await asyncio.gather(*mine, *joined)
    assert "a3" not in bench.started


async def test_the_queue_is_bounded_but_internal_callers_are_not_refused() -> None:
    trainings = Trainings(slots=1, per_user=2, max_queued=3)
    bench = Bench(trainings)
    asked = [bench.ask(f"k{i}", f"user{i}") for i in range(3)]
    await _settle()
    with pytest.raises(RateLimited, match="queue is full") as refused:
        await trainings.run("k3", "user3", bench.work("k3"))
    assert refused.value.as_extensions()["retryAfter"] >= 1
    asked.append(bench.ask("report", None))  # a report job: bounded by the job concurrency
    await _settle()
    assert trainings.in_flight == 4
    for gate in bench.gates.values():
        gate.set()
    assert len(await asyncio.gather(*asked)) == 4


async def test_a_free_slot_goes_to_the_user_with_fewest_trainings_running() -> None:
    """One user's burst does not queue the others behind it."""
    bench = Bench(Trainings(slots=1, per_user=3, max_queued=10))
    burst = [bench.ask(f"mallory{i}", "mallory") for i in range(3)]
    await wait_until(lambda: bench.started == ["mallory0"], what="the first training")
    victim = bench.ask("victor", "victor")
    await _settle()
    bench.gates["mallory0"].set()
    await wait_until(lambda: len(bench.started) == 2, what="the next training")
    assert bench.started == ["mallory0", "victor"]
    bench.gates["victor"].set()
    assert await victim == "trained victor"
    for gate in bench.gates.values():
        gate.set()
    await asyncio.gather(*burst)
    assert bench.started == ["mallory0", "victor", "mallory1", "mallory2"]


async def test_a_training_runs_while_someone_waits_and_stops_when_the_last_one_leaves() -> None:
    trainings = Trainings(slots=1, per_user=2, max_queued=10)
    bench = Bench(trainings)
    alice, bob = bench.ask("k", "alice"), bench.ask("k", "bob")
    await wait_until(lambda: bench.started == ["k"], what="the training to start")
    alice.cancel()
    await _settle()
    assert bench.cancelled == [] and trainings.in_flight == 1, "bob still waits for it"
    bob.cancel()
    await wait_until(lambda: bench.cancelled == ["k"], what="the training to be cancelled")
    assert trainings.in_flight == 0
    # Asking again trains afresh rather than joining the cancelled one.
    again = bench.ask("k", "alice")
    await wait_until(lambda: bench.started == ["k", "k"], what="a new training")
    bench.gates["k"].set()
    assert await again == "trained k"


async def test_a_queued_training_that_is_abandoned_frees_its_place_and_the_users_cap() -> None:
    trainings = Trainings(slots=1, per_user=2, max_queued=10)
    bench = Bench(trainings)
    running = bench.ask("a1", "alice")
    queued = bench.ask("a2", "alice")
    await wait_until(lambda: bench.started == ["a1"], what="the first training")
    queued.cancel()
    await _settle()
    assert trainings.in_flight == 1
    later = bench.ask("a3", "alice")  # within her cap again
    bench.gates["a1"].set()
    bench.gates["a3"].set()
    assert await running == "trained a1" and await later == "trained a3"
    assert bench.started == ["a1", "a3"], "the abandoned one never ran"


async def test_waits_says_whether_an_ask_would_wait_for_other_work() -> None:
    trainings = Trainings(slots=1, per_user=2, max_queued=10)
    bench = Bench(trainings)
    assert not trainings.waits("a"), "a free slot: an ask of a starts at once"
    first = bench.ask("a", "alice")
    await wait_until(lambda: bench.started == ["a"], what="a to start")
    assert trainings.waits("a"), "an ask of a joins the training under way"
    assert trainings.waits("b"), "the only slot is taken"
    bench.gates["a"].set()
    await first
    await wait_until(lambda: trainings.in_flight == 0, what="a to be forgotten")
    assert not trainings.waits("a") and not trainings.waits("b")
