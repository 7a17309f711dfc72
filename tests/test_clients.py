"""The client libraries a React team and Python analysts use, run against a live gateway.

``tests/clients/`` is an npm project (``package.json`` + the committed
``package-lock.json``), installed here with ``npm ci`` when ``node_modules`` is
missing or older than the lockfile. Its ``readme/`` files are the README's
snippets, kept identical to it by the first test below, so that what the README
shows is what runs:

- Apollo Client 4 + apollo-upload-client 19 + graphql-ws 6 (``apollo.test.mjs``):
  queries through a normalized cache without warnings, errors with their codes,
  uploads with the preflight header, ``alerts`` and ``reportJob`` subscriptions;
- @urql/core 6 in Node (``urql.test.mjs``);
- GraphQL Code Generator's client preset over ``schema.graphql`` and
  ``examples/operations``, then ``tsc --noEmit --strict`` (``nodenext``);
- Python's gql 4 over HTTP and WebSocket with Date/DateTime scalars;
- trusted documents (``trusted.test.mjs``): Apollo Client 4 with the README's
  ``@apollo/persisted-query-lists`` link and the manifest ``salesflow-graphql
  persisted-manifest`` writes, against a second gateway in trusted mode.

One gateway (the embedded default on a real socket) serves them all (a second
one with a tiny rate limit, and one in trusted mode, serve their cases); Node runs
with ``--conditions=development``, as a dev server would, so that Apollo's
development warnings are on. Skipped only when ``node`` is not installed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from support import ROOT, graphql, serving

from salesflow_graphql.app import create_app
from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings
from salesflow_graphql.runtime import Runtime

CLIENTS = ROOT / "tests" / "clients"
README = ROOT / "README.md"
NODE = shutil.which("node")
NPM = shutil.which("npm")
#: Marks the README code blocks that are files here: ``<!-- tests/clients/readme/x.mjs -->``.
MIRROR = re.compile(r"<!-- (tests/clients/readme/[\w.-]+) -->\n```\w*\n(.*?)```", re.S)

pytestmark = [
    pytest.mark.skipif(NODE is None or NPM is None, reason="Node.js is not installed"),
    pytest.mark.timeout(300),  # the first test also waits for `npm ci`
]


@dataclasses.dataclass(frozen=True)
class Gateway:
    url: str
    user_token: str
    admin_token: str
    extra_env: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "GATEWAY_URL": self.url,
            "USER_TOKEN": self.user_token,
            "ADMIN_TOKEN": self.admin_token,
            "SALESFLOW_GATEWAY_DIR": "../..",
            "NO_COLOR": "1",
            **self.extra_env,
        }


def _lock_digest() -> str:
    return hashlib.sha256((CLIENTS / "package-lock.json").read_bytes()).hexdigest()


def _ensure_node_modules() -> None:
    """``npm ci`` unless node_modules was installed from this very lockfile."""
    stamp = CLIENTS / "node_modules" / ".salesflow-lock-sha256"
    if stamp.exists() and stamp.read_text() == _lock_digest():
        return
    done = subprocess.run(
        [str(NPM), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    stamp.write_text(_lock_digest())


@pytest.fixture(scope="module")
async def gateway(base_settings: Settings, demo_shop: Any) -> AsyncIterator[Gateway]:
    from salesflow_graphql.standin import StandIn

    await asyncio.to_thread(_ensure_node_modules)
    settings = base_settings.replace(java={"backoff_s": 0.0})
    runtime = await Runtime.start(
        settings, standin=StandIn(demo_shop, secret=settings.auth.jwt_secret)
    )
    user = mint_access_token(settings.auth.jwt_secret, Role.USER, username="client-user")
    admin = mint_access_token(settings.auth.jwt_secret, Role.ADMIN, username="client-admin")
    try:
        async with serving(create_app(runtime=runtime)) as url:
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                check = await graphql(
                    client, "mutation { runAnomalyCheck { alerts { id } } }", admin
                )
            assert len(check["data"]["runAnomalyCheck"]["alerts"]) > 3, check
            yield Gateway(url, user, admin)
    finally:
        await runtime.close()


async def _run(gateway: Gateway, *args: str, timeout: float = 120) -> str:  # noqa: ASYNC109
    """Run a command in tests/clients without blocking the loop the gateway runs on."""
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=CLIENTS,
        env=gateway.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"{' '.join(args)} failed:\n{text[-6000:]}"
    return text


async def _node_tests(gateway: Gateway, file: str, *options: str) -> None:
    """Run one node:test file: each of its tests passes (or is skipped by its own condition)."""
    output = await _run(gateway, str(NODE), "--conditions=development", "--test", *options, file)
    tests = len(re.findall(r"^test\(", (CLIENTS / file).read_text(), flags=re.M))
    passed = int(re.search(r"^# pass (\d+)$", output, flags=re.M)[1])  # type: ignore[index]
    skipped = int(re.search(r"^# skipped (\d+)$", output, flags=re.M)[1])  # type: ignore[index]
    assert "# fail 0\n" in output and passed >= 1 and passed + skipped == tests, output


def test_the_readme_snippets_are_the_files_that_run() -> None:
    mirrored = dict(MIRROR.findall(README.read_text()))
    files = {f"tests/clients/readme/{p.name}": p for p in (CLIENTS / "readme").glob("*.*")}
    assert set(mirrored) == set(files), "each readme/ file has its README block and back"
    for name, block in mirrored.items():
        assert block == files[name].read_text(), f"README's block differs from {name}"


async def test_apollo_client_upload_link_and_graphql_ws(gateway: Gateway) -> None:
    await _node_tests(gateway, "apollo.test.mjs")


async def test_urql_in_node(gateway: Gateway) -> None:
    await _node_tests(gateway, "urql.test.mjs")


async def test_codegen_client_preset_then_tsc_strict(gateway: Gateway) -> None:
    generated = CLIENTS / "src" / "gql"
    shutil.rmtree(generated, ignore_errors=True)
    await _run(
        gateway, str(NODE), "node_modules/.bin/graphql-codegen", "--config", "readme/codegen.ts"
    )
    operations = (generated / "graphql.ts").read_text()
    for name in ("DashboardDocument", "AlertsDocument", "ImportDryRunDocument"):
        assert f"export const {name}" in operations
    await _run(
        gateway, str(NODE), "node_modules/.bin/tsc", "--noEmit", "--strict", "-p", "tsconfig.json"
    )


def _readme_module(name: str) -> ModuleType:
    """Import a README Python file as its reader would: beside its siblings."""
    folder = str(CLIENTS / "readme")
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(folder)


async def test_python_gql_over_http_and_websocket_with_date_scalars(gateway: Gateway) -> None:
    from gql import GraphQLRequest

    recipe = _readme_module("salesflow_gql")
    usage = _readme_module("gql_usage")
    url = gateway.url + "/graphql"
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        recent = await graphql(client, "{ alerts(limit: 2) { id } }", gateway.user_token)
    newest, older = (alert["id"] for alert in recent["data"]["alerts"])

    schema = (ROOT / "schema.graphql").read_text()
    today = date.today()
    end = today - timedelta(days=(today.weekday() - 1) % 7 + 7)  # a past Tuesday
    start = end - timedelta(days=27)  # a Wednesday: the first and last weeks are cut
    weeks, alert = await usage.weeks_then_next_alert(
        url, gateway.user_token, schema, start, end, after=older
    )
    trend = weeks["salesAnalytics"]["trend"]
    assert trend[0]["start"] == start and trend[-1]["end"] == end
    assert [p["complete"] for p in trend] == [False, True, True, True, False]
    assert alert["id"] == newest and isinstance(alert["detectedAt"], datetime)
    assert alert["detectedAt"].tzinfo is not None

    # Variables of both scalars out, results of both in.
    end = date.today() - timedelta(days=1)
    query = GraphQLRequest(
        "query($range: DateRangeInput) { salesAnalytics(range: $range) { range { start end } } "
        "stockAnalytics { asOf } }",
        variable_values={"range": {"start": end - timedelta(days=6), "end": end}},
    )
    async with recipe.salesflow_client(url, gateway.user_token, schema) as session:
        answer = await session.execute(query)
    assert answer["salesAnalytics"]["range"] == {"start": end - timedelta(days=6), "end": end}
    assert isinstance(answer["stockAnalytics"]["asOf"], datetime)


# --- waiting for the HTTP edge (issue 15 §1 and §2, helper `edge`) -------------------------
# These run the same way once the gateway speaks APQ and answers in
# application/graphql-response+json; until then they skip, saying why.


async def _answers_graphql_response_json(url: str) -> bool:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"Accept": "application/graphql-response+json", "Authorization": "Bearer x"},
        )
    return response.headers.get("content-type", "").startswith("application/graphql-response+json")


async def _speaks_apq(url: str, token: str) -> bool:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        hash_only = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}
        response = await client.post(
            "/graphql", json=hash_only, headers={"Authorization": f"Bearer {token}"}
        )
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return False
    return any(
        (e.get("extensions") or {}).get("code") == "PERSISTED_QUERY_NOT_FOUND" for e in errors
    )


async def test_http_status_errors_reach_apollo_with_their_codes(gateway: Gateway) -> None:
    if not await _answers_graphql_response_json(gateway.url):
        pytest.skip("the gateway does not answer application/graphql-response+json yet (§2)")
    await _node_tests(gateway, "http-status.test.mjs")


@pytest.fixture
async def limited_gateway(
    base_settings: Settings, demo_shop: Any, gateway: Gateway
) -> AsyncIterator[Gateway]:
    """A second gateway whose users may send 2 requests, then 1 every 10 s."""
    from salesflow_graphql.standin import StandIn

    settings = base_settings.replace(edge={"rate_limit_per_s": 0.1, "rate_limit_burst": 2})
    runtime = await Runtime.start(
        settings, standin=StandIn(demo_shop, secret=settings.auth.jwt_secret)
    )
    try:
        async with serving(create_app(runtime=runtime)) as url:
            yield Gateway(url, gateway.user_token, gateway.admin_token)
    finally:
        await runtime.close()


async def test_the_rate_limit_reaches_apollo_as_rate_limited(limited_gateway: Gateway) -> None:
    if not await _answers_graphql_response_json(limited_gateway.url):
        pytest.skip("the gateway does not answer application/graphql-response+json yet (§2)")
    limited = dataclasses.replace(
        limited_gateway, extra_env={"LIMITED_TOKEN": limited_gateway.user_token}
    )
    await _node_tests(limited, "http-status.test.mjs", "--test-name-pattern=429")


@pytest.fixture
async def trusted_gateway(
    base_settings: Settings, demo_shop: Any, gateway: Gateway, tmp_path: Path
) -> AsyncIterator[Gateway]:
    """A second gateway in trusted-documents mode, its manifest written as the README says."""
    from salesflow_graphql.standin import StandIn

    manifest = tmp_path / "persisted-query-manifest.json"
    await _run(
        gateway,
        sys.executable,
        "-m",
        "salesflow_graphql",
        "persisted-manifest",
        "--operations",
        str(ROOT / "examples" / "operations"),
        "--out",
        str(manifest),
    )
    settings = base_settings.replace(
        graphql={"persisted_queries": "trusted", "trusted_documents": str(manifest)}
    )
    runtime = await Runtime.start(
        settings, standin=StandIn(demo_shop, secret=settings.auth.jwt_secret)
    )
    try:
        async with serving(create_app(runtime=runtime)) as url:
            yield Gateway(
                url,
                gateway.user_token,
                gateway.admin_token,
                extra_env={"TRUSTED_MANIFEST": str(manifest)},
            )
    finally:
        await runtime.close()


async def test_trusted_documents_with_apollo(trusted_gateway: Gateway) -> None:
    await _node_tests(trusted_gateway, "trusted.test.mjs")


async def test_automatic_persisted_queries_with_apollo(gateway: Gateway) -> None:
    if not await _speaks_apq(gateway.url, gateway.user_token):
        pytest.skip("the gateway does not speak automatic persisted queries yet (§1)")
    await _node_tests(gateway, "apq.test.mjs")
