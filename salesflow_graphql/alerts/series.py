"""Daily sales series side by side: the shop, each category and each product (pure, no I/O).

A :class:`SalesPanel` holds one row per series and one column per calendar day
(zero-filled) for units, revenue and order lines. Product rows come from
:func:`~..analytics.daily.daily_sales` (the daily series forecasts use too);
category rows and the TOTAL row are sums of product rows, so the three levels
always agree. Products deleted from the catalogue keep a row (their sales still
count in their category and the total) but are not watched on their own:
nobody can act on them any more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ..analytics.daily import Measure, daily_sales
from ..sor.frames import as_text
from .model import TOTAL_SUBJECT, ProductSnapshot, SubjectLevel


@dataclass(frozen=True)
class SalesPanel:
    """Units, revenue and order lines per series (rows) and day (columns, from ``first_day``)."""

    first_day: date
    subjects: list[str]
    levels: list[SubjectLevel]
    #: Catalogue products of the PRODUCT rows (None for deleted products and other levels).
    products: list[ProductSnapshot | None]
    units: np.ndarray = field(repr=False)
    revenue: np.ndarray = field(repr=False)
    #: Lines with a positive quantity: how many sales contained the product that day.
    orders: np.ndarray = field(repr=False)

    @property
    def n_days(self) -> int:
        return int(self.units.shape[1])

    def day(self, column: int) -> date:
        return self.first_day + timedelta(days=int(column))

    def column(self, day: date) -> int:
        return (day - self.first_day).days

    @property
    def watched(self) -> np.ndarray:
        """Rows checked on their own: TOTAL, categories, and products still in the catalogue."""
        return np.array(
            [
                level is not SubjectLevel.PRODUCT or p is not None
                for level, p in zip(self.levels, self.products, strict=True)
            ],
            dtype=bool,
        )


def build_sales_panel(
    items: pd.DataFrame,
    catalogue: pd.DataFrame,
    inventory: pd.DataFrame,
    first_day: date,
    last_day: date,
) -> SalesPanel:
    """The panel of days ``first_day..last_day`` from sale lines (the frames of ``sor.frames``).

    One row per product, named and categorised as ``analytics.products`` says.
    """
    sales = daily_sales(items, catalogue, inventory, first_day, last_day)
    snapshots: list[ProductSnapshot | None] = [
        ProductSnapshot(
            id=int(r.product_id),
            sku=as_text(r.sku),
            name=as_text(r.name),
            price=float(r.price),
            stock_quantity=int(r.stock_quantity),
            low_stock_threshold=int(r.low_stock_threshold),
        )
        for r in sales.catalogue.itertuples(index=False)
    ]
    snapshots += [None] * (len(sales.products) - len(snapshots))
    return panel_from_products(
        first_day,
        sales.products.sku,
        sales.products.category,
        snapshots,
        sales.series(Measure.UNITS),
        sales.series(Measure.REVENUE),
        sales.series(Measure.ORDERS),
    )


def panel_from_products(
    first_day: date,
    skus: list[str],
    categories: list[str],
    products: list[ProductSnapshot | None],
    units: np.ndarray,
    revenue: np.ndarray,
    orders: np.ndarray,
) -> SalesPanel:
    """Add the category rows and the TOTAL row (sums of product rows) above the product rows."""
    names, category_of = np.unique(np.asarray(categories, dtype=object), return_inverse=True)
    n_categories = len(names)

    def with_aggregates(values: np.ndarray) -> np.ndarray:
        by_category = np.zeros((n_categories, values.shape[1]))
        np.add.at(by_category, category_of, values)
        return np.vstack([by_category.sum(axis=0, keepdims=True), by_category, values])

    return SalesPanel(
        first_day=first_day,
        subjects=[TOTAL_SUBJECT, *[str(n) for n in names], *skus],
        levels=[
            SubjectLevel.TOTAL,
            *[SubjectLevel.CATEGORY] * n_categories,
            *[SubjectLevel.PRODUCT] * len(skus),
        ],
        products=[None] * (1 + n_categories) + list(products),
        units=with_aggregates(np.asarray(units, dtype=np.float64)),
        revenue=with_aggregates(np.asarray(revenue, dtype=np.float64)),
        orders=with_aggregates(np.asarray(orders, dtype=np.float64)),
    )
