"""Stock analytics: docs/api.md "What each number means", with hand-computed expectations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from frames_support import (
    catalogue_frame,
    empty_items_frame,
    inventory_frame,
    items_frame,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from salesflow_graphql.analytics.stock import (
    StockAnalytics,
    StockLine,
    StockStatus,
    compute_stock_analytics,
)
from salesflow_graphql.errors import BadUserInput

AS_OF = date(2024, 3, 31)
LOOKBACK = 10  # window 2024-03-22 .. 2024-03-31
LEAD = 7
NAN = float("nan")

# (product_id, sku, name, price, stock, low_stock_threshold)
CATALOGUE = catalogue_frame(
    [
        (1, "OUT-1", "Sold out", 10.0, 0, 5),
        (2, "LOW-1", "Low", 4.0, 3, 5),
        (3, "REO-1", "Reorder", 2.0, 12, 2),
        (4, "DEAD-1", "Dead", 5.0, 40, 5),
        (5, "OK-1", "Plenty", 1.5, 100, 5),
        (6, "EDGE-1", "Cover equals lead time", 3.0, 7, 0),
    ]
)
INVENTORY = inventory_frame(
    [
        ("OUT-1", "Tools", 6.0),
        ("LOW-1", "Tools", 2.5),
        ("REO-1", "Tools", NAN),
        ("DEAD-1", "Garden", 3.0),
        # OK-1 has no inventory row.
        ("EDGE-1", "Garden", 1.25),
    ]
)


def sale(sale_id: int, sold_at: str, product_id: int, quantity: int) -> dict[str, Any]:
    return {
        "sale_id": sale_id,
        "sold_at": datetime.fromisoformat(sold_at),
        "product_id": product_id,
        "sku": f"SNAP-{product_id}",
        "product_name": f"Snapshot {product_id}",
        "quantity": quantity,
        "unit_price": 1.0,
    }


SALES = [
    sale(1, "2024-03-25T10:00:00", 1, 4),
    sale(2, "2024-03-30T10:00:00", 1, 6),  # OUT-1: 10 units, last 03-30
    sale(3, "2024-03-22T00:00:00", 2, 20),  # LOW-1: 20 units on the window's first instant
    sale(4, "2024-03-31T23:59:59.999", 3, 25),  # REO-1: 25 units on its last millisecond
    sale(5, "2024-03-21T23:59:59.999", 4, 3),  # DEAD-1: just before the window
    sale(6, "2024-03-28T10:00:00", 5, 10),  # OK-1: 10 units
    sale(7, "2024-04-01T00:00:00", 5, 50),  # OK-1: after as_of, ignored
    sale(8, "2024-03-29T10:00:00", 6, 10),  # EDGE-1: 10 units
]


def analyse(
    lines: list[dict[str, Any]] = SALES,
    catalogue: Any = CATALOGUE,
    inventory: Any = INVENTORY,
    *,
    as_of: date = AS_OF,
    lookback: int = LOOKBACK,
    lead: int = LEAD,
) -> StockAnalytics:
    items = items_frame(lines) if lines else empty_items_frame()
    return compute_stock_analytics(items, catalogue, inventory, as_of, lookback, lead)


def by_sku(result: StockAnalytics) -> dict[str, StockLine]:
    return {line.sku: line for line in result.items}


def test_every_status_follows_the_first_matching_rule() -> None:
    statuses = {sku: line.status for sku, line in by_sku(analyse()).items()}
    assert statuses == {
        "OUT-1": StockStatus.OUT_OF_STOCK,  # stock 0 (also <= threshold)
        "LOW-1": StockStatus.LOW_STOCK,  # 3 <= 5 (cover 1.5 days also < 7)
        "REO-1": StockStatus.REORDER,  # cover 12 / 2.5 = 4.8 < 7
        "DEAD-1": StockStatus.DEAD_STOCK,  # 40 in stock, no sale in the window
        "OK-1": StockStatus.OK,  # cover 100 days
        "EDGE-1": StockStatus.OK,  # cover exactly 7 days is not < 7
    }


def test_out_of_stock_wins_over_low_stock_and_dead_stock() -> None:
    catalogue = catalogue_frame([(1, "Z-1", "Zero", 1.0, 0, 5)])
    (line,) = analyse([], catalogue).items
    assert line.status is StockStatus.OUT_OF_STOCK
    assert line.suggested_reorder_quantity == 5  # ceil(0 * 21 + 5 - 0)


def test_low_stock_status_wins_over_reorder() -> None:
    line = by_sku(analyse())["LOW-1"]
    assert line.days_of_cover == pytest.approx(1.5)
    assert line.status is StockStatus.LOW_STOCK


def test_low_stock_without_sales_is_low_stock_not_dead_stock() -> None:
    catalogue = catalogue_frame([(1, "L-1", "Low, unsold", 1.0, 2, 5)])
    (line,) = analyse([], catalogue).items
    assert line.status is StockStatus.LOW_STOCK
    assert line.suggested_reorder_quantity == 3  # ceil(0 + 5 - 2)


def test_dead_stock_has_no_cover_no_last_sale_and_no_suggestion() -> None:
    line = by_sku(analyse())["DEAD-1"]
    assert (line.average_daily_sales, line.days_of_cover, line.last_sale_date) == (0.0, None, None)
    assert line.suggested_reorder_quantity == 0


def test_cover_figures_follow_the_definitions() -> None:
    lines = by_sku(analyse())
    assert lines["OUT-1"].average_daily_sales == pytest.approx(1.0)
    assert lines["OUT-1"].days_of_cover == 0.0
    assert lines["REO-1"].average_daily_sales == pytest.approx(2.5)
    assert lines["REO-1"].days_of_cover == pytest.approx(4.8)
    assert lines["OK-1"].days_of_cover == pytest.approx(100.0)  # the 04-01 sale is ignored
    assert lines["EDGE-1"].days_of_cover == pytest.approx(7.0)


def test_last_sale_date_is_the_latest_sale_day_in_the_window() -> None:
    lines = by_sku(analyse())
    assert lines["OUT-1"].last_sale_date == date(2024, 3, 30)
    assert lines["LOW-1"].last_sale_date == date(2024, 3, 22)
    assert lines["REO-1"].last_sale_date == date(2024, 3, 31)
    assert lines["OK-1"].last_sale_date == date(2024, 3, 28)
    assert lines["DEAD-1"].last_sale_date is None


def test_suggested_reorder_quantity_formula() -> None:
    lines = by_sku(analyse())
    # max(0, ceil(averageDailySales * (lead + 14) + threshold - stock))
    assert lines["OUT-1"].suggested_reorder_quantity == 26  # ceil(1.0 * 21 + 5 - 0)
    assert lines["LOW-1"].suggested_reorder_quantity == 44  # ceil(2.0 * 21 + 5 - 3)
    assert lines["REO-1"].suggested_reorder_quantity == 43  # ceil(2.5 * 21 + 2 - 12) = ceil(42.5)
    assert lines["OK-1"].suggested_reorder_quantity == 0  # OK: never suggested
    assert lines["EDGE-1"].suggested_reorder_quantity == 0


def test_suggested_reorder_quantity_is_exact_where_floats_would_round_up() -> None:
    # 7 units in 3 days, lead 13: 7 / 3 * 27 = 63 exactly; in floats 63.00000000000001.
    catalogue = catalogue_frame([(1, "F-1", "Float", 1.0, 2, 2)])
    lines = [sale(1, "2024-03-30T10:00:00", 1, 7)]
    (line,) = analyse(lines, catalogue, lookback=3, lead=13).items
    assert line.status is StockStatus.LOW_STOCK
    assert line.suggested_reorder_quantity == 63  # ceil(63 + 2 - 2)


def test_days_of_cover_is_none_when_nothing_sold_in_the_window() -> None:
    result = analyse([sale(1, "2024-03-01T10:00:00", 5, 10)])
    assert all(line.days_of_cover is None for line in result.items)
    assert all(line.average_daily_sales == 0.0 for line in result.items)
    assert result.kpis.average_days_of_cover is None


def test_kpis_over_the_whole_catalogue() -> None:
    kpis = analyse().kpis
    assert kpis.product_count == 6
    assert kpis.total_units == 162  # 0 + 3 + 12 + 40 + 100 + 7
    assert kpis.stock_value == 407.00  # 0 + 12 + 24 + 200 + 150 + 21
    # Known costs only: 0 * 6 + 3 * 2.5 + 40 * 3 + 7 * 1.25 (REO-1 NaN, OK-1 no row)
    assert kpis.stock_cost == 136.25
    assert (kpis.out_of_stock, kpis.low_stock, kpis.dead_stock) == (1, 1, 1)
    assert kpis.reorder_needed == 2  # LOW_STOCK + REORDER
    # Mean over the five products that sold: (0 + 1.5 + 4.8 + 100 + 7) / 5
    assert kpis.average_days_of_cover == pytest.approx(22.66)


def test_stock_value_uses_the_current_price_rounded_to_cents() -> None:
    catalogue = catalogue_frame(
        [(1, "P-1", "Pricey", 0.125, 1, 0), (2, "P-2", "Cheap", 0.004, 2, 0)]
    )
    result = analyse([], catalogue)
    assert {line.sku: line.stock_value for line in result.items} == {"P-1": 0.12, "P-2": 0.01}
    assert result.kpis.stock_value == 0.13  # 0.125 + 0.008 = 0.133


def test_stock_cost_is_none_when_no_cost_is_known() -> None:
    inventory = inventory_frame([("OUT-1", "Tools", NAN), ("LOW-1", "Tools", NAN)])
    assert analyse(inventory=inventory).kpis.stock_cost is None


def test_stock_cost_is_zero_when_known_costs_have_no_stock() -> None:
    inventory = inventory_frame([("OUT-1", "Tools", 6.0)])
    assert analyse(inventory=inventory).kpis.stock_cost == 0.0


def test_cost_joins_inventory_by_the_current_sku() -> None:
    # Snapshot skus in SALES are "SNAP-n"; an inventory row for one is not the product's.
    inventory = inventory_frame([("SNAP-4", "Garden", 3.0)])
    assert analyse(inventory=inventory).kpis.stock_cost is None


def test_sales_of_deleted_products_are_ignored() -> None:
    result = analyse([*SALES, sale(9, "2024-03-30T10:00:00", 99, 1000)])
    assert [line.product_id for line in result.items] == [1, 2, 3, 4, 6, 5]
    assert result.kpis.product_count == 6


def test_items_are_ordered_most_urgent_first() -> None:
    # Status (OUT, LOW, REORDER, DEAD, OK), then days of cover ascending (None last), then sku.
    assert [line.sku for line in analyse().items] == [
        "OUT-1",
        "LOW-1",
        "REO-1",
        "DEAD-1",
        "EDGE-1",  # OK, 7 days
        "OK-1",  # OK, 100 days
    ]


def test_items_with_equal_status_and_cover_are_ordered_by_sku() -> None:
    catalogue = catalogue_frame(
        [
            (1, "LOW-C", "No sales", 1.0, 1, 5),
            (2, "LOW-B", "No sales", 1.0, 1, 5),
            (3, "LOW-A", "Sold", 1.0, 1, 5),
        ]
    )
    lines = [sale(1, "2024-03-30T10:00:00", 3, 1)]
    assert [line.sku for line in analyse(lines, catalogue).items] == ["LOW-A", "LOW-B", "LOW-C"]


def test_empty_catalogue_has_zero_kpis() -> None:
    result = analyse(catalogue=catalogue_frame([]))
    assert result.items == []
    kpis = result.kpis
    assert (kpis.product_count, kpis.total_units, kpis.stock_value) == (0, 0, 0.0)
    assert (kpis.stock_cost, kpis.average_days_of_cover) == (None, None)


@pytest.mark.parametrize(("lookback", "lead"), [(0, 7), (-3, 7), (30, -1)])
def test_invalid_windows_are_bad_user_input(lookback: int, lead: int) -> None:
    with pytest.raises(BadUserInput):
        analyse(lookback=lookback, lead=lead)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.integers(0, 10), st.integers(0, 40)),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 30),
    st.integers(0, 20),
)
def test_status_counts_and_reorder_suggestions_are_consistent(
    products: list[tuple[int, int, int]], lookback: int, lead: int
) -> None:
    catalogue = catalogue_frame(
        [
            (i, f"P-{i:02d}", "x", 1.0, stock, threshold)
            for i, (stock, threshold, _) in enumerate(products)
        ]
    )
    lines = [
        sale(i, "2024-03-31T12:00:00", i, units)
        for i, (_, _, units) in enumerate(products)
        if units
    ]
    result = analyse(lines, catalogue, as_of=AS_OF, lookback=lookback, lead=lead)
    statuses = [line.status for line in result.items]
    kpis = result.kpis
    assert kpis.out_of_stock == statuses.count(StockStatus.OUT_OF_STOCK)
    assert kpis.dead_stock == statuses.count(StockStatus.DEAD_STOCK)
    assert kpis.reorder_needed == statuses.count(StockStatus.LOW_STOCK) + statuses.count(
        StockStatus.REORDER
    )
    for line in result.items:
        needs_reorder = line.status in {
            StockStatus.OUT_OF_STOCK,
            StockStatus.LOW_STOCK,
            StockStatus.REORDER,
        }
        if not needs_reorder:
            assert line.suggested_reorder_quantity == 0
        # After reordering, stock covers lead time + 14 days of demand above the threshold.
        threshold = products[line.product_id][1]
        target = line.average_daily_sales * (lead + 14) + threshold
        if needs_reorder:
            assert line.stock_quantity + line.suggested_reorder_quantity >= target - 1e-9
            if line.suggested_reorder_quantity > 0:  # the smallest such quantity
                assert line.stock_quantity + line.suggested_reorder_quantity - 1 < target - 1e-9
