"""Daily series for forecasting, built from the sale lines (pure, no I/O).

A series is the daily sum of units or revenue, zero-filled over every day of
the history window, at one of three levels:

- TOTAL: the categories' series (the core forecasts their total, directly or
  bottom-up, whichever backtests better);
- CATEGORY: one series per inventory category, "Uncategorized" for the rest;
- PRODUCT: one series per product by its current sku, trained with the other
  products of its category (or with all products when the category is too
  small to teach a global model anything).

The daily sums come from :func:`~..analytics.daily.daily_sales`, the builder
the alerts use too: products are grouped by ``product_id`` and named and
categorised as :mod:`~..analytics.products` says, so a renamed sku keeps one
history and a deleted product keeps the sku of its latest line.
"""

from __future__ import annotations

import hashlib
from datetime import date
from enum import StrEnum

import numpy as np
import pandas as pd

from ..analytics.daily import DailySales, Measure, daily_sales
from ..analytics.products import UNCATEGORIZED, categories_of, known_categories

#: A product's own category must hold this many selling products, else all products train.
MIN_CATEGORY_PRODUCTS = 8


class ForecastLevel(StrEnum):
    TOTAL = "TOTAL"
    CATEGORY = "CATEGORY"
    PRODUCT = "PRODUCT"


class ForecastMetric(StrEnum):
    UNITS = "UNITS"
    REVENUE = "REVENUE"


class UnknownSeries(LookupError):
    """The requested sku or category has no series."""


def daily_panel(
    items: pd.DataFrame,
    catalogue: pd.DataFrame,
    inventory: pd.DataFrame,
    *,
    level: ForecastLevel,
    metric: ForecastMetric,
    key: str | None,
    start: date,
    end: date,
) -> pd.DataFrame:
    """The long ``series_id, date, value`` panel the core trains on, for days ``start..end``.

    A series is in it when its products have a sale line in the window (and the
    requested one always). Raises :class:`UnknownSeries` when ``key`` names no
    product or category.
    """
    days = pd.date_range(start, end, freq="D")
    sales = daily_sales(items, catalogue, inventory, start, end)
    measure = Measure.UNITS if metric is ForecastMetric.UNITS else Measure.REVENUE
    sold = sales.sold
    skus = np.asarray(sales.products.sku, dtype=object)
    categories = np.asarray(sales.products.category, dtype=object)
    if level is ForecastLevel.PRODUCT:
        assert key is not None
        if key not in set(catalogue["sku"].astype(str)) | set(skus[sold]):
            raise UnknownSeries(f"no product with sku {key!r}")
        (category,) = categories_of([key], inventory)
        in_category = sold & (categories == category)
        chosen = in_category if len(set(skus[in_category])) >= MIN_CATEGORY_PRODUCTS else sold
        return _with_series(_sums_by(sales, measure, skus, chosen, days), key, days)
    panel = _sums_by(sales, measure, categories, sold, days)
    if level is ForecastLevel.CATEGORY:
        assert key is not None
        if key not in known_categories(inventory):
            raise UnknownSeries(f"no category named {key!r}")
        panel = _with_series(panel, key, days)
    if panel.empty:
        panel = _zero_series(UNCATEGORIZED, days)
    return panel


def fingerprint(panel: pd.DataFrame) -> str:
    """A short hash of the panel's content: same data, same fingerprint."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(pd.util.hash_pandas_object(panel, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _sums_by(
    sales: DailySales,
    measure: Measure,
    names: np.ndarray,
    chosen: np.ndarray,
    days: pd.DatetimeIndex,
) -> pd.DataFrame:
    """Daily sums of the ``chosen`` products grouped by ``names`` (one per product), long and
    sorted by series then date."""
    series, group = np.unique(names[chosen], return_inverse=True)
    if len(series) == 0:
        return pd.DataFrame(
            {
                "series_id": pd.Series(dtype=str),
                "date": pd.Series(dtype="datetime64[ns]"),
                "value": pd.Series(dtype=float),
            }
        )
    of_product = np.full(len(names), len(series))  # the others sum into a row left out
    of_product[chosen] = group
    values = sales.series(measure, of_product, len(series) + 1)[:-1]
    return pd.DataFrame(
        {
            "series_id": np.repeat(series.astype(str), len(days)),
            "date": np.tile(days.to_numpy(), len(series)),
            "value": values.ravel(),
        }
    )


def _with_series(panel: pd.DataFrame, series_id: str, days: pd.DatetimeIndex) -> pd.DataFrame:
    """``panel`` with an all-zero ``series_id`` appended when it has none."""
    if series_id in set(panel["series_id"]):
        return panel
    return pd.concat([panel, _zero_series(series_id, days)], ignore_index=True)


def _zero_series(series_id: str, days: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame({"series_id": series_id, "date": days, "value": 0.0})
