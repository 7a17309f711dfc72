"""Alerts benchmark: detection quality against the seed's global z-score, speed, delivery, fan-out.

    uv run python bench/alerts.py            # full run
    uv run python bench/alerts.py --quick    # small, ~20 s (CI runs this)

Prints these tables:

1. **Quality.** Labelled anomalies are injected into the demo shop's daily
   series: one-day spikes and drops, zero-outs (a day without any sale) and
   14-day level shifts, of 3 to 8 robust sigma. The robust sigma of a series on
   a day is the noise of the 8 weeks before it around its weekly pattern
   (``detection.seasonal_fit``). Anomalies go where the detector watches (the
   series passes the volume gate that day and its MAD is not zero), 70 days apart
   per series; products get them in one round, categories and the total (spread
   over their products) in the next, and no two labelled anomalies overlap. A drop
   needs a usual level of at least its size; a day that was low anyway bottoms
   out at zero. The detector (``scan_sales`` with the default rules) and the
   seed's global z-score (``|y - mean| / std >= 3`` over the whole series) score
   the very same series in the same run. A one-day anomaly counts as found when
   its series alerts in its direction that day; a level shift when it does within
   its 14 days (the delay is the days from the onset to that alert). Alerts
   anywhere else are false (the shop's own promotions included, shown apart);
   consecutive alert days of one series and direction (3-day gaps, the cooldown)
   are one event. Series-weeks count the watched series (TOTAL, categories and
   products above the volume gate) over the scanned weeks.
   Table 1b adds the alerts from zero-MAD (intermittent) products and days.
2. **The demo shop's planted anomalies**, on its untouched series.
3. **Check speed**: the whole pure check (panel from sale lines, scores, gates,
   stock) over 2000 synthetic products, scanning 7 and 60 days, and the demo shop.
4. **Delivery**: alert published → WebSocket client, through a gateway process
   whose Java is a stand-in served here; in-process bus and Redis stream (db 13).
   Each ``runAnomalyCheck`` raises one new alert (a product runs out of stock).
5. **Fan-out** of one alert to 1000 concurrent subscribers: WebSocket clients of
   that gateway process, and bus subscriptions in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
#: The tests' helpers (uvicorn on a real socket, synthetic alerts) serve the benchmark too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from harness import table

from salesflow_graphql.alerts.detection import (
    WINDOW_DAYS,
    DetectionRules,
    detect_anomalies,
    scan_sales,
    seasonal_fit,
)
from salesflow_graphql.alerts.model import ProductSnapshot, SubjectLevel
from salesflow_graphql.alerts.series import SalesPanel, panel_from_products
from salesflow_graphql.sor.frames import (
    CATALOGUE_SCHEMA,
    INVENTORY_SCHEMA,
    ITEM_SCHEMA,
    typed_frame,
)
from salesflow_graphql.standin import DemoShop, build_demo_shop

SIZES = (3, 4, 5, 6, 7, 8)
KINDS = ("spike", "drop", "zero-out", "level shift")
SHIFT_DAYS = 14
COOLDOWN_DAYS = 3
SEED_Z = 3.0
REDIS_URL = "redis://127.0.0.1:6379/12"


# ------------------------------------------------------------------ demo series
@dataclass
class ProductMatrices:
    """The demo shop's product-level daily matrices over its whole history."""

    first_day: date
    skus: list[str]
    categories: list[str]
    snapshots: list[ProductSnapshot | None]
    units: np.ndarray
    revenue: np.ndarray
    orders: np.ndarray

    def panel(self, units: np.ndarray, revenue: np.ndarray, orders: np.ndarray) -> SalesPanel:
        return panel_from_products(
            self.first_day, self.skus, self.categories, self.snapshots, units, revenue, orders
        )


def demo_matrices(shop: DemoShop) -> ProductMatrices:
    sales = shop.sales
    sale_day = (
        sales.sale_time.astype("datetime64[D]") - np.datetime64(shop.first_day, "D")
    ).astype(np.int64)
    item_day = np.repeat(sale_day, sales.item_count)
    product = sales.item_sku.astype(np.int64)  # index into sales.skus: one per product
    n_products, n_days = len(sales.skus), (shop.today - shop.first_day).days + 1
    flat = product * n_days + item_day
    size = n_products * n_days
    units = np.bincount(flat, weights=sales.item_quantity, minlength=size)
    revenue = np.bincount(
        flat, weights=sales.item_quantity * sales.item_unit_cents / 100, minlength=size
    )
    orders = np.bincount(flat, minlength=size).astype(np.float64)
    by_sku = {p.sku: p for p in shop.products}
    category = {p.sku: p.category for p in (*shop.products, *shop.deleted_products)}
    snapshots = [
        ProductSnapshot(
            id=p.id,
            sku=p.sku,
            name=p.name,
            price=p.price_cents / 100,
            stock_quantity=p.stock_quantity,
            low_stock_threshold=p.low_stock_threshold,
        )
        if (p := by_sku.get(sku))
        else None
        for sku in sales.skus
    ]
    return ProductMatrices(
        first_day=shop.first_day,
        skus=list(sales.skus),
        categories=[category.get(sku, "Uncategorized") for sku in sales.skus],
        snapshots=snapshots,
        units=units.reshape(n_products, n_days),
        revenue=revenue.reshape(n_products, n_days),
        orders=orders.reshape(n_products, n_days),
    )


# ---------------------------------------------------------------- injections
@dataclass(frozen=True)
class Injection:
    row: int  # panel row (TOTAL, category or product)
    kind: str
    size: float  # robust sigmas (zero-outs: expected / sigma)
    onset: int  # calendar column
    days: int  # 1, or SHIFT_DAYS for level shifts
    up: bool
    affected: frozenset[int]  # panel rows this injection moves


class Injector:
    """Applies labelled anomalies to product rows; category/total ones spread over members."""

    def __init__(
        self,
        base: ProductMatrices,
        clean: SalesPanel,
        rng: np.random.Generator,
        min_daily_units: float,
        labelled: np.ndarray,
    ) -> None:
        self.base = base
        self.labelled = labelled  # rows that get anomalies this round
        self.min_daily_units = min_daily_units
        self.clean = clean
        self.rng = rng
        self.units = base.units.copy()
        self.revenue = base.revenue.copy()
        self.orders = base.orders.copy()
        self.offset = clean.units.shape[0] - base.units.shape[0]  # rows above the products
        categories = sorted(set(base.categories))
        self.members = {
            1 + i: [j for j, c in enumerate(base.categories) if c == name]
            for i, name in enumerate(categories)
        }
        self.members[0] = list(range(len(base.skus)))
        self.category_row = {j: 1 + categories.index(c) for j, c in enumerate(base.categories)}
        #: (panel row, day) cells already moved by an injection: injections never overlap.
        self.busy = np.zeros(clean.units.shape, dtype=bool)

    def _members(self, row: int) -> list[int]:
        return [row - self.offset] if row >= self.offset else self.members[row]

    def _affected(self, row: int) -> frozenset[int]:
        if row >= self.offset:
            return frozenset({row, 0, self.category_row[row - self.offset]})
        if row == 0:
            return frozenset(range(self.clean.units.shape[0]))
        return frozenset({row, 0, *(self.offset + j for j in self.members[row])})

    def apply(self, row: int, kind: str, size: float, onset: int) -> Injection | None:
        """Inject one anomaly; None when this series cannot take it (e.g. a drop below zero)."""
        if kind == "zero-out" and row < self.offset:
            return None  # a whole category selling nothing is an outage, not a zero-out
        days = SHIFT_DAYS if kind == "level shift" else 1
        span = slice(onset, onset + days)
        fit = seasonal_fit(self.clean.units[row : row + 1], np.array([onset]))
        sigma = float(fit.sigma[0, 0])
        if sigma <= 0 or fit.zero_mad[0, 0] or fit.level[0, 0] < self.min_daily_units:
            return None  # not a watched series that day (zero MAD or below the volume gate)
        affected = self._affected(row)
        margin = slice(max(0, onset - 1), onset + days + 1)
        # Labelled rows this one moves must be free: an overlap would change another label.
        labelled = [r for r in affected if self.labelled[r]]
        if self.busy[labelled, margin].any():
            return None
        members = self._members(row)
        cells = self.units[members, span]
        current = cells.sum(axis=0)
        if current.min() <= 0:
            return None
        if kind == "zero-out":
            target = np.zeros_like(current)
            size = float(fit.baseline[0, 0]) / sigma
            up = False
        else:
            up = kind == "spike" or (kind == "level shift" and self.rng.random() < 0.5)
            if not up and float(fit.baseline[0, 0]) < size * sigma:
                return None  # this series cannot drop that far below its usual level
            # Chosen by the usual level, not by the day's own value (which would pick lucky
            # high days for drops); a day that was low anyway bottoms out at zero.
            target = np.maximum(0.0, current + (1 if up else -1) * size * sigma)
        new_units = cells * (target / current)
        ratio = np.divide(new_units, cells, out=np.ones_like(cells), where=cells > 0)
        self.revenue[members, span] = self.revenue[members, span] * ratio
        self.orders[members, span] = np.round(self.orders[members, span] * ratio)
        self.units[members, span] = new_units
        self.busy[labelled, margin] = True
        return Injection(row, kind, round(size, 2), onset, days, up, affected)

    def panel(self) -> SalesPanel:
        return self.base.panel(self.units, self.revenue, self.orders)


# ------------------------------------------------------------------- scoring
def seed_flags(panel: SalesPanel, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The seed's rule: |units - mean| / std >= 3 over each whole series."""
    mean = panel.units.mean(axis=1, keepdims=True)
    std = panel.units.std(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.nan_to_num((panel.units[:, columns] - mean) / std)
    return z >= SEED_Z, z <= -SEED_Z


@dataclass
class Score:
    """One detector's tally over all rounds."""

    found: dict[tuple[str, int], list[bool]] = dataclasses.field(default_factory=dict)
    delays: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    false_events: int = 0
    false_events_in_promotions: int = 0
    zero_mad_product_alerts: int = 0
    zero_mad_day_alerts: int = 0

    def recall(self, kinds: tuple[str, ...], sizes: range) -> float:
        hits = [h for (k, s), v in self.found.items() if k in kinds and s in sizes for h in v]
        return float(np.mean(hits)) if hits else float("nan")

    def delay(self) -> str:
        values = [d for v in self.delays.values() for d in v]
        shifts = self.delays.get("level shift", [])
        if not values:
            return "-"
        text = f"{statistics.median(values):.0f} d"
        return text + (f" (level shifts {statistics.median(shifts):.0f} d)" if shifts else "")


@dataclass(frozen=True)
class Scope:
    """Where false alerts are counted, and the zero-MAD rows and days."""

    columns: np.ndarray
    watched: np.ndarray  # rows
    promotions: np.ndarray  # (rows, columns): the shop's own promotions (and the day after)
    zero_mad_products: np.ndarray  # rows: products with a zero MAD on every scanned day
    zero_mad_days: np.ndarray  # (rows, columns)


def score_run(
    injections: list[Injection], up: np.ndarray, down: np.ndarray, scope: Scope, score: Score
) -> None:
    first = int(scope.columns[0])
    explained = np.zeros(up.shape, dtype=bool)
    for inj in injections:
        lo, hi = inj.onset - first, inj.onset - first + inj.days
        hit = np.flatnonzero((up if inj.up else down)[inj.row, lo:hi])
        size = min(8, int(inj.size))
        score.found.setdefault((inj.kind, size), []).append(hit.size > 0)
        if hit.size:
            score.delays.setdefault(inj.kind, []).append(int(hit[0]))
        # The injection and what it moves (its category, the total, the day after) are
        # not false alerts.
        explained[list(inj.affected), lo : min(up.shape[1], hi + 1)] = True
    for flags in (up, down):
        for row in np.flatnonzero(scope.watched):
            days = np.flatnonzero(flags[row] & ~explained[row])
            if days.size:
                starts = days[np.r_[True, np.diff(days) > COOLDOWN_DAYS]]  # one event per run
                score.false_events += len(starts)
                score.false_events_in_promotions += int(scope.promotions[row, starts].sum())
    alerted = up | down
    score.zero_mad_product_alerts += int(alerted[scope.zero_mad_products].sum())
    score.zero_mad_day_alerts += int((alerted & scope.zero_mad_days).sum())


def _promotions(shop: DemoShop, panel: SalesPanel, columns: np.ndarray) -> np.ndarray:
    mask = np.zeros((len(panel.subjects), len(columns)), dtype=bool)
    row_of = {subject: i for i, subject in enumerate(panel.subjects)}
    for promo in shop.promotions:
        lo = panel.column(promo.start) - int(columns[0])
        hi = panel.column(promo.end) - int(columns[0]) + 2
        if hi <= 0 or lo >= len(columns):
            continue
        rows = [0, *(row_of[s] for s in promo.skus if s in row_of)]
        if promo.category in row_of:
            rows.append(row_of[promo.category])
        mask[rows, max(lo, 0) : hi] = True
    return mask


def quality(quick: bool, today: date) -> None:
    shop = build_demo_shop(20240601, today)
    base = demo_matrices(shop)
    clean = base.panel(base.units, base.revenue, base.orders)
    rules = DetectionRules()
    weeks = 26 if quick else 52
    rounds = 2 if quick else 8
    columns = np.arange(clean.n_days - 1 - 7 * weeks, clean.n_days - 1)  # complete days only
    fit = seasonal_fit(clean.units, columns)
    is_product = np.array([lv is SubjectLevel.PRODUCT for lv in clean.levels])
    watched = clean.watched & (fit.level.mean(axis=1) >= rules.min_daily_units)
    scope_base = {
        "columns": columns,
        "watched": watched,
        "promotions": _promotions(shop, clean, columns),
        "zero_mad_products": is_product & fit.zero_mad.all(axis=1),
    }
    rng = np.random.default_rng(7)
    ours, seed = Score(), Score()
    timing = []
    injected = 0
    for round_number in range(rounds):
        # Products one round, the shop and its categories the next: a category's anomaly
        # moves its products, so the two kinds of labels never share a round.
        labelled = watched & (is_product if round_number % 2 == 0 else ~is_product)
        injector = Injector(base, clean, rng, rules.min_daily_units, labelled)
        injections: list[Injection] = []
        for row in np.flatnonzero(labelled)[::-1]:  # categories before the total
            # Anomalies of one series are 70 days apart: each has a clean baseline window.
            first = int(columns[0]) + int(rng.integers(0, 20))
            for onset in range(first, int(columns[-1]) - SHIFT_DAYS, 70):
                kind = KINDS[int(rng.integers(len(KINDS)))]
                size = float(SIZES[int(rng.integers(len(SIZES)))])
                made = injector.apply(int(row), kind, size, onset)
                if made is not None:
                    injections.append(made)
        injected += len(injections)
        panel = injector.panel()
        scope = Scope(**scope_base, zero_mad_days=seasonal_fit(panel.units, columns).zero_mad)
        started = time.perf_counter()
        scan, _, _ = scan_sales(panel, columns, rules)
        timing.append(time.perf_counter() - started)
        score_run(injections, scan.spike, scan.drop, scope, ours)
        score_run(injections, *seed_flags(panel, columns), scope, seed)

    rows = []
    for kind in KINDS:
        for size in range(3, 9):
            got = ours.found.get((kind, size))
            if got:
                label = f"{size}+" if kind == "zero-out" and size == 8 else str(size)
                theirs = seed.found.get((kind, size), [])
                rows.append(
                    [kind, label, len(got), f"{np.mean(got):.2f}", f"{np.mean(theirs):.2f}"]
                )
    table(
        f"1. Detection quality: recall by anomaly size in robust sigma ({injected} anomalies, "
        f"{rounds} rounds x {weeks} weeks x {int(watched.sum())} series)",
        ["kind", "size", "injected", "detector", "seed |z|>=3"],
        rows,
    )
    series_weeks = int(watched.sum()) * weeks * rounds
    shapes = ("spike", "drop", "level shift")
    table(
        "1b. Detection quality, summary (goals: recall >= 0.9 at >= 4 sigma; <= 0.1 false "
        "alert events per series-week; no alert from zero-MAD products)",
        ["", "detector", "seed |z|>=3"],
        [
            [
                "recall, spikes/drops/shifts of >= 4 sigma",
                f"{ours.recall(shapes, range(4, 9)):.3f}",
                f"{seed.recall(shapes, range(4, 9)):.3f}",
            ],
            [
                "recall, spikes/drops/shifts of exactly 4 sigma",
                f"{ours.recall(shapes, range(4, 5)):.3f}",
                f"{seed.recall(shapes, range(4, 5)):.3f}",
            ],
            [
                "recall, spikes/drops/shifts of 3 sigma",
                f"{ours.recall(shapes, range(3, 4)):.3f}",
                f"{seed.recall(shapes, range(3, 4)):.3f}",
            ],
            [
                "recall, zero-outs of >= 4 sigma",
                f"{ours.recall(('zero-out',), range(4, 9)):.3f}",
                f"{seed.recall(('zero-out',), range(4, 9)):.3f}",
            ],
            [
                "false alert events per series-week",
                f"{ours.false_events / series_weeks:.3f}",
                f"{seed.false_events / series_weeks:.3f}",
            ],
            [
                "  of which on the shop's own promotions",
                f"{ours.false_events_in_promotions / series_weeks:.3f}",
                f"{seed.false_events_in_promotions / series_weeks:.3f}",
            ],
            ["median detection delay", ours.delay(), seed.delay()],
            [
                f"alerts from zero-MAD products ({int(scope_base['zero_mad_products'].sum())})",
                ours.zero_mad_product_alerts,
                seed.zero_mad_product_alerts,
            ],
            [
                "alerts on zero-MAD series-days (any series)",
                ours.zero_mad_day_alerts,
                seed.zero_mad_day_alerts,
            ],
            ["scan time per round", f"{statistics.median(timing) * 1000:.0f} ms", "-"],
        ],
    )
    planted(shop, clean, rules)


def planted(shop: DemoShop, clean: SalesPanel, rules: DetectionRules) -> None:
    """The demo shop's own planted anomalies, on its untouched series (last 60 days)."""
    columns = np.arange(clean.n_days - 61, clean.n_days - 1)
    scan, _, _ = scan_sales(clean, columns, rules)
    s_up, s_down = seed_flags(clean, columns)
    row_of = {subject: i for i, subject in enumerate(clean.subjects)}
    rows = []
    for anomaly in shop.planted_anomalies:
        row = row_of[anomaly.sku or anomaly.category]
        col = clean.column(anomaly.date) - int(columns[0])
        ours = (scan.spike if anomaly.kind == "spike" else scan.drop)[row, col]
        theirs = (s_up if anomaly.kind == "spike" else s_down)[row, col]
        rows.append(
            [
                anomaly.date.isoformat(),
                anomaly.kind,
                anomaly.sku or anomaly.category,
                f"{scan.units[row, col]:+.1f}",
                "yes" if ours else "NO",
                "yes" if theirs else "no",
            ]
        )
    table(
        "2. The demo shop's planted anomalies (untouched series, last 60 days)",
        ["date", "kind", "subject", "robust z (units)", "detector", "seed |z|>=3"],
        rows,
    )


# ----------------------------------------------------------------- check speed
def synthetic_shop(
    n_products: int, days: int, today: date, seed: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Sale lines, catalogue and inventory of a shop with ``n_products`` products."""
    rng = np.random.default_rng(seed)
    first = today - timedelta(days=days - 1)
    weekday = (np.arange(days) + first.weekday()) % 7
    weekly = np.array([0.9, 0.9, 0.95, 1.0, 1.1, 1.35, 0.75])
    popularity = rng.lognormal(0.3, 1.0, n_products)
    lines = rng.poisson(popularity[:, None] * weekly[weekday][None, :])
    cell = np.repeat(np.arange(n_products * days), lines.ravel())
    product, day = cell // days, cell % days
    price = np.round(rng.lognormal(3, 0.7, n_products), 2)
    quantity = 1 + rng.poisson(0.6, len(cell))
    sold_at = np.datetime64(first, "s") + (
        day * 86_400 + rng.integers(8 * 3600, 21 * 3600, len(cell))
    ).astype("timedelta64[s]")
    skus = np.array([f"SKU-{i:05d}" for i in range(n_products)], dtype=object)
    items = typed_frame(
        {
            "sale_id": np.arange(len(cell)) // 3,
            "sold_at": sold_at,
            "sale_date": sold_at.astype("datetime64[D]"),
            "product_id": product + 1,
            "sku": skus[product],
            "product_name": skus[product],
            "quantity": quantity,
            "unit_price": price[product],
            "subtotal": quantity * price[product],
        },
        ITEM_SCHEMA,
    )
    catalogue = typed_frame(
        {
            "product_id": np.arange(1, n_products + 1),
            "sku": skus,
            "name": skus,
            "price": price,
            "stock_quantity": rng.integers(0, 400, n_products),
            "low_stock_threshold": np.full(n_products, 10),
        },
        CATALOGUE_SCHEMA,
    )
    inventory = typed_frame(
        {
            "sku": skus,
            "category": [f"Category {i % 12}" for i in range(n_products)],
            "cost": price * 0.6,
        },
        INVENTORY_SCHEMA,
    )
    return items, catalogue, inventory


def speed(quick: bool, today: date) -> None:
    rules = DetectionRules()
    repeats = 3 if quick else 7
    rows = []
    for products, scan_days in ((2000, 7), (2000, 60), (240, 60)):
        history = scan_days + WINDOW_DAYS + 1
        items, catalogue, inventory = synthetic_shop(products, history, today)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            found = detect_anomalies(
                items,
                catalogue,
                inventory,
                today,
                rules,
                scan_days=scan_days,
                detected_at=datetime.now(UTC),
            )
            times.append(time.perf_counter() - started)
        best = statistics.median(times)
        rows.append(
            [
                f"{products:,}",
                scan_days,
                f"{len(items):,}",
                found.checked_series,
                f"{best * 1000:.0f} ms",
                f"{1 / best:.1f}",
                "yes" if products < 2000 or best <= 1.0 else "NO",
            ]
        )
    table(
        "3. Check speed: the whole pure check (panel from sale lines, scores, gates, stock), "
        "one thread (goal: 2000 products <= 1 s)",
        [
            "products",
            "scanned days",
            "sale lines",
            "series checked",
            "check (median)",
            "checks/s",
            "goal",
        ],
        rows,
    )


# ------------------------------------------------------- delivery and fan-out
SECRET = "bench-alerts-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
ALERTS_REDIS_URL = "redis://127.0.0.1:6379/13"


async def _flush_redis() -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(ALERTS_REDIS_URL)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


class Subscriber:
    """A graphql-transport-ws client that timestamps every alert it receives."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.received: list[tuple[float, dict]] = []
        self.socket = None
        self._task: asyncio.Task | None = None

    async def start(self, after: str) -> None:
        import websockets

        self.socket = await websockets.connect(
            self.url, subprotocols=["graphql-transport-ws"], max_queue=None
        )
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {self.token}"}}
        await self.socket.send(json.dumps(init))
        ack = json.loads(await self.socket.recv())
        assert ack["type"] == "connection_ack", ack
        query = "subscription($after: ID) { alerts(after: $after) { id kind subject detectedAt } }"
        await self.socket.send(
            json.dumps(
                {
                    "id": "a",
                    "type": "subscribe",
                    "payload": {"query": query, "variables": {"after": after}},
                }
            )
        )
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.socket:
            arrived = time.time()
            message = json.loads(raw)
            if message["type"] == "ping":
                await self.socket.send('{"type":"pong"}')
            elif message["type"] == "next":
                self.received.append((arrived, message["payload"]["data"]["alerts"]))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.socket is not None:
            await self.socket.close()


def _latency(arrived: float, alert: dict) -> float:
    return arrived - datetime.fromisoformat(alert["detectedAt"]).timestamp()


def _pct(values: list[float], q: float) -> float:
    return float(np.quantile(np.array(values), q)) if values else float("nan")


async def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def _start_gateway(env: dict[str, str], port: int) -> tuple[subprocess.Popen[bytes], str]:
    """``salesflow-graphql serve`` in its own process; its log goes to a file."""
    with tempfile.NamedTemporaryFile(prefix="bench-alerts-", suffix=".log", delete=False) as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "salesflow_graphql", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, log.name


async def delivery_and_fanout(quick: bool, today: date) -> None:
    """A gateway process (Java URL = a stand-in served here), memory bus or Redis stream."""
    import os

    import httpx
    from support import free_port, serving

    from salesflow_graphql.auth import Role, mint_access_token
    from salesflow_graphql.standin import StandIn

    shop = build_demo_shop(20240601, today)
    standin = StandIn(shop, secret=SECRET)
    admin = mint_access_token(SECRET, Role.ADMIN)
    user = mint_access_token(SECRET, Role.USER)
    sellers = [
        p.sku
        for p in sorted(shop.products, key=lambda p: -p.stock_quantity)
        if p.sku not in shop.current_stockouts
    ]
    singles = 3 if quick else 20
    fan_out = 100 if quick else 1000
    delivery_rows, fanout_rows = [], []

    async def run_out(java: httpx.AsyncClient, sku: str) -> None:
        product = (await java.get(f"/products/by-sku/{sku}")).json()
        answer = await java.put(f"/products/by-sku/{sku}", json={**product, "stockQuantity": 0})
        answer.raise_for_status()

    async with (
        serving(standin.app) as java_url,
        httpx.AsyncClient(
            base_url=f"{java_url}/api/v1", headers={"Authorization": f"Bearer {admin}"}
        ) as java,
    ):
        for mode in ("memory", "redis"):
            if mode == "redis":
                await _flush_redis()
            port = free_port()
            env = {
                **os.environ,
                "SALESFLOW_JAVA_API_URL": f"{java_url}/api/v1",
                "SALESFLOW_JWT_SECRET": SECRET,
                "SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES": "0",
                "SALESFLOW_ALERT_SCAN_DAYS": "7",
                "SALESFLOW_CATALOGUE_TTL_S": "0",
                "SALESFLOW_SALES_TTL_S": "0",
                "SALESFLOW_LOG_LEVEL": "WARNING",
                "SALESFLOW_WS_MAX_SUBSCRIPTIONS": "5",
                # One user opens the whole crowd: no per-user rate or connection cap here.
                "SALESFLOW_RATE_LIMIT_PER_S": "0",
                "SALESFLOW_WS_MAX_CONNECTIONS_PER_USER": "0",
            }
            if mode == "redis":
                env["SALESFLOW_REDIS_URL"] = ALERTS_REDIS_URL
            process, log_name = _start_gateway(env, port)
            base = f"http://127.0.0.1:{port}"
            ws_url = f"ws://127.0.0.1:{port}/graphql"
            subscribers: list[Subscriber] = []
            try:
                async with httpx.AsyncClient(base_url=base, timeout=60) as gateway:

                    async def ready() -> bool:
                        try:
                            return (await gateway.get("/healthz")).status_code == 200
                        except httpx.HTTPError:
                            return False

                    deadline = time.monotonic() + 60
                    while not await ready():
                        if time.monotonic() > deadline or process.poll() is not None:
                            raise RuntimeError(f"gateway did not start, see {log_name}")
                        await asyncio.sleep(0.1)

                    async def check() -> tuple[list[dict], float]:
                        started = time.perf_counter()
                        answer = (
                            await gateway.post(
                                "/graphql",
                                json={"query": "mutation { runAnomalyCheck { alerts { id } } }"},
                                headers={"Authorization": f"Bearer {admin}"},
                            )
                        ).json()
                        return answer["data"]["runAnomalyCheck"][
                            "alerts"
                        ], time.perf_counter() - started

                    backlog, _ = await check()  # the first check raises the recent past
                    tail = backlog[-1]["id"] if backlog else "0-0"

                    # Delivery: one subscriber, one new alert per check.
                    watcher = Subscriber(ws_url, user)
                    subscribers.append(watcher)
                    await watcher.start(tail)
                    latencies, check_times = [], []
                    for _ in range(singles):
                        await run_out(java, sellers.pop(0))
                        raised, took = await check()
                        check_times.append(took)
                        count = len(raised)
                        await _wait(lambda w=watcher, n=count: len(w.received) >= n, 10, "delivery")
                        latencies += [_latency(t, a) for t, a in watcher.received]
                        tail = watcher.received[-1][1]["id"]
                        watcher.received.clear()
                    delivery_rows.append(
                        [
                            "in-process bus" if mode == "memory" else "Redis stream",
                            len(latencies),
                            f"{_pct(latencies, 0.5) * 1000:.1f} ms",
                            f"{_pct(latencies, 0.99) * 1000:.1f} ms",
                            f"{statistics.median(check_times) * 1000:.0f} ms",
                            "yes" if _pct(latencies, 0.99) <= 1.0 else "NO",
                        ]
                    )

                    # Fan-out: many subscribers, one alert.
                    crowd = [Subscriber(ws_url, user) for _ in range(fan_out)]
                    subscribers += crowd
                    for batch in range(0, fan_out, 50):
                        await asyncio.gather(*(s.start(tail) for s in crowd[batch : batch + 50]))
                    await run_out(java, sellers.pop(0))
                    await check()
                    await _wait(lambda c=crowd: all(s.received for s in c), 30, "fan-out")
                    spread = [_latency(*s.received[0]) for s in crowd]
                    fanout_rows.append(
                        [
                            "in-process bus" if mode == "memory" else "Redis stream",
                            "WebSocket clients (gateway process)",
                            fan_out,
                            f"{_pct(spread, 0.5) * 1000:.0f} ms",
                            f"{max(spread) * 1000:.0f} ms",
                            "yes" if max(spread) <= 2.0 else "NO",
                        ]
                    )
            finally:
                await asyncio.gather(*(s.close() for s in subscribers), return_exceptions=True)
                process.terminate()
                process.wait(timeout=15)
                if mode == "redis":
                    await _flush_redis()
    fanout_rows += await bus_fanout(fan_out if quick else 1000)
    table(
        "4. Delivery: detection (alert published) -> WebSocket client, one new alert per "
        "runAnomalyCheck, gateway in its own process (goal <= 1 s)",
        ["bus", "alerts", "p50", "p99", "check (HTTP, median)", "goal"],
        delivery_rows,
    )
    table(
        "5. Fan-out of one alert to concurrent subscribers: time until the last one has it "
        "(goal: 1000 in <= 2 s)",
        ["bus", "subscribers are", "count", "median", "last", "goal"],
        fanout_rows,
    )


async def bus_fanout(count: int) -> list[list[object]]:
    """The bus alone: ``count`` subscriptions in this process, one alert."""
    from alerts_support import synthetic_alert

    from salesflow_graphql.alerts.bus import MemoryAlertBus, RedisAlertBus

    rows = []
    for name, make in (
        ("in-process bus", lambda: MemoryAlertBus()),
        ("Redis stream", lambda: RedisAlertBus(ALERTS_REDIS_URL)),
    ):
        await _flush_redis()
        bus = make()
        arrived: list[float] = []

        async def consume(stream, arrived: list[float] = arrived) -> None:
            async for _alert in stream:
                arrived.append(time.perf_counter())
                return

        streams = [bus.subscribe() for _ in range(count)]
        tasks = [asyncio.create_task(consume(s)) for s in streams]
        await _wait(lambda bus=bus: bus.subscribers == count, 30, "subscriptions")
        started = time.perf_counter()
        await bus.publish(synthetic_alert("FAN-OUT"))
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        spread = [t - started for t in arrived]
        rows.append(
            [
                name,
                "bus subscriptions (one process)",
                count,
                f"{_pct(spread, 0.5) * 1000:.1f} ms",
                f"{max(spread) * 1000:.1f} ms",
                "yes" if max(spread) <= 2.0 else "NO",
            ]
        )
        for stream in streams:
            await stream.aclose()
        await bus.close()
    await _flush_redis()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small version (CI)")
    parser.add_argument("--only", choices=["quality", "speed", "delivery"])
    args = parser.parse_args()
    today = date.today()
    if args.only in (None, "quality"):
        quality(args.quick, today)
    if args.only in (None, "speed"):
        speed(args.quick, today)
    if args.only in (None, "delivery"):
        asyncio.run(delivery_and_fanout(args.quick, today))


if __name__ == "__main__":
    main()
