"""Sales analytics: docs/api.md "What each number means", with hand-computed expectations."""

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

from salesflow_graphql.analytics.periods import (
    DateRange,
    Granularity,
    bucket_starts,
    validated_range,
    window_ending,
)
from salesflow_graphql.analytics.products import UNCATEGORIZED
from salesflow_graphql.analytics.sales import (
    CategorySales,
    SalesAnalytics,
    compute_sales_analytics,
)
from salesflow_graphql.errors import BadUserInput

# Monday 2024-03-11 .. Sunday 2024-03-17; previous range 2024-03-04 .. 2024-03-10.
WEEK = DateRange(date(2024, 3, 11), date(2024, 3, 17))
NAN = float("nan")

CATALOGUE = catalogue_frame(
    [
        (1, "SKU-A", "Apple", 2.0, 10, 2),
        (2, "SKU-B", "Banana", 3.0, 10, 2),
        (3, "SKU-C", "Cherry", 5.0, 10, 2),
    ]
)
INVENTORY = inventory_frame(
    [
        ("SKU-A", "Fruit", 1.0),
        ("SKU-B", "Fruit", NAN),
        ("GONE-2", "Clearance", 4.0),
        # SKU-C has no inventory row.
    ]
)
SNAPSHOT = {1: ("SKU-A", "Apple"), 2: ("SKU-B", "Banana"), 3: ("SKU-C", "Cherry")}


def line(
    sale_id: int,
    sold_at: str,
    product_id: int,
    quantity: int,
    unit_price: float,
    *,
    sku: str | None = None,
    name: str | None = None,
    subtotal: float | None = None,
) -> dict[str, Any]:
    """One sale item line; sku/name default to the product's current values."""
    default_sku, default_name = SNAPSHOT.get(product_id, ("?", "?"))
    row: dict[str, Any] = {
        "sale_id": sale_id,
        "sold_at": datetime.fromisoformat(sold_at),
        "product_id": product_id,
        "sku": sku or default_sku,
        "product_name": name or default_name,
        "quantity": quantity,
        "unit_price": unit_price,
    }
    if subtotal is not None:
        row["subtotal"] = subtotal
    return row


def analyse(
    lines: list[dict[str, Any]],
    period: DateRange = WEEK,
    granularity: Granularity = Granularity.DAY,
    top: int = 10,
) -> SalesAnalytics:
    items = items_frame(lines) if lines else empty_items_frame()
    return compute_sales_analytics(items, CATALOGUE, INVENTORY, period, granularity, top)


# --- periods -----------------------------------------------------------------


def test_range_counts_both_ends_and_previous_range_has_same_length_just_before() -> None:
    assert WEEK.days == 7
    assert WEEK.previous() == DateRange(date(2024, 3, 4), date(2024, 3, 10))


def test_window_of_n_days_ends_today_and_includes_it() -> None:
    # 2024 is a leap year: Feb 17..29 (13 days) + Mar 1..17 (17 days) = 30 days.
    assert window_ending(date(2024, 3, 17), 30) == DateRange(date(2024, 2, 17), date(2024, 3, 17))
    assert window_ending(date(2024, 3, 17), 1) == DateRange(date(2024, 3, 17), date(2024, 3, 17))


def test_range_ending_before_it_starts_is_bad_user_input() -> None:
    with pytest.raises(BadUserInput):
        validated_range(date(2024, 3, 2), date(2024, 3, 1))


def test_overlong_range_is_bad_user_input() -> None:
    with pytest.raises(BadUserInput):
        validated_range(date(2000, 1, 1), date(2024, 1, 1), max_days=366)


def test_week_buckets_start_on_the_monday_on_or_before_the_range_start() -> None:
    # Wednesday 2024-03-13 .. Wednesday 2024-03-27
    period = DateRange(date(2024, 3, 13), date(2024, 3, 27))
    assert bucket_starts(period, Granularity.WEEK) == [
        date(2024, 3, 11),
        date(2024, 3, 18),
        date(2024, 3, 25),
    ]


def test_month_buckets_start_on_the_first() -> None:
    period = DateRange(date(2024, 1, 15), date(2024, 3, 2))
    assert bucket_starts(period, Granularity.MONTH) == [
        date(2024, 1, 1),
        date(2024, 2, 1),
        date(2024, 3, 1),
    ]


# --- KPIs --------------------------------------------------------------------


def test_kpis_follow_the_definitions() -> None:
    result = analyse(
        [
            line(1, "2024-03-11T10:00:00", 1, 2, 2.00),  # 4.00
            line(1, "2024-03-11T10:00:00", 2, 1, 3.00),  # 3.00
            line(2, "2024-03-12T09:00:00", 1, 1, 2.00),  # 2.00
            line(3, "2024-03-15T18:00:00", 3, 3, 5.00),  # 15.00
            line(10, "2024-03-08T12:00:00", 1, 4, 2.50),  # previous range: 10.00
        ]
    )
    kpis = result.kpis
    assert result.range == WEEK
    assert result.previous_range == DateRange(date(2024, 3, 4), date(2024, 3, 10))
    assert kpis.revenue == 24.00
    assert kpis.orders == 3
    assert kpis.units_sold == 7
    assert kpis.average_order_value == 8.00
    assert kpis.items_per_order == pytest.approx(7 / 3)
    assert kpis.distinct_products == 3
    assert kpis.previous_revenue == 10.00
    assert kpis.revenue_change == pytest.approx(1.4)


def test_revenue_change_is_none_when_previous_revenue_is_zero() -> None:
    result = analyse([line(1, "2024-03-12T09:00:00", 1, 1, 2.00)])
    assert result.kpis.previous_revenue == 0.0
    assert result.kpis.revenue_change is None


def test_revenue_change_is_minus_one_when_nothing_sold_after_a_selling_period() -> None:
    result = analyse([line(1, "2024-03-05T09:00:00", 1, 1, 2.00)])
    assert result.kpis.revenue == 0.0
    assert result.kpis.revenue_change == pytest.approx(-1.0)


def test_empty_range_has_zero_kpis_and_a_zero_filled_trend() -> None:
    for lines in ([], [line(1, "2024-03-20T09:00:00", 1, 1, 2.00)]):
        result = analyse(lines)
        kpis = result.kpis
        assert (kpis.revenue, kpis.orders, kpis.units_sold, kpis.distinct_products) == (0, 0, 0, 0)
        assert kpis.average_order_value == 0.0
        assert kpis.items_per_order == 0.0
        assert [p.period for p in result.trend] == [date(2024, 3, d) for d in range(11, 18)]
        assert all((p.revenue, p.orders, p.units_sold) == (0, 0, 0) for p in result.trend)
        assert result.top_products == []
        assert result.categories == []


def test_sales_exactly_on_range_boundaries_are_included_and_the_day_after_is_not() -> None:
    result = analyse(
        [
            line(1, "2024-03-11T00:00:00", 1, 1, 2.00),  # first instant of the range
            line(2, "2024-03-17T23:59:59.999", 2, 1, 3.00),  # last millisecond of the range
            line(3, "2024-03-18T00:00:00", 3, 1, 5.00),  # the day after: excluded
            line(4, "2024-03-10T23:59:59.999", 3, 2, 5.00),  # day before: previous range
            line(5, "2024-03-03T23:59:59.999", 3, 4, 5.00),  # before the previous range
        ]
    )
    assert result.kpis.revenue == 5.00
    assert result.kpis.orders == 2
    assert result.kpis.previous_revenue == 10.00
    assert result.trend[0].revenue == 2.00
    assert result.trend[-1].revenue == 3.00


def test_money_is_rounded_half_even_to_cents_at_the_end() -> None:
    result = analyse(
        [
            # 0.004 + 0.004 = 0.008 -> 0.01 (rounding each line first would give 0.00)
            line(1, "2024-03-11T09:00:00", 1, 1, 0.004),
            line(1, "2024-03-11T09:00:00", 2, 1, 0.004),
            line(2, "2024-03-12T09:00:00", 3, 1, 0.125),  # tie -> even: 0.12
            line(3, "2024-03-13T09:00:00", 3, 1, 0.25),  # product 3 total 0.375 -> 0.38
        ]
    )
    assert result.trend[0].revenue == 0.01
    assert result.trend[1].revenue == 0.12
    assert [p.revenue for p in result.top_products] == [0.38, 0.0, 0.0]
    assert result.kpis.revenue == 0.38  # 0.383 -> 0.38
    assert result.kpis.average_order_value == 0.13  # 0.383 / 3 = 0.12766...


def test_items_per_order_is_an_unrounded_ratio() -> None:
    result = analyse(
        [
            line(1, "2024-03-11T09:00:00", 1, 1, 1.0),
            line(2, "2024-03-11T09:00:00", 1, 1, 1.0),
            line(3, "2024-03-11T09:00:00", 1, 2, 1.0),
        ]
    )
    assert result.kpis.items_per_order == 4 / 3
    assert result.kpis.average_order_value == 1.33


def test_negative_top_is_bad_user_input() -> None:
    with pytest.raises(BadUserInput):
        analyse([], top=-1)


# --- products ----------------------------------------------------------------


def test_product_orders_count_sales_containing_the_product_once() -> None:
    result = analyse(
        [
            line(1, "2024-03-11T09:00:00", 1, 1, 2.00),
            line(1, "2024-03-11T09:00:00", 1, 2, 2.00),  # same sale, second line
            line(2, "2024-03-12T09:00:00", 1, 1, 2.00),
        ]
    )
    (apple,) = result.top_products
    assert (apple.product_id, apple.orders, apple.units_sold, apple.revenue) == (1, 2, 4, 8.00)
    assert result.kpis.orders == 2


def test_renamed_product_is_grouped_by_product_id_under_its_current_name() -> None:
    result = analyse(
        [
            line(1, "2024-03-11T09:00:00", 1, 1, 2.00, sku="OLD-A", name="Old Apple"),
            line(2, "2024-03-14T09:00:00", 1, 2, 2.00, sku="SKU-A", name="Apple (2023)"),
        ]
    )
    (apple,) = result.top_products
    assert (apple.product_id, apple.sku, apple.name) == (1, "SKU-A", "Apple")
    assert (apple.revenue, apple.units_sold, apple.orders) == (6.00, 3, 2)
    # The category joins via the current sku, not the "OLD-A" snapshot.
    assert result.categories == [CategorySales("Fruit", 6.00, 3, 1.0)]


def test_deleted_product_falls_back_to_its_latest_snapshot() -> None:
    result = analyse(
        [
            line(1, "2024-03-14T09:00:00", 99, 1, 4.00, sku="GONE-2", name="Gone v2"),
            line(2, "2024-03-11T09:00:00", 99, 1, 4.00, sku="GONE-1", name="Gone v1"),
        ]
    )
    (gone,) = result.top_products
    assert (gone.product_id, gone.sku, gone.name) == (99, "GONE-2", "Gone v2")
    assert (gone.revenue, gone.units_sold, gone.orders) == (8.00, 2, 2)
    # Category through the snapshot sku's inventory row.
    assert [c.category for c in result.categories] == ["Clearance"]


def test_top_products_rank_by_revenue_then_sku_and_keep_at_most_top() -> None:
    lines = [
        line(1, "2024-03-11T09:00:00", 3, 1, 15.00),  # C: 15.00
        line(2, "2024-03-11T09:00:00", 2, 2, 3.00),  # B: 6.00
        line(3, "2024-03-12T09:00:00", 1, 3, 2.00),  # A: 6.00, ties with B, sku A < B
    ]
    assert [p.sku for p in analyse(lines).top_products] == ["SKU-C", "SKU-A", "SKU-B"]
    assert [p.sku for p in analyse(lines, top=2).top_products] == ["SKU-C", "SKU-A"]
    assert analyse(lines, top=0).top_products == []


def test_revenue_ties_are_judged_on_cents_not_float_noise() -> None:
    result = analyse(
        [
            line(1, "2024-03-11T09:00:00", 2, 1, 0.1),  # B: 0.1 + 0.2 = 0.30000000000000004
            line(2, "2024-03-11T09:00:00", 2, 1, 0.2),
            line(3, "2024-03-12T09:00:00", 1, 1, 0.3),  # A: 0.3
        ]
    )
    assert [(p.sku, p.revenue) for p in result.top_products] == [("SKU-A", 0.3), ("SKU-B", 0.3)]


def test_share_of_revenue_is_revenue_over_total_revenue() -> None:
    result = analyse(
        [
            line(1, "2024-03-11T09:00:00", 3, 3, 5.00),  # C: 15.00
            line(2, "2024-03-11T09:00:00", 2, 1, 3.00),  # B: 3.00
            line(3, "2024-03-12T09:00:00", 1, 1, 2.00),  # A: 2.00
        ]
    )
    shares = {p.sku: p.share_of_revenue for p in result.top_products}
    assert shares == {
        "SKU-C": pytest.approx(0.75),
        "SKU-B": pytest.approx(0.15),
        "SKU-A": pytest.approx(0.10),
    }


def test_share_of_revenue_is_zero_when_total_revenue_is_zero() -> None:
    result = analyse([line(1, "2024-03-11T09:00:00", 1, 2, 0.0)])
    (free,) = result.top_products
    assert (free.revenue, free.units_sold, free.share_of_revenue) == (0.0, 2, 0.0)
    assert result.categories == [CategorySales("Fruit", 0.0, 2, 0.0)]


# --- categories --------------------------------------------------------------


def test_categories_rank_by_revenue_and_products_without_inventory_are_uncategorized() -> None:
    result = analyse(
        [
            line(1, "2024-03-11T09:00:00", 1, 1, 2.00),  # Fruit 2.00
            line(1, "2024-03-11T09:00:00", 2, 1, 3.00),  # Fruit 3.00 (cost unknown)
            line(2, "2024-03-12T09:00:00", 3, 3, 5.00),  # Uncategorized 15.00
        ]
    )
    assert result.categories == [
        CategorySales(UNCATEGORIZED, 15.00, 3, 0.75),
        CategorySales("Fruit", 5.00, 2, 0.25),
    ]


def test_category_ties_rank_by_category_name() -> None:
    result = analyse(
        [
            line(1, "2024-03-11T09:00:00", 3, 1, 5.00),  # Uncategorized 5.00
            line(2, "2024-03-11T09:00:00", 99, 1, 5.00, sku="GONE-2", name="Gone"),  # Clearance
            line(3, "2024-03-11T09:00:00", 1, 1, 5.00),  # Fruit 5.00
        ]
    )
    assert [c.category for c in result.categories] == ["Clearance", "Fruit", UNCATEGORIZED]


# --- trend -------------------------------------------------------------------


def test_day_trend_has_one_zero_filled_point_per_day() -> None:
    result = analyse(
        [
            line(1, "2024-03-12T09:00:00", 1, 1, 2.00),
            line(1, "2024-03-12T09:00:00", 2, 2, 3.00),
            line(2, "2024-03-12T19:00:00", 1, 1, 2.00),
            line(3, "2024-03-16T09:00:00", 3, 1, 5.00),
        ]
    )
    assert [(p.period.day, p.revenue, p.orders, p.units_sold) for p in result.trend] == [
        (11, 0.0, 0, 0),
        (12, 10.0, 2, 4),
        (13, 0.0, 0, 0),
        (14, 0.0, 0, 0),
        (15, 0.0, 0, 0),
        (16, 5.0, 1, 1),
        (17, 0.0, 0, 0),
    ]


def test_week_trend_buckets_start_on_monday_with_zero_filled_gaps() -> None:
    # Wednesday 2024-03-13 .. Tuesday 2024-04-02: weeks of 03-11, 03-18, 03-25, 04-01.
    period = DateRange(date(2024, 3, 13), date(2024, 4, 2))
    result = analyse(
        [
            line(1, "2024-03-12T09:00:00", 1, 1, 2.00),  # Tuesday before the range: excluded
            line(2, "2024-03-13T09:00:00", 2, 1, 3.00),
            line(3, "2024-03-17T23:00:00", 3, 1, 5.00),  # Sunday: same week
            line(4, "2024-03-27T09:00:00", 1, 2, 2.00),
            line(5, "2024-04-03T09:00:00", 3, 1, 5.00),  # after the range: excluded
        ],
        period,
        Granularity.WEEK,
    )
    assert [(p.period, p.revenue, p.orders, p.units_sold) for p in result.trend] == [
        (date(2024, 3, 11), 8.0, 2, 2),
        (date(2024, 3, 18), 0.0, 0, 0),
        (date(2024, 3, 25), 4.0, 1, 2),
        (date(2024, 4, 1), 0.0, 0, 0),
    ]


def test_month_trend_buckets_start_on_the_first_with_zero_filled_gaps() -> None:
    period = DateRange(date(2024, 1, 20), date(2024, 4, 10))
    result = analyse(
        [
            line(1, "2024-01-19T23:59:59.999", 1, 1, 2.00),  # before the range
            line(2, "2024-01-20T00:00:00", 2, 1, 3.00),
            line(3, "2024-01-31T23:59:59.999", 3, 1, 5.00),
            line(4, "2024-03-05T12:00:00", 1, 5, 2.00),
            line(5, "2024-04-11T00:00:00", 3, 1, 5.00),  # after the range
        ],
        period,
        Granularity.MONTH,
    )
    assert [(p.period, p.revenue, p.orders, p.units_sold) for p in result.trend] == [
        (date(2024, 1, 1), 8.0, 2, 2),
        (date(2024, 2, 1), 0.0, 0, 0),
        (date(2024, 3, 1), 10.0, 1, 5),
        (date(2024, 4, 1), 0.0, 0, 0),
    ]
    assert result.kpis.revenue == 18.0


def test_cut_week_buckets_are_marked_partial_with_their_days_in_the_range() -> None:
    # Wednesday 2024-03-13 .. Tuesday 2024-04-02: 5 + 7 + 7 + 2 days.
    period = DateRange(date(2024, 3, 13), date(2024, 4, 2))
    trend = analyse([], period, Granularity.WEEK).trend
    assert [(p.period, p.start, p.end, p.days, p.complete) for p in trend] == [
        (date(2024, 3, 11), date(2024, 3, 13), date(2024, 3, 17), 5, False),
        (date(2024, 3, 18), date(2024, 3, 18), date(2024, 3, 24), 7, True),
        (date(2024, 3, 25), date(2024, 3, 25), date(2024, 3, 31), 7, True),
        (date(2024, 4, 1), date(2024, 4, 1), date(2024, 4, 2), 2, False),
    ]
    assert sum(p.days for p in trend) == period.days


def test_month_buckets_know_their_month_lengths_and_a_whole_month_is_complete() -> None:
    # 2024 is a leap year: February has 29 days.
    period = DateRange(date(2024, 1, 20), date(2024, 4, 30))
    trend = analyse([], period, Granularity.MONTH).trend
    assert [(p.start, p.end, p.complete) for p in trend] == [
        (date(2024, 1, 20), date(2024, 1, 31), False),
        (date(2024, 2, 1), date(2024, 2, 29), True),
        (date(2024, 3, 1), date(2024, 3, 31), True),
        (date(2024, 4, 1), date(2024, 4, 30), True),
    ]
    single = analyse([], DateRange(date(2023, 12, 5), date(2023, 12, 9)), Granularity.MONTH)
    assert [(p.start, p.end, p.days, p.complete) for p in single.trend] == [
        (date(2023, 12, 5), date(2023, 12, 9), 5, False)
    ]


def test_day_buckets_are_always_complete() -> None:
    assert all(p.complete and p.days == 1 and p.start == p.period for p in analyse([]).trend)


def test_previous_kpis_are_the_previous_ranges_own_kpis() -> None:
    lines = [
        line(1, "2024-02-27T09:00:00", 1, 1, 7.00),  # the range before the previous one
        line(2, "2024-03-05T09:00:00", 1, 2, 2.00),  # previous range (03-04 .. 03-10)
        line(2, "2024-03-05T09:00:00", 2, 1, 3.00),
        line(3, "2024-03-10T20:00:00", 3, 1, 5.00),
        line(4, "2024-03-12T09:00:00", 1, 1, 2.00),  # the range
    ]
    result = analyse(lines)
    direct = analyse(lines, WEEK.previous())
    assert result.previous_kpis == direct.kpis
    assert (result.previous_kpis.revenue, result.previous_kpis.orders) == (12.0, 2)
    assert result.previous_kpis.previous_revenue == 7.0
    assert result.previous_kpis.distinct_products == 3
    assert result.kpis.previous_revenue == result.previous_kpis.revenue


def test_a_deleted_product_is_named_and_priced_by_its_last_sale_whatever_the_range() -> None:
    lines = [
        line(1, "2024-03-04T09:00:00", 99, 1, 4.00, sku="GONE-1", name="Gone v1"),
        line(2, "2024-03-12T09:00:00", 99, 2, 4.50, sku="GONE-1", name="Gone v1"),
        line(3, "2024-03-20T09:00:00", 99, 1, 6.00, sku="GONE-2", name="Gone v2"),
    ]
    seen = {
        (p.sku, p.name, p.last_unit_price)
        for period in (WEEK.previous(), WEEK, DateRange(date(2024, 3, 4), date(2024, 3, 20)))
        for p in analyse(lines, period).top_products
    }
    assert seen == {("GONE-2", "Gone v2", 6.0)}
    # A product still in the catalogue has no such price: its own is current.
    assert analyse([line(4, "2024-03-12T09:00:00", 1, 1, 9.0)]).top_products[0].last_unit_price == 0


def test_items_frame_may_cover_more_days_than_asked() -> None:
    result = analyse(
        [
            line(1, "2024-01-02T09:00:00", 1, 100, 2.00),
            line(2, "2024-03-13T09:00:00", 1, 1, 2.00),
            line(3, "2024-06-01T09:00:00", 1, 100, 2.00),
        ]
    )
    assert (result.kpis.revenue, result.kpis.previous_revenue) == (2.00, 0.0)


# --- properties --------------------------------------------------------------

PERIOD = DateRange(date(2024, 2, 26), date(2024, 3, 10))  # 14 days over a month end

line_strategy = st.tuples(
    st.integers(1, 25),  # sale id
    st.integers(1, 5),  # product id; 4 and 5 are not in the catalogue
    st.integers(0, 9),  # quantity
    st.integers(0, 50_000),  # unit price in cents
)
lines_strategy = st.tuples(st.lists(line_strategy, max_size=40), st.integers(1, 1000))


def _property_lines(drawn: tuple[list[tuple[int, int, int, int]], int]) -> list[dict[str, Any]]:
    raw, salt = drawn
    rows = []
    for sale_id, product_id, quantity, price_cents in raw:
        # A sale has one date: derive it from the sale id, spread over the previous
        # range, the range and the days after it.
        day = PERIOD.start.toordinal() - 16 + (sale_id * salt) % 33
        sold_at = datetime.fromordinal(day).replace(hour=sale_id % 24)
        rows.append(
            line(
                sale_id,
                sold_at.isoformat(),
                product_id,
                quantity,
                price_cents / 100,
                sku=f"S{product_id}",
                name=f"N{product_id}",
            )
        )
    return rows


@settings(max_examples=60, deadline=None)
@given(lines_strategy, st.sampled_from(list(Granularity)))
def test_trend_and_breakdowns_add_up_to_the_kpis(
    drawn: tuple[list[tuple[int, int, int, int]], int], granularity: Granularity
) -> None:
    lines = _property_lines(drawn)
    result = analyse(lines, PERIOD, granularity, top=100)
    in_range = [row for row in lines if PERIOD.start <= row["sold_at"].date() <= PERIOD.end]
    expected_revenue = sum(row["quantity"] * row["unit_price"] for row in in_range)

    kpis = result.kpis
    assert kpis.revenue == pytest.approx(round(expected_revenue, 2), abs=1e-9)
    assert kpis.orders == len({row["sale_id"] for row in in_range})
    assert kpis.units_sold == sum(row["quantity"] for row in in_range)
    assert kpis.distinct_products == len({row["product_id"] for row in in_range})

    assert sum(p.revenue for p in result.trend) == pytest.approx(kpis.revenue, abs=1e-6)
    assert sum(p.orders for p in result.trend) == kpis.orders
    assert sum(p.units_sold for p in result.trend) == kpis.units_sold
    assert [p.period for p in result.trend] == sorted({p.period for p in result.trend})
    assert sum(c.revenue for c in result.categories) == pytest.approx(kpis.revenue, abs=1e-6)
    assert sum(p.revenue for p in result.top_products) == pytest.approx(kpis.revenue, abs=1e-6)
    assert len(result.top_products) == kpis.distinct_products


@settings(max_examples=60, deadline=None)
@given(lines_strategy)
def test_shares_sum_to_one_and_rankings_are_ordered(
    drawn: tuple[list[tuple[int, int, int, int]], int],
) -> None:
    result = analyse(_property_lines(drawn), PERIOD, top=100)
    if result.kpis.revenue > 0:
        assert sum(c.share_of_revenue for c in result.categories) == pytest.approx(1.0)
        assert sum(p.share_of_revenue for p in result.top_products) == pytest.approx(1.0)
    keys = [(-p.revenue, p.sku) for p in result.top_products]
    assert keys == sorted(keys)
    category_keys = [(-c.revenue, c.category) for c in result.categories]
    assert category_keys == sorted(category_keys)
