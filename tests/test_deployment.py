"""The reference deployment is coherent (issue 13 §7): docker-compose.yml and deploy/haproxy.cfg.

The compose file is read as YAML and checked for the topology the README
describes. The balancer's config is validated by HAProxy itself
(``haproxy -c``), then run, unchanged, in front of two gateways on real
sockets: requests alternate between them, and a graphql-transport-ws
WebSocket is upgraded through it and keeps receiving the gateway's pings.
HAProxy comes from Debian (``scripts/ensure-haproxy.sh``; CI installs it).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import process_table
import pytest
import yaml
from alerts_support import GraphQLWebSocket
from support import ROOT, free_port, log_tail, serving, wait_until

from salesflow_graphql.app import create_app
from salesflow_graphql.config import Settings
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.standin import StandIn

COMPOSE = ROOT / "docker-compose.yml"
HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"
GATEWAYS = ("gateway-1", "gateway-2")
needs_haproxy = pytest.mark.skipif(
    shutil.which("haproxy") is None, reason="haproxy is not installed (scripts/ensure-haproxy.sh)"
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in service.get("environment", {}).items()}


def test_two_gateways_sit_behind_haproxy_with_its_config_checked_in(compose) -> None:
    services = compose["services"]
    balancer = services["balancer"]
    assert balancer["image"].startswith("haproxy:")
    (config,) = [
        v for v in balancer["volumes"] if v.endswith(":/usr/local/etc/haproxy/haproxy.cfg:ro")
    ]
    assert (ROOT / config.split(":")[0]).resolve() == HAPROXY_CFG
    env = _env(balancer)
    # The balancer's servers are the two gateway services, on the port the image serves.
    assert [env["SALESFLOW_GATEWAY_1"], env["SALESFLOW_GATEWAY_2"]] == [
        f"{g}:8000" for g in GATEWAYS
    ]
    assert all(balancer["depends_on"][g]["condition"] == "service_healthy" for g in GATEWAYS)
    published = balancer["ports"][0].split(":")
    assert published[-1] == env["SALESFLOW_LB_BIND"].lstrip(":")
    first, second = (services[g] for g in GATEWAYS)
    assert first == second, "the replicas are configured alike"
    assert "ports" not in first, "gateways are reached through the balancer only"
    gateway_env = _env(first)
    assert gateway_env["SALESFLOW_REDIS_URL"] == "redis://redis:6379/0"
    for name in ("SALESFLOW_TIMEZONE", "SALESFLOW_CORS_ORIGINS", "SALESFLOW_JAVA_API_URL"):
        assert name in gateway_env, name


def test_two_workers_run_the_checks_with_the_alert_mail_settings(compose) -> None:
    worker = compose["services"]["worker"]
    assert worker["command"] == ["salesflow-graphql", "worker"]
    assert worker["deploy"]["replicas"] == 2
    env = _env(worker)
    for name in (
        "SALESFLOW_TIMEZONE",
        "SALESFLOW_REDIS_URL",
        "SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES",
        "SALESFLOW_ALERT_EMAIL_TO",
        "SALESFLOW_ALERT_EMAIL_MIN_SEVERITY",
        "SALESFLOW_SMTP_HOST",
        "SALESFLOW_MAIL_FROM",
    ):
        assert name in env, name
    assert worker["healthcheck"]["test"] == ["CMD", "salesflow-graphql", "worker", "--check"]


def test_redis_keeps_an_append_only_file_and_containers_write_only_their_volume(compose) -> None:
    services = compose["services"]
    redis = services["redis"]
    assert "--appendonly" in redis["command"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"])
    for name in (*GATEWAYS, "worker"):
        service = services[name]
        assert service["read_only"] is True, name
        assert service["volumes"] == ["exports:/app/exports"], name
        # Under Docker's default stop timeout, and the gateway's grace below it.
        assert service["stop_grace_period"] == "10s"
    assert float(_env(services["gateway-1"])["SALESFLOW_SHUTDOWN_GRACE_S"]) < 10


def test_the_balancer_timeouts_fit_the_gateway_settings() -> None:
    """Idle WebSockets outlive the keepalive; the gateway's own deadlines answer first."""
    timeouts = {
        m.group(1): _seconds(m.group(2))
        for m in re.finditer(r"^\s*timeout\s+(\S+)\s+(\S+)", HAPROXY_CFG.read_text(), re.M)
    }
    defaults = Settings.from_env({})
    assert timeouts["tunnel"] > 2 * defaults.ws.keepalive_s
    longest = max(defaults.edge.request_timeout_s, defaults.edge.upload_timeout_s)
    assert timeouts["server"] > longest and timeouts["client"] > longest
    assert timeouts["http-request"] <= 30, "slow headers are cut off by the balancer"


@needs_haproxy
def test_haproxy_validates_the_config() -> None:
    done = subprocess.run(
        ["haproxy", "-c", "-f", str(HAPROXY_CFG)],
        env={**os.environ, **_haproxy_env(free_port(), free_port(), free_port())},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout.lower()


@needs_haproxy
async def test_haproxy_balances_round_robin_and_passes_websocket_upgrades(
    settings: Settings, standin: StandIn, tmp_path: Path, user_token: str
) -> None:
    # Pings every 0.2 s, so that a few must cross the balancer while the socket is open.
    settings = settings.replace(ws={"keepalive_s": 0.2})
    runtime = await Runtime.start(settings, standin=standin)
    try:
        async with (
            serving(create_app(runtime=runtime)) as one,
            serving(create_app(runtime=runtime)) as two,
        ):
            port = free_port()
            ports = (port, int(one.rsplit(":", 1)[1]), int(two.rsplit(":", 1)[1]))
            log = tmp_path / "haproxy.log"
            with _haproxy(_haproxy_env(*ports), log) as haproxy:
                url = f"http://127.0.0.1:{port}"
                async with httpx.AsyncClient(base_url=url, timeout=10) as client:

                    async def served_by() -> str | None:
                        assert haproxy.poll() is None, log_tail(log)
                        try:
                            answer = await client.get("/healthz")
                        except httpx.HTTPError:
                            return None
                        return answer.headers.get("x-served-by")

                    await wait_until(served_by, what="haproxy to answer")
                    answered = [await served_by() for _ in range(6)]
                assert sorted(set(answered)) == list(GATEWAYS), answered
                assert all(a != b for a, b in itertools.pairwise(answered)), answered

                ws_url = f"ws://127.0.0.1:{port}/graphql"
                async with GraphQLWebSocket.connect(ws_url, user_token) as socket:
                    await socket.subscribe("1", "{ __typename }")
                    message = await socket.message()
                    assert message == {
                        "id": "1",
                        "type": "next",
                        "payload": {"data": {"__typename": "Query"}},
                    }
                    assert (await socket.message())["type"] == "complete"
                    # Idle for a second: the gateway's pings cross the balancer, nothing else.
                    assert await socket.quiet(1.0) == []
                    assert socket.pings >= 3
    finally:
        await runtime.close()


def _haproxy_env(bind: int, first: int, second: int) -> dict[str, str]:
    return {
        "SALESFLOW_LB_BIND": f"127.0.0.1:{bind}",
        "SALESFLOW_GATEWAY_1": f"127.0.0.1:{first}",
        "SALESFLOW_GATEWAY_2": f"127.0.0.1:{second}",
    }


@contextlib.contextmanager
def _haproxy(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """HAProxy in the foreground on the checked-in config; as ``nobody`` when we are root
    (the image runs it unprivileged too), which also shows it needs nothing writable."""
    argv = ["haproxy", "-db", "-f"]
    with tempfile.TemporaryDirectory(prefix="salesflow-haproxy-") as scratch:
        config = Path(scratch) / "haproxy.cfg"
        shutil.copy(HAPROXY_CFG, config)  # where an unprivileged user can read it
        Path(scratch).chmod(0o755)
        argv.append(str(config))
        with contextlib.suppress(LookupError):  # root without setpriv: run it as root
            argv = process_table.as_user(process_table.unprivileged_user(), argv)
        with log.open("ab") as sink:
            process = subprocess.Popen(
                argv, env={**os.environ, **env}, stdout=sink, stderr=subprocess.STDOUT
            )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h)?", value).groups()  # type: ignore[union-attr]
    return float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 0.001}[unit]
