"""Anomalies planted in the demo shop's recent sales, only where the gateway's detector sees them.

The shop is drawn relative to ``today`` from the same seed, so each calendar
date meets the same random draws under a different season and weekday. An
anomaly planted blindly is not always findable: a category sold four times
over in early January sits on a baseline still full of December, and a product
of ten orders a day that sells nothing is, by the zero-out rule on its noisy
weeks, only a 1-in-600 day. Such a "planted anomaly" would be noise that the
alert tests then expect to be raised on some days and not on others.

So each anomaly is planted on the first free candidate day where, once that
day's lines are drawn again with the changed weights, the detector
(:func:`~salesflow_graphql.alerts.detection.scan_sales`, default rules with a
one-point margin on the score) flags it on the 8 weeks of sales before it; else
the day is put back as it was and the next is tried. A drop goes to the
product whose empty day would be the strongest evidence on that day.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np

from ..alerts.detection import (
    WINDOW_DAYS,
    DetectionRules,
    scan_sales,
    seasonal_fit,
    zero_out_score,
)
from ..alerts.model import ProductSnapshot
from ..alerts.series import SalesPanel, panel_from_products
from .baskets import Baskets

#: The detector's default rules, with a margin: the anomalies planted later move a
#: few orders of the days they touch, and those days may lie in an earlier one's weeks.
SURE = dataclasses.replace(DetectionRules(), min_score=DetectionRules().min_score + 1.0)


@dataclass(frozen=True, slots=True)
class PlantedAnomaly:
    """A deliberate break in the recent sales pattern, for alert tests.

    ``kind`` is ``"spike"`` (several times the usual units on ``date``) or
    ``"drop"`` (zero units on ``date`` for a product that sells every day).
    Exactly one of ``sku``/``category`` is set. The detector's default rules
    flag it, whatever the date the shop was drawn for.
    """

    date: date
    kind: Literal["spike", "drop"]
    sku: str | None = None
    category: str | None = None
    factor: float = 0.0


@dataclass(frozen=True)
class DetectedAs:
    """The products as detection sees them (indexed by product position)."""

    first_day: date
    skus: list[str]
    #: The inventory category, ``Uncategorized`` for a product without an inventory row.
    categories: list[str]
    #: None for a product deleted from the catalogue (not watched on its own).
    snapshots: list[ProductSnapshot | None]
    price_cents: np.ndarray  # (days, products): the unit price of a line on each day


@dataclass(frozen=True, slots=True)
class Spike:
    """A spike to plant: ``members`` (one product or a category) weigh ``factor`` times more."""

    members: list[int]
    factor: float
    sku: str | None = None
    category: str | None = None


def plant_anomalies(
    baskets: Baskets,
    seen: DetectedAs,
    days: Sequence[int],
    spikes: Sequence[Spike],
    drop_candidates: Sequence[int],
    drops: int,
) -> list[PlantedAnomaly]:
    """Plant ``spikes`` then ``drops`` drops on ``days`` (candidates, in order of preference)."""
    free = list(days)
    planted = []
    for spike in spikes:
        subject = spike.sku or spike.category
        for day in free:
            if _plant_if_seen(baskets, seen, day, spike.members, spike.factor, subject, "spike"):
                free.remove(day)
                planted.append(
                    PlantedAnomaly(
                        seen.first_day + timedelta(days=day),
                        "spike",
                        sku=spike.sku,
                        category=spike.category,
                        factor=round(spike.factor, 2),
                    )
                )
                break
    pool = list(drop_candidates)
    for day in list(free):
        if sum(a.kind == "drop" for a in planted) == drops:
            break
        orders = _daily(baskets, seen, day - WINDOW_DAYS, day)[2]
        fit = seasonal_fit(orders[pool], np.array([WINDOW_DAYS]))
        product = pool[int(np.argmin(zero_out_score(fit)[:, 0]))]
        if _plant_if_seen(baskets, seen, day, [product], 0.0, seen.skus[product], "drop"):
            free.remove(day)
            pool.remove(product)
            planted.append(
                PlantedAnomaly(seen.first_day + timedelta(days=day), "drop", sku=seen.skus[product])
            )
    return planted


def _plant_if_seen(
    baskets: Baskets,
    seen: DetectedAs,
    day: int,
    members: list[int],
    factor: float,
    subject: str | None,
    kind: Literal["spike", "drop"],
) -> bool:
    before = baskets.reweigh(day, members, factor)
    panel = _panel(baskets, seen, day - WINDOW_DAYS, day)
    scan, _, _ = scan_sales(panel, [WINDOW_DAYS], SURE)
    flags = scan.spike if kind == "spike" else scan.drop
    if flags[panel.subjects.index(str(subject)), 0]:
        return True
    baskets.undo(before)
    return False


def _panel(baskets: Baskets, seen: DetectedAs, first: int, last: int) -> SalesPanel:
    units, revenue, orders = _daily(baskets, seen, first, last)
    return panel_from_products(
        seen.first_day + timedelta(days=first),
        seen.skus,
        seen.categories,
        seen.snapshots,
        units,
        revenue,
        orders,
    )


def _daily(
    baskets: Baskets, seen: DetectedAs, first: int, last: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Units, revenue and orders (sales containing the product) per (product, day) of
    days ``first..last``, as the alert panel counts them."""
    lines = baskets.lines_of(first, last)
    n_days, n_products = last - first + 1, baskets.n_products
    product, day = baskets.product[lines], baskets.day[lines]
    quantity = baskets.quantity[lines]
    cell = product * n_days + (day - first)
    size = n_products * n_days

    def per_cell(values: np.ndarray | None, at: np.ndarray = cell) -> np.ndarray:
        return np.bincount(at, weights=values, minlength=size).reshape(n_products, n_days)

    revenue = quantity * seen.price_cents[day, product] / 100
    # A product twice in a basket is one line, so one order.
    key = baskets.sale[lines] * n_products + product
    order = np.argsort(key, kind="stable")
    first_of_key = np.r_[True, key[order][1:] != key[order][:-1]]
    orders = per_cell(None, cell[order][first_of_key])
    return per_cell(quantity.astype(np.float64)), per_cell(revenue), orders.astype(np.float64)
