"""Daily sales series side by side: the shop, each category and each product (pure, no I/O).

A :class:`SalesPanel` holds one row per series and one column per calendar day
(zero-filled) for units, revenue and order lines. Product rows are built from
the sale lines; category rows and the TOTAL row are sums of product rows, so
the three levels always agree. Products deleted from the catalogue keep a row
(their sales still count in their category and the total) but are not watched
on their own: nobody can act on them any more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ..analytics.frames import as_text, epoch_days
from ..analytics.periods import epoch_day
from ..analytics.sales import UNCATEGORIZED
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
    """The panel of days ``first_day..last_day`` from sale lines (frames of ``analytics.frames``).

    Lines are grouped by ``product_id``; a product's sku, name and category are
    the catalogue's current ones (a deleted product keeps the sku of its lines).
    """
    n_days = (last_day - first_day).days + 1
    day = epoch_days(items["sale_date"]) - epoch_day(first_day)
    inside = np.flatnonzero((day >= 0) & (day < n_days))
    day = day[inside]
    product_ids = items["product_id"].to_numpy(dtype=np.int64)[inside]
    quantity = items["quantity"].to_numpy(dtype=np.int64)[inside]
    subtotal = items["subtotal"].to_numpy(dtype=np.float64)[inside]

    current = catalogue.drop_duplicates("product_id", keep="last").reset_index(drop=True)
    known_ids = current["product_id"].to_numpy(dtype=np.int64)
    sold_ids = np.unique(product_ids)
    deleted_ids = np.setdiff1d(sold_ids, known_ids)
    row_ids = np.concatenate([known_ids, deleted_ids])
    row = pd.Index(row_ids).get_indexer(product_ids)

    skus = [as_text(s) for s in current["sku"].to_numpy(dtype=object)]
    if len(deleted_ids):
        # A deleted product is named by the sku on its latest line.
        line_skus = items["sku"].to_numpy(dtype=object)[inside]
        latest = pd.Series(line_skus).groupby(product_ids).last()
        skus += [as_text(latest.get(i, "")) for i in deleted_ids.tolist()]
    snapshots: list[ProductSnapshot | None] = [
        ProductSnapshot(
            id=int(r.product_id),
            sku=as_text(r.sku),
            name=as_text(r.name),
            price=float(r.price),
            stock_quantity=int(r.stock_quantity),
            low_stock_threshold=int(r.low_stock_threshold),
        )
        for r in current.itertuples(index=False)
    ] + [None] * len(deleted_ids)

    cells = len(row_ids) * n_days
    flat = row * n_days + day
    positive = quantity > 0
    units = np.bincount(flat, weights=quantity, minlength=cells).reshape(len(row_ids), n_days)
    revenue = np.bincount(flat, weights=subtotal, minlength=cells).reshape(len(row_ids), n_days)
    orders = np.bincount(flat[positive], minlength=cells).reshape(len(row_ids), n_days)
    return panel_from_products(
        first_day,
        skus,
        product_categories(skus, inventory),
        snapshots,
        units,
        revenue,
        orders.astype(np.float64),
    )


def product_categories(skus: list[str], inventory: pd.DataFrame) -> list[str]:
    """Each sku's inventory category; "Uncategorized" without a row or with an empty one."""
    by_sku = dict(
        zip(
            inventory["sku"].astype(str).to_numpy(),
            inventory["category"].astype(str).to_numpy(),
            strict=True,
        )
    )
    return [by_sku.get(sku) or UNCATEGORIZED for sku in skus]


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
