"""The stand-in's mutable state and its JSON rendering.

- :class:`Catalogue`: products and inventory rows (small; rendered with orjson).
- :class:`SalesLedger`: append-only columnar sales. Each sale's JSON is rendered
  once (sales never change) and kept; list answers are joins of those fragments,
  so ``/sales/history?days=365`` costs a filter, a sort and a join.
- :class:`ShopState`: both, plus the clock, the writes that span them (a sale
  decrements stock) and a cache of rendered answers keyed by version.

Reads may run in worker threads while writes run on the event loop: the ledger
only ever appends, and a reader works on a snapshot (:meth:`SalesLedger.view`)
whose rows never change, so neither blocks the other.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import orjson

from .errors import ApiError, bad_request, not_found
from .shop import DemoShop, DemoUser, InventoryRecord, SalesColumns
from .validation import ProductInput, SaleLineInput

Clock = Callable[[], datetime]

_ITEM = b'{"productId":%d,"productName":%b,"sku":%b,"quantity":%d,"unitPrice":%a,"subtotal":%a}'
_SALE = b'{"id":%d,"saleDate":"%b","totalAmount":%a,"items":[%b]}'


def local_datetime(moment: datetime) -> str:
    """Java's ``LocalDateTime`` JSON: ISO-8601, no zone, fraction only when non-zero."""
    return moment.replace(tzinfo=None).isoformat()


def shifted_clock(today: date) -> Clock:
    """Local wall-clock time moved by whole days so that it starts on ``today``."""
    shift = today - date.today()
    return lambda: datetime.now() + shift


# ------------------------------------------------------------------ catalogue
@dataclass(slots=True)
class Product:
    """A product row as the Java service stores it (price in cents)."""

    id: int
    name: str
    sku: str
    price_cents: int
    stock_quantity: int
    description: str | None
    image_url: str | None
    low_stock_threshold: int
    updated_at: datetime

    def as_json(self) -> dict[str, object]:
        """The ``ProductDto`` shape."""
        return {
            "id": self.id,
            "name": self.name,
            "sku": self.sku,
            "price": self.price_cents / 100,
            "stockQuantity": self.stock_quantity,
            "description": self.description,
            "imageUrl": self.image_url,
            "lowStockThreshold": self.low_stock_threshold,
        }


class Catalogue:
    """Products by id, sku and name, and the inventory rows attached to them."""

    def __init__(self, shop: DemoShop) -> None:
        self._by_id: dict[int, Product] = {}
        for r in shop.products:
            self._by_id[r.id] = Product(
                r.id,
                r.name,
                r.sku,
                r.price_cents,
                r.stock_quantity,
                r.description,
                r.image_url,
                r.low_stock_threshold,
                r.updated_at,
            )
        self._by_sku = {p.sku: p for p in self._by_id.values()}
        self._by_name = {p.name: p for p in self._by_id.values()}
        product_of_sku = {p.sku: p.id for p in self._by_id.values()}
        self._inventory: dict[int, InventoryRecord] = {
            product_of_sku[row.sku]: row for row in shop.inventory if row.sku in product_of_sku
        }
        known = [r.id for r in shop.products] + [r.id for r in shop.deleted_products]
        self._next_id = max(known, default=0) + 1
        self.version = 0

    # reads
    def __len__(self) -> int:
        return len(self._by_id)

    def products(self) -> list[Product]:
        """Every product, by id."""
        return sorted(self._by_id.values(), key=lambda p: p.id)

    def by_id(self, product_id: int) -> Product:
        product = self._by_id.get(product_id)
        if product is None:
            raise not_found(f"Product not found with id: {product_id}")
        return product

    def find_sku(self, sku: str) -> Product | None:
        return self._by_sku.get(sku)

    def by_sku(self, sku: str) -> Product:
        product = self._by_sku.get(sku)
        if product is None:
            raise not_found(f"Product not found with sku: {sku}")
        return product

    def by_name(self, name: str) -> Product:
        product = self._by_name.get(name)
        if product is None:
            raise not_found(f"Product not found with name: {name}")
        return product

    def low_stock(self) -> list[Product]:
        return [p for p in self.products() if p.stock_quantity <= p.low_stock_threshold]

    def inventory_row(self, product: Product) -> dict[str, object] | None:
        row = self._inventory.get(product.id)
        if row is None:
            return None
        return {
            "id": row.id,
            "sku": product.sku,
            "name": product.name,
            "description": product.description,
            "quantity": product.stock_quantity,
            "price": product.price_cents / 100,
            "cost": row.cost_cents / 100,
            "category": row.category,
            "createdAt": local_datetime(row.created_at),
            "updatedAt": local_datetime(max(row.updated_at, product.updated_at)),
        }

    def inventory(self) -> list[dict[str, object]]:
        """Every inventory row, by inventory id (not product id)."""
        rows = [
            (self._inventory[p.id].id, self.inventory_row(p))
            for p in self._by_id.values()
            if p.id in self._inventory
        ]
        return [row for _, row in sorted(rows, key=lambda pair: pair[0]) if row is not None]

    # writes
    def _check_unique(self, data: ProductInput, itself: Product | None) -> None:
        same_sku = self._by_sku.get(data.sku)
        if same_sku is not None and same_sku is not itself:
            raise bad_request(f"Product with SKU '{data.sku}' already exists")
        same_name = self._by_name.get(data.name)
        if same_name is not None and same_name is not itself:
            raise bad_request(f"Product with name '{data.name}' already exists")

    def create(self, data: ProductInput, now: datetime) -> Product:
        """Insert a new product (no inventory row: Java has no endpoint that creates one)."""
        self._check_unique(data, None)
        product = Product(
            self._next_id,
            data.name,
            data.sku,
            data.price_cents,
            data.stock_quantity,
            data.description,
            data.image_url,
            data.low_stock_threshold,
            now,
        )
        self._next_id += 1
        self._by_id[product.id] = product
        self._index(product)
        self.version += 1
        return product

    def replace(self, sku: str, data: ProductInput, now: datetime) -> Product:
        """Full overwrite of the product with ``sku`` (its sku may change too)."""
        product = self.by_sku(sku)
        self._check_unique(data, product)
        self._unindex(product)
        self._overwrite(product, data, now)
        self._index(product)
        self.version += 1
        return product

    @staticmethod
    def _overwrite(product: Product, data: ProductInput, now: datetime) -> None:
        product.name, product.sku, product.price_cents = data.name, data.sku, data.price_cents
        product.stock_quantity, product.description = data.stock_quantity, data.description
        product.image_url, product.low_stock_threshold = data.image_url, data.low_stock_threshold
        product.updated_at = now

    def delete(self, sku: str) -> None:
        """Remove a product and its inventory row; its past sales keep their snapshots."""
        product = self.by_sku(sku)
        self._unindex(product)
        del self._by_id[product.id]
        self._inventory.pop(product.id, None)
        self.version += 1

    def upsert_many(self, items: list[ProductInput], now: datetime) -> list[Product]:
        """Create or overwrite by sku, all or nothing: every conflict is found before any write.

        Names must end up unique: a name may move from one product to another
        only if both are in the request.
        """
        details: dict[str, str] = {}
        first_sku: dict[str, int] = {}
        first_name: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.sku in first_sku:
                details[f"[{i}].sku"] = (
                    f"duplicate sku in request (also at [{first_sku[item.sku]}])"
                )
            first_sku.setdefault(item.sku, i)
            if item.name in first_name:
                details[f"[{i}].name"] = (
                    f"duplicate name in request (also at [{first_name[item.name]}])"
                )
            first_name.setdefault(item.name, i)
        for i, item in enumerate(items):
            owner = self._by_name.get(item.name)
            if owner is not None and owner.sku not in first_sku:
                details[f"[{i}].name"] = f"name already used by product {owner.sku}"
        if details:
            raise ApiError(400, "VALIDATION_ERROR", "Validation failed", details)
        targets = [self._by_sku.get(item.sku) for item in items]
        for product in targets:
            if product is not None:
                self._unindex(product)
        saved = []
        for item, product in zip(items, targets, strict=True):
            if product is None:
                saved.append(self.create(item, now))
            else:
                self._overwrite(product, item, now)
                self._index(product)
                saved.append(product)
        self.version += 1
        return saved

    def _index(self, product: Product) -> None:
        self._by_sku[product.sku] = product
        self._by_name[product.name] = product

    def _unindex(self, product: Product) -> None:
        self._by_sku.pop(product.sku, None)
        self._by_name.pop(product.name, None)


# -------------------------------------------------------------------- ledger
@dataclass(frozen=True, slots=True)
class LedgerView:
    """An immutable snapshot of the first ``n`` sales (arrays are views, never written)."""

    n: int
    sale_id: np.ndarray
    sale_us: np.ndarray  # int64 microseconds since the epoch, local time
    item_start: np.ndarray
    item_count: np.ndarray
    item_sale: np.ndarray
    item_product_id: np.ndarray
    item_name: np.ndarray
    item_sku: np.ndarray
    item_quantity: np.ndarray
    item_unit_cents: np.ndarray


_SALE_COLUMNS = ("sale_id", "sale_us", "item_start", "item_count")
_ITEM_COLUMNS = (
    "item_sale",
    "item_product_id",
    "item_name",
    "item_sku",
    "item_quantity",
    "item_unit_cents",
)


def _epoch_us(moment: datetime | date) -> int:
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time())
    return int(np.datetime64(moment.replace(tzinfo=None), "us").astype(np.int64))


class SalesLedger:
    """Append-only sales with items, as growable numpy columns."""

    def __init__(self, sales: SalesColumns) -> None:
        n, m = sales.n_sales, sales.n_items
        self._cols: dict[str, np.ndarray] = {
            "sale_id": sales.sale_id.astype(np.int64),
            "sale_us": sales.sale_time.astype("datetime64[us]").astype(np.int64),
            "item_start": sales.item_start.astype(np.int64),
            "item_count": sales.item_count.astype(np.int64),
            "item_sale": np.repeat(np.arange(n, dtype=np.int64), sales.item_count),
            "item_product_id": sales.item_product_id.astype(np.int64),
            "item_name": sales.item_name.astype(np.int32),
            "item_sku": sales.item_sku.astype(np.int32),
            "item_quantity": sales.item_quantity.astype(np.int64),
            "item_unit_cents": sales.item_unit_cents.astype(np.int64),
        }
        self._n, self._m = n, m
        self._texts: list[bytes] = [orjson.dumps(s) for s in sales.names]
        self._text_code = {s: i for i, s in enumerate(sales.names)}
        self._sku_texts: list[bytes] = [orjson.dumps(s) for s in sales.skus]
        self._sku_code = {s: i for i, s in enumerate(sales.skus)}
        self._next_id = int(sales.sale_id.max(initial=0)) + 1
        self._fragments: list[bytes | None] = [None] * n
        self._lock = threading.Lock()
        self.version = 0

    def __len__(self) -> int:
        return self._n

    def view(self) -> LedgerView:
        """A consistent snapshot to read without holding any lock."""
        with self._lock:
            n, m = self._n, self._m
            return LedgerView(
                n,
                *(self._cols[c][:n] for c in _SALE_COLUMNS),
                *(self._cols[c][:m] for c in _ITEM_COLUMNS),
            )

    # writes (event loop)
    def append(self, moment: datetime, lines: list[tuple[Product, int]]) -> int:
        """Record one sale at ``moment`` with ``(product, quantity)`` lines; returns its index."""
        with self._lock:
            n, m, k = self._n, self._m, len(lines)
            self._grow("sale", n + 1)
            self._grow("item", m + k)
            c = self._cols
            c["sale_id"][n] = self._next_id
            c["sale_us"][n] = _epoch_us(moment)
            c["item_start"][n], c["item_count"][n] = m, k
            for j, (product, quantity) in enumerate(lines):
                c["item_sale"][m + j] = n
                c["item_product_id"][m + j] = product.id
                c["item_name"][m + j] = self._code(product.name, self._text_code, self._texts)
                c["item_sku"][m + j] = self._code(product.sku, self._sku_code, self._sku_texts)
                c["item_quantity"][m + j] = quantity
                c["item_unit_cents"][m + j] = product.price_cents
            self._fragments.append(None)
            self._next_id += 1
            self._n, self._m = n + 1, m + k
            self.version += 1
            return n

    @staticmethod
    def _code(text: str, codes: dict[str, int], texts: list[bytes]) -> int:
        code = codes.get(text)
        if code is None:
            code = codes[text] = len(texts)
            texts.append(orjson.dumps(text))
        return code

    def _grow(self, kind: str, needed: int) -> None:
        names = _SALE_COLUMNS if kind == "sale" else _ITEM_COLUMNS
        if len(self._cols[names[0]]) >= needed:
            return
        for name in names:
            old = self._cols[name]
            new = np.zeros(max(needed, len(old) * 3 // 2 + 16), dtype=old.dtype)
            new[: len(old)] = old
            self._cols[name] = new  # readers keep their views of the old array

    # reads (any thread)
    def window(
        self, view: LedgerView, start: datetime | date | None, end: datetime | date | None
    ) -> np.ndarray:
        """Indices of sales with ``start <= saleDate < end``, in id order."""
        mask = np.ones(view.n, dtype=bool)
        if start is not None:
            mask &= view.sale_us >= _epoch_us(start)
        if end is not None:
            mask &= view.sale_us < _epoch_us(end)
        return np.flatnonzero(mask)

    @staticmethod
    def newest_first(view: LedgerView, indices: np.ndarray, limit: int | None = None) -> np.ndarray:
        """``indices`` ordered by saleDate then id, newest first; at most ``limit``."""
        if limit is not None and limit < len(indices):
            keep = np.argpartition(-view.sale_us[indices], limit - 1)[:limit]
            indices = indices[keep]
        order = np.lexsort((-view.sale_id[indices], -view.sale_us[indices]))
        return indices[order]

    def render(self, view: LedgerView, indices: np.ndarray) -> bytes:
        """The JSON array of the sales at ``indices``, in that order."""
        wanted = indices.tolist()
        fragments = self._fragments
        missing = [i for i in wanted if fragments[i] is None]
        if missing:
            self._render_fragments(view, np.asarray(missing, dtype=np.int64))
        return b"[" + b",".join([fragments[i] for i in wanted]) + b"]"  # type: ignore[misc]

    def _render_fragments(self, view: LedgerView, idx: np.ndarray) -> None:
        counts = view.item_count[idx]
        offsets = np.cumsum(counts) - counts
        items = (
            np.arange(int(counts.sum()))
            - np.repeat(offsets, counts)
            + np.repeat(view.item_start[idx], counts)
        )
        quantity = view.item_quantity[items]
        unit = view.item_unit_cents[items]
        subtotal = quantity * unit
        totals = np.add.reduceat(subtotal, offsets) if len(items) else np.zeros(0, dtype=np.int64)
        names, skus = self._texts, self._sku_texts
        item_json = [
            _ITEM % (pid, names[n], skus[s], q, u, st)
            for pid, n, s, q, u, st in zip(
                view.item_product_id[items].tolist(),
                view.item_name[items].tolist(),
                view.item_sku[items].tolist(),
                quantity.tolist(),
                (unit / 100).tolist(),
                (subtotal / 100).tolist(),
                strict=True,
            )
        ]
        stamps = _java_datetimes(view.sale_us[idx])
        fragments = self._fragments
        for i, sale_id, stamp, total, offset, count in zip(
            idx.tolist(),
            view.sale_id[idx].tolist(),
            stamps,
            (totals / 100).tolist(),
            offsets.tolist(),
            counts.tolist(),
            strict=True,
        ):
            fragments[i] = _SALE % (
                sale_id,
                stamp,
                total,
                b",".join(item_json[offset : offset + count]),
            )

    def daily_quantity(
        self, view: LedgerView, product_id: int, start: date
    ) -> list[dict[str, object]]:
        """``[{"date","quantity"}]`` of one product since ``start``, ascending, no zero days."""
        items = np.flatnonzero(view.item_product_id == product_id)
        sale_us = view.sale_us[view.item_sale[items]]
        keep = sale_us >= _epoch_us(start)
        days = sale_us[keep].astype("datetime64[us]").astype("datetime64[D]")
        unique, inverse = np.unique(days, return_inverse=True)
        totals = np.bincount(
            inverse, weights=view.item_quantity[items][keep], minlength=len(unique)
        )
        return [
            {"date": str(d), "quantity": int(q)}
            for d, q in zip(unique.astype(str).tolist(), totals.tolist(), strict=True)
        ]


def _java_datetimes(us: np.ndarray) -> list[bytes]:
    text = np.datetime_as_string(us.astype("datetime64[us]"), unit="us").tolist()
    fraction = (us % 1_000_000).tolist()
    return [
        (t[:-7] if f == 0 else t[:-3] if f % 1000 == 0 else t).encode()
        for t, f in zip(text, fraction, strict=True)
    ]


# --------------------------------------------------------------------- state
class RenderCache:
    """Rendered answers by key, valid while the data version they were made from holds."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._entries: OrderedDict[Hashable, tuple[Hashable, bytes]] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def get(self, key: Hashable, version: Hashable) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, version: Hashable, body: bytes) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[1])
            self._entries[key] = (version, body)
            self._bytes += len(body)
            while self._bytes > self._max_bytes and len(self._entries) > 1:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


class ShopState:
    """The live shop: catalogue, ledger, users and clock, with rendered-answer caching."""

    def __init__(self, shop: DemoShop, clock: Clock | None = None) -> None:
        self.shop = shop
        self.clock: Clock = clock or shifted_clock(shop.today)
        self.catalogue = Catalogue(shop)
        self.ledger = SalesLedger(shop.sales)
        self.users: dict[str, DemoUser] = {u.phone_number: u for u in shop.users}
        self.cache = RenderCache()
        self._render_lock = threading.Lock()

    def now(self) -> datetime:
        """The server's local date-time (zone-less, like Java's ``LocalDateTime.now()``)."""
        return self.clock().replace(tzinfo=None)

    def today(self) -> date:
        return self.now().date()

    # ------------------------------------------------------------ catalogue
    def render_products(self) -> bytes:
        return self._cached(
            ("products",),
            self.catalogue.version,
            lambda: orjson.dumps([p.as_json() for p in self.catalogue.products()]),
        )

    def render_inventory(self) -> bytes:
        return self._cached(
            ("inventory",), self.catalogue.version, lambda: orjson.dumps(self.catalogue.inventory())
        )

    # ----------------------------------------------------------------- sales
    def sales_version(self) -> tuple[int, date]:
        return (self.ledger.version, self.today())

    def render_sales(self, endpoint: str, param: int | None = None) -> bytes:
        """Render ``all``, ``today``, ``history`` (param=days) or ``recent`` (param=limit).

        CPU-heavy on a cache miss: call it from a worker thread.
        """
        version = self.sales_version()
        today = version[1]

        def render() -> bytes:
            view = self.ledger.view()
            if endpoint == "all":
                indices = np.arange(view.n)
            elif endpoint == "today":
                indices = self.ledger.window(view, today, today + timedelta(days=1))
            elif endpoint == "history":
                assert param is not None
                indices = self.ledger.newest_first(
                    view, self.ledger.window(view, today - timedelta(days=param), None)
                )
            elif endpoint == "recent":
                assert param is not None
                indices = self.ledger.newest_first(view, np.arange(view.n), param)
            else:
                raise ValueError(endpoint)
            return self.ledger.render(view, indices)

        key = ("sales", endpoint, param)
        with self._render_lock:  # concurrent cold misses render once, then hit the cache
            return self._cached(key, version, render)

    def daily_quantity(self, sku: str, days: int) -> list[dict[str, object]]:
        product = self.catalogue.by_sku(sku)
        start = self.today() - timedelta(days=days)
        return self.ledger.daily_quantity(self.ledger.view(), product.id, start)

    def record_sales(self, sales: list[list[SaleLineInput]]) -> list[int]:
        """Record sales at current prices, all or nothing; returns their ledger indices.

        Unknown products are 404 ``NOT_FOUND``; if any product's total requested
        quantity exceeds its stock, 400 ``INSUFFICIENT_STOCK`` and nothing changes.
        """
        resolved: list[list[tuple[Product, int]]] = []
        wanted: dict[int, int] = {}
        for lines in sales:
            sale = []
            for line in lines:
                if line.product_id is not None:
                    product = self.catalogue.by_id(line.product_id)
                else:
                    assert line.sku is not None
                    product = self.catalogue.by_sku(line.sku)
                sale.append((product, line.quantity))
                wanted[product.id] = wanted.get(product.id, 0) + line.quantity
            resolved.append(sale)
        for product_id, quantity in wanted.items():
            product = self.catalogue.by_id(product_id)
            if quantity > product.stock_quantity:
                raise ApiError(
                    400,
                    "INSUFFICIENT_STOCK",
                    f"Insufficient stock for product {product.name}: "
                    f"available {product.stock_quantity}, requested {quantity}",
                    {
                        "sku": product.sku,
                        "available": str(product.stock_quantity),
                        "requested": str(quantity),
                    },
                )
        indices = []
        for sale in resolved:
            moment = self.now()
            indices.append(self.ledger.append(moment, sale))
            for product, quantity in sale:
                product.stock_quantity -= quantity
                product.updated_at = moment
        if resolved:
            self.catalogue.version += 1
        return indices

    def render_sale(self, index: int) -> bytes:
        view = self.ledger.view()
        return self.ledger.render(view, np.array([index]))[1:-1]

    # ----------------------------------------------------------------- cache
    def _cached(self, key: Hashable, version: Hashable, render: Callable[[], bytes]) -> bytes:
        body = self.cache.get(key, version)
        if body is None:
            body = render()
            self.cache.put(key, version, body)
        return body

    def cached_sales(self, endpoint: str, param: int | None = None) -> bytes | None:
        """A rendered sales answer if one is cached for the current data, else ``None``."""
        return self.cache.get(("sales", endpoint, param), self.sales_version())
