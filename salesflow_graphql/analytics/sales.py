"""Sales analytics over a date range: KPIs, trend, top products, categories.

Pure function over the frames of ``sor.frames``; implements docs/api.md,
"What each number means".

Choices beyond the definitions (docs/api.md states them too):

- A sale belongs to the range by its ``sale_date`` (server-local calendar date);
  ``sold_at`` is only used to find a deleted product's latest snapshot.
- Products are grouped by ``product_id`` and named as :mod:`.products` says:
  the current catalogue values; for a product no longer in the catalogue the
  snapshot of its latest line in the frame (latest ``sold_at``, then highest
  ``sale_id``), and ``last_unit_price`` that line's unit price. The frame runs
  from before the range to today, so that is the product's last sale ever:
  every range names a deleted product the same way (a client cache keyed by
  the product id never sees two versions of it). Its category is the inventory
  row of that sku ("Uncategorized" when unknown).
- Money is rounded to cents (half to even) at the end; rankings compare the
  rounded revenue so equal-looking revenues fall to the sku/name tie-break.
- Trend buckets are calendar aligned (see :mod:`.periods`); each says which
  of its days lie in the range and whether that is all of them (``complete``).
- ``previous_kpis`` are the previous range's KPIs, compared in turn with the
  range before it, so the items must reach back three ranges.
- Ratios (itemsPerOrder, revenueChange, shareOfRevenue) are not rounded.
  revenueChange is None when the previous revenue rounds to 0.00, as clients
  then see ``previousRevenue: 0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from salesflow_graphql.analytics.money import cents, cents_list
from salesflow_graphql.analytics.periods import (
    DateRange,
    Granularity,
    bucket_of_day,
    bucket_spans,
    epoch_day,
)
from salesflow_graphql.analytics.products import identify
from salesflow_graphql.errors import BadUserInput
from salesflow_graphql.sor.frames import epoch_days


@dataclass(frozen=True, slots=True)
class SalesKpis:
    """Headline numbers of a range, compared with the range just before it."""

    revenue: float
    orders: int
    units_sold: int
    average_order_value: float
    items_per_order: float
    distinct_products: int
    previous_revenue: float
    revenue_change: float | None


@dataclass(frozen=True, slots=True)
class SalesPoint:
    """One trend bucket: ``period`` is its calendar start, ``start``..``end`` its days in the range."""

    period: date
    revenue: float
    orders: int
    units_sold: int
    start: date
    end: date
    complete: bool

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True, slots=True)
class ProductSales:
    """A product's sales in the range; sku/name are current (last sale's if deleted)."""

    product_id: int
    sku: str
    name: str
    revenue: float
    units_sold: int
    orders: int
    share_of_revenue: float
    #: The unit price on the product's last sale line when it is no longer in the catalogue, else 0.
    last_unit_price: float = 0.0


@dataclass(frozen=True, slots=True)
class CategorySales:
    """A category's sales in the range."""

    category: str
    revenue: float
    units_sold: int
    share_of_revenue: float


@dataclass(frozen=True, slots=True)
class SalesAnalytics:
    """Everything ``salesAnalytics`` answers, before GraphQL mapping."""

    range: DateRange
    previous_range: DateRange
    kpis: SalesKpis
    previous_kpis: SalesKpis
    trend: list[SalesPoint]
    top_products: list[ProductSales]
    categories: list[CategorySales]


def compute_sales_analytics(
    items: pd.DataFrame,
    catalogue: pd.DataFrame,
    inventory: pd.DataFrame,
    period: DateRange,
    granularity: Granularity = Granularity.DAY,
    top: int = 10,
) -> SalesAnalytics:
    """Compute the sales analytics of ``period`` (inclusive) from item lines.

    ``items`` may cover more days than ``period`` and its previous range; other
    days are ignored. Vectorised: no Python work per item line.
    """
    if top < 0:
        raise BadUserInput(f"top must be >= 0, got {top}", field="top")
    previous = period.previous()
    sale_day = epoch_days(items["sale_date"])
    subtotal_all = items["subtotal"].to_numpy(dtype=np.float64)
    lines = _lines_of(items, sale_day, subtotal_all, period)
    previous_lines = _lines_of(items, sale_day, subtotal_all, previous)
    products = _product_totals(lines, items, catalogue, inventory)
    revenue = float(lines.subtotal.sum())
    previous_revenue = float(previous_lines.subtotal.sum())
    return SalesAnalytics(
        range=period,
        previous_range=previous,
        kpis=_kpis(lines, revenue, previous_revenue, products.count),
        previous_kpis=_kpis(
            previous_lines,
            previous_revenue,
            _revenue_of(sale_day, subtotal_all, previous.previous()),
            len(np.unique(previous_lines.product_ids)),
        ),
        trend=_trend(lines, period, granularity),
        top_products=_top_products(products, revenue, top),
        categories=_categories(products, revenue),
    )


def _in_range(sale_day: np.ndarray, period: DateRange) -> np.ndarray:
    return (sale_day >= epoch_day(period.start)) & (sale_day <= epoch_day(period.end))


def _revenue_of(sale_day: np.ndarray, subtotal: np.ndarray, period: DateRange) -> float:
    return float(subtotal[_in_range(sale_day, period)].sum())


def _lines_of(
    items: pd.DataFrame, sale_day: np.ndarray, subtotal: np.ndarray, period: DateRange
) -> _Lines:
    rows = np.flatnonzero(_in_range(sale_day, period))
    return _Lines(
        day_offset=sale_day[rows] - epoch_day(period.start),
        subtotal=subtotal[rows],
        quantity=items["quantity"].to_numpy(dtype=np.int64)[rows],
        sale_codes=pd.factorize(items["sale_id"].to_numpy(dtype=np.int64)[rows])[0],
        product_ids=items["product_id"].to_numpy(dtype=np.int64)[rows],
    )


@dataclass(frozen=True, slots=True)
class _Lines:
    """The item lines of the range, as aligned numpy arrays."""

    day_offset: np.ndarray  # 0 = period.start
    subtotal: np.ndarray
    quantity: np.ndarray
    sale_codes: np.ndarray  # dense 0..n_sales-1
    product_ids: np.ndarray

    @property
    def order_count(self) -> int:
        return int(self.sale_codes.max()) + 1 if len(self.sale_codes) else 0


@dataclass(frozen=True, slots=True)
class _ProductTotals:
    """Per-product sums of the range, indexed by product code."""

    product_id: np.ndarray
    sku: list[str]
    name: list[str]
    last_unit_price: np.ndarray
    category: list[str]
    revenue: np.ndarray
    units: np.ndarray
    orders: np.ndarray

    @property
    def count(self) -> int:
        return len(self.product_id)


def _kpis(lines: _Lines, revenue: float, previous_revenue: float, products: int) -> SalesKpis:
    orders = lines.order_count
    units = int(lines.quantity.sum())
    previous_cents = cents(previous_revenue)
    return SalesKpis(
        revenue=cents(revenue),
        orders=orders,
        units_sold=units,
        average_order_value=cents(revenue / orders) if orders else 0.0,
        items_per_order=units / orders if orders else 0.0,
        distinct_products=products,
        previous_revenue=previous_cents,
        revenue_change=revenue / previous_revenue - 1 if previous_cents != 0 else None,
    )


def _trend(lines: _Lines, period: DateRange, granularity: Granularity) -> list[SalesPoint]:
    starts, day_bucket = bucket_of_day(period, granularity)
    buckets = len(starts)
    bucket = day_bucket[lines.day_offset]
    revenue = np.bincount(bucket, weights=lines.subtotal, minlength=buckets)
    units = _int_sums(bucket, lines.quantity, buckets)
    orders = _distinct_pairs(lines.sale_codes, bucket, buckets)
    return [
        SalesPoint(
            period=start,
            revenue=money,
            orders=int(o),
            units_sold=int(u),
            start=span.start,
            end=span.end,
            complete=span.complete,
        )
        for start, span, money, o, u in zip(
            starts,
            bucket_spans(period, granularity),
            cents_list(revenue.tolist()),
            orders,
            units,
            strict=True,
        )
    ]


def _product_totals(
    lines: _Lines, items: pd.DataFrame, catalogue: pd.DataFrame, inventory: pd.DataFrame
) -> _ProductTotals:
    codes, product_ids = pd.factorize(lines.product_ids)
    count = len(product_ids)
    products = identify(np.asarray(product_ids), items, catalogue, inventory)
    return _ProductTotals(
        product_id=products.product_id,
        sku=products.sku,
        name=products.name,
        last_unit_price=products.last_unit_price,
        category=products.category,
        revenue=np.bincount(codes, weights=lines.subtotal, minlength=count),
        units=_int_sums(codes, lines.quantity, count),
        orders=_distinct_pairs(lines.sale_codes, codes, count),
    )


def _top_products(products: _ProductTotals, total: float, top: int) -> list[ProductSales]:
    revenue = cents_list(products.revenue.tolist())
    ranked = sorted(range(products.count), key=lambda i: (-revenue[i], products.sku[i]))[:top]
    return [
        ProductSales(
            product_id=int(products.product_id[i]),
            sku=products.sku[i],
            name=products.name[i],
            revenue=revenue[i],
            units_sold=int(products.units[i]),
            orders=int(products.orders[i]),
            share_of_revenue=_share(float(products.revenue[i]), total),
            last_unit_price=cents(float(products.last_unit_price[i])),
        )
        for i in ranked
    ]


def _categories(products: _ProductTotals, total: float) -> list[CategorySales]:
    codes, names = pd.factorize(np.asarray(products.category, dtype=object))
    count = len(names)
    revenue = np.bincount(codes, weights=products.revenue, minlength=count)
    units = _int_sums(codes, products.units, count)
    rounded = cents_list(revenue.tolist())
    ranked = sorted(range(count), key=lambda i: (-rounded[i], str(names[i])))
    return [
        CategorySales(
            category=str(names[i]),
            revenue=rounded[i],
            units_sold=int(units[i]),
            share_of_revenue=_share(float(revenue[i]), total),
        )
        for i in ranked
    ]


def _int_sums(codes: np.ndarray, values: np.ndarray, length: int) -> np.ndarray:
    """Integer sums per code (bincount sums in float64, exact below 2**53)."""
    return np.rint(np.bincount(codes, weights=values, minlength=length)).astype(np.int64)


def _distinct_pairs(sale_codes: np.ndarray, group: np.ndarray, length: int) -> np.ndarray:
    """Number of distinct sales per group (a sale counts once per group it touches)."""
    if len(sale_codes) == 0:
        return np.zeros(length, dtype=np.int64)
    pairs = pd.unique(sale_codes.astype(np.int64) * length + group)
    return np.bincount(pairs % length, minlength=length)


def _share(amount: float, total: float) -> float:
    return amount / total if cents(total) != 0 else 0.0
