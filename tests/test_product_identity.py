"""Analytics, forecasts and alerts name and categorise products the same way (analytics.products)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from frames_support import catalogue_frame, inventory_frame, items_frame

from salesflow_graphql.alerts.detection import DetectionRules, find_sales_anomalies
from salesflow_graphql.alerts.model import AlertKind
from salesflow_graphql.alerts.series import build_sales_panel
from salesflow_graphql.analytics.periods import DateRange
from salesflow_graphql.analytics.products import UNCATEGORIZED
from salesflow_graphql.analytics.sales import compute_sales_analytics
from salesflow_graphql.forecast.series import ForecastLevel, ForecastMetric, daily_panel

FIRST = date(2026, 1, 5)
DAYS = 70
LAST = FIRST + timedelta(days=DAYS - 1)
SPIKE = DAYS - 2
RENAMED_ON = 30  # product 1 sold as OLD-1 "Apple" before, as NEW-1 "Apple, new name" since
# Product 3 was sold as D-OLD, then as D-NEW, and has been deleted from the catalogue since.
CATALOGUE = catalogue_frame(
    [(1, "NEW-1", "Apple, new name", 2.0, 50, 5), (2, "KEEP-2", "Pear", 3.0, 50, 5)]
)
INVENTORY = inventory_frame(
    [
        ("NEW-1", "Fruit", 1.0),
        ("OLD-1", "Stale", 1.0),  # the old sku's row must not pull product 1 over
        ("KEEP-2", "Fruit", 1.5),
        ("D-NEW", "Clearance", 2.0),
        ("D-OLD", "Archive", 2.0),
        ("D-NEW", "Duplicate", 2.0),  # one row per sku: the first wins
        ("NOBODY", "", 1.0),
    ]
)


def _snapshot(product: int, day: int) -> tuple[str, str]:
    if product == 1:
        return ("OLD-1", "Apple") if day < RENAMED_ON else ("NEW-1", "Apple, new name")
    if product == 3:
        return ("D-OLD", "Dusty, old") if day < RENAMED_ON else ("D-NEW", "Dusty")
    return "KEEP-2", "Pear"


def _lines() -> list[dict[str, Any]]:
    """One sale per product and day, newest first as Java answers; products 1 and 3 spike."""
    rng = np.random.default_rng(4)
    lines = []
    for day in range(DAYS):
        for product in (1, 2, 3):
            quantity = 10 + int(rng.poisson(3)) if day != SPIKE or product == 2 else 80
            sku, name = _snapshot(product, day)
            lines.append(
                {
                    "sale_id": day * 3 + product,
                    "sold_at": datetime.combine(FIRST + timedelta(days=day), datetime.min.time())
                    + timedelta(hours=9 + product),
                    "product_id": product,
                    "sku": sku,
                    "product_name": name,
                    "quantity": quantity,
                    "unit_price": 2.0,
                }
            )
    return lines[::-1]


ITEMS = items_frame(_lines())


@pytest.mark.parametrize("metric", list(ForecastMetric))
def test_analytics_a_category_forecast_and_the_alert_panel_count_the_same_products(
    metric: ForecastMetric,
) -> None:
    analytics = compute_sales_analytics(ITEMS, CATALOGUE, INVENTORY, DateRange(FIRST, LAST))
    by_analytics = {
        c.category: (c.units_sold if metric is ForecastMetric.UNITS else c.revenue)
        for c in analytics.categories
    }
    assert set(by_analytics) == {"Fruit", "Clearance"}
    assert {(p.product_id, p.sku, p.name) for p in analytics.top_products} == {
        (1, "NEW-1", "Apple, new name"),
        (2, "KEEP-2", "Pear"),
        (3, "D-NEW", "Dusty"),
    }

    forecast = daily_panel(
        ITEMS,
        CATALOGUE,
        INVENTORY,
        level=ForecastLevel.CATEGORY,
        metric=metric,
        key="Fruit",
        start=FIRST,
        end=LAST,
    )
    by_forecast = forecast.groupby("series_id")["value"].sum().round(2).to_dict()

    panel = build_sales_panel(ITEMS, CATALOGUE, INVENTORY, FIRST, LAST)
    values = panel.units if metric is ForecastMetric.UNITS else panel.revenue
    by_alerts = {
        subject: round(float(values[row].sum()), 2)
        for row, subject in enumerate(panel.subjects)
        if subject in {"Fruit", "Clearance", "Stale", "Archive", "Duplicate", UNCATEGORIZED}
    }
    assert by_forecast == by_alerts == by_analytics
    assert panel.subjects[-3:] == ["NEW-1", "KEEP-2", "D-NEW"]


def test_the_detector_names_a_renamed_product_now_and_files_a_deleted_one_under_its_category() -> (
    None
):
    panel = build_sales_panel(ITEMS, CATALOGUE, INVENTORY, FIRST, LAST)
    alerts, _ = find_sales_anomalies(
        panel, [SPIKE], DetectionRules(), datetime(2026, 3, 20, tzinfo=UTC)
    )
    spikes = {a.subject: a for a in alerts if a.kind is AlertKind.SALES_SPIKE}
    assert {"NEW-1", "Clearance"} <= set(spikes)
    renamed = spikes["NEW-1"]
    assert renamed.product is not None and renamed.product.name == "Apple, new name"
    assert "Apple, new name (NEW-1)" in renamed.message
    # Nobody can act on a deleted product: its spike is its category's, under its latest sku's.
    assert not {"D-NEW", "D-OLD", "OLD-1", "Archive", "Stale"} & set(spikes)
