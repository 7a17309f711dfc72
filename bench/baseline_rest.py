"""The seed's design, as a baseline for ``bench/load.py``: one REST endpoint, no cache.

    uv run python bench/baseline_rest.py --port 8100 --java-url http://127.0.0.1:8080/api/v1
    GET /dashboard?days=30&top=10&lookbackDays=30&leadTimeDays=7   (Authorization: Bearer ...)

On every call it does what a straightforward service would:

- fetches the whole catalogue, the inventory and the sales history of the range
  and the range before it from Java (plain ``httpx``, the three at once, the
  caller's token forwarded), with no cache anywhere;
- flattens the sales into one row per item line and computes the dashboard's
  numbers with pandas group-bys, on the event loop;
- fetches each top product by id, one call after another (Java has no multi-get;
  no batching, no loader);
- answers JSON (``json.dumps``).

It computes the same numbers as the gateway's ``salesAnalytics`` and
``stockAnalytics`` (API.md "Definitions"); ``bench/load.py`` checks that they
agree before it measures anything, so the comparison is like for like.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

UNCATEGORIZED = "Uncategorized"
SAFETY_DAYS = 14
URGENCY = ["OUT_OF_STOCK", "LOW_STOCK", "REORDER", "DEAD_STOCK", "OK"]


def create_app(java_url: str) -> Starlette:
    java = httpx.AsyncClient(base_url=java_url.rstrip("/"), timeout=60)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def dashboard(request: Request) -> Response:
        headers = {"Authorization": request.headers.get("authorization", "")}
        query = request.query_params
        days = int(query.get("days", 30))
        top = int(query.get("top", 10))
        lookback = int(query.get("lookbackDays", 30))
        lead_time = int(query.get("leadTimeDays", 7))
        today = date.today()
        start = today - timedelta(days=days - 1)
        previous_start = start - timedelta(days=days)
        history_days = max((today - previous_start).days, lookback)

        products, inventory, sales = await asyncio.gather(
            java.get("/products", headers=headers),
            java.get("/inventory", headers=headers),
            java.get("/sales/history", params={"days": history_days}, headers=headers),
        )
        for answer in (products, inventory, sales):
            answer.raise_for_status()
        catalogue = pd.DataFrame(products.json())
        stock_rows = pd.DataFrame(inventory.json())
        # One row per item line (a comprehension: pd.json_normalize is 3-5x slower here).
        lines = pd.DataFrame(
            [
                {**item, "id": sale["id"], "saleDate": sale["saleDate"]}
                for sale in sales.json()
                for item in sale["items"]
            ]
        )
        lines["day"] = pd.to_datetime(lines["saleDate"], format="ISO8601").dt.normalize()

        sales_part = sales_analytics(lines, catalogue, stock_rows, today, start, days, top)
        # The naive N+1: each top product's details, one GET after another.
        for row in sales_part["topProducts"]:
            answer = await java.get(f"/products/by-id/{row['productId']}", headers=headers)
            current = answer.json() if answer.status_code == 200 else {}
            row["product"].update(
                {
                    k: current[k]
                    for k in ("id", "name", "sku", "price", "stockQuantity")
                    if k in current
                }
            )
        body = {
            "salesAnalytics": sales_part,
            "stockAnalytics": stock_analytics(
                lines, catalogue, stock_rows, today, lookback, lead_time
            ),
        }
        return Response(json.dumps(body), media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await java.aclose()

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/dashboard", dashboard)], lifespan=lifespan
    )


def sales_analytics(
    lines: pd.DataFrame,
    catalogue: pd.DataFrame,
    stock_rows: pd.DataFrame,
    today: date,
    start: date,
    days: int,
    top: int,
) -> dict[str, Any]:
    first, last = pd.Timestamp(start), pd.Timestamp(today)
    previous_first = pd.Timestamp(start - timedelta(days=days))
    current = lines[(lines["day"] >= first) & (lines["day"] <= last)]
    previous = lines[(lines["day"] >= previous_first) & (lines["day"] < first)]

    revenue = float(current["subtotal"].sum())
    previous_revenue = float(previous["subtotal"].sum())
    orders = int(current["id"].nunique())
    units = int(current["quantity"].sum())
    kpis = {
        "revenue": _cents(revenue),
        "orders": orders,
        "unitsSold": units,
        "averageOrderValue": _cents(revenue / orders) if orders else 0.0,
        "itemsPerOrder": units / orders if orders else 0.0,
        "distinctProducts": int(current["productId"].nunique()),
        "previousRevenue": _cents(previous_revenue),
        "revenueChange": revenue / previous_revenue - 1 if _cents(previous_revenue) else None,
    }

    by_day = current.groupby("day").agg(
        revenue=("subtotal", "sum"), orders=("id", "nunique"), units=("quantity", "sum")
    )
    by_day = by_day.reindex(pd.date_range(first, last, freq="D"), fill_value=0)
    trend = [
        {
            "period": day.date().isoformat(),
            "revenue": _cents(row.revenue),
            "orders": int(row.orders),
            "unitsSold": int(row.units),
        }
        for day, row in by_day.iterrows()
    ]

    # Current sku/name from the catalogue; the latest snapshot for deleted products.
    latest = current.sort_values(["saleDate", "id"]).groupby("productId").last()
    per_product = current.groupby("productId").agg(
        revenue=("subtotal", "sum"), units=("quantity", "sum"), orders=("id", "nunique")
    )
    per_product = per_product.join(latest[["sku", "productName"]].add_prefix("snapshot_"))
    current_names = catalogue.drop_duplicates("id", keep="last").set_index("id")[["sku", "name"]]
    per_product = per_product.join(current_names, how="left")
    per_product["sku"] = per_product["sku"].fillna(per_product["snapshot_sku"])
    per_product["name"] = per_product["name"].fillna(per_product["snapshot_productName"])
    by_sku = stock_rows.drop_duplicates("sku", keep="last").set_index("sku")
    per_product = per_product.join(by_sku[["category", "cost"]], on="sku")
    per_product["category"] = per_product["category"].fillna("").replace("", UNCATEGORIZED)
    per_product["rounded"] = per_product["revenue"].round(2)
    ranked = per_product.reset_index().sort_values(["rounded", "sku"], ascending=[False, True])

    top_products = [
        {
            "productId": int(row.productId),
            "revenue": _cents(row.revenue),
            "unitsSold": int(row.units),
            "orders": int(row.orders),
            "shareOfRevenue": row.revenue / revenue if _cents(revenue) else 0.0,
            "product": {
                "sku": row.sku,
                "name": row.name,
                "category": row.category,
                "cost": None if pd.isna(row.cost) else float(row.cost),
            },
        }
        for row in ranked.head(top).itertuples()
    ]
    per_category = per_product.groupby("category").agg(
        revenue=("revenue", "sum"), units=("units", "sum")
    )
    per_category["rounded"] = per_category["revenue"].round(2)
    per_category = per_category.reset_index().sort_values(
        ["rounded", "category"], ascending=[False, True]
    )
    categories = [
        {
            "category": row.category,
            "revenue": _cents(row.revenue),
            "unitsSold": int(row.units),
            "shareOfRevenue": row.revenue / revenue if _cents(revenue) else 0.0,
        }
        for row in per_category.itertuples()
    ]
    return {
        "range": {"start": start.isoformat(), "end": today.isoformat(), "days": days},
        "kpis": kpis,
        "trend": trend,
        "topProducts": top_products,
        "categories": categories,
    }


def stock_analytics(
    lines: pd.DataFrame,
    catalogue: pd.DataFrame,
    stock_rows: pd.DataFrame,
    today: date,
    lookback: int,
    lead_time: int,
) -> dict[str, Any]:
    first = pd.Timestamp(today - timedelta(days=lookback - 1))
    window = lines[(lines["day"] >= first) & (lines["day"] <= pd.Timestamp(today))]
    window = window[window["quantity"] > 0]
    sold = window.groupby("productId").agg(units=("quantity", "sum"), last_day=("day", "max"))
    products = catalogue.drop_duplicates("id", keep="last").join(sold, on="id")
    by_sku = stock_rows.drop_duplicates("sku", keep="last").set_index("sku")
    products = products.join(by_sku[["category", "cost"]], on="sku")
    products["units"] = products["units"].fillna(0).astype("int64")

    items = []
    for row in products.itertuples():
        stock, threshold, units = int(row.stockQuantity), int(row.lowStockThreshold), int(row.units)
        if stock <= 0:
            status = "OUT_OF_STOCK"
        elif stock <= threshold:
            status = "LOW_STOCK"
        elif units > 0 and stock * lookback < lead_time * units:
            status = "REORDER"
        elif units == 0:
            status = "DEAD_STOCK"
        else:
            status = "OK"
        demand = units * (lead_time + SAFETY_DAYS) + (threshold - stock) * lookback
        items.append(
            {
                "status": status,
                "stockQuantity": stock,
                "stockValue": _cents(stock * row.price),
                "averageDailySales": units / lookback,
                "daysOfCover": stock * lookback / units if units else None,
                "suggestedReorderQuantity": max(0, -(-demand // lookback))
                if status in URGENCY[:3]
                else 0,
                "lastSaleDate": None if pd.isna(row.last_day) else row.last_day.date().isoformat(),
                "product": {
                    "sku": row.sku,
                    "name": row.name,
                    "category": None if pd.isna(row.category) else row.category,
                },
                "_cost": None if pd.isna(row.cost) else float(row.cost),
            }
        )
    items.sort(
        key=lambda i: (
            URGENCY.index(i["status"]),
            math.inf if i["daysOfCover"] is None else i["daysOfCover"],
            i["product"]["sku"],
        )
    )
    costed = [i for i in items if i["_cost"] is not None]
    covered = [i["daysOfCover"] for i in items if i["daysOfCover"] is not None]
    count = {s: sum(1 for i in items if i["status"] == s) for s in URGENCY}
    kpis = {
        "productCount": len(items),
        "totalUnits": sum(i["stockQuantity"] for i in items),
        "stockValue": _cents(float((products["stockQuantity"] * products["price"]).sum())),
        "stockCost": _cents(sum(i["stockQuantity"] * i["_cost"] for i in costed))
        if costed
        else None,
        "outOfStock": count["OUT_OF_STOCK"],
        "lowStock": count["LOW_STOCK"],
        "reorderNeeded": count["LOW_STOCK"] + count["REORDER"],
        "deadStock": count["DEAD_STOCK"],
        "averageDaysOfCover": float(np.mean(covered)) if covered else None,
    }
    for item in items:
        del item["_cost"]
    return {"kpis": kpis, "items": items}


def _cents(amount: float) -> float:
    return round(float(amount), 2) + 0.0


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--java-url", required=True, help="Java base URL including /api/v1")
    args = parser.parse_args()
    uvicorn.run(create_app(args.java_url), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
