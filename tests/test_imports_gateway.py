"""importExcel end to end: multipart uploads to a gateway on a real socket, writing into the
Java stand-in on another real socket, with its request log as the witness of every write."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import openpyxl
import pytest
import redis.asyncio as redis
import spreadsheets as files
from starlette.types import Receive, Scope, Send
from support import error_codes, graphql, serving, shared_redis_url

from salesflow_graphql.app import create_app
from salesflow_graphql.config import Settings
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.standin import StandIn
from salesflow_graphql.standin.app import RequestRecord

REDIS_URL = shared_redis_url(15)
MUTATION = """
mutation Import($file: Upload!, $kind: ImportKind!, $dryRun: Boolean!, $key: String) {
  importExcel(file: $file, kind: $kind, dryRun: $dryRun, idempotencyKey: $key) {
    importId kind status dryRun totalRows validRows invalidRows
    created updated unchanged failed salesCreated
    columns { header field }
    errors { row column value code message }
    errorCount errorReportUrl message notices sheet headerRow replayed
  }
}
"""
PREFLIGHT = {"Apollo-Require-Preflight": "true"}
#: The start of a multipart body whose file part then goes on and on.
FILE_PART_HEAD = (
    b'--b\r\nContent-Disposition: form-data; name="0"; filename="big.xlsx"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n"
)


@dataclass
class Gateway:
    client: httpx.AsyncClient
    runtime: Runtime

    async def upload(
        self,
        token: str,
        content: bytes,
        filename: str = "list.xlsx",
        *,
        kind: str = "PRODUCTS",
        dry_run: bool = True,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        operations = {
            "query": MUTATION,
            "variables": {"file": None, "kind": kind, "dryRun": dry_run, "key": key},
        }
        return await self.client.post(
            "/graphql",
            data={
                "operations": json.dumps(operations),
                "map": json.dumps({"0": ["variables.file"]}),
            },
            files={"0": (filename, content, "application/octet-stream")},
            headers={
                "Authorization": f"Bearer {token}",
                **(PREFLIGHT if headers is None else headers),
            },
        )

    async def result(
        self, token: str, content: bytes, filename: str = "list.xlsx", **kw: Any
    ) -> dict[str, Any]:
        response = await self.upload(token, content, filename, **kw)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert "errors" not in answer, answer
        return answer["data"]["importExcel"]


Start = Callable[..., AbstractAsyncContextManager[Gateway]]


@pytest.fixture
async def java(standin: StandIn) -> AsyncIterator[str]:
    async with serving(standin.app) as url:
        yield f"{url}/api/v1"


@pytest.fixture
def start(settings: Settings, tmp_path: Path) -> Start:
    """A gateway on its own socket, configured with the stand-in's URL as in production."""

    @asynccontextmanager
    async def gateway(java_url: str, app: Any = None, **overrides: Any) -> AsyncIterator[Gateway]:
        configured = settings.replace(
            java={"api_url": java_url}, exports_dir=str(tmp_path / "exports")
        ).replace(**overrides)
        runtime = await Runtime.start(configured)
        try:
            async with serving(create_app(runtime=runtime)) as url:
                async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                    yield Gateway(client, runtime)
        finally:
            await runtime.close()

    return gateway


def writes(standin: StandIn) -> list[RequestRecord]:
    return [r for r in standin.requests if r.method in ("POST", "PUT", "DELETE")]


def product_rows(standin: StandIn) -> list[list[Any]]:
    """New, updated, unchanged and invalid rows against the stand-in's real catalogue."""
    kept, changed = standin.state.catalogue.products()[:2]
    return [
        ["Supplier price list"],
        [],
        ["Item Code", "Product Name", "Selling Price", "On hand", "Reorder Level"],
        ["NEW-1", "Imported Lamp", "$12.50", " 7 ", 4],
        ["NEW-2", "Imported Desk", "1,299.00", 2, ""],
        [changed.sku, changed.name, changed.price_cents / 100 + 1, changed.stock_quantity, 10],
        [
            kept.sku,
            kept.name,
            kept.price_cents / 100,
            kept.stock_quantity,
            kept.low_stock_threshold,
        ],
        ["NEW-3", "Broken Row", "-3", "lots", 5],
    ]


def stocked(standin: StandIn, count: int, minimum: int = 20) -> list[Any]:
    return [p for p in standin.state.catalogue.products() if p.stock_quantity >= minimum][:count]


# ------------------------------------------------------------- dry run vs commit
async def test_dry_run_checks_everything_and_writes_nothing(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    async with start(java) as gateway:
        standin.clear_requests()
        result = await gateway.result(admin_token, files.xlsx(product_rows(standin)))
    assert result["status"] == "INVALID" and result["dryRun"] is True
    assert (result["totalRows"], result["validRows"], result["invalidRows"]) == (5, 4, 1)
    assert (result["created"], result["updated"], result["unchanged"]) == (2, 1, 1)
    assert result["headerRow"] == 3
    assert result["columns"] == [
        {"header": "Item Code", "field": "sku"},
        {"header": "Product Name", "field": "name"},
        {"header": "Selling Price", "field": "price"},
        {"header": "On hand", "field": "stockQuantity"},
        {"header": "Reorder Level", "field": "lowStockThreshold"},
    ]
    assert [(e["row"], e["column"], e["value"], e["code"]) for e in result["errors"]] == [
        (8, "Selling Price", "-3", "TOO_SMALL"),
        (8, "On hand", "lots", "NOT_A_NUMBER"),
    ]
    # absolute, on the URL the request came in on, so a page on another origin can follow it
    report = urlsplit(result["errorReportUrl"])
    assert f"{report.scheme}://{report.netloc}" == str(gateway.client.base_url).rstrip("/")
    assert report.path == f"/imports/{result['importId']}/errors.xlsx" and "sig=" in report.query
    assert writes(standin) == []
    assert {r.path for r in standin.requests} == {"/products"}


async def test_commit_writes_valid_rows_one_by_one_when_java_has_no_bulk_endpoint(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    standin.products_bulk = False  # like the real Java build
    changed = standin.state.catalogue.products()[1]
    price_before = changed.price_cents
    async with start(java) as gateway:
        standin.clear_requests()
        result = await gateway.result(admin_token, files.xlsx(product_rows(standin)), dry_run=False)
        again = await gateway.result(
            admin_token,
            files.xlsx([["SKU", "Name", "Price"], ["NEW-9", "Ninth", 9]]),
            dry_run=False,
        )
        seen = await graphql(
            gateway.client,
            '{ product(sku: "NEW-1") { name price stockQuantity lowStockThreshold } }',
            admin_token,
        )
    assert result["status"] == "PARTIAL"  # the invalid row was skipped, every valid one written
    assert (result["created"], result["updated"], result["unchanged"], result["failed"]) == (
        2,
        1,
        1,
        0,
    )
    assert again["status"] == "COMMITTED" and again["created"] == 1
    calls = [
        (r.method, r.path.rsplit("/", 1)[0] if r.method == "PUT" else r.path, r.status)
        for r in writes(standin)
    ]
    assert calls.count(("POST", "/products/bulk", 404)) == 1  # detected once, then remembered
    assert sorted(c for c in calls if c[1] != "/products/bulk") == [
        ("POST", "/products", 201),
        ("POST", "/products", 201),
        ("POST", "/products", 201),
        ("PUT", "/products/by-sku", 200),
    ]
    catalogue = standin.state.catalogue
    assert catalogue.by_sku(changed.sku).price_cents == price_before + 100
    new = catalogue.by_sku("NEW-2")
    assert (new.price_cents, new.low_stock_threshold) == (129_900, 10)
    # the gateway's cached catalogue was dropped, so reads see the import at once
    assert seen["data"]["product"] == {
        "name": "Imported Lamp",
        "price": 12.5,
        "stockQuantity": 7,
        "lowStockThreshold": 4,
    }


async def test_commit_uses_products_bulk_in_chunks_when_java_has_it(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    standin.products_bulk = True
    async with start(java, imports={"bulk_chunk_size": 2}) as gateway:
        standin.clear_requests()
        result = await gateway.result(
            admin_token, files.xlsx(files.products_rows(5)), dry_run=False
        )
    assert result["status"] == "COMMITTED" and result["created"] == 5
    assert [(r.path, r.status) for r in writes(standin)] == [("/products/bulk", 200)] * 3
    assert standin.state.catalogue.by_sku("NEW-000004").name == "Imported Product 4"


async def test_a_product_java_refuses_is_isolated_and_reported(
    start: Start, standin: StandIn, admin_token: str
) -> None:
    from salesflow_graphql.standin.validation import ProductInput

    standin.products_bulk = True

    def name_taken() -> None:  # someone creates a product with one of the file's names
        taken = ProductInput("Imported Product 1", "OTHER-1", 100, 1, None, None, 10)
        standin.state.catalogue.create(taken, standin.state.now())

    async with serving(Meanwhile(standin.app, "/products/bulk", name_taken)) as java_url:
        async with start(f"{java_url}/api/v1") as gateway:
            standin.clear_requests()
            result = await gateway.result(
                admin_token, files.xlsx(files.products_rows(4)), dry_run=False
            )
    assert result["status"] == "PARTIAL"
    assert (result["created"], result["failed"]) == (3, 1)
    (error,) = result["errors"]
    assert (error["row"], error["code"]) == (3, "REFUSED_BY_JAVA")
    assert "name already used by product OTHER-1" in error["message"]
    # all four refused -> [0, 1] refused -> [0] written, [1] refused alone -> [2, 3] written
    assert [r.status for r in writes(standin)] == [400, 400, 200, 400, 200]


# -------------------------------------------------------------------------- sales
def sales_sheet(products: list[Any]) -> bytes:
    rows: list[list[Any]] = [
        ["Order ID", "Order Date", "Product ID", "Product Name", "Quantity", "Sales"]
    ]
    for i, product in enumerate(products):
        rows.append([f"CA-{i // 2}", "2024-03-05", product.sku, product.name, 1, 9.99])
    return files.xlsx(rows, sheet="Orders", others={"Sales": rows})


async def test_sales_commit_records_one_sale_per_order_and_says_dates_are_not_kept(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    products = stocked(standin, 6)
    before = len(standin.state.ledger)
    stock_before = products[0].stock_quantity
    async with start(java) as gateway:
        dry = await gateway.result(admin_token, sales_sheet(products), kind="SALES")
        assert writes(standin) == []
        result = await gateway.result(
            admin_token, sales_sheet(products), kind="SALES", dry_run=False
        )
    assert (dry["status"], dry["salesCreated"], dry["created"]) == ("VALID", 3, 6)
    assert result["status"] == "COMMITTED" and result["sheet"] == "Sales"
    assert (result["salesCreated"], result["created"], result["failed"]) == (3, 6, 0)
    assert len(standin.state.ledger) == before + 3
    assert standin.state.catalogue.by_sku(products[0].sku).stock_quantity == stock_before - 1
    assert any("moment of import" in n for n in result["notices"])
    assert any("Sales" in n and "not imported" in n for n in result["notices"])
    assert [(r.path, r.status) for r in writes(standin)] == [("/sales/bulk", 200)]


class Meanwhile:
    """Java as seen by a busy shop: something changes just before the ``nth`` request to ``path``."""

    def __init__(self, app: Any, path: str, change: Callable[[], None], nth: int = 1) -> None:
        self.app, self.path, self.change, self.nth, self.seen = app, path, change, nth, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith(self.path):
            self.seen += 1
            if self.seen == self.nth:
                self.change()
        await self.app(scope, receive, send)


def sell_out(standin: StandIn, sku: str) -> Callable[[], None]:
    def change() -> None:  # a till sells the last units
        standin.state.catalogue.by_sku(sku).stock_quantity = 0
        standin.state.catalogue.version += 1

    return change


async def test_a_sale_java_refuses_is_found_by_bisection_and_the_rest_is_written(
    start: Start, standin: StandIn, admin_token: str
) -> None:
    products = stocked(standin, 10)
    sold_out = products[6]
    before = len(standin.state.ledger)
    rows = [["Invoice", "SKU", "Qty"]] + [[f"INV-{i}", p.sku, 2] for i, p in enumerate(products)]
    async with serving(
        Meanwhile(standin.app, "/sales/bulk", sell_out(standin, sold_out.sku))
    ) as java_url:
        async with start(f"{java_url}/api/v1", imports={"bulk_chunk_size": 8}) as gateway:
            standin.clear_requests()
            result = await gateway.result(
                admin_token, files.xlsx(rows), kind="SALES", dry_run=False
            )
    assert result["status"] == "PARTIAL"
    assert (result["salesCreated"], result["failed"]) == (9, 1)
    (error,) = result["errors"]
    assert (error["row"], error["code"]) == (8, "REFUSED_BY_JAVA")
    assert "Insufficient stock" in error["message"]
    assert len(standin.state.ledger) == before + 9
    bulk = [r.status for r in writes(standin)]
    # chunk of 8 refused -> halves of 4 -> the bad half in 2s -> 1s; then the chunk of 2
    assert bulk == [400, 200, 400, 200, 400, 400, 200, 200]


async def test_a_500_on_a_write_is_an_unknown_outcome_never_a_refusal_to_bisect(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    products = stocked(standin, 4)
    before = len(standin.state.ledger)
    rows = [["SKU", "Qty"]] + [[p.sku, 1] for p in products]
    async with start(java, imports={"bulk_chunk_size": 2}) as gateway:
        standin.faults.update({"fail_next": 1, "only_paths": ["/sales/bulk"]})
        standin.clear_requests()
        result = await gateway.result(admin_token, files.xlsx(rows), kind="SALES", dry_run=False)
    assert result["status"] == "FAILED" and result["salesCreated"] == 0
    # Java may have saved the chunk before failing: its rows are not sent again (no
    # bisection), and the rest waits for the user to check.
    assert [e["code"] for e in result["errors"]] == ["OUTCOME_UNKNOWN"] * 2 + ["NOT_ATTEMPTED"] * 2
    assert "may or may not have been saved" in result["errors"][0]["message"]
    assert [r.status for r in writes(standin)] == [500]
    assert len(standin.state.ledger) == before


async def test_java_unavailable_mid_import_stops_and_says_what_is_unknown(
    start: Start, standin: StandIn, admin_token: str
) -> None:
    products = stocked(standin, 6)
    rows = [["SKU", "Qty"]] + [[p.sku, 1] for p in products]

    def proxy_fails() -> None:  # from the second bulk request on, a proxy answers 503
        standin.faults.update(
            {"error_rate": 1.0, "error_status": 503, "only_paths": ["/sales/bulk"]}
        )

    async with serving(Meanwhile(standin.app, "/sales/bulk", proxy_fails, nth=2)) as java_url:
        async with start(f"{java_url}/api/v1", imports={"bulk_chunk_size": 2}) as gateway:
            standin.clear_requests()
            result = await gateway.result(
                admin_token, files.xlsx(rows), kind="SALES", dry_run=False
            )
    assert result["status"] == "PARTIAL"
    assert (result["salesCreated"], result["failed"]) == (2, 4)
    assert [e["code"] for e in result["errors"]] == ["OUTCOME_UNKNOWN"] * 2 + ["NOT_ATTEMPTED"] * 2
    assert [r.status for r in writes(standin)] == [200, 503]  # no hammering after that


# ------------------------------------------------------------------- idempotency
async def test_the_same_idempotency_key_returns_the_first_result_without_writing_again(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    content = files.xlsx(files.products_rows(3))
    async with start(java) as gateway:
        first = await gateway.result(admin_token, content, dry_run=False, key="order-2024-03-05")
        written = len(writes(standin))
        second = await gateway.result(admin_token, content, dry_run=False, key="order-2024-03-05")
        other_file = await gateway.upload(
            admin_token,
            files.xlsx(files.products_rows(2, start=50)),
            dry_run=False,
            key="order-2024-03-05",
        )
        after_replays = len(writes(standin))
        fresh_key = await gateway.result(admin_token, content, dry_run=False, key="another-key")
    assert first["status"] == "COMMITTED" and first["created"] == 3 and not first["replayed"]
    assert second["replayed"] is True
    assert {k: v for k, v in second.items() if k not in ("replayed", "errorReportUrl")} == {
        k: v for k, v in first.items() if k not in ("replayed", "errorReportUrl")
    }
    assert written == 4  # the bulk probe (404) and three creates
    assert after_replays == written  # neither the replay nor the refused reuse wrote anything
    assert fresh_key["unchanged"] == 3 and fresh_key["created"] == 0  # a new key: checked again
    assert error_codes(other_file.json()) == ["BAD_USER_INPUT"]
    assert "different file" in other_file.json()["errors"][0]["message"]


async def test_concurrent_retries_with_one_key_write_once(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    standin.products_bulk = True
    standin.faults.update({"latency_s": 0.3, "only_paths": ["/products/bulk"]})
    content = files.xlsx(files.products_rows(3))
    async with start(java) as gateway:
        standin.clear_requests()
        answers = await asyncio.gather(
            *(
                gateway.upload(admin_token, content, dry_run=False, key="double-click")
                for _ in range(3)
            )
        )
        settled = await gateway.result(admin_token, content, dry_run=False, key="double-click")
    bodies = [a.json() for a in answers]
    done = [b for b in bodies if "errors" not in b]
    waiting = [b for b in bodies if "errors" in b]
    assert len(done) == 1 and done[0]["data"]["importExcel"]["status"] == "COMMITTED"
    assert all("still running" in b["errors"][0]["message"] for b in waiting)
    assert len([r for r in writes(standin) if r.path == "/products/bulk"]) == 1
    assert settled["replayed"] and settled["importId"] == done[0]["data"]["importExcel"]["importId"]


async def test_idempotency_records_live_in_redis_when_configured(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    await client.flushdb()
    content = files.xlsx(files.products_rows(2))
    try:
        async with start(java, redis_url=REDIS_URL) as gateway:
            first = await gateway.result(admin_token, content, dry_run=False, key="redis-key")
        keys = [k async for k in client.scan_iter("salesflow:import:idempotency:*")]
        assert len(keys) == 1
        assert 23 * 3600 < await client.ttl(keys[0]) <= 24 * 3600
        async with start(java, redis_url=REDIS_URL) as restarted:  # another replica
            standin.clear_requests()
            replay = await restarted.result(admin_token, content, dry_run=False, key="redis-key")
    finally:
        await client.flushdb()
        await client.aclose()
    assert replay["replayed"] and replay["importId"] == first["importId"]
    assert writes(standin) == []


async def test_a_commit_refused_before_writing_frees_its_key(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    async with start(java) as gateway:
        refused = await gateway.result(admin_token, files.windows_program(), dry_run=False, key="k")
        fixed = await gateway.result(
            admin_token, files.xlsx(files.products_rows(1)), dry_run=False, key="k"
        )
    assert refused["status"] == "REJECTED"
    assert fixed["status"] == "COMMITTED" and not fixed["replayed"]


# ---------------------------------------------------------------------- bad files
@pytest.mark.parametrize(
    ("name", "build", "words"),
    [
        ("prices.xlsx", files.windows_program, "Windows program"),
        ("prices.xlsx", files.zip_bomb, "inflate"),
        ("prices.xlsx", files.lying_zip_bomb, "declares"),
        ("empty.xlsx", lambda: files.xlsx([]), "empty"),
        ("notes.xlsx", lambda: files.xlsx([["Dear supplier,"], ["thanks"]]), "No header row"),
    ],
)
async def test_bad_files_are_rejected_and_nothing_is_written(
    start: Start, java: str, standin: StandIn, admin_token: str, name: str, build: Any, words: str
) -> None:
    async with start(java) as gateway:
        standin.clear_requests()
        result = await gateway.result(admin_token, build(), name, dry_run=False)
    assert result["status"] == "REJECTED"
    assert words in result["message"]
    assert result["errorReportUrl"] is None
    assert standin.requests == []  # not even a read: a refused file costs Java nothing


async def test_a_sheet_past_the_cell_cap_is_rejected_before_any_parser_runs(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    async with start(java) as gateway:
        standin.clear_requests()
        result = await gateway.result(admin_token, files.far_cell_xlsx("XFD1048576"), dry_run=False)
        assert standin.requests == []  # refused before a single call to Java
        healthy = await gateway.result(admin_token, files.xlsx(files.products_rows(1)))
    assert result["status"] == "REJECTED"
    assert "Sheet “Products” is marked as reaching cell XFD1048576" in result["message"]
    assert "5,000,000 cells" in result["message"]
    assert healthy["status"] == "VALID"


async def test_a_reader_that_dies_on_a_file_rejects_it_and_the_next_import_works(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    # With the cap out of the way, python-calamine meets the grid it can't hold: its Rust
    # allocator aborts the sandbox process, which is what an unknown parser bug looks like.
    limits = {"imports": {"max_sheet_cells": 10**12, "sandbox_memory_bytes": 512 * 2**20}}
    async with start(java, **limits) as gateway:
        crashed = await gateway.result(
            admin_token, files.far_cell_xlsx("SF150000"), dry_run=False, key="k-1"
        )
        retried = await gateway.result(
            admin_token, files.xlsx(files.products_rows(2)), dry_run=False, key="k-1"
        )
    assert crashed["status"] == "REJECTED"
    assert crashed["message"].startswith("The file could not be read: reading it needed more")
    assert "512 MiB" in crashed["message"]
    assert retried["status"] == "COMMITTED" and not retried["replayed"]  # the key was freed
    assert retried["created"] == 2


async def test_a_workbook_with_a_macro_is_imported_and_the_macro_ignored(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    async with start(java) as gateway:
        result = await gateway.result(
            admin_token, files.xlsm_with_macro(files.products_rows(2)), "list.xlsm", dry_run=False
        )
    assert result["status"] == "COMMITTED" and result["created"] == 2
    assert any("macros" in n and "never run" in n for n in result["notices"])


async def test_a_missing_required_column_is_invalid_with_a_hint_for_the_other_kind(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    sales = files.xlsx([["Order ID", "SKU", "Qty"], ["O-1", "PET-00001", 1]])
    async with start(java) as gateway:
        result = await gateway.result(admin_token, sales, dry_run=False)
    assert result["status"] == "INVALID"
    assert sorted(e["code"] for e in result["errors"]) == ["MISSING_COLUMN", "MISSING_COLUMN"]
    assert all(e["row"] == 1 and e["column"] is None for e in result["errors"])
    assert "did you mean kind SALES" in result["message"]
    assert writes(standin) == []


@pytest.mark.parametrize(
    ("name", "build"),
    [("list.ods", files.ods), ("list.xls", files.xls), ("list.csv", files.csv_bytes)],
)
async def test_ods_xls_and_csv_import_like_xlsx(
    start: Start, java: str, standin: StandIn, admin_token: str, name: str, build: Any
) -> None:
    async with start(java) as gateway:
        result = await gateway.result(
            admin_token, build(files.products_rows(3)), name, dry_run=False
        )
    assert result["status"] == "COMMITTED" and result["created"] == 3
    assert standin.state.catalogue.by_sku("NEW-000002").price_cents == 174


# --------------------------------------------------------------------- the report
async def test_the_error_workbook_is_served_behind_a_signed_expiring_link(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    async with start(java) as gateway:
        result = await gateway.result(admin_token, files.xlsx(product_rows(standin)))
        url = result["errorReportUrl"]
        download = await gateway.client.get(url)  # no bearer token
        tampered = await gateway.client.get(url.replace("sig=", "sig=0"))
        path = url.split("?")[0]
        expired = await gateway.client.get(
            gateway.runtime.signer.sign(path, now=time.time() - 2 * gateway.runtime.signer.ttl_s)
        )
        unknown = await gateway.client.get("/imports/NOT-AN-ID/errors.xlsx" + url[url.index("?") :])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in download.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(download.content)).active
    assert sheet["C8"].fill.fgColor.rgb == "FFFFC7CE" and "0 or more" in sheet["C8"].comment.text
    assert sheet["F3"].value == "Errors"
    assert [tampered.status_code, expired.status_code, unknown.status_code] == [403, 403, 404]
    assert error_codes(tampered.json()) == ["FORBIDDEN"]


# ------------------------------------------------------------------ the transport
async def test_java_down_is_upstream_unavailable_and_frees_the_key(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    content = files.xlsx(files.products_rows(1))
    async with start(java) as gateway:
        standin.faults.update({"error_rate": 1.0, "error_status": 503})
        down = await gateway.upload(admin_token, content, dry_run=False, key="while-down")
        standin.faults.reset()
        back = await gateway.result(admin_token, content, dry_run=False, key="while-down")
    assert error_codes(down.json()) == ["UPSTREAM_UNAVAILABLE"]
    assert back["status"] == "COMMITTED" and not back["replayed"]


async def test_a_file_variable_that_is_not_an_upload_is_bad_input(
    start: Start, java: str, admin_token: str
) -> None:
    async with start(java) as gateway:
        answer = await graphql(
            gateway.client,
            MUTATION,
            admin_token,
            {"file": "prices.xlsx", "kind": "PRODUCTS", "dryRun": True, "key": None},
        )
    assert error_codes(answer) == ["BAD_USER_INPUT"]
    assert "multipart" in answer["errors"][0]["message"]


async def test_only_admins_may_import(start: Start, java: str, user_token: str) -> None:
    async with start(java) as gateway:
        response = await gateway.upload(user_token, files.xlsx(files.products_rows(1)))
    assert error_codes(response.json()) == ["FORBIDDEN"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 400),
        ({"Apollo-Require-Preflight": ""}, 400),
        ({"Apollo-Require-Preflight": "true"}, 200),
        ({"X-Apollo-Operation-Name": "Import"}, 200),
    ],
)
async def test_multipart_without_a_preflight_header_is_refused_as_csrf(
    start: Start,
    java: str,
    standin: StandIn,
    admin_token: str,
    headers: dict[str, str],
    status: int,
) -> None:
    async with start(java) as gateway:
        response = await gateway.upload(
            admin_token, files.xlsx(files.products_rows(1)), headers=headers
        )
        form = await gateway.client.post(
            "/graphql",
            content=b"query=mutation{x}",
            headers={
                "Authorization": f"Bearer {admin_token}",
                "content-type": "application/x-www-form-urlencoded",
            },
        )
    assert response.status_code == status
    if status == 400:
        assert error_codes(response.json()) == ["BAD_USER_INPUT"]
        assert "Apollo-Require-Preflight" in response.json()["errors"][0]["message"]
    assert form.status_code == 400


async def test_a_25_mb_upload_is_refused_with_413_while_streaming(
    start: Start, java: str, standin: StandIn, admin_token: str
) -> None:
    big = b"PK\x03\x04" + b"\x00" * (25 * 1000 * 1000)
    async with start(java) as gateway:
        standin.clear_requests()
        declared = await gateway.upload(admin_token, big, "big.xlsx", dry_run=False)

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            yield FILE_PART_HEAD
            for _ in range(25):
                yield b"\x00" * 1_000_000

        streamed = await gateway.client.post(
            "/graphql",
            content=chunks(),
            headers={
                "Authorization": f"Bearer {admin_token}",
                "content-type": "multipart/form-data; boundary=b",
                **PREFLIGHT,
            },
        )
        healthy = await gateway.result(admin_token, files.xlsx(files.products_rows(1)))
    for response in (declared, streamed):
        assert response.status_code == 413
        assert error_codes(response.json()) == ["BAD_USER_INPUT"]
        assert response.json()["errors"][0]["extensions"]["reason"] == "PAYLOAD_TOO_LARGE"
    assert writes(standin) == []
    assert healthy["status"] == "VALID"  # the gateway is fine afterwards


async def test_the_body_stops_being_read_at_the_limit(
    settings: Settings, runtime: Runtime, admin_token: str
) -> None:
    runtime.settings = settings.replace(imports={"max_upload_bytes": 1_000_000})
    app = create_app(runtime=runtime)  # the limits are the edge's, in front of every route
    pulled_before_answer = 0
    answered: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled_before_answer
        if not answered:
            pulled_before_answer += 1
        body = FILE_PART_HEAD if pulled_before_answer == 1 else b"\x00" * 256_000
        return {"type": "http.request", "body": body, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        answered.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "query_string": b"",
        "headers": [
            (b"authorization", f"Bearer {admin_token}".encode()),
            (b"content-type", b"multipart/form-data; boundary=b"),
            (b"apollo-require-preflight", b"1"),
        ],
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=30)
    assert answered[0]["status"] == 413
    # the part header, then 256 kB pieces: the 5th passes 1 MB + 64 kB of overhead -> 413
    assert pulled_before_answer == 6


async def test_an_import_interrupted_while_writing_keeps_its_key(
    runtime: Runtime, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from salesflow_graphql.auth import verify_access_token
    from salesflow_graphql.imports import ImportKind, ImportStatus, Upload

    principal = verify_access_token(admin_token, runtime.settings.auth.jwt_secret)
    upload = Upload(files.xlsx(files.products_rows(1)), "list.xlsx")

    async def dies_while_writing(*args: Any) -> Any:
        raise RuntimeError("the process is shutting down")

    monkeypatch.setattr(runtime.imports, "_write", dies_while_writing)
    with pytest.raises(RuntimeError):
        await runtime.imports.process_excel_upload(
            upload,
            kind=ImportKind.PRODUCTS,
            principal=principal,
            dry_run=False,
            idempotency_key="k",
        )
    monkeypatch.undo()
    again = await runtime.imports.process_excel_upload(
        upload, kind=ImportKind.PRODUCTS, principal=principal, dry_run=False, idempotency_key="k"
    )
    assert again.replayed and again.status is ImportStatus.FAILED
    assert "interrupted" in (again.message or "")
    assert runtime.standin is not None
    assert runtime.standin.state.catalogue.find_sku("NEW-000000") is None  # not sent twice
