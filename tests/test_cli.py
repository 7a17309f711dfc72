"""The command line, run as a person would: real processes, real sockets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
from support import free_port

from salesflow_graphql.auth import Role, verify_access_token
from salesflow_graphql.config import DEMO_JWT_SECRET
from salesflow_graphql.graphql.schema import schema_sdl

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "salesflow_graphql", *args],
        cwd=ROOT,
        env={**_clean_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SALESFLOW_")}


def test_token_mints_a_verifiable_access_token() -> None:
    done = _run("token", "--role", "ADMIN")
    assert done.returncode == 0, done.stderr
    principal = verify_access_token(done.stdout.strip(), DEMO_JWT_SECRET)
    assert principal.role is Role.ADMIN


def test_export_schema_prints_the_sdl() -> None:
    done = _run("export-schema")
    assert done.returncode == 0
    assert done.stdout == schema_sdl()


def test_invalid_settings_stop_start_up_naming_the_variable() -> None:
    done = _run("serve", env={"SALESFLOW_JAVA_MAX_CONCURRENCY": "lots"})
    assert done.returncode == 2
    assert "SALESFLOW_JAVA_MAX_CONCURRENCY" in done.stderr


def test_serve_on_the_embedded_default_prints_tokens_and_answers() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "salesflow_graphql", "serve", "--port", str(port)],
        cwd=ROOT,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        tokens: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while len(tokens) < 2 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            found = re.match(r"^(USER|ADMIN)\s+\{\"Authorization\": \"Bearer (\S+)\"\}", line)
            if found:
                tokens[found.group(1)] = found.group(2)
        assert set(tokens) == {"USER", "ADMIN"}
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the gateway did not start"
            assert proc.poll() is None, "the gateway exited"
            time.sleep(0.05)
        page = httpx.get(f"{base}/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        answer = httpx.post(
            f"{base}/graphql",
            json={"query": "{ salesAnalytics { kpis { orders } } }"},
            headers={"Authorization": f"Bearer {tokens['USER']}"},
            timeout=30,
        ).json()
        assert answer["data"]["salesAnalytics"]["kpis"]["orders"] > 0
    finally:
        proc.terminate()
        proc.wait(10)
