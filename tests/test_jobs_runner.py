"""The in-process job runner: statuses, retries, timeouts, idempotence, periodic jobs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from support import error_codes, gateway_on, graphql, wait_until

from salesflow_graphql.auth import Role, mint_access_token, verify_access_token
from salesflow_graphql.config import Settings
from salesflow_graphql.errors import BadUserInput, UpstreamUnavailable
from salesflow_graphql.jobs import (
    InProcessRunner,
    JobOwner,
    JobRecord,
    JobRegistry,
    JobStatus,
    PeriodicContext,
    PeriodicJob,
    Schedule,
    Task,
    TaskContext,
    new_job_id,
)
from salesflow_graphql.jobs.execution import run_attempt

OWNER = JobOwner("+15550000002", "user", Role.USER)


class Script:
    """A task whose attempts do what the test says, counting calls."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.calls = 0
        self.follow_ups = 0
        self.tokens: list[str] = []

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        self.calls += 1
        self.tokens.append(ctx.access_token())
        await asyncio.sleep(0.02)  # a real task awaits I/O: watchers get to look
        await ctx.progress(0.5)
        await asyncio.sleep(0.02)
        step = self.steps.pop(0) if self.steps else "ok"
        if isinstance(step, BaseException):
            raise step
        if step == "hang":
            await asyncio.sleep(60)
        return {"answer": 42}

    async def follow_up(self, ctx: TaskContext) -> None:
        self.follow_ups += 1


def _record(task: str = "script", job_id: str | None = None) -> JobRecord:
    return JobRecord(
        id=job_id or new_job_id(),
        task=task,
        owner=OWNER,
        params={},
        created_at=datetime.now(UTC),
    )


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.replace(jobs={"backoff_s": 0.01, "retries": 2, "timeout_s": 2.0})


async def _runner(settings: Settings, script: Script) -> InProcessRunner:
    registry = JobRegistry()
    registry.add_task(Task("script", run=script.run, follow_up=script.follow_up))
    runner = InProcessRunner(settings, registry)
    await runner.start(SimpleNamespace(settings=settings))
    return runner


@pytest.fixture
async def runner_for(fast: Settings) -> AsyncIterator[Any]:
    runners: list[InProcessRunner] = []

    async def make(script: Script, settings: Settings | None = None) -> InProcessRunner:
        runner = await _runner(settings or fast, script)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        await runner.close()


async def _statuses(runner: InProcessRunner, record: JobRecord) -> list[tuple[str, float]]:
    seen = []
    async for change in runner.watch(record.id):
        seen.append((str(change.status), change.progress))
    return seen


async def test_a_job_goes_queued_running_completed_and_watchers_see_each_change(runner_for) -> None:
    script = Script("ok")
    runner = await runner_for(script)
    record = _record()
    watcher = asyncio.create_task(_statuses(runner, await runner.submit(record)))
    seen = await asyncio.wait_for(watcher, 5)
    assert seen[0][0] in ("QUEUED", "RUNNING")
    assert seen[-1] == ("COMPLETED", 1.0)
    assert ("RUNNING", 0.5) in seen
    final = await runner.get(record.id)
    assert final is not None and final.result == {"answer": 42} and final.attempts == 1
    assert final.started_at is not None and final.finished_at is not None
    assert script.follow_ups == 1


async def test_upstream_unavailable_is_retried_with_backoff_then_completes(runner_for) -> None:
    script = Script(UpstreamUnavailable("Java is down."), UpstreamUnavailable("Java is down."))
    runner = await runner_for(script)
    record = await runner.submit(_record())
    seen = await asyncio.wait_for(_statuses(runner, record), 5)
    statuses = [s for s, _ in seen]
    assert statuses.count("RUNNING") >= 3 and "QUEUED" in statuses[1:]  # back to QUEUED meanwhile
    final = await runner.get(record.id)
    assert final.status is JobStatus.COMPLETED and final.attempts == 3 and script.calls == 3


async def test_upstream_unavailable_too_often_fails_with_a_readable_error(runner_for) -> None:
    script = Script(*[UpstreamUnavailable("The SalesFlow service is unavailable.")] * 5)
    runner = await runner_for(script)
    record = await runner.submit(_record())
    await asyncio.wait_for(_statuses(runner, record), 5)
    final = await runner.get(record.id)
    assert final.status is JobStatus.FAILED
    assert final.error == "The SalesFlow service is unavailable. Gave up after 3 attempts."
    assert script.calls == 3 and script.follow_ups == 0


async def test_other_errors_are_not_retried(runner_for) -> None:
    script = Script(BadUserInput("range covers 4000 days; at most 1095 allowed"))
    runner = await runner_for(script)
    record = await runner.submit(_record())
    await asyncio.wait_for(_statuses(runner, record), 5)
    final = await runner.get(record.id)
    assert final.status is JobStatus.FAILED and script.calls == 1
    assert final.error == "range covers 4000 days; at most 1095 allowed"


async def test_an_unexpected_error_fails_without_a_stack_trace(runner_for) -> None:
    script = Script(ZeroDivisionError("division by zero in /srv/app/secret.py"))
    runner = await runner_for(script)
    record = await runner.submit(_record())
    await asyncio.wait_for(_statuses(runner, record), 5)
    final = await runner.get(record.id)
    assert final.status is JobStatus.FAILED
    assert final.error == f"Internal error; quote job id {record.id} when reporting it."
    assert "Traceback" not in final.error and "secret.py" not in final.error


async def test_a_job_over_its_timeout_fails(runner_for, fast: Settings) -> None:
    script = Script("hang")
    runner = await runner_for(script, fast.replace(jobs={"timeout_s": 0.2}))
    record = await runner.submit(_record())
    await asyncio.wait_for(_statuses(runner, record), 5)
    final = await runner.get(record.id)
    assert final.status is JobStatus.FAILED
    assert final.error == "The job took longer than 0.2 s and was stopped."


async def test_submitting_the_same_job_id_twice_runs_it_once(runner_for) -> None:
    script = Script("ok")
    runner = await runner_for(script)
    record = _record()
    first, second = await asyncio.gather(runner.submit(record), runner.submit(record))
    assert first.id == second.id
    await runner.idle()
    assert script.calls == 1


async def test_a_rerun_of_a_completed_job_only_repeats_its_follow_up(runner_for, fast) -> None:
    script = Script("ok")
    runner = await runner_for(script)
    record = await runner.submit(_record())
    await runner.idle()
    outcome = await run_attempt(
        job_id=record.id,
        attempt=2,
        store=runner.store,
        registry=runner.registry,
        services=SimpleNamespace(settings=fast),
        settings=fast,
    )
    assert outcome is None and script.calls == 1 and script.follow_ups == 2
    assert (await runner.get(record.id)).attempts == 1


async def test_a_job_acts_with_a_fresh_token_for_its_owner_not_a_stored_one(
    runner_for, fast: Settings
) -> None:
    script = Script("ok")
    runner = await runner_for(script)
    record = await runner.submit(_record())
    await runner.idle()
    assert "token" not in record.to_json().decode().lower()
    principal = verify_access_token(script.tokens[0], fast.auth.jwt_secret)
    assert (principal.subject, principal.role) == (OWNER.subject, Role.USER)
    claims = jwt.decode(script.tokens[0], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == int(fast.jobs.timeout_s) + 120


async def test_the_embedded_scheduler_runs_periodic_jobs(settings: Settings) -> None:
    ticks: list[PeriodicContext] = []

    async def tick(ctx: PeriodicContext) -> None:
        ticks.append(ctx)

    registry = JobRegistry()
    registry.add_periodic(PeriodicJob("test.tick", Schedule.every(seconds=1), run=tick))
    runner = InProcessRunner(settings, registry)
    await runner.start(SimpleNamespace(settings=settings))
    try:
        await wait_until(lambda: len(ticks) >= 1, timeout=3, what="a periodic tick")
    finally:
        await runner.close()
    assert (
        ticks[0].scheduled_at.microsecond == 0 and ticks[0].owner.subject == "salesflow-scheduler"
    )
    assert ticks[0].runner is runner


GENERATE = "mutation { generateReport(input: {kind: SALES, format: XLSX}) { id status } }"


async def test_a_user_with_too_many_open_report_jobs_is_rate_limited(
    settings: Settings, standin: Any, user_token: str, tmp_path
) -> None:
    other_user = mint_access_token(settings.auth.jwt_secret, Role.USER, subject="+15550000099")
    limited = settings.replace(
        reports={"max_open_per_user": 2}, exports_dir=str(tmp_path), jobs={"concurrency": 1}
    )
    standin.faults.update({"latency_s": 30, "only_paths": ["/sales"]})  # reports wait on Java
    async with gateway_on(limited, standin) as gateway:
        answers = [await graphql(gateway, GENERATE, user_token) for _ in range(3)]
        assert [error_codes(a) for a in answers] == [[], [], ["RATE_LIMITED"]]
        (error,) = answers[2]["errors"]
        assert error["extensions"]["retryAfter"] > 0
        assert "2 jobs queued or running" in error["message"]
        assert error_codes(await graphql(gateway, GENERATE, other_user)) == []  # per user
        standin.faults.reset()  # the reports finish: the user may ask again
        first = answers[0]["data"]["generateReport"]["id"]
        report = "query($id: ID!) { report(id: $id) { status } }"

        async def finished() -> bool:
            answer = await graphql(gateway, report, user_token, {"id": first})
            return answer["data"]["report"]["status"] == "COMPLETED"

        await wait_until(finished, timeout=30, what="the first report")
        assert error_codes(await graphql(gateway, GENERATE, user_token)) == []
