"""Java's records turned into the columnar frames the analytics and forecasts compute on.

``items`` has one row per sale item line (see :data:`ITEM_COLUMNS`); the
catalogue and inventory frames are keyed by ``product_id`` and ``sku``. Building
them is CPU work: call these from a worker thread for anything large.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import msgspec
import numpy as np
import pandas as pd

from .records import InventoryResponse, ProductDto, SaleResponse

ITEM_COLUMNS = (
    "sale_id",
    "sold_at",
    "sale_date",
    "product_id",
    "sku",
    "product_name",
    "quantity",
    "unit_price",
    "subtotal",
)

_sales_decoder = msgspec.json.Decoder(list[SaleResponse])
_products_decoder = msgspec.json.Decoder(list[ProductDto])
_inventory_decoder = msgspec.json.Decoder(list[InventoryResponse])


def items_frame_from_sales(sales: Sequence[SaleResponse]) -> pd.DataFrame:
    """One row per item line, in the dtypes of :data:`ITEM_COLUMNS`."""
    counts = np.fromiter((len(s.items) for s in sales), dtype=np.int64, count=len(sales))
    lines = [item for sale in sales for item in sale.items]
    sold_at = (
        pd.to_datetime(np.array([s.sale_date for s in sales], dtype=object), format="ISO8601")
        .to_numpy()
        .repeat(counts)
    )
    if sold_at.dtype.kind != "M":  # pandas keeps an offset if Java ever sends one
        raise ValueError("saleDate must be an ISO local date-time")
    sold_at_index = pd.DatetimeIndex(sold_at)
    return pd.DataFrame(
        {
            "sale_id": np.fromiter((s.id for s in sales), np.int64, len(sales)).repeat(counts),
            "sold_at": sold_at_index,
            "sale_date": sold_at_index.normalize(),
            "product_id": np.fromiter((i.product_id for i in lines), np.int64, len(lines)),
            "sku": pd.array([i.sku or "" for i in lines], dtype="str"),
            "product_name": pd.array([i.product_name or "" for i in lines], dtype="str"),
            "quantity": np.fromiter((i.quantity for i in lines), np.int64, len(lines)),
            "unit_price": np.fromiter((i.unit_price for i in lines), np.float64, len(lines)),
            "subtotal": np.fromiter((i.subtotal for i in lines), np.float64, len(lines)),
        },
        columns=list(ITEM_COLUMNS),
    )


def catalogue_frame_from_products(products: Sequence[ProductDto]) -> pd.DataFrame:
    known = [p for p in products if p.id is not None]
    return pd.DataFrame(
        {
            "product_id": np.array([p.id for p in known], dtype=np.int64),
            "sku": pd.array([p.sku for p in known], dtype="str"),
            "name": pd.array([p.name for p in known], dtype="str"),
            "price": np.array([p.price for p in known], dtype=np.float64),
            "stock_quantity": np.array([p.stock_quantity for p in known], dtype=np.int64),
            "low_stock_threshold": np.array([p.low_stock_threshold for p in known], dtype=np.int64),
        }
    )


def inventory_frame_from_rows(rows: Sequence[InventoryResponse]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sku": pd.array([r.sku for r in rows], dtype="str"),
            "category": pd.array([r.category or "" for r in rows], dtype="str"),
            "cost": np.array(
                [np.nan if r.cost is None else r.cost for r in rows], dtype=np.float64
            ),
        }
    )


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Java's whole product catalogue, indexed for the loaders."""

    products: tuple[ProductDto, ...]
    by_id: dict[int, ProductDto] = field(repr=False)
    by_sku: dict[str, ProductDto] = field(repr=False)
    frame: pd.DataFrame = field(repr=False)
    #: When Java was read (epoch seconds): the age every answer built on it inherits.
    fetched_at: float = field(default_factory=time.time)

    @classmethod
    def decode(cls, body: bytes) -> Catalogue:
        return cls.of(_products_decoder.decode(body))

    @classmethod
    def of(cls, products: Sequence[ProductDto]) -> Catalogue:
        return cls(
            products=tuple(products),
            by_id={p.id: p for p in products if p.id is not None},
            by_sku={p.sku: p for p in products},
            frame=catalogue_frame_from_products(products),
        )


@dataclass(frozen=True, slots=True)
class Inventory:
    """Inventory rows by sku (category and cost); a missing row means unknown, not an error."""

    by_sku: dict[str, InventoryResponse] = field(repr=False)
    frame: pd.DataFrame = field(repr=False)
    fetched_at: float = field(default_factory=time.time)

    @classmethod
    def decode(cls, body: bytes) -> Inventory:
        return cls.of(_inventory_decoder.decode(body))

    @classmethod
    def of(cls, rows: Sequence[InventoryResponse]) -> Inventory:
        by_sku: dict[str, InventoryResponse] = {}
        for row in rows:
            if row.sku and row.sku not in by_sku:  # first row wins; rows without sku cannot join
                by_sku[row.sku] = row
        return cls(by_sku=by_sku, frame=inventory_frame_from_rows(list(by_sku.values())))


@dataclass(frozen=True, slots=True)
class SalesWindow:
    """Sale item lines dated from ``start`` (inclusive) up to the fetch, as of ``today``."""

    today: date
    start: date
    items: pd.DataFrame = field(repr=False)
    fetched_at: float = field(default_factory=time.time)

    @property
    def days(self) -> int:
        return (self.today - self.start).days

    @classmethod
    def decode(cls, body: bytes, *, today: date, start: date) -> SalesWindow:
        items = items_frame_from_sales(_sales_decoder.decode(body))
        return cls(today=today, start=start, items=_since(items, start))

    def since(self, start: date) -> SalesWindow:
        """The same lines cut to ``start`` (must not be before this window's start)."""
        if start <= self.start:
            return self
        return SalesWindow(self.today, start, _since(self.items, start), self.fetched_at)


def _since(items: pd.DataFrame, start: date) -> pd.DataFrame:
    cutoff = np.datetime64(start, "us")
    keep = items["sale_date"].to_numpy() >= cutoff
    return items if keep.all() else items.loc[keep].reset_index(drop=True)
