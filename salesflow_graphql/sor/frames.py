"""The columnar frames everything computes on, and how Java's records become them.

This module is the one definition of the frames (the schemas below); the pure
cores (``analytics``, ``forecast``, ``alerts``) read these columns and nothing
else, and every frame (from Java, in tests, in benchmarks) is built to them:

- items (:data:`ITEM_SCHEMA`): one row per sale item line. ``sale_date`` is
  the server-local calendar date of the sale (``sold_at`` at midnight);
  ``sku`` and ``product_name`` are snapshots taken at sale time.
- catalogue (:data:`CATALOGUE_SCHEMA`): the current products.
- inventory (:data:`INVENTORY_SCHEMA`): category and unit cost per sku, at most
  one row per sku (the first Java lists); ``cost`` is NaN when unknown.

What a product *is* (its current sku, name, category) is worked out from these
in :mod:`salesflow_graphql.analytics.products`. Building frames from records is
CPU work: call these from a worker thread for anything large.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import msgspec
import numpy as np
import pandas as pd

from .records import InventoryResponse, ProductDto, SaleResponse

#: Column -> dtype of the items frame. Times are zone-less local times in microseconds
#: (Java's ``LocalDateTime`` as the stand-in sends it; whole seconds are cast up).
ITEM_SCHEMA: dict[str, str] = {
    "sale_id": "int64",
    "sold_at": "datetime64[us]",
    "sale_date": "datetime64[us]",
    "product_id": "int64",
    "sku": "str",
    "product_name": "str",
    "quantity": "int64",
    "unit_price": "float64",
    "subtotal": "float64",
}
CATALOGUE_SCHEMA: dict[str, str] = {
    "product_id": "int64",
    "sku": "str",
    "name": "str",
    "price": "float64",
    "stock_quantity": "int64",
    "low_stock_threshold": "int64",
}
INVENTORY_SCHEMA: dict[str, str] = {
    "sku": "str",
    "category": "str",
    "cost": "float64",
}
ITEM_COLUMNS = tuple(ITEM_SCHEMA)


def typed_frame(columns: Mapping[str, Any], schema: Mapping[str, str]) -> pd.DataFrame:
    """A frame of exactly ``schema``'s columns, in its order and dtypes (extra columns go)."""
    missing = [column for column in schema if column not in columns]
    if missing:
        raise ValueError(f"missing columns: {', '.join(missing)}")
    return pd.DataFrame({column: columns[column] for column in schema}).astype(dict(schema))


def epoch_days(dates: pd.Series) -> np.ndarray:
    """Calendar dates (any datetime64 unit) as int64 days since 1970-01-01."""
    return dates.to_numpy().astype("datetime64[D]").astype(np.int64)


def as_text(value: object) -> str:
    """A string cell as ``str``; missing (None/NaN/NA) becomes ``""``."""
    return "" if value is None or pd.isna(value) else str(value)  # type: ignore[arg-type]


_sales_decoder = msgspec.json.Decoder(list[SaleResponse])
_products_decoder = msgspec.json.Decoder(list[ProductDto])
_inventory_decoder = msgspec.json.Decoder(list[InventoryResponse])


def items_frame_from_sales(sales: Sequence[SaleResponse]) -> pd.DataFrame:
    """One row per item line (:data:`ITEM_SCHEMA`)."""
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
    return typed_frame(
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
        ITEM_SCHEMA,
    )


def catalogue_frame_from_products(products: Sequence[ProductDto]) -> pd.DataFrame:
    """The catalogue frame (:data:`CATALOGUE_SCHEMA`); products without an id cannot join."""
    known = [p for p in products if p.id is not None]
    return typed_frame(
        {
            "product_id": [p.id for p in known],
            "sku": [p.sku for p in known],
            "name": [p.name for p in known],
            "price": [p.price for p in known],
            "stock_quantity": [p.stock_quantity for p in known],
            "low_stock_threshold": [p.low_stock_threshold for p in known],
        },
        CATALOGUE_SCHEMA,
    )


def inventory_frame_from_rows(rows: Sequence[InventoryResponse]) -> pd.DataFrame:
    """The inventory frame (:data:`INVENTORY_SCHEMA`) of rows already one per sku."""
    return typed_frame(
        {
            "sku": [r.sku for r in rows],
            "category": [r.category or "" for r in rows],
            "cost": [np.nan if r.cost is None else r.cost for r in rows],
        },
        INVENTORY_SCHEMA,
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
