"""Signed download links and the synchronous render endpoint: what is served, what is refused."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from support import graphql, serving, wait_until

from salesflow_graphql.app import create_app
from salesflow_graphql.config import Settings
from salesflow_graphql.jobs.runner import run_periodic
from salesflow_graphql.reports.jobs import report_file
from salesflow_graphql.runtime import Runtime

GENERATE = """mutation($input: ReportInput!) {
  generateReport(input: $input) { id status filename downloadUrl }
}"""
STATUS = "query($id: ID!) { report(id: $id) { status downloadUrl sizeBytes error } }"


@pytest.fixture
def settings(base_settings: Settings, tmp_path: Path) -> Settings:
    return base_settings.replace(java={"backoff_s": 0.0}, exports_dir=str(tmp_path))


@pytest.fixture(autouse=True)
def _no_forecast_training(runtime: Runtime) -> None:
    runtime.reports.forecasts = None


async def _completed(gateway: httpx.AsyncClient, token: str, kind: str = "SALES") -> dict:
    started = await graphql(gateway, GENERATE, token, {"input": {"kind": kind, "format": "PDF"}})
    job = started["data"]["generateReport"]
    assert job["status"] == "QUEUED" and job["downloadUrl"] is None
    latest: dict = {}

    async def done() -> bool:
        latest.update((await graphql(gateway, STATUS, token, {"id": job["id"]}))["data"]["report"])
        return latest["status"] in ("COMPLETED", "FAILED")

    await wait_until(done, timeout=30, what="the report job")
    assert latest["status"] == "COMPLETED", latest
    return {**job, **latest}


async def test_a_signed_link_downloads_the_file_without_a_token(gateway, user_token, runtime):
    job = await _completed(gateway, user_token)
    response = await gateway.get(job["downloadUrl"])  # no Authorization header
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="{job["filename"]}"'
    assert response.content.startswith(b"%PDF-") and len(response.content) == job["sizeBytes"]
    record = await runtime.jobs.get(job["id"])
    relative = report_file(record)
    created = record.created_at
    assert relative == f"reports/{created:%Y/%m}/{job['id']}.pdf"
    exports = Path(runtime.settings.exports_dir)
    assert _read(exports / relative) == response.content
    assert _leftovers(exports) == []  # atomic write: no temporary files remain


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _leftovers(root: Path) -> list[Path]:
    return list(root.rglob("*.part"))


@pytest.mark.parametrize("tamper", ["sig", "exp", "id", "missing"])
async def test_tampered_links_are_refused(gateway, user_token, tamper: str) -> None:
    job = await _completed(gateway, user_token)
    split = urlsplit(job["downloadUrl"])
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    path = split.path
    if tamper == "sig":
        query["sig"] = query["sig"][:-1] + ("0" if query["sig"][-1] != "0" else "1")
    elif tamper == "exp":
        query["exp"] = str(int(query["exp"]) + 3600)
    elif tamper == "id":
        path = path.replace(job["id"], job["id"][::-1])
    else:
        query.pop("sig")
    response = await gateway.get(path, params=query)
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_an_expired_link_is_refused(gateway, user_token, runtime) -> None:
    job = await _completed(gateway, user_token)
    stale = runtime.signer.sign(f"/reports/{job['id']}/download", now=time.time() - 7200)
    response = await gateway.get(stale)
    assert response.status_code == 403 and "expired" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "raw_path",
    [
        "/reports/../../etc/passwd/download",
        "/reports/..%2F..%2Fetc%2Fpasswd/download",
        "/reports/%2e%2e%2f%2e%2e%2fetc%2fpasswd/download",
        "/reports/..%252F..%252Fetc%252Fpasswd/download",
        "/reports/....%2F%2F....%2F%2Fetc%2Fpasswd/download",
        "/reports/%2Fetc%2Fpasswd/download",
        "/reports/..%5C..%5Cetc%5Cpasswd/download",
    ],
)
async def test_path_traversal_ids_are_refused_even_when_signed(runtime, raw_path: str) -> None:
    """Over a real socket, so the raw (encoded) path reaches the app as a client would send it."""
    async with serving(create_app(runtime=runtime)) as url:
        for candidate in (raw_path, runtime.signer.sign(raw_path)):
            request = f"GET {candidate} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            status, body = await _raw_get(url, request)
            assert status in (403, 404), (candidate, status)
            assert b"root:" not in body


async def _raw_get(url: str, request: str) -> tuple[int, bytes]:
    host, port = urlsplit(url).hostname, urlsplit(url).port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request.encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer


async def test_unknown_and_unfinished_jobs_are_not_found(gateway, runtime) -> None:
    unknown = runtime.signer.sign("/reports/0123456789abcdef0123456789abcdef/download")
    assert (await gateway.get(unknown)).status_code == 404


async def test_a_file_removed_by_retention_is_gone(gateway, user_token, runtime) -> None:
    job = await _completed(gateway, user_token)
    record = await runtime.jobs.get(job["id"])
    stored = Path(runtime.settings.exports_dir) / report_file(record)
    old = time.time() - 8 * 86400
    os.utime(stored, (old, old))
    purge = runtime.jobs.registry.periodic["reports.retention"]
    await run_periodic(purge, runtime.jobs, runtime.services, record.created_at)
    assert not stored.exists()
    assert (await gateway.get(job["downloadUrl"])).status_code in (404, 410)


async def test_render_needs_a_bearer_token_and_valid_parameters(gateway, user_token, settings):
    assert (await gateway.get("/reports/render")).status_code == 401
    headers = {"Authorization": f"Bearer {user_token}"}
    for params, field in [
        ({"kind": "EVERYTHING"}, "kind"),
        ({"format": "DOCX"}, "format"),
        ({"start": "2025-01-01"}, "range"),
        ({"start": "2025-02-30", "end": "2025-03-01"}, "start"),
        ({"start": "2020-01-01", "end": "2025-01-01"}, "range"),
        ({"start": "2025-03-01", "end": "2025-02-01"}, "range"),
    ]:
        response = await gateway.get("/reports/render", params=params, headers=headers)
        assert response.status_code == 400, params
        extensions = response.json()["errors"][0]["extensions"]
        assert extensions == {"code": "BAD_USER_INPUT", "field": field}
    ok = await gateway.get(
        "/reports/render", params={"kind": "stock", "format": "xlsx"}, headers=headers
    )
    assert ok.status_code == 200
    today = settings.today()
    start = today - timedelta(days=29)
    assert ok.headers["content-disposition"] == (
        f'attachment; filename="salesflow-stock-{start.isoformat()}-{today.isoformat()}.xlsx"'
    )
    assert ok.content[:2] == b"PK"


@pytest.mark.parametrize("sig", ["é", "%C3%A9" * 32, "ａ" * 64, "\u0000"])
async def test_a_signature_that_is_not_ascii_is_a_403_not_a_crash(runtime, sig: str) -> None:
    """hmac.compare_digest cannot compare non-ASCII text: it used to raise (HTTP 500)."""
    async with (
        serving(create_app(runtime=runtime)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        for path in (f"/reports/{'a' * 32}/download", f"/imports/{'b' * 32}/errors.xlsx"):
            response = await client.get(path, params={"exp": "9999999999", "sig": sig})
            assert response.status_code == 403, (path, response.text)
            assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
