"""Stock analytics: cover, status and reorder suggestion per current product.

Pure function over the frames of ``sor.frames``; implements docs/api.md,
"What each number means".

Choices beyond the definitions (docs/api.md states them too):

- Only item lines with ``quantity > 0`` count as sales (a zero or negative
  line is not a sale), so "sold in the window", ``lastSaleDate`` and
  ``daysOfCover`` always agree.
- Sales are matched to the catalogue by ``product_id``; lines of deleted
  products are ignored. Stock of 0 or less is OUT_OF_STOCK.
- ``daysOfCover < leadTimeDays`` and the reorder quantity use exact integer
  arithmetic (``daysOfCover = stock * lookbackDays / unitsSold``), so float
  noise never flips a status or adds a unit.
- Products are the current catalogue's (:mod:`.products`); cost comes from
  the inventory row of the product's current sku.
- Items are ordered most urgent first: OUT_OF_STOCK, LOW_STOCK, REORDER,
  DEAD_STOCK, OK; then daysOfCover ascending (None last); then sku.
- Money rounded to cents at the end; averageDailySales and daysOfCover are not rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import numpy as np
import pandas as pd

from salesflow_graphql.analytics.money import cents
from salesflow_graphql.analytics.periods import epoch_day, window_ending
from salesflow_graphql.analytics.products import current_catalogue, unit_costs
from salesflow_graphql.errors import BadUserInput
from salesflow_graphql.sor.frames import as_text, epoch_days

#: Days of demand a reorder covers beyond the lead time (docs/api.md).
SAFETY_DAYS = 14


class StockStatus(StrEnum):
    """A product's stock situation; docs/api.md lists the first-match-wins rules."""

    OUT_OF_STOCK = "OUT_OF_STOCK"
    LOW_STOCK = "LOW_STOCK"
    REORDER = "REORDER"
    OK = "OK"
    DEAD_STOCK = "DEAD_STOCK"


#: Status per rule index of the first-match-wins rules; also the urgency order
#: of the items list (most urgent first).
_BY_RULE = (
    StockStatus.OUT_OF_STOCK,
    StockStatus.LOW_STOCK,
    StockStatus.REORDER,
    StockStatus.DEAD_STOCK,
    StockStatus.OK,
)
_NO_SALE = np.iinfo(np.int64).min


@dataclass(frozen=True, slots=True)
class StockKpis:
    """Totals over the whole catalogue."""

    product_count: int
    total_units: int
    stock_value: float
    stock_cost: float | None
    out_of_stock: int
    low_stock: int
    reorder_needed: int
    dead_stock: int
    average_days_of_cover: float | None


@dataclass(frozen=True, slots=True)
class StockLine:
    """One current product's stock situation."""

    product_id: int
    sku: str
    name: str
    stock_quantity: int
    stock_value: float
    average_daily_sales: float
    days_of_cover: float | None
    status: StockStatus
    suggested_reorder_quantity: int
    last_sale_date: date | None


@dataclass(frozen=True, slots=True)
class StockAnalytics:
    """Everything ``stockAnalytics`` answers, before GraphQL mapping."""

    kpis: StockKpis
    items: list[StockLine]


def compute_stock_analytics(
    items: pd.DataFrame,
    catalogue: pd.DataFrame,
    inventory: pd.DataFrame,
    as_of: date,
    lookback_days: int = 30,
    lead_time_days: int = 7,
) -> StockAnalytics:
    """Stock analytics of every catalogue product as of ``as_of``.

    The lookback window is ``[as_of - lookback_days + 1, as_of]``; ``items`` may
    cover more days (ignored). Vectorised: no Python work per item line.
    """
    if lookback_days < 1:
        raise BadUserInput(f"lookbackDays must be >= 1, got {lookback_days}", field="lookbackDays")
    if lead_time_days < 0:
        raise BadUserInput(f"leadTimeDays must be >= 0, got {lead_time_days}", field="leadTimeDays")
    window = window_ending(as_of, lookback_days)
    products = current_catalogue(catalogue)
    units, last_day = _window_sales(items, products, epoch_day(window.start), epoch_day(as_of))
    figures = _figures(products, units, last_day, lookback_days, lead_time_days)
    return StockAnalytics(
        kpis=_kpis(figures, unit_costs(products["sku"].to_numpy(dtype=object), inventory)),
        items=_lines(products, figures),
    )


@dataclass(frozen=True, slots=True)
class _StockFigures:
    """Per-catalogue-row arrays, aligned with the deduplicated catalogue."""

    stock: np.ndarray
    value: np.ndarray
    average_daily: np.ndarray
    days_of_cover: np.ndarray  # NaN when nothing sold
    rule: np.ndarray  # index into _BY_RULE
    suggested: np.ndarray
    last_day: np.ndarray


def _figures(
    products: pd.DataFrame,
    units: np.ndarray,
    last_day: np.ndarray,
    lookback: int,
    lead_time: int,
) -> _StockFigures:
    stock = products["stock_quantity"].to_numpy(dtype=np.int64)
    threshold = products["low_stock_threshold"].to_numpy(dtype=np.int64)
    sold = units > 0
    # daysOfCover < leadTime  <=>  stock * lookback < leadTime * units   (when units > 0)
    reorder = sold & (stock * lookback < lead_time * units)
    rule = np.select([stock <= 0, stock <= threshold, reorder, ~sold], [0, 1, 2, 3], default=4)
    # ceil(units / lookback * (leadTime + 14) + threshold - stock), in integers.
    demand = units * (lead_time + SAFETY_DAYS) + (threshold - stock) * lookback
    suggested = np.where(rule <= 2, np.maximum(0, -(-demand // lookback)), 0)
    days_of_cover = np.full(len(stock), np.nan)
    days_of_cover[sold] = stock[sold] * lookback / units[sold]
    return _StockFigures(
        stock=stock,
        value=stock * products["price"].to_numpy(dtype=np.float64),
        average_daily=units / lookback,
        days_of_cover=days_of_cover,
        rule=rule,
        suggested=suggested,
        last_day=last_day,
    )


def _kpis(figures: _StockFigures, unit_cost: np.ndarray) -> StockKpis:
    known_cost = ~np.isnan(unit_cost)
    stock_cost = (figures.stock[known_cost] * unit_cost[known_cost]).sum()
    covered = figures.days_of_cover[~np.isnan(figures.days_of_cover)]
    counts = np.bincount(figures.rule, minlength=len(_BY_RULE))
    return StockKpis(
        product_count=len(figures.stock),
        total_units=int(figures.stock.sum()),
        stock_value=cents(float(figures.value.sum())),
        stock_cost=cents(float(stock_cost)) if known_cost.any() else None,
        out_of_stock=int(counts[0]),
        low_stock=int(counts[1]),
        reorder_needed=int(counts[1] + counts[2]),
        dead_stock=int(counts[3]),
        average_days_of_cover=float(covered.mean()) if len(covered) else None,
    )


def _window_sales(
    items: pd.DataFrame, products: pd.DataFrame, first_day: int, last_day: int
) -> tuple[np.ndarray, np.ndarray]:
    """Units sold and latest sale day (epoch days, ``_NO_SALE`` if none) per catalogue row."""
    count = len(products)
    sale_day = epoch_days(items["sale_date"])
    quantity = items["quantity"].to_numpy(dtype=np.int64)
    rows = np.flatnonzero((sale_day >= first_day) & (sale_day <= last_day) & (quantity > 0))
    position = pd.Index(products["product_id"].to_numpy(dtype=np.int64)).get_indexer(
        items["product_id"].to_numpy(dtype=np.int64)[rows]
    )
    known = position >= 0
    position, rows = position[known], rows[known]
    units = np.rint(np.bincount(position, weights=quantity[rows], minlength=count))
    latest = np.full(count, _NO_SALE, dtype=np.int64)
    np.maximum.at(latest, position, sale_day[rows])
    return units.astype(np.int64), latest


def _lines(products: pd.DataFrame, figures: _StockFigures) -> list[StockLine]:
    skus = [as_text(s) for s in products["sku"].to_numpy(dtype=object)]
    names = [as_text(n) for n in products["name"].to_numpy(dtype=object)]
    sku_rank = pd.factorize(np.asarray(skus, dtype=object), sort=True)[0]
    cover = figures.days_of_cover
    order = np.lexsort((sku_rank, np.where(np.isnan(cover), np.inf, cover), figures.rule))
    ids = products["product_id"].to_numpy(dtype=np.int64)
    epoch = np.datetime64("1970-01-01", "D")
    return [
        StockLine(
            product_id=int(ids[i]),
            sku=skus[i],
            name=names[i],
            stock_quantity=int(figures.stock[i]),
            stock_value=cents(figures.value[i]),
            average_daily_sales=float(figures.average_daily[i]),
            days_of_cover=None if np.isnan(cover[i]) else float(cover[i]),
            status=_BY_RULE[figures.rule[i]],
            suggested_reorder_quantity=int(figures.suggested[i]),
            last_sale_date=(
                (epoch + figures.last_day[i]).item() if figures.last_day[i] != _NO_SALE else None
            ),
        )
        for i in order.tolist()
    ]
