"""The seeded demo shop: catalogue, inventory, users and two years of sales.

Everything is drawn from one ``numpy`` RNG seeded with ``seed``, relative to
``today``, so ``build_demo_shop(seed, today)`` is a pure function of its
arguments. Sales are generated vectorised and kept columnar (:class:`SalesColumns`),
never as one dict per sale.

The story the data tells (each part exposed on :class:`DemoShop` so tests and
alert checks can find it): ~200 orders a day growing over time, busier on
Fridays and Saturdays and in November/December; promotions that lift some
products or a whole category for a few days at a discount; product launches and
discontinuations (two discontinued products were deleted from the catalogue, so
old sales name a ``productId`` that no longer exists); renamed products (old
sales keep the old ``productName``); an intermittent long tail; stockouts past
and present; low stock and dead stock; and a handful of anomalies planted in the
last 60 days.

Planted anomalies are there to be found whatever ``today`` is: each one goes
on a recent day where the gateway's detector flags it (see :mod:`.anomalies`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np

from ..alerts.model import ProductSnapshot
from ..analytics.products import UNCATEGORIZED
from ..auth import Role
from .anomalies import DetectedAs, PlantedAnomaly, Spike, plant_anomalies
from .baskets import Baskets
from .catalogue import CATEGORIES, Category

HISTORY_DAYS = 760
PRODUCTS_PER_CATEGORY = 24
OPENING = time(8, 0)
CLOSING = time(21, 0)
BASE_ORDERS_PER_DAY = 150.0
#: Monday .. Sunday: busier towards the weekend, quiet on Sunday.
WEEKDAY_FACTORS = np.array([0.92, 0.9, 0.95, 1.0, 1.12, 1.32, 0.8])
US_PER_DAY = 86_400_000_000
#: Planted anomalies: product spikes, one category spike, drops; all within the last
#: 60 days but never today.
SPIKES, DROPS = 4, 3
ANOMALY_OFFSETS = np.arange(2, 58)


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """A catalogue product as the shop starts with it (money in cents)."""

    id: int
    name: str
    sku: str
    price_cents: int
    stock_quantity: int
    description: str | None
    image_url: str | None
    low_stock_threshold: int
    category: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class InventoryRecord:
    """An inventory row: cost and category for a product, joined by ``sku``."""

    id: int
    sku: str
    cost_cents: int
    category: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A user who can log in to the stand-in."""

    id: int
    phone_number: str
    password: str
    username: str
    email: str
    role: Role
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Promotion:
    """A multi-day uplift with a discount, on some products or a whole category."""

    start: date
    end: date  # inclusive
    skus: tuple[str, ...]
    category: str | None
    uplift: float
    discount: float


@dataclass(frozen=True, slots=True)
class Rename:
    """A product renamed on ``date``: sales before it carry ``old_name``."""

    product_id: int
    sku: str
    old_name: str
    new_name: str
    date: date


@dataclass(frozen=True)
class SalesColumns:
    """Sales and their items as parallel arrays, sales in id order.

    Sale ``i`` owns items ``item_start[i] : item_start[i] + item_count[i]``.
    ``item_name``/``item_sku`` index into ``names``/``skus``: the snapshots taken
    at sale time. Money is in integer cents; ``sale_time`` is local, zone-less.
    """

    sale_id: np.ndarray  # int64
    sale_time: np.ndarray  # datetime64[us]
    item_start: np.ndarray  # int64
    item_count: np.ndarray  # int64
    item_product_id: np.ndarray  # int64
    item_name: np.ndarray  # int32
    item_sku: np.ndarray  # int32
    item_quantity: np.ndarray  # int64
    item_unit_cents: np.ndarray  # int64
    names: tuple[str, ...]
    skus: tuple[str, ...]

    @property
    def n_sales(self) -> int:
        return len(self.sale_id)

    @property
    def n_items(self) -> int:
        return len(self.item_product_id)


@dataclass(frozen=True)
class DemoShop:
    """The demo shop's initial state; :class:`~.store.ShopState` makes it mutable."""

    seed: int
    today: date
    first_day: date
    products: tuple[ProductRecord, ...]
    inventory: tuple[InventoryRecord, ...]
    users: tuple[DemoUser, ...]
    sales: SalesColumns
    planted_anomalies: tuple[PlantedAnomaly, ...]
    promotions: tuple[Promotion, ...]
    renames: tuple[Rename, ...]
    deleted_products: tuple[ProductRecord, ...]
    launches: dict[str, date] = field(default_factory=dict)
    discontinued: dict[str, date] = field(default_factory=dict)
    current_stockouts: tuple[str, ...] = ()
    low_stock: tuple[str, ...] = ()
    dead_stock: tuple[str, ...] = ()
    intermittent: tuple[str, ...] = ()
    skus_without_inventory: tuple[str, ...] = ()


DEMO_USERS_SPEC = (
    ("+15550000001", "admin123", "admin", "admin@salesflow.example", Role.ADMIN),
    ("+15550000002", "user123", "user", "user@salesflow.example", Role.USER),
)


# --------------------------------------------------------------------- catalogue
@dataclass
class _Draft:
    """A product while the catalogue is being drawn (positions, not ids)."""

    name: str
    category: int
    brand: str
    kind: str
    description: str | None
    image: bool


def _draft_catalogue(rng: np.random.Generator) -> list[_Draft]:
    drafts: list[_Draft] = []
    for c, cat in enumerate(CATEGORIES):
        combos = [(b, k) for k in cat.kinds for b in cat.brands]
        picks = rng.permutation(len(combos))[:PRODUCTS_PER_CATEGORY]
        for j in picks.tolist():
            brand, kind = combos[j]
            name = f"{brand} {kind}"
            if rng.random() < 0.3:
                name += f", {cat.variants[int(rng.integers(len(cat.variants)))]}"
            has_description = rng.random() > 0.15
            description = (
                f"{kind} from {brand}. Part of our {cat.name.lower()} range."
                if has_description
                else None
            )
            drafts.append(_Draft(name, c, brand, kind, description, bool(rng.random() > 0.25)))
    return drafts


def _retail_cents(raw: np.ndarray) -> np.ndarray:
    """Round prices to shelf prices ending in 9 cents (x.99 above 10, x.49/x.99 below)."""
    dollars = np.maximum(raw, 0.5)
    cents = np.where(
        dollars >= 10,
        np.floor(dollars) * 100 + 99,
        np.floor(dollars * 2) * 50 + 49,
    )
    return cents.astype(np.int64)


# ------------------------------------------------------------------------ shop
def build_demo_shop(seed: int = 20240601, today: date | None = None) -> DemoShop:
    """Draw the demo shop for ``(seed, today)``; same arguments, same shop."""
    today = today or date.today()
    rng = np.random.default_rng(seed)
    drafts = _draft_catalogue(rng)
    n_products, n_days = len(drafts), HISTORY_DAYS
    first_day = today - timedelta(days=n_days - 1)
    day = np.arange(n_days)

    cats: Sequence[Category] = CATEGORIES
    cat_of = np.array([d.category for d in drafts])
    median = np.array([cats[c].median_price for c in cat_of])
    spread = np.array([cats[c].price_spread for c in cat_of])
    price_cents = _retail_cents(median * np.exp(rng.normal(0, 1, n_products) * spread))
    margin_lo = np.array([cats[c].margin[0] for c in cat_of])
    margin_hi = np.array([cats[c].margin[1] for c in cat_of])
    cost_cents = np.maximum(1, np.round(price_cents * rng.uniform(margin_lo, margin_hi))).astype(
        np.int64
    )
    cost_cents = np.minimum(cost_cents, price_cents - 1)
    basket_qty = np.array([cats[c].basket_quantity for c in cat_of]) * rng.uniform(
        0.6, 1.4, n_products
    )
    popularity = rng.lognormal(0, 0.9, n_products) * np.array([cats[c].popularity for c in cat_of])
    thresholds = rng.choice([1, 3, 5, 10, 10, 10, 10, 15, 20, 25], n_products)

    # --- roles: disjoint groups drawn from one permutation
    pool = rng.permutation(n_products).tolist()

    def take(n: int) -> list[int]:
        chosen = pool[:n]
        del pool[:n]
        return chosen

    launched, discontinued, intermittent = take(20), take(7), take(40)
    renamed, current_out, past_out = take(3), take(5), take(12)
    no_inventory, low_stock = take(4), take(12)
    deleted = discontinued[:2]
    regular = sorted(pool, key=lambda p: -popularity[p])
    spike_products = regular[4 : 4 + 2 * SPIKES : 2]
    # Drops go to the other regular products where an empty day is beyond doubt.
    drop_candidates = [p for p in regular if p not in spike_products]

    launch_day = np.zeros(n_products, dtype=np.int64)
    launch_day[launched] = rng.integers(90, n_days - 45, len(launched))
    stop_day = np.full(n_products, n_days, dtype=np.int64)
    stop_day[discontinued] = rng.integers(n_days - 400, n_days - 45, len(discontinued))
    popularity[intermittent] *= 0.5
    sell_chance = np.ones(n_products)
    sell_chance[intermittent] = rng.uniform(0.04, 0.25, len(intermittent))

    # --- ids in creation order (launched products are the newest)
    created_offset = np.where(
        launch_day > 0,
        launch_day - rng.integers(3, 15, n_products),
        -rng.integers(30, 900, n_products),
    )
    created_time = rng.integers(9 * 3600, 18 * 3600, n_products)
    order = np.lexsort((created_time, created_offset))
    product_id = np.empty(n_products, dtype=np.int64)
    product_id[order] = np.arange(1, n_products + 1)
    sku_counter = [0] * len(cats)
    skus = [""] * n_products
    for p in order.tolist():
        sku_counter[cat_of[p]] += 1
        skus[p] = f"{cats[cat_of[p]].sku_prefix}-{sku_counter[cat_of[p]]:05d}"

    def day_date(d: int) -> date:
        return first_day + timedelta(days=int(d))

    def moment(offset_days: int, seconds: int) -> datetime:
        return datetime.combine(day_date(offset_days), time()) + timedelta(seconds=int(seconds))

    # --- daily weights per product: popularity x drift x life cycle x events
    weights = popularity[None, :] * np.exp(np.outer(day / n_days, rng.normal(0, 0.5, n_products)))
    ramp = np.clip((day[:, None] - launch_day[None, :] + 1) / 14.0, 0, 1)
    weights *= np.where(launch_day[None, :] > 0, ramp, 1.0)
    weights[day[:, None] >= stop_day[None, :]] = 0.0
    weights *= rng.random((n_days, n_products)) < sell_chance[None, :]
    for p in past_out:
        start = int(rng.integers(30, n_days - 75))
        weights[start : start + int(rng.integers(5, 21)), p] = 0.0
    for p in current_out:
        weights[n_days - int(rng.integers(3, 21)) :, p] = 0.0

    # --- prices over time: one earlier price for most products, promotions discount
    price_at = np.repeat(price_cents[None, :], n_days, axis=0)
    changed = rng.random(n_products) < 0.6
    change_day = rng.integers(60, n_days - 30, n_products)
    old_cents = _retail_cents(price_cents / 100 / rng.uniform(1.04, 1.15, n_products))
    for p in np.flatnonzero(changed).tolist():
        price_at[: change_day[p], p] = old_cents[p]

    promotions: list[Promotion] = []
    promo_candidates = [p for p in regular if p not in spike_products]
    for i in range(26):
        length = int(rng.integers(3, 15))
        start = int(rng.integers(0, n_days - 62 - length))
        uplift, discount = float(rng.uniform(1.8, 3.2)), float(rng.uniform(0.1, 0.3))
        if i % 3 == 0:
            c = int(rng.integers(len(cats)))
            members = np.flatnonzero(cat_of == c).tolist()
            category: str | None = cats[c].name
        else:
            members = rng.choice(promo_candidates, int(rng.integers(1, 6)), replace=False).tolist()
            category = None
        window = slice(start, start + length)
        weights[window, members] *= uplift
        price_at[window, members] = np.round(price_at[window, members] * (1 - discount))
        promotions.append(
            Promotion(
                day_date(start),
                day_date(start + length - 1),
                tuple(sorted(skus[p] for p in members)),
                category,
                round(uplift, 2),
                round(discount, 2),
            )
        )

    # --- sales, then the anomalies planted in them (last 60 days, never today)
    orders_per_day = _orders_per_day(rng, first_day, n_days)
    n_sales = int(orders_per_day.sum())
    stamp, sale_day = _sale_moments(rng, orders_per_day)
    baskets = Baskets.draw(rng, weights, sale_day, basket_qty)
    spike_cat = int(rng.integers(len(cats)))
    spikes = [Spike([p], float(rng.uniform(6, 10)), sku=skus[p]) for p in spike_products] + [
        Spike(np.flatnonzero(cat_of == spike_cat).tolist(), 4.0, category=cats[spike_cat].name)
    ]
    without_inventory = {*no_inventory, *deleted}
    anomalies = plant_anomalies(
        baskets,
        DetectedAs(
            first_day=first_day,
            skus=skus,
            categories=[
                UNCATEGORIZED if p in without_inventory else cats[cat_of[p]].name
                for p in range(n_products)
            ],
            snapshots=[
                None
                if p in deleted
                else ProductSnapshot(
                    int(product_id[p]), skus[p], drafts[p].name, price_cents[p] / 100, 0, 0
                )
                for p in range(n_products)
            ],
            price_cents=price_at,
        ),
        (n_days - 1 - rng.permutation(ANOMALY_OFFSETS)).tolist(),
        spikes,
        drop_candidates,
        DROPS,
    )
    item_sale, item_product, quantity = baskets.merged()
    item_day = sale_day[item_sale]
    item_count = np.bincount(item_sale, minlength=n_sales).astype(np.int64)
    item_start = np.concatenate(([0], np.cumsum(item_count)[:-1])).astype(np.int64)

    # --- renames: old name snapshot before the rename day
    names = [d.name for d in drafts]
    renames: list[Rename] = []
    item_name = item_product.astype(np.int32)
    for p in renamed:
        d = int(rng.integers(n_days - 500, n_days - 90))
        old = f"{drafts[p].kind} - {drafts[p].brand}"
        item_name[(item_product == p) & (item_day < d)] = len(names)
        names.append(old)
        renames.append(Rename(int(product_id[p]), skus[p], old, drafts[p].name, day_date(d)))

    sales = SalesColumns(
        sale_id=np.arange(1, n_sales + 1, dtype=np.int64),
        sale_time=(np.datetime64(first_day, "us") + stamp.astype("timedelta64[us]")),
        item_start=item_start,
        item_count=item_count,
        item_product_id=product_id[item_product],
        item_name=item_name,
        item_sku=item_product.astype(np.int32),
        item_quantity=quantity,
        item_unit_cents=price_at[item_day, item_product].astype(np.int64),
        names=tuple(names),
        skus=tuple(skus),
    )

    # --- stock today: cover of recent demand; special groups set apart
    recent = item_day >= n_days - 28
    daily_rate = (
        np.bincount(item_product[recent], weights=quantity[recent], minlength=n_products) / 28
    )
    stock = np.maximum(
        thresholds + 3,
        np.round(daily_rate * rng.uniform(12, 75, n_products)) + rng.integers(0, 20, n_products),
    ).astype(np.int64)
    stock[current_out] = 0
    stock[low_stock] = [int(rng.integers(1, thresholds[p] + 1)) for p in low_stock]
    stock[discontinued] = rng.integers(5, 60, len(discontinued))

    products: list[ProductRecord] = []
    deleted_records: list[ProductRecord] = []
    for p in order.tolist():
        created = moment(int(created_offset[p]), int(created_time[p]))
        touched = [created]
        if changed[p] and change_day[p] > created_offset[p]:
            touched.append(moment(int(change_day[p]), 10 * 3600))
        record = ProductRecord(
            id=int(product_id[p]),
            name=drafts[p].name,
            sku=skus[p],
            price_cents=int(price_cents[p]),
            stock_quantity=int(stock[p]),
            description=drafts[p].description,
            image_url=f"https://cdn.salesflow.example/img/{skus[p].lower()}.jpg"
            if drafts[p].image
            else None,
            low_stock_threshold=int(thresholds[p]),
            category=cats[cat_of[p]].name,
            created_at=created,
            updated_at=max(touched),
        )
        (deleted_records if p in deleted else products).append(record)

    by_sku = {r.sku: r for r in products}
    missing_inventory = {skus[p] for p in no_inventory}
    shelved = sorted(
        (r for r in products if r.sku not in missing_inventory), key=lambda r: (r.category, r.name)
    )
    inventory = tuple(
        InventoryRecord(
            id=i,
            sku=r.sku,
            cost_cents=int(cost_cents[skus.index(r.sku)]),
            category=r.category,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for i, r in enumerate(shelved, start=1)
    )
    users_since = datetime.combine(first_day - timedelta(days=400), time(9, 0))
    users = tuple(
        DemoUser(i, phone, password, username, email, role, users_since + timedelta(minutes=i))
        for i, (phone, password, username, email, role) in enumerate(DEMO_USERS_SPEC, start=1)
    )
    deleted_skus = {skus[p] for p in deleted}
    return DemoShop(
        seed=seed,
        today=today,
        first_day=first_day,
        products=tuple(products),
        inventory=inventory,
        users=users,
        sales=sales,
        planted_anomalies=tuple(sorted(anomalies, key=lambda a: a.date)),
        promotions=tuple(sorted(promotions, key=lambda p: p.start)),
        renames=tuple(renames),
        deleted_products=tuple(deleted_records),
        launches={skus[p]: day_date(int(launch_day[p])) for p in launched},
        discontinued={skus[p]: day_date(int(stop_day[p]) - 1) for p in discontinued},
        current_stockouts=tuple(sorted(skus[p] for p in current_out)),
        low_stock=tuple(sorted(skus[p] for p in low_stock)),
        dead_stock=tuple(
            sorted(s for s in (skus[p] for p in discontinued) if s not in deleted_skus)
        ),
        intermittent=tuple(sorted(skus[p] for p in intermittent)),
        skus_without_inventory=tuple(sorted(s for s in missing_inventory if s in by_sku)),
    )


# ----------------------------------------------------------------------- sales
def _orders_per_day(rng: np.random.Generator, first_day: date, n_days: int) -> np.ndarray:
    """Orders per day: upward trend x weekday pattern x season (Nov/Dec peak, Jan dip)."""
    day = np.arange(n_days)
    dates = np.datetime64(first_day, "D") + day
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    season = (
        1.0
        + 0.45 * np.exp(-(((day_of_year - 347) / 20.0) ** 2))
        + 0.25 * np.exp(-(((day_of_year - 330) / 4.0) ** 2))
        - 0.12 * np.exp(-(((day_of_year - 20) / 15.0) ** 2))
        + 0.06 * np.sin(2 * np.pi * (day_of_year - 100) / 365.25)
    )
    trend = 1.0 + 0.5 * day / (n_days - 1)
    return rng.poisson(BASE_ORDERS_PER_DAY * trend * WEEKDAY_FACTORS[weekday] * season)


def _sale_moments(
    rng: np.random.Generator, orders_per_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Microseconds since the first day's midnight and day index of each sale, in time order.

    Lunch and evening peaks inside opening hours; 60 % whole seconds, 20 %
    milliseconds, 20 % microseconds.
    """
    n_sales = int(orders_per_day.sum())
    sale_day = np.repeat(np.arange(len(orders_per_day)), orders_per_day)
    hours = np.where(
        rng.random(n_sales) < 0.35,
        rng.normal(12.5, 1.2, n_sales),
        np.where(
            rng.random(n_sales) < 0.7, rng.normal(18.0, 1.5, n_sales), rng.uniform(8, 21, n_sales)
        ),
    )
    outside = (hours < OPENING.hour) | (hours >= CLOSING.hour)
    hours[outside] = rng.uniform(OPENING.hour, CLOSING.hour, int(outside.sum()))
    time_us = np.minimum((hours * 3_600_000_000).astype(np.int64), CLOSING.hour * 3_600_000_000 - 1)
    precision = rng.choice([1_000_000, 1_000, 1], n_sales, p=[0.6, 0.2, 0.2])
    time_us -= time_us % precision
    stamp = sale_day * US_PER_DAY + time_us
    chrono = np.argsort(stamp, kind="stable")
    return stamp[chrono], sale_day[chrono]
