"""Shared fixtures: settings, the seeded stand-in, a wired runtime and the gateway app."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx
import process_table
import pytest
from support import shared_redis_url

from salesflow_graphql.app import create_app
from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings
from salesflow_graphql.runtime import Runtime

if TYPE_CHECKING:
    from salesflow_graphql.standin import DemoShop, StandIn

REDIS_URL = shared_redis_url(15)
#: Seconds the run gives processes that are on their way out before it calls them left behind.
LEFTOVER_GRACE_S = 5.0


def pytest_configure(config: pytest.Config) -> None:
    # Orphans of the run's processes (a gateway stopped before its children) become
    # ours rather than PID 1's, so the check at the end sees them.
    if process_table.available():
        process_table.adopt_orphans()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if it left processes behind (they are named, then killed)."""
    if not process_table.available():
        return
    me = os.getpid()
    left = process_table.wait_for_none(lambda: process_table.descendants(me), LEFTOVER_GRACE_S)
    if not left:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"the tests left {len(left)} process(es) running:", *(f"  {p}" for p in left)]
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", "processes left behind", red=True)
    for line in lines:
        if reporter is not None:
            reporter.write_line(line, red=True)
        else:
            print(line)
    process_table.kill(left)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    # No scheduled anomaly checks: a tick in mid-test would call the stand-in behind a test's back.
    # No rate limit: tests fire bursts from one user; tests/test_rate_limit.py turns it on.
    return Settings.from_env(
        {"SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES": "0", "SALESFLOW_RATE_LIMIT_PER_S": "0"}
    )


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    # No retry backoff in tests: faults answer at once and the tests stay fast.
    return base_settings.replace(java={"backoff_s": 0.0})


@pytest.fixture(scope="session")
def demo_shop(base_settings: Settings) -> DemoShop:
    from salesflow_graphql.standin import build_demo_shop

    return build_demo_shop(seed=base_settings.standin.demo_seed, today=base_settings.today())


@pytest.fixture
def standin(demo_shop: DemoShop, settings: Settings) -> StandIn:
    from salesflow_graphql.standin import StandIn

    return StandIn(demo_shop, secret=settings.auth.jwt_secret)


@pytest.fixture
async def runtime(settings: Settings, standin: StandIn) -> AsyncIterator[Runtime]:
    runtime = await Runtime.start(settings, standin=standin)
    yield runtime
    await runtime.close()


@pytest.fixture
def started(settings: Settings, standin: StandIn) -> Callable[..., Any]:
    """Start a runtime with some settings changed: ``async with started(x=1) as runtime``."""

    @contextlib.asynccontextmanager
    async def start(**changes: Any) -> AsyncIterator[Runtime]:
        runtime = await Runtime.start(settings.replace(**changes), standin=standin)
        try:
            yield runtime
        finally:
            await runtime.close()

    return start


@pytest.fixture
async def gateway(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the gateway app in process."""
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


@pytest.fixture
def user_token(settings: Settings) -> str:
    return mint_access_token(settings.auth.jwt_secret, Role.USER, username="ursula")


@pytest.fixture
def admin_token(settings: Settings) -> str:
    return mint_access_token(settings.auth.jwt_secret, Role.ADMIN, username="adam")
