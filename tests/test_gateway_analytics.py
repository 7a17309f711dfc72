"""salesAnalytics, stockAnalytics and product end to end on the stand-in.

Expected figures are computed here independently, with plain Python loops over
the JSON the stand-in serves, never by calling the analytics code.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from support import error_codes, graphql

from salesflow_graphql.standin import StandIn

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


async def _java(standin: StandIn, token: str, path: str, **params: object) -> object:
    transport = httpx.ASGITransport(app=standin.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://java/api/v1") as java:
        response = await java.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        return response.json()


async def test_sales_kpis_match_an_independent_computation(
    gateway: httpx.AsyncClient, standin: StandIn, user_token: str, admin_token: str
) -> None:
    today = date.today()
    start, end = today - timedelta(days=20), today - timedelta(days=6)
    previous_start = start - timedelta(days=15)
    sales = await _java(
        standin, admin_token, "/sales/history", days=(today - previous_start).days + 1
    )
    products = {p["id"]: p for p in await _java(standin, admin_token, "/products")}
    categories = {
        row["sku"]: row["category"]
        for row in await _java(standin, admin_token, "/inventory")
        if row.get("sku")
    }

    revenue = previous = 0.0
    orders = units = 0
    sold: set[int] = set()
    by_product: dict[int, float] = defaultdict(float)
    by_category: dict[str, float] = defaultdict(float)
    for sale in sales:
        day = datetime.fromisoformat(sale["saleDate"]).date()
        if previous_start <= day < start:
            previous += sum(item["subtotal"] for item in sale["items"])
        if not start <= day <= end:
            continue
        orders += 1
        for item in sale["items"]:
            revenue += item["subtotal"]
            units += item["quantity"]
            sold.add(item["productId"])
            by_product[item["productId"]] += item["subtotal"]
            product = products.get(item["productId"])
            sku = product["sku"] if product else item["sku"]
            by_category[categories.get(sku, "Uncategorized")] += item["subtotal"]

    answer = await graphql(
        gateway,
        """query($r: DateRangeInput) { salesAnalytics(range: $r, top: 5) {
             range { start end days } previousRange { start end days }
             kpis { revenue orders unitsSold averageOrderValue itemsPerOrder distinctProducts previousRevenue revenueChange }
             trend { period revenue orders }
             topProducts { revenue product { id sku } }
             categories { category revenue shareOfRevenue } } }""",
        user_token,
        {"r": {"start": start.isoformat(), "end": end.isoformat()}},
    )
    assert "errors" not in answer, answer
    result = answer["data"]["salesAnalytics"]
    assert result["range"] == {"start": start.isoformat(), "end": end.isoformat(), "days": 15}
    assert result["previousRange"]["start"] == previous_start.isoformat()
    kpis = result["kpis"]
    assert orders > 100, "the demo shop should sell every day"
    assert kpis["orders"] == orders
    assert kpis["unitsSold"] == units
    assert kpis["distinctProducts"] == len(sold)
    assert kpis["revenue"] == pytest.approx(revenue, abs=0.01)
    assert kpis["previousRevenue"] == pytest.approx(previous, abs=0.01)
    assert kpis["averageOrderValue"] == pytest.approx(revenue / orders, abs=0.01)
    assert kpis["itemsPerOrder"] == pytest.approx(units / orders)
    assert kpis["revenueChange"] == pytest.approx(revenue / previous - 1, rel=1e-6)
    assert [p["period"] for p in result["trend"]] == [
        (start + timedelta(days=i)).isoformat() for i in range(15)
    ]
    assert sum(p["orders"] for p in result["trend"]) == orders
    best = sorted(by_product.items(), key=lambda kv: -kv[1])[:5]
    assert [int(p["product"]["id"]) for p in result["topProducts"]] == [pid for pid, _ in best]
    assert {c["category"]: c["revenue"] for c in result["categories"]} == pytest.approx(
        dict(by_category), abs=0.01
    )
    assert sum(c["shareOfRevenue"] for c in result["categories"]) == pytest.approx(1.0)


async def test_default_range_is_the_30_days_ending_today(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    answer = await graphql(
        gateway, "{ salesAnalytics { range { start end days } trend { period } } }", user_token
    )
    today = date.today()
    result = answer["data"]["salesAnalytics"]
    assert result["range"] == {
        "start": (today - timedelta(days=29)).isoformat(),
        "end": today.isoformat(),
        "days": 30,
    }
    assert len(result["trend"]) == 30


async def test_week_buckets_start_on_monday(gateway: httpx.AsyncClient, user_token: str) -> None:
    answer = await graphql(
        gateway, "{ salesAnalytics(granularity: WEEK) { trend { period } } }", user_token
    )
    periods = [date.fromisoformat(p["period"]) for p in answer["data"]["salesAnalytics"]["trend"]]
    assert periods and all(p.weekday() == 0 for p in periods)
    assert periods == sorted(periods)


@pytest.mark.parametrize(
    "query",
    [
        "{ salesAnalytics(top: 0) { kpis { orders } } }",
        "{ salesAnalytics(top: 100000) { kpis { orders } } }",
        '{ salesAnalytics(range: {start: "2026-02-01", end: "2026-01-01"}) { kpis { orders } } }',
        '{ salesAnalytics(range: {start: "2000-01-01", end: "2026-01-01"}) { kpis { orders } } }',
        '{ salesAnalytics(range: {start: "2026-13-01", end: "2026-01-01"}) { kpis { orders } } }',
        "{ stockAnalytics(lookbackDays: 0) { kpis { productCount } } }",
        "{ stockAnalytics(leadTimeDays: -1) { kpis { productCount } } }",
        "{ salesAnalytics { nope } }",
    ],
)
async def test_bad_arguments_give_bad_user_input(
    gateway: httpx.AsyncClient, user_token: str, query: str
) -> None:
    answer = await graphql(gateway, query, user_token)
    assert error_codes(answer) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    "variables",
    [{"top": "ten"}, {"top": [1, "DAY"]}, {"top": None}, {"top": 2**40}, {}],
)
async def test_bad_variables_give_bad_user_input(
    gateway: httpx.AsyncClient, user_token: str, variables: dict
) -> None:
    answer = await graphql(
        gateway,
        "query($top: Int!) { salesAnalytics(top: $top) { kpis { orders } } }",
        user_token,
        variables,
    )
    assert error_codes(answer) == ["BAD_USER_INPUT"]
    assert "Internal" not in answer["errors"][0]["message"]


async def test_stock_analytics_follows_the_definitions(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    answer = await graphql(
        gateway,
        """{ stockAnalytics(lookbackDays: 30, leadTimeDays: 7) {
              asOf kpis { productCount outOfStock lowStock reorderNeeded deadStock stockValue averageDaysOfCover }
              items { status stockQuantity stockValue averageDailySales daysOfCover suggestedReorderQuantity
                      product { sku price lowStockThreshold } }
              reorder: items(status: REORDER) { status } } }""",
        user_token,
    )
    assert "errors" not in answer, answer
    stock = answer["data"]["stockAnalytics"]
    items = stock["items"]
    kpis = stock["kpis"]
    assert kpis["productCount"] == len(items) >= 200
    counts = defaultdict(int)
    for item in items:
        counts[item["status"]] += 1
        quantity, threshold = item["stockQuantity"], item["product"]["lowStockThreshold"]
        assert item["stockValue"] == pytest.approx(quantity * item["product"]["price"], abs=0.011)
        if quantity == 0:
            assert item["status"] == "OUT_OF_STOCK"
        elif quantity <= threshold:
            assert item["status"] == "LOW_STOCK"
        if item["status"] in ("OUT_OF_STOCK", "LOW_STOCK", "REORDER"):
            expected = max(
                0, math.ceil(item["averageDailySales"] * (7 + 14) + threshold - quantity - 1e-9)
            )
            assert item["suggestedReorderQuantity"] == expected
        else:
            assert item["suggestedReorderQuantity"] == 0
    assert kpis["outOfStock"] == counts["OUT_OF_STOCK"] > 0
    assert kpis["lowStock"] == counts["LOW_STOCK"] > 0
    assert kpis["deadStock"] == counts["DEAD_STOCK"] > 0
    assert kpis["reorderNeeded"] == counts["LOW_STOCK"] + counts["REORDER"]
    assert len(stock["reorder"]) == counts["REORDER"]
    assert all(i["status"] == "REORDER" for i in stock["reorder"])
    covers = [i["daysOfCover"] for i in items if i["daysOfCover"] is not None]
    assert kpis["averageDaysOfCover"] == pytest.approx(sum(covers) / len(covers))


async def test_product_by_sku_joins_inventory(
    gateway: httpx.AsyncClient, standin: StandIn, user_token: str, admin_token: str
) -> None:
    inventory = {
        r["sku"]: r for r in await _java(standin, admin_token, "/inventory") if r.get("sku")
    }
    products = await _java(standin, admin_token, "/products")
    with_row = next(p for p in products if p["sku"] in inventory)
    without_row = next(p for p in products if p["sku"] not in inventory)
    query = (
        "query($s: String!) { product(sku: $s) { id sku name price stockQuantity category cost } }"
    )

    found = (await graphql(gateway, query, user_token, {"s": with_row["sku"]}))["data"]["product"]
    assert found["id"] == str(with_row["id"]) and found["name"] == with_row["name"]
    assert found["category"] == inventory[with_row["sku"]]["category"]
    assert found["cost"] == pytest.approx(inventory[with_row["sku"]]["cost"], abs=0.005)

    unknown = (await graphql(gateway, query, user_token, {"s": without_row["sku"]}))["data"][
        "product"
    ]
    assert unknown["category"] is None and unknown["cost"] is None

    assert (await graphql(gateway, query, user_token, {"s": "NO-SUCH-SKU"}))["data"][
        "product"
    ] is None


async def test_renamed_products_show_their_current_name(
    gateway: httpx.AsyncClient, standin: StandIn, user_token: str, admin_token: str
) -> None:
    sales = await _java(standin, admin_token, "/sales/history", days=729)
    products = {p["id"]: p for p in await _java(standin, admin_token, "/products")}
    renamed = {
        item["productId"]
        for sale in sales
        for item in sale["items"]
        if item["productId"] in products
        and item["productName"] != products[item["productId"]]["name"]
    }
    assert renamed, "the demo shop renames products"
    answer = await graphql(
        gateway,
        "query($r: DateRangeInput) { salesAnalytics(range: $r, top: 100) {"
        " topProducts { product { id name discontinued } } } }",
        user_token,
        {
            "r": {
                "start": (date.today() - timedelta(days=728)).isoformat(),
                "end": date.today().isoformat(),
            }
        },
    )
    for line in answer["data"]["salesAnalytics"]["topProducts"]:
        product = line["product"]
        if not product["discontinued"]:
            assert product["name"] == products[int(product["id"])]["name"]


async def test_previous_kpis_are_what_the_previous_range_answers_on_its_own(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    kpis = "revenue orders unitsSold averageOrderValue itemsPerOrder distinctProducts previousRevenue revenueChange"
    answer = await graphql(
        gateway,
        f"{{ salesAnalytics {{ previousRange {{ start end }} kpis {{ {kpis} }} previousKpis {{ {kpis} }} }} }}",
        user_token,
    )
    sales = answer["data"]["salesAnalytics"]
    previous = sales["previousRange"]
    alone = await graphql(
        gateway,
        f"query($r: DateRangeInput) {{ salesAnalytics(range: $r) {{ kpis {{ {kpis} }} }} }}",
        user_token,
        {"r": previous},
    )
    assert sales["previousKpis"] == alone["data"]["salesAnalytics"]["kpis"]
    assert sales["previousKpis"]["revenue"] == sales["kpis"]["previousRevenue"] > 0


async def test_partial_week_buckets_are_marked_and_never_start_before_the_range(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    # A Wednesday to a Tuesday four weeks later: a cut week at each end.
    today = date.today()
    end = today - timedelta(days=(today.weekday() - 1) % 7 + 7)  # a Tuesday in the past
    start = end - timedelta(days=27)  # a Wednesday
    answer = await graphql(
        gateway,
        "query($r: DateRangeInput) { salesAnalytics(range: $r, granularity: WEEK) {"
        " trend { period start end days complete revenue } } }",
        user_token,
        {"r": {"start": start.isoformat(), "end": end.isoformat()}},
    )
    trend = answer["data"]["salesAnalytics"]["trend"]
    assert [(p["days"], p["complete"]) for p in trend] == [
        (5, False),
        (7, True),
        (7, True),
        (7, True),
        (2, False),
    ]
    assert trend[0]["start"] == start.isoformat() and trend[0]["period"] < start.isoformat()
    assert trend[-1]["end"] == end.isoformat()
    assert all(date.fromisoformat(p["start"]).weekday() == 0 for p in trend[1:])


async def test_the_readme_try_it_query_shows_data_on_the_demo_shop(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    section = README[README.index("## Try it") :]
    query = section[section.index("```graphql\n") + 11 : section.index("```\n", 12)]
    answer = await graphql(gateway, query, user_token)
    assert "errors" not in answer, answer
    sales, stock = answer["data"]["salesAnalytics"], answer["data"]["stockAnalytics"]
    for name, rows in (
        ("trend", sales["trend"]),
        ("topProducts", sales["topProducts"]),
        ("categories", sales["categories"]),
        ("items", stock["items"]),
    ):
        assert rows, f"README's Try it: {name} is empty on the demo shop"
