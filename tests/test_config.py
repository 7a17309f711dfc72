from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from salesflow_graphql.alerts.model import Severity
from salesflow_graphql.config import DEMO_JWT_SECRET, Settings, SettingsError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_no_settings_means_the_embedded_default() -> None:
    settings = Settings.from_env({})
    assert settings.embedded
    assert settings.redis_url is None
    assert settings.auth.jwt_secret == DEMO_JWT_SECRET


def test_values_are_parsed_by_type() -> None:
    settings = Settings.from_env(
        {
            "SALESFLOW_JAVA_API_URL": "http://java:8080/api/v1",
            "SALESFLOW_JWT_SECRET": "s" * 40,
            "SALESFLOW_REDIS_URL": "redis://127.0.0.1:6379/2",
            "SALESFLOW_SALES_TTL_S": "12.5",
            "SALESFLOW_JAVA_MAX_CONCURRENCY": "3",
            "SALESFLOW_GRAPHIQL": "off",
        }
    )
    assert not settings.embedded
    assert settings.cache.sales_ttl_s == 12.5
    assert settings.java.max_concurrency == 3
    assert settings.graphql.graphiql is False


def test_every_bad_value_is_reported_with_its_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {
                "SALESFLOW_PORT": "eighty",
                "SALESFLOW_JAVA_MAX_CONCURRENCY": "0",
                "SALESFLOW_GRAPHIQL": "maybe",
            }
        )
    message = str(caught.value)
    assert "SALESFLOW_PORT" in message and "whole number" in message
    assert "SALESFLOW_JAVA_MAX_CONCURRENCY" in message and "at least 1" in message
    assert "SALESFLOW_GRAPHIQL" in message
    assert len(caught.value.problems) == 3


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SALESFLOW_JAVA_API_URL", "ftp://java/api/v1"),
        ("SALESFLOW_REDIS_URL", "http://127.0.0.1:6379"),
        ("SALESFLOW_TIMEZONE", "Mars/Olympus"),
        ("SALESFLOW_LOG_LEVEL", "LOUD"),
        ("SALESFLOW_JWT_SECRET", "short"),
    ],
)
def test_cross_checks_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    assert variable in str(caught.value)


def test_production_refuses_the_demo_secret() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"SALESFLOW_JAVA_API_URL": "https://java.example/api/v1"})
    assert "SALESFLOW_JWT_SECRET" in str(caught.value)


def test_business_date_follows_the_configured_zone() -> None:
    east = Settings.from_env({"SALESFLOW_TIMEZONE": "Pacific/Kiritimati"})  # UTC+14
    west = Settings.from_env({"SALESFLOW_TIMEZONE": "Pacific/Pago_Pago"})  # UTC-11
    assert (east.today() - west.today()).days == 1


def _variables() -> list[str]:
    defaults = Settings()
    found = []
    for top in dataclasses.fields(Settings):
        value = getattr(defaults, top.name)
        group = dataclasses.fields(value) if dataclasses.is_dataclass(value) else [top]
        found.extend(f.metadata["var"] for f in group)
    return found


def test_each_setting_of_a_group_names_its_own_flat_variable() -> None:
    variables = _variables()
    assert len(variables) == len(set(variables)) > 100
    assert all(v.startswith("SALESFLOW_") and v == v.upper() for v in variables)
    documented = set(re.findall(r"`(SALESFLOW_[A-Z0-9_]*[A-Z0-9])`", README.read_text()))
    assert {"SALESFLOW_CACHE_STALE_S", "SALESFLOW_MAIL_FROM"} <= documented
    assert documented <= set(variables), "every variable the README lists is read"


def test_grouped_values_are_read_from_their_flat_variables() -> None:
    schedule = '[{"cron": "0 7 * * 1", "kind": "FULL", "format": "PDF", "days": 40, "recipients": ["a@b.example"]}]'
    settings = Settings.from_env(
        {
            "SALESFLOW_CACHE_STALE_S": "5",
            "SALESFLOW_MAIL_FROM": "shop@shop.example",
            "SALESFLOW_DEMO_SEED": "7",
            "SALESFLOW_ALERT_EMAIL_MIN_SEVERITY": "low",
            "SALESFLOW_REPORT_SCHEDULES": schedule,
        }
    )
    assert settings.cache.stale_s == 5
    assert settings.mail.sender == "shop@shop.example"
    assert settings.standin.demo_seed == 7
    assert settings.alerts.email_min_severity is Severity.LOW
    assert settings.reports.schedules[0].days == 40
    # A schedule is checked against another group's bound, read in the same pass.
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {"SALESFLOW_REPORT_SCHEDULES": schedule, "SALESFLOW_MAX_RANGE_DAYS": "30"}
        )
    assert "SALESFLOW_REPORT_SCHEDULES" in str(caught.value)


def test_replace_changes_some_fields_of_a_group_and_keeps_the_rest() -> None:
    settings = Settings()
    changed = settings.replace(cache={"stale_s": 0}, redis_url="redis://h:6379/0")
    assert changed.cache.stale_s == 0
    assert changed.cache.sales_ttl_s == settings.cache.sales_ttl_s
    assert changed.redis_url == "redis://h:6379/0"
    assert (settings.cache.stale_s, settings.redis_url) == (60, None), "the original is kept"
    with pytest.raises(TypeError):
        settings.replace(cache={"no_such_field": 1})
