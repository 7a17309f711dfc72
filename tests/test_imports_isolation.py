"""Hostile uploads against a gateway in its own process: it answers every one, lives on, and
its resident memory grows by at most 150 MB however the file is built (issue 12).

The gateway is ``python -m salesflow_graphql serve`` on its embedded default. Before each
upload its peak-memory mark is reset (``/proc/<pid>/clear_refs``), so ``VmHWM`` afterwards
is the highest the upload drove it, compared with ``VmRSS`` just before. Its sandbox
processes run with a 1 GiB address-space limit here (2 GiB by default), so that the
shared-string bomb, which the cell cap admits, trips that limit quickly: the crash case.
The last test sends the gateway SIGTERM and checks that no sandbox process survives it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import spreadsheets as files
from support import ROOT, free_port, log_tail

from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings

pytestmark = pytest.mark.slow

#: Issue 12: any upload up to the size limit raises resident memory by at most this.
MAX_GROWTH_BYTES = 150_000_000
SANDBOX_MEMORY = 1024**3
MUTATION = """
mutation Import($file: Upload!) {
  importExcel(file: $file, kind: PRODUCTS, dryRun: true) { status totalRows message }
}
"""


@dataclass
class Gateway:
    process: subprocess.Popen[bytes]
    client: httpx.Client
    token: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def status(self, field: str) -> int:
        """A ``/proc/<pid>/status`` figure, in bytes."""
        with open(f"/proc/{self.pid}/status") as status:
            line = next(x for x in status if x.startswith(field + ":"))
        return int(line.split()[1]) * 1024

    def upload(self, name: str, content: bytes) -> dict[str, object]:
        response = self.client.post(
            "/graphql",
            data={
                "operations": json.dumps({"query": MUTATION, "variables": {"file": None}}),
                "map": json.dumps({"0": ["variables.file"]}),
            },
            files={"0": (name, content, "application/octet-stream")},
            headers={"Apollo-Require-Preflight": "true", **self.auth},
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert "errors" not in answer, answer
        return answer["data"]["importExcel"]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def answers(self) -> bool:
        response = self.client.post(
            "/graphql", json={"query": "{ stockAnalytics { asOf } }"}, headers=self.auth
        )
        return response.status_code == 200 and "asOf" in response.json()["data"]["stockAnalytics"]

    def sandbox_children(self) -> list[int]:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [int(p) for p in children if "imports.sandbox" in _cmdline(int(p))]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("isolation")
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SALESFLOW_") or k == "SALESFLOW_TEST_REDIS"
    }
    env |= {
        "SALESFLOW_EXPORTS_DIR": str(folder / "exports"),
        "SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES": "0",
        "SALESFLOW_RATE_LIMIT_PER_S": "0",
        "SALESFLOW_IMPORT_SANDBOX_MEMORY_BYTES": str(SANDBOX_MEMORY),
    }
    token = mint_access_token(Settings.from_env(env).auth.jwt_secret, Role.ADMIN, ttl_s=3600)
    log = folder / "gateway.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "salesflow_graphql", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_tail(log)
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log_tail(log)
            time.sleep(0.1)  # polling a process that is starting, with a deadline
        gateway = Gateway(process, client, token, log)
        # Warm: the sandbox started, the import path loaded, before anything is measured.
        assert gateway.upload("warm.xlsx", files.xlsx(files.products_rows(5)))["status"] == "VALID"
        yield gateway
    finally:
        client.close()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bytes]
    status: str
    words: str


CASES = [
    Case("prices.xlsx", lambda: files.far_cell_xlsx("XFD1048576"), "REJECTED", "XFD1048576"),
    Case("prices.xlsx", lambda: files.far_cell_xlsx("SF150000"), "REJECTED", "SF150000"),
    Case(
        "prices.xlsx",
        lambda: files.far_cell_xlsx("SF150000", dimension="A1:C2"),
        "REJECTED",
        "reaches cell SF150000",
    ),
    Case("prices.ods", files.ods_repeated, "REJECTED", "16,384 columns"),
    Case("prices.xls", files.xls_huge_dimensions, "REJECTED", "4,294,967,280 rows"),
    Case("prices.xlsx", files.zip_bomb, "REJECTED", "inflate"),
    Case("prices.xlsx", files.lying_zip_bomb, "REJECTED", "declares"),
    Case("prices.xlsx", files.dtd_after_comment, "REJECTED", "DTD"),
    Case(  # the crash: the cell cap admits it, the reader dies on its memory limit
        "prices.xlsx", files.shared_string_bomb, "REJECTED", "more than the 1,024 MiB"
    ),
    Case("prices.xlsx", lambda: files.large_xlsx(19 * 2**20), "VALID", "150,000 rows are valid"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.words for c in CASES])
def test_a_hostile_upload_is_answered_and_costs_the_gateway_at_most_150_mb(
    gateway: Gateway, case: Case
) -> None:
    content = case.build()
    assert len(content) < 20 * 2**20  # under the upload limit: it reaches the import
    Path(f"/proc/{gateway.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = gateway.status("VmRSS")
    result = gateway.upload(case.name, content)
    peak = gateway.status("VmHWM")
    assert result["status"] == case.status, result
    assert case.words in str(result["message"]), result
    assert gateway.process.poll() is None, log_tail(gateway.log)
    assert gateway.answers()
    assert peak - before <= MAX_GROWTH_BYTES, (case.words, (peak - before) / 2**20)
    print(f"{case.words}: {result['status']}, +{(peak - before) / 2**20:.1f} MiB peak")


def test_sigterm_stops_the_gateway_and_leaves_no_sandbox_process(gateway: Gateway) -> None:
    """Last in this module: it stops the module's gateway."""
    children = gateway.sandbox_children()
    assert children, "the imports above left warm sandbox processes"
    gateway.process.send_signal(signal.SIGTERM)
    assert gateway.process.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises it when done
    assert "Application shutdown complete" in log_tail(gateway.log)  # the runtime was closed
    deadline = time.monotonic() + 10
    while any(_cmdline(p) for p in children):
        assert time.monotonic() < deadline, [_cmdline(p) for p in children]
        time.sleep(0.05)  # polling the kernel's process table, with a deadline
