"""Daily sales per product: the one builder of the daily series of forecasts and alerts.

The sale lines of days ``first_day..last_day`` are grouped by ``product_id``,
named as :mod:`.products` says, and summed per calendar day, zero-filled. The
products are the catalogue's (whether they sold or not), then the deleted ones
that sold in the window. Any grouping of products (by product, sku or category)
sums the same lines, so every level agrees with the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cached_property

import numpy as np
import pandas as pd

from ..sor.frames import epoch_days
from .periods import epoch_day
from .products import Products, current_catalogue, identify


class Measure(StrEnum):
    """What a daily series sums."""

    UNITS = "units"  # item quantities
    REVENUE = "revenue"  # item subtotals
    ORDERS = "orders"  # lines with a positive quantity: the sales that contain the product


@dataclass(frozen=True)
class DailySales:
    """The window's sale lines, each with its product (an index into ``products``) and day."""

    first_day: date
    n_days: int
    products: Products
    #: The current catalogue rows of the listed products, in the same order.
    catalogue: pd.DataFrame = field(repr=False)
    line_product: np.ndarray = field(repr=False)
    line_day: np.ndarray = field(repr=False)
    quantity: np.ndarray = field(repr=False)
    subtotal: np.ndarray = field(repr=False)

    @cached_property
    def _product_cells(self) -> np.ndarray:
        """Each line's cell in a (product, day) matrix, flattened (shared by the measures)."""
        return self.line_product * self.n_days + self.line_day

    @property
    def sold(self) -> np.ndarray:
        """Products with at least one line in the window."""
        return np.bincount(self.line_product, minlength=len(self.products)) > 0

    def series(
        self, measure: Measure, group: np.ndarray | None = None, n_groups: int = 0
    ) -> np.ndarray:
        """Daily sums of ``measure`` as (rows, days): one row per product, or, given
        ``group`` (each product's row, ``0..n_groups - 1``), one per group."""
        if group is None:
            cell, n_rows = self._product_cells, len(self.products)
        else:
            cell, n_rows = group[self.line_product] * self.n_days + self.line_day, n_groups
        if measure is Measure.ORDERS:
            cell, weights = cell[self.quantity > 0], None
        else:
            weights = self.quantity if measure is Measure.UNITS else self.subtotal
        sums = np.bincount(cell, weights=weights, minlength=n_rows * self.n_days)
        return sums.astype(np.float64).reshape(n_rows, self.n_days)


def daily_sales(
    items: pd.DataFrame,
    catalogue: pd.DataFrame,
    inventory: pd.DataFrame,
    first_day: date,
    last_day: date,
) -> DailySales:
    """The sale lines of days ``first_day..last_day`` (by ``sale_date``) ready to sum per day."""
    n_days = (last_day - first_day).days + 1
    day = epoch_days(items["sale_date"]) - epoch_day(first_day)
    rows = np.flatnonzero((day >= 0) & (day < n_days))
    product_ids = items["product_id"].to_numpy(dtype=np.int64)[rows]
    current = current_catalogue(catalogue)
    listed_ids = current["product_id"].to_numpy(dtype=np.int64)
    codes = pd.Index(listed_ids).get_indexer(product_ids)
    unlisted = codes < 0
    all_ids = listed_ids
    if unlisted.any():  # deleted products, after the catalogue's
        deleted_ids, deleted_codes = np.unique(product_ids[unlisted], return_inverse=True)
        all_ids = np.concatenate([listed_ids, deleted_ids])
        codes[unlisted] = len(listed_ids) + deleted_codes
    return DailySales(
        first_day=first_day,
        n_days=n_days,
        products=identify(all_ids, items, current, inventory),
        catalogue=current,
        line_product=codes,
        line_day=day[rows],
        quantity=items["quantity"].to_numpy(dtype=np.int64)[rows],
        subtotal=items["subtotal"].to_numpy(dtype=np.float64)[rows],
    )
