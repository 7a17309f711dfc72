"""Function-level benchmark of the analytics core (no server, no I/O).

Builds synthetic frames (fixed seed) of 10k, 100k and 1M item lines, times
``compute_sales_analytics`` and ``compute_stock_analytics`` (best of 3) and
measures their peak traced memory (tracemalloc, in a separate untimed run:
tracing slows allocation down). All lines fall inside the sales range and its
previous range, so every line is aggregated.

    uv run python bench/analytics_compute.py [--quick]

Importable: ``run(sizes) -> list[dict]``.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from salesflow_graphql.analytics.periods import DateRange, Granularity
from salesflow_graphql.analytics.sales import compute_sales_analytics
from salesflow_graphql.analytics.stock import compute_stock_analytics
from salesflow_graphql.sor.frames import (
    CATALOGUE_SCHEMA,
    INVENTORY_SCHEMA,
    ITEM_SCHEMA,
    typed_frame,
)

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
SEED = 20240601
PRODUCTS = 5_000
DELETED_SHARE = 0.05
LINES_PER_SALE = 3
AS_OF = date(2024, 6, 30)
RANGE_DAYS = 180
LOOKBACK_DAYS = 90
LEAD_TIME_DAYS = 7
TOP = 10
REPEATS = 3


@dataclass(frozen=True, slots=True)
class Shop:
    """Synthetic input frames of one size."""

    items: pd.DataFrame
    catalogue: pd.DataFrame
    inventory: pd.DataFrame


def build_shop(lines: int, seed: int = SEED) -> Shop:
    """A deterministic shop whose item lines span the range and its previous range."""
    rng = np.random.default_rng(seed)
    product_ids = np.arange(1, PRODUCTS + 1, dtype=np.int64)
    skus = np.array([f"SKU-{i:05d}" for i in product_ids], dtype=object)
    names = np.array([f"Product {i}" for i in product_ids], dtype=object)
    prices = np.round(rng.uniform(1, 500, PRODUCTS), 2)

    sales = max(1, lines // LINES_PER_SALE)
    sale_of_line = np.sort(rng.integers(0, sales, lines))
    first_day = np.datetime64(AS_OF - timedelta(days=2 * RANGE_DAYS - 1))
    sale_second = rng.integers(0, 2 * RANGE_DAYS * 86_400, sales)
    sold_at = first_day + sale_second[sale_of_line].astype("timedelta64[s]")
    # Popularity skew: a few products sell much more than the long tail.
    product_index = np.minimum(rng.zipf(1.3, lines) - 1, PRODUCTS - 1)
    product_index = rng.permutation(PRODUCTS)[product_index]
    quantity = rng.integers(1, 6, lines)
    unit_price = prices[product_index]
    items = typed_frame(
        {
            "sale_id": sale_of_line + 1,
            "sold_at": sold_at,
            "sale_date": sold_at.astype("datetime64[D]"),
            "product_id": product_ids[product_index],
            "sku": skus[product_index],
            "product_name": names[product_index],
            "quantity": quantity,
            "unit_price": unit_price,
            "subtotal": quantity * unit_price,
        },
        ITEM_SCHEMA,
    )

    live = rng.random(PRODUCTS) >= DELETED_SHARE
    catalogue = typed_frame(
        {
            "product_id": product_ids[live],
            "sku": skus[live],
            "name": names[live],
            "price": prices[live],
            "stock_quantity": rng.integers(0, 400, live.sum()),
            "low_stock_threshold": rng.integers(0, 20, live.sum()),
        },
        CATALOGUE_SCHEMA,
    )
    stocked = rng.random(PRODUCTS) < 0.9
    cost = np.where(rng.random(PRODUCTS) < 0.8, np.round(prices * 0.6, 2), np.nan)
    inventory = typed_frame(
        {
            "sku": skus[stocked],
            "category": rng.choice(["Tools", "Garden", "Kitchen", "Toys", "Books"], stocked.sum()),
            "cost": cost[stocked],
        },
        INVENTORY_SCHEMA,
    )
    return Shop(items=items, catalogue=catalogue, inventory=inventory)


def _best_seconds(action: Callable[[], object], repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def _peak_mib(action: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def run(sizes: Iterable[int] = SIZES) -> list[dict[str, Any]]:
    """Benchmark each size; one dict per size with timings (s) and peak memory (MiB)."""
    period = DateRange(AS_OF - timedelta(days=RANGE_DAYS - 1), AS_OF)
    results: list[dict[str, Any]] = []
    for lines in sizes:
        started = time.perf_counter()
        shop = build_shop(lines)
        build_seconds = time.perf_counter() - started

        def sales(shop: Shop = shop) -> object:
            return compute_sales_analytics(
                shop.items, shop.catalogue, shop.inventory, period, Granularity.DAY, TOP
            )

        def stock(shop: Shop = shop) -> object:
            return compute_stock_analytics(
                shop.items, shop.catalogue, shop.inventory, AS_OF, LOOKBACK_DAYS, LEAD_TIME_DAYS
            )

        results.append(
            {
                "lines": lines,
                "build_s": build_seconds,
                "sales_s": _best_seconds(sales),
                "stock_s": _best_seconds(stock),
                "sales_peak_mib": _peak_mib(sales),
                "stock_peak_mib": _peak_mib(stock),
                "frame_mib": float(shop.items.memory_usage(deep=True).sum()) / 2**20,
            }
        )
    return results


def format_table(results: list[dict[str, Any]]) -> str:
    """The results as a fixed-width text table."""
    header = (
        f"{'lines':>10} {'build s':>8} {'sales s':>8} {'stock s':>8} "
        f"{'sales MiB':>10} {'stock MiB':>10} {'frame MiB':>10}"
    )
    rows = [
        f"{r['lines']:>10,} {r['build_s']:>8.3f} {r['sales_s']:>8.3f} {r['stock_s']:>8.3f} "
        f"{r['sales_peak_mib']:>10.1f} {r['stock_peak_mib']:>10.1f} {r['frame_mib']:>10.1f}"
        for r in results
    ]
    return "\n".join([header, *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only 10k and 100k lines")
    args = parser.parse_args()
    print(format_table(run(QUICK_SIZES if args.quick else SIZES)))


if __name__ == "__main__":
    main()
