"""Recovery of a killed worker's job: SIGKILL mid-report until another worker COMPLETED it.

    uv run python bench/jobs_recovery.py            # the default lease (SALESFLOW_JOB_LEASE_S=15)
    uv run python bench/jobs_recovery.py --quick    # a 3 s lease (CI runs this)

A redis-server of its own, the Java stand-in and two ``salesflow-graphql worker``
processes, each its own process on a real socket, with the default job timeout
(300 s). The stand-in holds the sales request of the first worker's report (it
is mid-report), the second worker starts and idles, the first is SIGKILLed and
Java made healthy; the table gives the seconds from the kill until the second
worker started the job (its lease had to run out) and until it COMPLETED it.
Before leases, arq ran the job again only once its in-progress key expired:
job timeout + 10 s, 310 s by default. Goal: COMPLETED within 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis.asyncio as redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, free_port, running, table

from salesflow_graphql.auth import Role
from salesflow_graphql.config import Settings
from salesflow_graphql.jobs import ArqRunner, JobOwner, JobRecord, JobRegistry, JobStatus
from salesflow_graphql.jobs.runner import QUEUE_NAME
from salesflow_graphql.reports.jobs import report_request, submit_report
from salesflow_graphql.reports.model import ReportFormat, ReportKind

SECRET = "bench-recovery-secret-shared-by-java-and-workers-0123456789"
GOAL_S = 60.0


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "salesflow_graphql", "worker"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


async def _until(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _measure(redis_url: str, java: str, lease_s: float, work: Path) -> list[object]:
    env = {
        "SALESFLOW_REDIS_URL": redis_url,
        "SALESFLOW_JAVA_API_URL": f"{java}/api/v1",
        "SALESFLOW_JWT_SECRET": SECRET,
        "SALESFLOW_EXPORTS_DIR": str(work / "exports"),
        "SALESFLOW_JOB_LEASE_S": str(lease_s),
        "SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES": "0",
        "SALESFLOW_LOG_LEVEL": "INFO",
    }
    settings = Settings.from_env(env)
    runner = ArqRunner(settings, JobRegistry())
    client = redis.Redis.from_url(redis_url)
    control = httpx.AsyncClient(base_url=java, timeout=10)
    workers: list[subprocess.Popen[bytes]] = []

    async def worker_ready() -> bool:
        assert all(w.poll() is None for w in workers), (work / "workers.log").read_text()[-3000:]
        return bool(await client.exists(QUEUE_NAME + ":health-check"))

    async def record() -> JobRecord:
        found = await runner.get(job.id)
        assert found is not None
        return found

    try:
        workers.append(_worker(env, work / "workers.log"))
        await _until(worker_ready, 60, "the first worker")
        await control.put("/__standin/faults", json={"latency_s": 600, "only_paths": ["/sales"]})
        request = report_request(
            settings, settings.today(), kind=ReportKind.SALES, report_format=ReportFormat.PDF
        )
        job = await submit_report(runner, JobOwner("+15550000051", "bench", Role.USER), request)

        async def running() -> bool:
            return (await record()).status is JobStatus.RUNNING

        await _until(running, 60, "the first worker to start the report")
        await client.delete(QUEUE_NAME + ":health-check")
        workers.append(_worker(env, work / "workers.log"))
        await _until(worker_ready, 60, "the second worker")
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(10)
        killed = time.monotonic()
        await control.delete("/__standin/faults")

        async def started_again() -> bool:
            return (await record()).attempts >= 2

        await _until(started_again, 3 * lease_s + 60, "the second worker to start the job")
        picked_s = time.monotonic() - killed

        async def finished() -> bool:
            return (await record()).status.finished

        await _until(finished, 120, "the second worker to finish the job")
        done_s = time.monotonic() - killed
        final = await record()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(15)
        await control.aclose()
        await client.aclose()
        await runner.close()
    met = "met" if final.status is JobStatus.COMPLETED and done_s <= GOAL_S else "NOT met"
    return [
        f"{lease_s:g}",
        f"{settings.jobs.timeout_s:g}",
        f"{picked_s:.1f}",
        f"{done_s:.1f}",
        f"{final.status} after {final.attempts} runs",
        met,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a 3 s lease (CI)")
    args = parser.parse_args()
    lease_s = 3.0 if args.quick else Settings().jobs.lease_s
    print(f"# bench/jobs_recovery ({'quick' if args.quick else 'full'}) on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="salesflow-recovery-") as folder:
        work = Path(folder)
        redis_port, java_port = free_port(), free_port()
        redis_args = ["--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""]
        redis_args += ["--appendonly", "no", "--dir", folder, "--loglevel", "warning"]
        server = subprocess.Popen(["redis-server", *redis_args], stdout=subprocess.DEVNULL)
        try:
            env = {"SALESFLOW_LOG_LEVEL": "WARNING", "SALESFLOW_JWT_SECRET": SECRET}
            with running(
                ["standin", "--port", str(java_port)], env, java_port, "/__standin/faults"
            ):
                row = asyncio.run(
                    _measure(
                        f"redis://127.0.0.1:{redis_port}/0",
                        f"http://127.0.0.1:{java_port}",
                        lease_s,
                        work,
                    )
                )
        finally:
            server.terminate()
            server.wait(10)
    table(
        f"A killed worker's report, completed by another worker (goal <= {GOAL_S:g} s)",
        ["lease s", "job timeout s", "started again s", "COMPLETED s", "job", "goal"],
        [row],
    )


if __name__ == "__main__":
    main()
