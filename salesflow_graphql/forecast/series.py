"""Daily series for forecasting, built from the sale lines (pure, no I/O).

A series is the daily sum of units or revenue, zero-filled over every day of
the history window, at one of three levels:

- TOTAL: the categories' series (the core forecasts their total, directly or
  bottom-up, whichever backtests better);
- CATEGORY: one series per inventory category, "Uncategorized" for the rest;
- PRODUCT: one series per product by its current sku, trained with the other
  products of its category (or with all products when the category is too
  small to teach a global model anything).

Products are grouped by ``product_id`` and named by their current catalogue
sku, so a renamed sku keeps one history; deleted products keep their last sku.
"""

from __future__ import annotations

import hashlib
from datetime import date
from enum import StrEnum

import numpy as np
import pandas as pd

UNCATEGORIZED = "Uncategorized"
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

    Raises :class:`UnknownSeries` when ``key`` names no product or category.
    """
    days = pd.date_range(start, end, freq="D")
    lines = items.loc[
        (items["sale_date"] >= pd.Timestamp(start)) & (items["sale_date"] <= pd.Timestamp(end))
    ]
    skus = _current_skus(lines, catalogue)
    value = lines["quantity" if metric is ForecastMetric.UNITS else "subtotal"].to_numpy(float)
    sale_dates = lines["sale_date"].to_numpy()
    categories = _categories(skus, inventory)
    if level is ForecastLevel.PRODUCT:
        assert key is not None
        known_skus = set(catalogue["sku"].astype(str)) | set(skus)
        if key not in known_skus:
            raise UnknownSeries(f"no product with sku {key!r}")
        category = _category_of(key, inventory)
        in_category = categories == category
        if len(set(skus[in_category])) >= MIN_CATEGORY_PRODUCTS:
            skus, value, sale_dates = skus[in_category], value[in_category], sale_dates[in_category]
        panel = _zero_filled(skus, sale_dates, value, days)
        if key not in set(panel["series_id"]):
            panel = pd.concat([panel, _zero_series(key, days)], ignore_index=True)
        return panel
    panel = _zero_filled(categories, sale_dates, value, days)
    if level is ForecastLevel.CATEGORY:
        assert key is not None
        known = set(inventory["category"].astype(str).replace("", UNCATEGORIZED)) | {UNCATEGORIZED}
        if key not in known:
            raise UnknownSeries(f"no category named {key!r}")
        if key not in set(panel["series_id"]):
            panel = pd.concat([panel, _zero_series(key, days)], ignore_index=True)
    if panel.empty:
        panel = _zero_series(UNCATEGORIZED, days)
    return panel


def fingerprint(panel: pd.DataFrame) -> str:
    """A short hash of the panel's content: same data, same fingerprint."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(pd.util.hash_pandas_object(panel, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _current_skus(lines: pd.DataFrame, catalogue: pd.DataFrame) -> np.ndarray:
    current = pd.Series(
        catalogue["sku"].astype(str).to_numpy(), index=catalogue["product_id"].to_numpy()
    )
    current = current[~current.index.duplicated(keep="last")]
    mapped = lines["product_id"].map(current)
    return mapped.fillna(lines["sku"].astype(str)).astype(str).to_numpy(dtype=object)


def _categories(skus: np.ndarray, inventory: pd.DataFrame) -> np.ndarray:
    by_sku = pd.Series(
        inventory["category"].astype(str).to_numpy(), index=inventory["sku"].astype(str).to_numpy()
    )
    by_sku = by_sku[~by_sku.index.duplicated(keep="first")].replace("", UNCATEGORIZED)
    return pd.Series(skus).map(by_sku).fillna(UNCATEGORIZED).to_numpy(dtype=object)


def _category_of(sku: str, inventory: pd.DataFrame) -> str:
    match = inventory.loc[inventory["sku"] == sku, "category"]
    return str(match.iloc[0]) if len(match) and str(match.iloc[0]) else UNCATEGORIZED


def _zero_filled(
    series: np.ndarray, sale_dates: np.ndarray, value: np.ndarray, days: pd.DatetimeIndex
) -> pd.DataFrame:
    if len(series) == 0:
        return pd.DataFrame(
            {
                "series_id": pd.Series(dtype=str),
                "date": pd.Series(dtype="datetime64[ns]"),
                "value": pd.Series(dtype=float),
            }
        )
    frame = pd.DataFrame(
        {"series_id": series, "date": pd.DatetimeIndex(sale_dates).normalize(), "value": value}
    )
    daily = frame.groupby(["series_id", "date"], sort=True)["value"].sum()
    wide = daily.unstack("series_id").reindex(days, fill_value=0.0).fillna(0.0)
    wide.index.name = "date"
    long = wide.stack().rename("value").reset_index()
    return long[["series_id", "date", "value"]].sort_values(
        ["series_id", "date"], ignore_index=True
    )


def _zero_series(series_id: str, days: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame({"series_id": series_id, "date": days, "value": 0.0})
