from __future__ import annotations

import pytest

from salesflow_graphql.config import DEMO_JWT_SECRET, Settings, SettingsError


def test_no_settings_means_the_embedded_default() -> None:
    settings = Settings.from_env({})
    assert settings.embedded
    assert settings.redis_url is None
    assert settings.jwt_secret == DEMO_JWT_SECRET


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
    assert settings.sales_ttl_s == 12.5
    assert settings.java_max_concurrency == 3
    assert settings.graphiql is False


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
