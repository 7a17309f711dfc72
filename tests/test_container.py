"""The container starts (issue 13 §6), checked without a Docker daemon.

The install is made as the Dockerfile makes it: its build stage's ``COPY`` and
``uv`` steps run in a scratch directory standing in for ``/app``. Then the
image's ``CMD`` and ``HEALTHCHECK``, and the compose worker's command and
health check, run as they are written there (parsed from the files, so the
test breaks if they drift) as an unprivileged user, with the final stage's
environment, a home that does not exist, and nothing writable but the exports
directory (and /tmp, a tmpfs in docker-compose.yml).

One difference from the image, for speed only: uv links files from its cache
instead of copying them. The install is made once per test session.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import process_table
import pytest
import yaml
from support import ROOT, RedisServer, free_port, graphql, log_tail, wait_until

from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import DEMO_JWT_SECRET

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not process_table.available(), reason="needs Linux /proc"),
    pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv to make the install"),
]

#: Where the image keeps the application; the scratch directory stands in for it.
APP = "/app"
#: PATH of the python:3.11-slim base image, which the final stage's PATH extends.
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NOBODY = "nobody"
FORECAST = "query($i: ForecastInput!) { forecast(input: $i) { model points { value } } }"


@dataclasses.dataclass
class Stage:
    """One ``FROM`` of a Dockerfile, as far as this test needs it."""

    env: dict[str, str] = dataclasses.field(default_factory=dict)
    steps: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # COPY and RUN, in order
    workdir: str = "/"
    user: str = "root"
    cmd: list[str] = dataclasses.field(default_factory=list)
    healthcheck: list[str] = dataclasses.field(default_factory=list)


def parse_dockerfile(text: str) -> list[Stage]:
    stages: list[Stage] = []
    joined = re.sub(r"\\\n", " ", text)
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "FROM":
            stages.append(Stage())
            continue
        stage = stages[-1]
        if instruction == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                stage.env[key] = value.replace("$PATH", BASE_PATH)
        elif instruction in ("COPY", "RUN"):
            stage.steps.append((instruction, rest))
        elif instruction == "WORKDIR":
            stage.workdir = rest
        elif instruction == "USER":
            stage.user = rest
        elif instruction == "CMD":
            stage.cmd = json.loads(rest)
        elif instruction == "HEALTHCHECK":
            stage.healthcheck = json.loads(rest.removeprefix("CMD").strip())
    return stages


def _runs(stage: Stage) -> list[str]:
    return [rest for instruction, rest in stage.steps if instruction == "RUN"]


@dataclasses.dataclass
class Image:
    root: Path  # stands in for the container's filesystem below /app
    env: dict[str, str]
    workdir: Path
    cmd: list[str]
    healthcheck: list[str]
    user: pwd.struct_passwd | None  # who runs the commands (None: this user, not root)

    def run(self, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            process_table.as_user(self.user, argv),
            env={**self.env, **env},
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def running(
        self, argv: list[str], log: Path, **env: str
    ) -> AbstractContextManager[subprocess.Popen[bytes]]:
        """``argv`` leading a process group of its own, killed at the end."""
        command = process_table.as_user(self.user, argv)
        return process_table.group_leader(
            command, env={**self.env, **env}, cwd=self.workdir, log=log
        )


def _unprivileged() -> pwd.struct_passwd | None:
    try:
        return process_table.unprivileged_user()
    except LookupError as missing:
        pytest.skip(str(missing))


def _interpreter(user: pwd.struct_passwd | None) -> str:
    """A Python 3.11 (as in the image) that ``user`` runs just as root does: the test's
    own if it can (an interpreter whose libraries ``user`` cannot read may start anyway,
    on another libpython, so the version each of them sees is compared)."""
    version = "import sys; print(sys.version)"
    candidates = [
        os.path.realpath(sys.executable),
        "/usr/local/bin/python3.11",
        "/usr/bin/python3.11",
    ]
    for candidate in filter(os.path.exists, candidates):
        mine = subprocess.run([candidate, "-c", version], capture_output=True, text=True)
        theirs = subprocess.run(
            process_table.as_user(user, [candidate, "-c", version]), capture_output=True, text=True
        )
        if mine.stdout.startswith("3.11.") and theirs.stdout == mine.stdout:
            return candidate
    pytest.skip(f"no Python 3.11 that {NOBODY} may run")


@pytest.fixture(scope="session")
def image() -> Iterator[Image]:
    build, final = parse_dockerfile((ROOT / "Dockerfile").read_text())
    user = _unprivileged()
    root = Path(tempfile.mkdtemp(prefix="salesflow-image-"))
    root.chmod(0o755)

    def here(value: str) -> str:  # an image path, in the scratch directory
        return re.sub(rf"(?<![\w/.]){APP}(?=/|$|:)", f"{root}{APP}", value)

    try:
        context = root / build.workdir.strip("/")
        context.mkdir(parents=True)
        build_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))},
            **{k: here(v) for k, v in build.env.items()},
            "UV_LINK_MODE": "hardlink",
            "UV_PYTHON": _interpreter(user),
        }
        for instruction, rest in build.steps:
            if instruction == "COPY":  # as Docker does: a directory's contents go into dest
                *sources, dest = rest.split()
                for source in sources:
                    if (ROOT / source).is_dir():
                        shutil.copytree(ROOT / source, context / dest, dirs_exist_ok=True)
                    else:
                        shutil.copy(ROOT / source, context / dest)
            elif rest.startswith("uv "):  # the install itself (uv is here already)
                done = subprocess.run(
                    rest, shell=True, cwd=context, env=build_env, capture_output=True, text=True
                )
                assert done.returncode == 0, f"{rest}: {done.stderr[-3000:]}"
        venv = Path(here(build.env["UV_PROJECT_ENVIRONMENT"]))
        assert (venv / "bin" / final.cmd[0]).exists(), "the console script is installed"
        # The final stage: the user's exports directory, everything else theirs to read only.
        workdir = Path(here(final.workdir))
        exports = Path(here(final.env["SALESFLOW_EXPORTS_DIR"]))
        exports.mkdir(parents=True, exist_ok=True)
        if user is not None:
            os.chown(exports, user.pw_uid, user.pw_gid)
        else:
            workdir.chmod(0o555)
        env = {k: here(v) for k, v in final.env.items()}
        env["HOME"] = "/nonexistent"  # as the image's user: no home at all
        yield Image(root, env, workdir, final.cmd, final.healthcheck, user)
    finally:
        (root / APP.strip("/")).chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def test_the_image_runs_its_own_script_as_a_user_without_a_home() -> None:
    build, final = parse_dockerfile((ROOT / "Dockerfile").read_text())
    assert final.user not in ("", "root", "0")
    assert final.cmd[0] == "salesflow-graphql" and final.healthcheck[0] == "salesflow-graphql"
    assert not any("uv" in run.split() for run in _runs(final)), "no uv in the image that runs"
    assert "--no-editable" in " ".join(_runs(build))
    (useradd,) = [r for r in _runs(final) if "useradd" in r]
    assert "--no-create-home" in useradd


async def test_the_gateway_command_serves_and_its_health_check_passes(
    image: Image, tmp_path: Path
) -> None:
    port = str(free_port())
    assert image.run(image.healthcheck, SALESFLOW_PORT=port).returncode != 0, "nothing serves yet"
    log = tmp_path / "gateway.log"
    token = mint_access_token(DEMO_JWT_SECRET, Role.USER)
    # No start-up anomaly check: this test is about the install, not the demo.
    settings = {"SALESFLOW_PORT": port, "SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES": "0"}
    with image.running(image.cmd, log, SALESFLOW_HOST="127.0.0.1", **settings) as gateway:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:

            async def answers() -> bool:
                assert gateway.poll() is None, log_tail(log)
                try:
                    return (await client.get("/healthz", timeout=1)).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_until(answers, timeout=60, what="the gateway to answer")
            check = image.run(image.healthcheck, SALESFLOW_PORT=port)
            assert check.returncode == 0, check.stderr
            # A forecast also starts a training process from the read-only install.
            answer = await graphql(client, FORECAST, token, {"i": {"historyDays": 56}})
        assert "errors" not in answer, f"{answer}\n{log_tail(log)}"
        assert len(answer["data"]["forecast"]["points"]) == 14
        gateway.send_signal(signal.SIGTERM)
        left = process_table.wait_for_none(lambda: process_table.group(gateway.pid), 10)
        assert not left, [str(p) for p in left]
    assert "Permission denied" not in log.read_text(), log_tail(log)


async def test_the_worker_command_and_its_health_check_work(image: Image, tmp_path: Path) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    worker = compose["services"]["worker"]
    check = worker["healthcheck"]["test"]
    assert check[0] == "CMD"
    redis = RedisServer(tmp_path / "redis", durable=False)
    await redis.start()
    try:
        env = {"SALESFLOW_REDIS_URL": redis.url}
        assert image.run(check[1:], **env).returncode != 0, "no worker yet"
        log = tmp_path / "worker.log"
        with image.running(worker["command"], log, **env) as process:

            def healthy() -> bool:
                assert process.poll() is None, log_tail(log)
                return image.run(check[1:], **env).returncode == 0

            await wait_until(healthy, timeout=60, what="the worker's health check to pass")
            process.send_signal(signal.SIGTERM)
            left = process_table.wait_for_none(lambda: process_table.group(process.pid), 10)
            assert not left, [str(p) for p in left]
            assert process.wait(5) == 0, log_tail(log)
        assert "Permission denied" not in log.read_text(), log_tail(log)
    finally:
        redis.kill()
