"""Schedules: cron expressions and intervals, the same in arq and in process."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from support import shared_redis_url

from salesflow_graphql.config import Settings, SettingsError
from salesflow_graphql.jobs import InProcessRunner, JobRegistry, PeriodicJob, Schedule
from salesflow_graphql.jobs.worker import build_worker
from salesflow_graphql.reports.jobs import scheduled_range
from salesflow_graphql.reports.model import ReportFormat, ReportKind
from salesflow_graphql.schedules import parse_report_schedules

TZ = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 7 * * 1", datetime(2025, 6, 4, 12, 0), datetime(2025, 6, 9, 7, 0)),  # next Monday
        ("0 7 * * mon", datetime(2025, 6, 9, 6, 59), datetime(2025, 6, 9, 7, 0)),
        ("30 6 1 * *", datetime(2025, 6, 4, 12, 0), datetime(2025, 7, 1, 6, 30)),
        ("*/15 * * * *", datetime(2025, 6, 4, 12, 1), datetime(2025, 6, 4, 12, 15)),
        ("0 0 * * 0", datetime(2025, 6, 4, 12, 0), datetime(2025, 6, 8, 0, 0)),  # Sunday
        ("0 0 * * 7", datetime(2025, 6, 4, 12, 0), datetime(2025, 6, 8, 0, 0)),  # Sunday too
        ("0 9-17/4 * * 1-5", datetime(2025, 6, 6, 17, 30), datetime(2025, 6, 9, 9, 0)),
    ],
)
def test_cron_expressions_fire_when_cron_would(
    expression: str, after: datetime, expected: datetime
) -> None:
    schedule = Schedule.cron(expression)
    assert schedule.next_after(after.replace(tzinfo=TZ)) == expected.replace(tzinfo=TZ)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 7 * *", "5 fields"),
        ("61 7 * * *", "minute"),
        ("0 7 * * funday", "weekday"),
        ("0 7 32 * *", "day"),
        ("*/0 * * * *", "step"),
        ("5-1 * * * *", "reversed"),
    ],
)
def test_bad_cron_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Schedule.cron(expression)


def test_intervals_align_to_the_clock() -> None:
    every = Schedule.every(minutes=10)
    assert every.next_after(datetime(2025, 6, 4, 12, 3, 20, tzinfo=TZ)) == datetime(
        2025, 6, 4, 12, 10, tzinfo=TZ
    )
    assert Schedule.every(hours=6).next_after(datetime(2025, 6, 4, 12, 0, 1, tzinfo=TZ)).hour == 18
    with pytest.raises(ValueError, match="divide"):
        Schedule.every(minutes=7)


def test_report_schedules_parse_with_defaults() -> None:
    (entry,) = parse_report_schedules(
        '[{"cron": "0 7 * * 1", "recipients": ["boss@shop.example", "boss@shop.example"]}]'
    )
    assert (entry.kind, entry.format, entry.days) == (ReportKind.FULL, ReportFormat.PDF, 7)
    assert entry.recipients == ("boss@shop.example",)
    monday = datetime(2025, 6, 9).date()
    week = scheduled_range(entry, monday)
    assert (week.start.isoformat(), week.end.isoformat()) == (
        "2025-06-02",
        "2025-06-08",
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[{", "not valid JSON"),
        ('{"cron": "0 7 * * 1"}', "JSON list"),
        ('[{"recipients": ["a@b.example"]}]', 'entry 0: "cron" is required'),
        ('[{"cron": "0 7 * *", "recipients": ["a@b.example"]}]', "entry 0: cron"),
        ('[{"cron": "0 7 * * 1", "recipients": []}]', "recipients"),
        ('[{"cron": "0 7 * * 1", "recipients": ["nope"]}]', "not an e-mail address"),
        ('[{"cron": "0 7 * * 1", "recipients": ["a@b.example"], "kind": "ALL"}]', "kind"),
        ('[{"cron": "0 7 * * 1", "recipients": ["a@b.example"], "days": 0}]', "days"),
        ('[{"cron": "0 7 * * 1", "recipients": ["a@b.example"], "when": 1}]', "unknown field"),
    ],
)
def test_bad_report_schedules_stop_start_up_naming_the_variable(raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"SALESFLOW_REPORT_SCHEDULES": raw})
    (problem,) = refused.value.problems
    assert problem.startswith("SALESFLOW_REPORT_SCHEDULES: ") and message in problem


def test_the_registry_becomes_arq_cron_jobs_and_embedded_tasks(settings: Settings) -> None:
    async def nothing(ctx: object) -> None:
        return None

    registry = JobRegistry()
    registry.add_periodic(PeriodicJob("alerts.anomalies", Schedule.every(minutes=10), run=nothing))
    registry.add_periodic(PeriodicJob("reports.weekly", Schedule.cron("0 7 * * 1"), run=nothing))
    redis_mode = Settings.from_env({"SALESFLOW_REDIS_URL": shared_redis_url(14)})
    runner = InProcessRunner(redis_mode, registry)  # any runner: the worker reads its registry
    worker = build_worker(runner, SimpleNamespace(settings=redis_mode))
    crons = {c.name: c for c in worker.cron_jobs}
    assert set(crons) == {"cron:alerts.anomalies", "cron:reports.weekly"}
    assert crons["cron:alerts.anomalies"].minute == set(range(0, 60, 10))
    assert crons["cron:alerts.anomalies"].unique is True
    assert (crons["cron:reports.weekly"].weekday, crons["cron:reports.weekly"].hour) == ({0}, {7})
    assert "run_job" in worker.functions


def test_the_worker_command_needs_redis_and_checks_worker_health(monkeypatch, capsys) -> None:
    from salesflow_graphql.cli import main

    for name in ("SALESFLOW_REDIS_URL", "SALESFLOW_JAVA_API_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["worker"]) == 2
    assert "SALESFLOW_REDIS_URL" in capsys.readouterr().err
    # No worker has ever run against database 13: the health check says so.
    monkeypatch.setenv("SALESFLOW_REDIS_URL", shared_redis_url(13))
    assert main(["worker", "--check"]) == 1
