"""The Java stand-in: contract shapes, auth, errors, writes, faults and the demo shop's data."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import httpx
import numpy as np
import orjson
import pytest
import uvicorn

from salesflow_graphql.auth import (
    Role,
    mint_access_token,
    mint_refresh_token,
    verify_access_token,
)
from salesflow_graphql.config import Settings
from salesflow_graphql.standin import (
    DemoShop,
    StandIn,
    build_demo_shop,
    create_standin_from_settings,
)

SEED = 20240601
TODAY = date(2025, 6, 15)
NOW = datetime(2025, 6, 15, 21, 40, 0, 250000)  # after closing: new sales are the newest
SECRET = "standin-test-secret-0123456789abcdefghij"
BASE = "http://standin/api/v1"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
LOCAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6})?$")

ADMIN = {"Authorization": f"Bearer {mint_access_token(SECRET, Role.ADMIN, username='boss')}"}
USER = {"Authorization": f"Bearer {mint_access_token(SECRET, Role.USER, username='clerk')}"}


def make_standin(shop: DemoShop, **kwargs: object) -> StandIn:
    return StandIn(shop, SECRET, clock=lambda: NOW, **kwargs)  # type: ignore[arg-type]


def client_for(standin: StandIn) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=standin.app), base_url=BASE)


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"status", "code", "message", "timestamp", "details"}
    assert body["status"] == status
    assert body["code"] == code
    assert body["message"]
    assert TIMESTAMP.match(body["timestamp"])
    return body


@pytest.fixture(scope="module")
def shop() -> DemoShop:
    return build_demo_shop(seed=SEED, today=TODAY)


@pytest.fixture(scope="module")
def standin(shop: DemoShop) -> StandIn:
    """Shared and never written to (tests that write use ``fresh``)."""
    return make_standin(shop)


@pytest.fixture(scope="module")
async def api(standin: StandIn) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(standin) as client:
        yield client


@pytest.fixture
def fresh(shop: DemoShop) -> StandIn:
    return make_standin(shop)


@pytest.fixture
async def fresh_api(fresh: StandIn) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(fresh) as client:
        yield client


@dataclass
class Ledger:
    """Every sale from ``GET /sales``, flattened for checks."""

    sales: list[dict]
    products: list[dict]
    inventory: list[dict]

    @property
    def days(self) -> Counter[date]:
        return Counter(datetime.fromisoformat(s["saleDate"]).date() for s in self.sales)

    def units(self, product_id: int) -> Counter[date]:
        units: Counter[date] = Counter()
        for sale in self.sales:
            for item in sale["items"]:
                if item["productId"] == product_id:
                    units[datetime.fromisoformat(sale["saleDate"]).date()] += item["quantity"]
        return units


@pytest.fixture(scope="module")
async def ledger(api: httpx.AsyncClient) -> Ledger:
    sales = await api.get("/sales", headers=USER)
    products = await api.get("/products", headers=USER)
    inventory = await api.get("/inventory", headers=USER)
    assert sales.status_code == products.status_code == inventory.status_code == 200
    return Ledger(orjson.loads(sales.content), products.json(), inventory.json())


# ------------------------------------------------------------------ demo shop data
async def test_same_seed_and_today_give_identical_answers() -> None:
    started = time.perf_counter()
    first, second = build_demo_shop(SEED, TODAY), build_demo_shop(SEED, TODAY)
    assert time.perf_counter() - started < 6  # two builds; each is meant to take well under 2 s
    other = build_demo_shop(SEED + 1, TODAY)
    bodies = []
    for demo in (first, second, other):
        async with client_for(make_standin(demo)) as client:
            bodies.append(
                [
                    (await client.get(path, headers=USER)).content
                    for path in ("/products", "/inventory", "/sales/history?days=7")
                ]
            )
    assert bodies[0] == bodies[1]
    assert bodies[0][0] != bodies[2][0]
    assert first.planted_anomalies == second.planted_anomalies


async def test_catalogue_is_large_varied_and_partly_without_inventory(
    ledger: Ledger, api: httpx.AsyncClient
) -> None:
    products, inventory = ledger.products, ledger.inventory
    assert len(products) >= 200
    assert len({p["sku"] for p in products}) == len({p["name"] for p in products}) == len(products)
    assert all(re.fullmatch(r"[A-Z]{3}-\d{5}", p["sku"]) for p in products)
    assert all(p["price"] > 0 and p["lowStockThreshold"] >= 1 for p in products)
    assert len({p["lowStockThreshold"] for p in products}) > 3
    assert any(p["description"] is None for p in products)
    assert any(p["imageUrl"] is None for p in products)
    assert any(p["imageUrl"] for p in products)
    assert len({row["category"] for row in inventory}) >= 8
    by_sku = {p["sku"]: p for p in products}
    for row in inventory:
        assert 0 < row["cost"] < row["price"] == by_sku[row["sku"]]["price"]
        assert row["quantity"] == by_sku[row["sku"]]["stockQuantity"]
        assert LOCAL_DATETIME.match(row["createdAt"]) and LOCAL_DATETIME.match(row["updatedAt"])
    without = sorted(set(by_sku) - {row["sku"] for row in inventory})
    assert len(without) >= 3
    assert_error(await api.get(f"/inventory/by-sku/{without[0]}", headers=USER), 404, "NOT_FOUND")
    one = await api.get(f"/inventory/by-sku/{inventory[0]['sku']}", headers=USER)
    assert one.json() == inventory[0]


async def test_stock_levels_tell_the_usual_stories(ledger: Ledger) -> None:
    products = ledger.products
    assert sum(p["stockQuantity"] == 0 for p in products) >= 3
    assert sum(0 < p["stockQuantity"] <= p["lowStockThreshold"] for p in products) >= 5
    last_sold: dict[int, date] = {}
    for sale in ledger.sales:
        day = datetime.fromisoformat(sale["saleDate"]).date()
        for item in sale["items"]:
            last_sold[item["productId"]] = max(day, last_sold.get(item["productId"], day))
    dead = [
        p
        for p in products
        if p["stockQuantity"] > 0 and last_sold.get(p["id"], date.min) < TODAY - timedelta(days=30)
    ]
    assert len(dead) >= 3


async def test_two_years_of_sales_with_realistic_volume_and_seasons(ledger: Ledger) -> None:
    days = ledger.days
    assert min(days) <= TODAY - timedelta(days=730)
    assert max(days) == TODAY
    assert days[TODAY] > 0
    per_day = np.array(list(days.values()))
    assert 150 <= per_day.mean() <= 300
    by_weekday = defaultdict(list)
    for day, n in days.items():
        by_weekday[day.weekday()].append(n)
    weekday_mean = np.mean([np.mean(by_weekday[d]) for d in range(5)])
    assert abs(np.mean(by_weekday[5]) - weekday_mean) > 0.1 * weekday_mean
    december = np.mean([n for day, n in days.items() if day.month == 12])
    spring = np.mean([n for day, n in days.items() if day.month in (3, 4)])
    assert december > 1.15 * spring
    first_quarter = np.mean([n for day, n in days.items() if day < min(days) + timedelta(days=90)])
    last_quarter = np.mean([n for day, n in days.items() if day > TODAY - timedelta(days=90)])
    assert last_quarter > first_quarter


async def test_sale_lines_add_up_and_times_fall_in_opening_hours(ledger: Ledger) -> None:
    lines = 0
    fractional = 0
    for sale in ledger.sales:
        assert LOCAL_DATETIME.match(sale["saleDate"]), sale["saleDate"]
        moment = datetime.fromisoformat(sale["saleDate"])
        assert 8 <= moment.hour < 21
        fractional += moment.microsecond != 0
        assert sale["items"]
        total = 0.0
        for item in sale["items"]:
            assert item["quantity"] >= 1 and item["unitPrice"] > 0
            assert item["subtotal"] == round(item["quantity"] * item["unitPrice"], 2)
            total += item["subtotal"]
        assert sale["totalAmount"] == pytest.approx(total, abs=0.005)
        lines += len(sale["items"])
    assert 2.0 <= lines / len(ledger.sales) <= 3.0
    assert 0 < fractional < len(ledger.sales)
    ids = [s["id"] for s in ledger.sales]
    assert len(set(ids)) == len(ids)


async def test_history_keeps_renamed_deleted_launched_and_intermittent_products(
    ledger: Ledger,
) -> None:
    current = {p["id"]: p for p in ledger.products}
    names_seen: dict[int, set[str]] = defaultdict(set)
    first_sold: dict[int, date] = {}
    days_sold: dict[int, set[date]] = defaultdict(set)
    for sale in ledger.sales:
        day = datetime.fromisoformat(sale["saleDate"]).date()
        for item in sale["items"]:
            names_seen[item["productId"]].add(item["productName"])
            first_sold.setdefault(item["productId"], day)
            days_sold[item["productId"]].add(day)
    deleted = [pid for pid in names_seen if pid not in current]
    assert deleted, "some sales should name a product that is no longer in the catalogue"
    renamed = [
        pid
        for pid, names in names_seen.items()
        if pid in current and names - {current[pid]["name"]}
    ]
    assert len(renamed) >= 2
    history_start = min(ledger.days)
    launched = [pid for pid, day in first_sold.items() if day > history_start + timedelta(days=60)]
    assert len(launched) >= 5
    total_days = len(ledger.days)
    sparse = [pid for pid, sold in days_sold.items() if len(sold) < 0.3 * total_days]
    assert len(sparse) >= 10


def test_planted_anomalies_are_recent_and_visible_in_the_data(
    shop: DemoShop, ledger: Ledger
) -> None:
    anomalies = shop.planted_anomalies
    assert 5 <= len(anomalies) <= 10
    assert {a.kind for a in anomalies} == {"spike", "drop"}
    product_of = {p["sku"]: p["id"] for p in ledger.products}
    for anomaly in anomalies:
        assert TODAY - timedelta(days=60) <= anomaly.date < TODAY
        assert (anomaly.sku is None) != (anomaly.category is None)
        if anomaly.sku is None:
            continue
        units = ledger.units(product_of[anomaly.sku])
        before = [units[anomaly.date - timedelta(days=k)] for k in range(1, 29)]
        if anomaly.kind == "drop":
            assert units[anomaly.date] == 0
            assert sum(u > 0 for u in before) >= 25
        else:
            assert units[anomaly.date] > 3 * np.median(before)


# ------------------------------------------------------------------ sales reads
async def test_history_window_starts_at_midnight_and_is_newest_first(
    api: httpx.AsyncClient, ledger: Ledger
) -> None:
    response = await api.get("/sales/history", params={"days": 30}, headers=USER)
    assert response.status_code == 200
    window = orjson.loads(response.content)
    start = datetime.combine(TODAY - timedelta(days=30), datetime.min.time())
    expected = {s["id"] for s in ledger.sales if datetime.fromisoformat(s["saleDate"]) >= start}
    assert {s["id"] for s in window} == expected
    moments = [(datetime.fromisoformat(s["saleDate"]), s["id"]) for s in window]
    assert moments == sorted(moments, reverse=True)
    assert moments[-1][0].date() == TODAY - timedelta(days=30)

    default = orjson.loads((await api.get("/sales/history", headers=USER)).content)
    assert min(datetime.fromisoformat(s["saleDate"]).date() for s in default) == TODAY - timedelta(
        days=90
    )
    today = (await api.get("/sales/today", headers=USER)).json()
    zero_days = (await api.get("/sales/history?days=0", headers=USER)).json()
    assert {s["id"] for s in today} == {s["id"] for s in zero_days}
    assert all(s["saleDate"].startswith(TODAY.isoformat()) for s in today)


async def test_recent_returns_the_newest_sales(api: httpx.AsyncClient, ledger: Ledger) -> None:
    recent = (await api.get("/sales/recent?limit=7", headers=USER)).json()
    newest = sorted(
        ledger.sales, key=lambda s: (datetime.fromisoformat(s["saleDate"]), s["id"]), reverse=True
    )[:7]
    assert recent == newest
    assert len((await api.get("/sales/recent", headers=USER)).json()) == 100
    assert_error(await api.get("/sales/recent?limit=0", headers=USER), 400, "RUNTIME_ERROR")
    assert_error(await api.get("/sales/history?days=abc", headers=USER), 400, "RUNTIME_ERROR")


async def test_daily_history_by_sku_is_ascending_without_zero_days(
    api: httpx.AsyncClient, ledger: Ledger
) -> None:
    counts = Counter(i["productId"] for s in ledger.sales[-3000:] for i in s["items"])
    product = next(p for p in ledger.products if p["id"] == counts.most_common(1)[0][0])
    response = await api.get(f"/sales/history/by-sku/{product['sku']}?days=45", headers=ADMIN)
    assert response.status_code == 200
    rows = response.json()
    dates = [row["date"] for row in rows]
    assert dates == sorted(dates) and len(set(dates)) == len(dates)
    assert all(row["quantity"] > 0 for row in rows)
    units = ledger.units(product["id"])
    expected = {
        d.isoformat(): q for d, q in units.items() if d >= TODAY - timedelta(days=45) and q > 0
    }
    assert {row["date"]: row["quantity"] for row in rows} == expected
    assert_error(
        await api.get(f"/sales/history/by-sku/{product['sku']}", headers=USER), 403, "ACCESS_DENIED"
    )
    assert_error(await api.get("/sales/history/by-sku/NOPE-1", headers=ADMIN), 404, "NOT_FOUND")


# ------------------------------------------------------------------ auth
def _expired() -> str:
    return mint_access_token(SECRET, Role.ADMIN, now=time.time() - 7200)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "AUTH_FAILED"),
        ({"Authorization": "Basic YWRtaW46YWRtaW4xMjM="}, "AUTH_FAILED"),
        ({"Authorization": f"Bearer {_expired()}"}, "TOKEN_EXPIRED"),
        (
            {"Authorization": f"Bearer {mint_access_token('another-secret-' * 3, Role.ADMIN)}"},
            "INVALID_SIGNATURE",
        ),
        ({"Authorization": f"Bearer {mint_refresh_token(SECRET)}"}, "AUTH_FAILED"),
        ({"Authorization": "Bearer not.a.jwt"}, "AUTH_FAILED"),
    ],
    ids=["missing", "not-bearer", "expired", "bad-signature", "refresh-token", "malformed"],
)
async def test_bad_tokens_are_refused_with_javas_codes(
    api: httpx.AsyncClient, headers: dict[str, str], code: str
) -> None:
    for path in ("/products", "/sales/today", "/auth/me", "/no/such/route"):
        assert_error(await api.get(path, headers=headers), 401, code)


async def test_admin_only_endpoints_refuse_users(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/products/low-stock", headers=USER), 403, "ACCESS_DENIED")
    assert_error(await api.post("/products", json={}, headers=USER), 403, "ACCESS_DENIED")
    assert_error(await api.delete("/products/by-sku/ELE-00001", headers=USER), 403, "ACCESS_DENIED")
    assert_error(await api.post("/sales/bulk", json=[], headers=USER), 403, "ACCESS_DENIED")
    low = await api.get("/products/low-stock", headers=ADMIN)
    assert low.status_code == 200
    assert low.json() and all(p["stockQuantity"] <= p["lowStockThreshold"] for p in low.json())


async def test_login_refresh_and_me(api: httpx.AsyncClient) -> None:
    login = await api.post(
        "/auth/login", json={"phoneNumber": "+15550000001", "password": "admin123"}
    )
    assert login.status_code == 200
    session = login.json()
    assert session["tokenType"] == "Bearer" and session["user"]["role"] == "ADMIN"
    assert set(session["user"]) == {
        "id",
        "phoneNumber",
        "username",
        "email",
        "role",
        "createdAt",
        "updatedAt",
    }
    assert datetime.fromisoformat(session["refreshExpiresAt"]) > datetime.now() + timedelta(days=13)
    principal = verify_access_token(session["accessToken"], SECRET)
    assert principal.role is Role.ADMIN and principal.subject == "+15550000001"

    me = await api.get("/auth/me", headers={"Authorization": f"Bearer {session['accessToken']}"})
    assert me.json() == {"username": "admin", "role": "ADMIN", "phoneNumber": "+15550000001"}

    refreshed = await api.post("/auth/refresh", json={"refreshToken": session["refreshToken"]})
    assert refreshed.status_code == 200
    assert verify_access_token(refreshed.json()["accessToken"], SECRET).role is Role.ADMIN
    assert_error(
        await api.post("/auth/refresh", json={"refreshToken": session["accessToken"]}),
        401,
        "AUTH_FAILED",
    )
    user = await api.post(
        "/auth/login", json={"phoneNumber": "+15550000002", "password": "user123"}
    )
    assert verify_access_token(user.json()["accessToken"], SECRET).role is Role.USER
    wrong = await api.post("/auth/login", json={"phoneNumber": "+15550000002", "password": "nope"})
    assert_error(wrong, 401, "AUTH_FAILED")
    blank = assert_error(
        await api.post("/auth/login", json={"password": "x"}), 400, "VALIDATION_ERROR"
    )
    assert set(blank["details"]) == {"phoneNumber"}
    assert_error(await api.get("/auth/nothing-here"), 404, "NOT_FOUND")  # /auth/** needs no token


# ------------------------------------------------------------------ products
async def test_product_lookups_and_not_found(api: httpx.AsyncClient, ledger: Ledger) -> None:
    product = next(p for p in ledger.products if " " in p["name"] and "'" not in p["name"])
    assert (await api.get(f"/products/by-id/{product['id']}", headers=USER)).json() == product
    assert (await api.get(f"/products/by-sku/{product['sku']}", headers=USER)).json() == product
    by_name = await api.get(f"/products/by-name/{product['name']}", headers=USER)
    assert by_name.json() == product
    missing_id = max(p["id"] for p in ledger.products) + 1000
    body = assert_error(
        await api.get(f"/products/by-id/{missing_id}", headers=USER), 404, "NOT_FOUND"
    )
    assert body["details"] is None
    assert_error(await api.get("/products/by-sku/NOPE-00000", headers=USER), 404, "NOT_FOUND")
    assert_error(await api.get("/products/by-name/No Such Thing", headers=USER), 404, "NOT_FOUND")
    assert_error(await api.get("/products/by-id/abc", headers=USER), 400, "RUNTIME_ERROR")
    assert_error(await api.get("/nowhere", headers=USER), 404, "NOT_FOUND")


async def test_product_validation_details_every_bad_field(fresh_api: httpx.AsyncClient) -> None:
    bad = {"name": " ", "sku": "X" * 51, "price": -1, "stockQuantity": -3, "lowStockThreshold": 0}
    body = assert_error(
        await fresh_api.post("/products", json=bad, headers=ADMIN), 400, "VALIDATION_ERROR"
    )
    assert set(body["details"]) == {"name", "sku", "price", "stockQuantity", "lowStockThreshold"}
    missing = assert_error(
        await fresh_api.post("/products", json={"name": "A"}, headers=ADMIN),
        400,
        "VALIDATION_ERROR",
    )
    assert set(missing["details"]) == {"sku", "price", "stockQuantity"}
    garbled = await fresh_api.post("/products", content=b"{not json", headers=ADMIN)
    assert_error(garbled, 400, "RUNTIME_ERROR")


async def test_product_create_update_delete(fresh_api: httpx.AsyncClient, fresh: StandIn) -> None:
    new = {"name": "Test Lamp", "sku": "TST-00001", "price": 12.345, "stockQuantity": 2}
    created = await fresh_api.post("/products", json=new, headers=ADMIN)
    assert created.status_code == 201
    saved = created.json()
    assert saved["id"] > max(p.id for p in fresh.shop.products + fresh.shop.deleted_products)
    assert saved["price"] == 12.35 and saved["lowStockThreshold"] == 10
    assert saved["description"] is None and saved["imageUrl"] is None
    low = (await fresh_api.get("/products/low-stock", headers=ADMIN)).json()
    assert "TST-00001" in {p["sku"] for p in low}

    existing = fresh.shop.products[0]
    duplicate_sku = {**new, "name": "Other Name", "sku": existing.sku}
    assert_error(
        await fresh_api.post("/products", json=duplicate_sku, headers=ADMIN), 400, "RUNTIME_ERROR"
    )
    duplicate_name = {**new, "name": existing.name, "sku": "TST-00002"}
    assert_error(
        await fresh_api.post("/products", json=duplicate_name, headers=ADMIN), 400, "RUNTIME_ERROR"
    )

    update = {
        "name": "Test Lamp XL",
        "sku": "TST-00001",
        "price": 20,
        "stockQuantity": 40,
        "description": "Bigger",
        "lowStockThreshold": 5,
    }
    put = await fresh_api.put("/products/by-sku/TST-00001", json=update, headers=ADMIN)
    assert put.status_code == 200
    assert put.json() == {**update, "id": saved["id"], "imageUrl": None, "price": 20.0}
    by_name = await fresh_api.get("/products/by-name/Test Lamp XL", headers=USER)
    assert by_name.json()["id"] == saved["id"]
    assert_error(await fresh_api.get("/products/by-name/Test Lamp", headers=USER), 404, "NOT_FOUND")
    assert_error(
        await fresh_api.put("/products/by-sku/NOPE-1", json=update, headers=ADMIN), 404, "NOT_FOUND"
    )

    deleted = await fresh_api.delete("/products/by-sku/TST-00001", headers=ADMIN)
    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(await fresh_api.get("/products/by-sku/TST-00001", headers=USER), 404, "NOT_FOUND")
    assert_error(
        await fresh_api.delete("/products/by-sku/TST-00001", headers=ADMIN), 404, "NOT_FOUND"
    )


async def test_products_bulk_is_a_missing_route_until_switched_on(
    fresh_api: httpx.AsyncClient, fresh: StandIn
) -> None:
    existing = fresh.shop.products[5]
    batch = [
        {"name": existing.name, "sku": existing.sku, "price": 1.5, "stockQuantity": 99},
        {"name": "Bulk Newcomer", "sku": "BLK-00001", "price": 3, "stockQuantity": 1},
    ]
    off = await fresh_api.post("/products/bulk", json=batch, headers=ADMIN)
    assert_error(off, 404, "NOT_FOUND")
    assert_error(await fresh_api.post("/products/bulk", json=batch), 401, "AUTH_FAILED")

    fresh.products_bulk = True
    assert_error(
        await fresh_api.post("/products/bulk", json=batch, headers=USER), 403, "ACCESS_DENIED"
    )
    invalid = [*batch, {"name": "Broken", "sku": "BLK-00002", "price": -5, "stockQuantity": 1}]
    body = assert_error(
        await fresh_api.post("/products/bulk", json=invalid, headers=ADMIN), 400, "VALIDATION_ERROR"
    )
    assert set(body["details"]) == {"[2].price"}
    assert_error(await fresh_api.get("/products/by-sku/BLK-00001", headers=USER), 404, "NOT_FOUND")

    saved = await fresh_api.post("/products/bulk", json=batch, headers=ADMIN)
    assert saved.status_code == 200
    answer = saved.json()
    assert [p["sku"] for p in answer] == [existing.sku, "BLK-00001"]
    assert answer[0]["id"] == existing.id and answer[0]["stockQuantity"] == 99
    assert (await fresh_api.get("/products/by-sku/BLK-00001", headers=USER)).json() == answer[1]


# ------------------------------------------------------------------ sales writes
async def test_a_sale_takes_current_price_now_and_stock(
    fresh_api: httpx.AsyncClient, fresh: StandIn
) -> None:
    product = next(p for p in fresh.shop.products if p.stock_quantity >= 5)
    before_today = (await fresh_api.get("/sales/history?days=0", headers=USER)).json()
    response = await fresh_api.post(
        "/sales",
        json={
            "items": [{"sku": product.sku, "quantity": 2}, {"productId": product.id, "quantity": 1}]
        },
        headers=USER,
    )
    assert response.status_code == 201
    sale = response.json()
    assert datetime.fromisoformat(sale["saleDate"]) == NOW
    assert [i["unitPrice"] for i in sale["items"]] == [product.price_cents / 100] * 2
    assert sale["totalAmount"] == pytest.approx(3 * product.price_cents / 100)
    after = (await fresh_api.get(f"/products/by-sku/{product.sku}", headers=USER)).json()
    assert after["stockQuantity"] == product.stock_quantity - 3

    after_today = (await fresh_api.get("/sales/history?days=0", headers=USER)).json()
    assert len(after_today) == len(before_today) + 1
    assert sale in after_today
    assert sale["id"] in {
        s["id"] for s in (await fresh_api.get("/sales/today", headers=USER)).json()
    }

    short = await fresh_api.post(
        "/sales",
        json={"items": [{"sku": product.sku, "quantity": after["stockQuantity"] + 1}]},
        headers=USER,
    )
    body = assert_error(short, 400, "INSUFFICIENT_STOCK")
    assert body["details"]["sku"] == product.sku
    assert_error(
        await fresh_api.post(
            "/sales", json={"items": [{"productId": 10**6, "quantity": 1}]}, headers=USER
        ),
        404,
        "NOT_FOUND",
    )
    invalid = await fresh_api.post("/sales", json={"items": [{"quantity": 0}]}, headers=USER)
    assert set(assert_error(invalid, 400, "VALIDATION_ERROR")["details"]) == {
        "items[0]",
        "items[0].quantity",
    }
    assert_error(
        await fresh_api.post("/sales", json={"items": []}, headers=USER), 400, "VALIDATION_ERROR"
    )


async def test_bulk_sales_answer_text_and_are_all_or_nothing(
    fresh_api: httpx.AsyncClient, fresh: StandIn
) -> None:
    plenty = next(p for p in fresh.shop.products if p.stock_quantity >= 10)
    scarce = next(p for p in fresh.shop.products if 0 < p.stock_quantity < 5)
    before = len(fresh.state.ledger)

    failing = [
        {"items": [{"sku": plenty.sku, "quantity": 3}]},
        {"items": [{"sku": scarce.sku, "quantity": scarce.stock_quantity}]},
        {"items": [{"sku": scarce.sku, "quantity": 1}]},
    ]
    body = assert_error(
        await fresh_api.post("/sales/bulk", json=failing, headers=ADMIN), 400, "INSUFFICIENT_STOCK"
    )
    assert body["details"]["sku"] == scarce.sku
    assert len(fresh.state.ledger) == before
    stock = (await fresh_api.get(f"/products/by-sku/{plenty.sku}", headers=USER)).json()
    assert stock["stockQuantity"] == plenty.stock_quantity

    invalid = [{"items": [{"sku": plenty.sku, "quantity": 1}]}, {"items": []}]
    details = assert_error(
        await fresh_api.post("/sales/bulk", json=invalid, headers=ADMIN), 400, "VALIDATION_ERROR"
    )["details"]
    assert set(details) == {"[1].items"}

    ok = await fresh_api.post("/sales/bulk", json=failing[:2], headers=ADMIN)
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/plain")
    assert ok.text == "Bulk sales imported successfully"
    assert len(fresh.state.ledger) == before + 2
    recent = (await fresh_api.get("/sales/recent?limit=2", headers=USER)).json()
    assert {recent[0]["items"][0]["sku"], recent[1]["items"][0]["sku"]} == {plenty.sku, scarce.sku}
    gone = (await fresh_api.get(f"/products/by-sku/{scarce.sku}", headers=USER)).json()
    assert gone["stockQuantity"] == 0


# ------------------------------------------------------------------ faults and log
async def test_latency_and_failures_look_like_a_troubled_service(
    fresh_api: httpx.AsyncClient, fresh: StandIn
) -> None:
    fresh.faults.latency_s = 0.2
    started = time.perf_counter()
    assert (await fresh_api.get("/products", headers=USER)).status_code == 200
    assert time.perf_counter() - started >= 0.2
    fresh.faults.reset()

    fresh.faults.update(
        {"fail_next": 3, "error_status": 502, "error_body": "html", "retry_after_s": 1}
    )
    html = await fresh_api.get("/products", headers=USER)
    assert html.status_code == 502 and html.headers["content-type"].startswith("text/html")
    assert html.headers["retry-after"] == "1" and b"502" in html.content
    fresh.faults.error_body = "garbage"
    garbage = await fresh_api.get("/products", headers=USER)
    assert garbage.status_code == 502 and "json" in garbage.headers["content-type"]
    with pytest.raises(ValueError):
        orjson.loads(garbage.content)
    fresh.faults.update({"error_body": "json", "error_status": 503})
    assert_error(await fresh_api.get("/products", headers=USER), 503, "INTERNAL_ERROR")
    assert (await fresh_api.get("/products", headers=USER)).status_code == 200

    fresh.faults.update({"garble": "html", "only_paths": ["/sales"]})
    page = await fresh_api.get("/sales/today", headers=USER)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert (await fresh_api.get("/products", headers=USER)).json()
    fresh.faults.garble = "garbage"
    junk = await fresh_api.get("/sales/recent", headers=USER)
    assert junk.status_code == 200
    with pytest.raises(ValueError):
        orjson.loads(junk.content)
    with pytest.raises(ValueError):
        fresh.faults.update({"error_rate": 2})
    with pytest.raises(ValueError):
        fresh.faults.update({"nonsense": 1})


async def test_error_rate_is_deterministic(fresh_api: httpx.AsyncClient, fresh: StandIn) -> None:
    async def pattern() -> list[int]:
        fresh.faults.reset()
        fresh.faults.update({"error_rate": 0.5, "seed": 7})
        return [(await fresh_api.get("/auth/me", headers=USER)).status_code for _ in range(20)]

    first, second = await pattern(), await pattern()
    assert first == second
    assert set(first) == {200, 500}


async def test_request_log_records_relative_paths_queries_statuses_and_roles(
    fresh_api: httpx.AsyncClient, fresh: StandIn
) -> None:
    fresh.clear_requests()
    await fresh_api.get("/sales/history?days=3", headers=ADMIN)
    await fresh_api.get("/products/by-sku/NOPE", headers=USER)
    await fresh_api.get("/products")
    log = fresh.requests
    assert [(r.method, r.path, r.status, r.role) for r in log] == [
        ("GET", "/sales/history", 200, "ADMIN"),
        ("GET", "/products/by-sku/NOPE", 404, "USER"),
        ("GET", "/products", 401, None),
    ]
    assert log[0].query == "days=3" and log[0].params == {"days": "3"}
    fresh.clear_requests()
    assert fresh.requests == []


def test_settings_build_the_embedded_standin() -> None:
    settings = Settings().replace(standin={"demo_seed": 7, "products_bulk": True})
    standin = create_standin_from_settings(settings)
    assert standin.products_bulk is True
    assert standin.shop.seed == 7 and standin.shop.today == settings.today()
    assert standin.secret == settings.auth.jwt_secret
    assert standin.state.today() == settings.today()


# ------------------------------------------------------------------ real socket
async def test_serves_over_a_real_socket_with_control_endpoints(shop: DemoShop) -> None:
    standin = make_standin(shop)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(standin.app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert not task.done(), task
            await asyncio.sleep(0.01)
        root = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=root) as client:
            login = await client.post(
                "/api/v1/auth/login", json={"phoneNumber": "+15550000002", "password": "user123"}
            )
            token = {"Authorization": f"Bearer {login.json()['accessToken']}"}
            history = await client.get("/api/v1/sales/history", params={"days": 2}, headers=token)
            assert history.status_code == 200 and history.json()

            faults = await client.put(
                "/__standin/faults", json={"fail_next": 1, "error_status": 503}
            )
            assert faults.json()["fail_next"] == 1
            assert (await client.get("/api/v1/products", headers=token)).status_code == 503
            assert (await client.get("/api/v1/products", headers=token)).status_code == 200
            bad = await client.put("/__standin/faults", json={"error_body": "xml"})
            assert bad.status_code == 400

            log = (await client.get("/__standin/requests")).json()
            assert [(r["path"], r["status"]) for r in log] == [
                ("/auth/login", 200),
                ("/sales/history", 200),
                ("/products", 503),
                ("/products", 200),
            ]
            assert (await client.delete("/__standin/requests")).status_code == 204
            assert (await client.get("/__standin/requests")).json() == []

            switched = await client.put("/__standin/products-bulk", json={"enabled": True})
            assert switched.json() == {"enabled": True} and standin.products_bulk
            assert (await client.delete("/__standin/faults")).json()["fail_next"] == 0
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


async def test_products_bulk_checks_name_conflicts_before_writing(
    fresh_api: httpx.AsyncClient, fresh: StandIn
) -> None:
    fresh.products_bulk = True
    first, second, outsider = fresh.shop.products[10:13]

    def dto(product: object, name: str) -> dict[str, object]:
        return {"name": name, "sku": product.sku, "price": 9.99, "stockQuantity": 5}  # type: ignore[attr-defined]

    taken = [dto(first, "Renamed First"), dto(second, outsider.name)]
    body = assert_error(
        await fresh_api.post("/products/bulk", json=taken, headers=ADMIN), 400, "VALIDATION_ERROR"
    )
    assert set(body["details"]) == {"[1].name"}
    unchanged = (await fresh_api.get(f"/products/by-sku/{first.sku}", headers=USER)).json()
    assert unchanged["name"] == first.name

    swap = [dto(first, second.name), dto(second, first.name)]
    saved = await fresh_api.post("/products/bulk", json=swap, headers=ADMIN)
    assert saved.status_code == 200, saved.text
    by_name = (await fresh_api.get(f"/products/by-name/{second.name}", headers=USER)).json()
    assert by_name["sku"] == first.sku
