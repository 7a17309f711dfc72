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

Each kept resource has its cache codec (typed, never pickle): the catalogue and
inventory as their msgspec records (the indexes and frames are rebuilt from
them), a sales window as an Arrow IPC stream (lz4), which decodes straight
into the frame's columns.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa

from ..adapters.cache import Codec
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
    """One row per item line (:data:`ITEM_SCHEMA`).

    Two years of a busy shop are hundreds of thousands of lines: columns are read
    with ``map`` over the records (no per-line Python frames), repeated texts
    (skus, names) are built once each and gathered by code in Arrow, and the
    sale dates are parsed by Arrow, which refuses any with a zone or offset.
    """
    counts = np.fromiter(map(len, map(_ITEMS, sales)), np.int64, len(sales))
    lines = [item for sale in sales for item in sale.items]
    n = len(lines)
    sold_at = pd.DatetimeIndex(_local_datetimes([s.sale_date for s in sales]).repeat(counts))

    def column(name: str, dtype: type) -> np.ndarray:
        return np.fromiter(map(attrgetter(name), lines), dtype, n)

    return typed_frame(
        {
            "sale_id": np.fromiter(map(_ID, sales), np.int64, len(sales)).repeat(counts),
            "sold_at": sold_at,
            "sale_date": sold_at.normalize(),
            "product_id": column("product_id", np.int64),
            "sku": _texts(i.sku or "" for i in lines),
            "product_name": _texts(i.product_name or "" for i in lines),
            "quantity": column("quantity", np.int64),
            "unit_price": column("unit_price", np.float64),
            "subtotal": column("subtotal", np.float64),
        },
        ITEM_SCHEMA,
    )


_ITEMS, _ID = attrgetter("items"), attrgetter("id")


def _local_datetimes(texts: list[str]) -> np.ndarray:
    """ISO local date-times (up to nanoseconds) as ``datetime64[us]``; ValueError for any with
    a zone, an offset, or not a date at all."""
    parsed = pa.array(texts, pa.string()).cast(pa.timestamp("ns"))
    return parsed.cast(pa.timestamp("us"), safe=False).to_numpy(zero_copy_only=False)


def _texts(values: Iterable[str]) -> pd.api.extensions.ExtensionArray:
    """A ``str`` column of mostly repeated values: each distinct one is built once."""
    distinct: dict[str, int] = {}
    codes = np.fromiter(map(lambda v: distinct.setdefault(v, len(distinct)), values), np.int32)
    return pd.array(pa.array(list(distinct), pa.string()).take(pa.array(codes)), dtype="str")


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


# ------------------------------------------------------------------ cache codecs
class CatalogueCodec(Codec[Catalogue]):
    """The products and when they were read; the indexes and frame are rebuilt on decode."""

    _decoder = msgspec.msgpack.Decoder(tuple[float, list[ProductDto]])

    def encode(self, value: Catalogue) -> bytes:
        return msgspec.msgpack.encode((value.fetched_at, value.products))

    def decode(self, data: bytes) -> Catalogue:
        fetched_at, products = self._decoder.decode(data)
        return dataclasses.replace(Catalogue.of(products), fetched_at=fetched_at)


class InventoryCodec(Codec[Inventory]):
    """The inventory rows and when they were read."""

    _decoder = msgspec.msgpack.Decoder(tuple[float, list[InventoryResponse]])

    def encode(self, value: Inventory) -> bytes:
        return msgspec.msgpack.encode((value.fetched_at, list(value.by_sku.values())))

    def decode(self, data: bytes) -> Inventory:
        fetched_at, rows = self._decoder.decode(data)
        return dataclasses.replace(Inventory.of(rows), fetched_at=fetched_at)


class SalesWindowCodec(Codec[SalesWindow]):
    """The item lines as an Arrow IPC stream (lz4); dates and fetch time in its metadata."""

    offload = True
    _options = pa.ipc.IpcWriteOptions(compression="lz4")

    def encode(self, value: SalesWindow) -> bytes:
        table = pa.Table.from_pandas(value.items, preserve_index=False)
        schema = table.schema.with_metadata(
            {
                **(table.schema.metadata or {}),
                b"today": value.today.isoformat().encode(),
                b"start": value.start.isoformat().encode(),
                b"fetched_at": repr(value.fetched_at).encode(),
            }
        )
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, schema, options=self._options) as writer:
            writer.write_table(table.cast(schema))
        return sink.getvalue().to_pybytes()

    def decode(self, data: bytes) -> SalesWindow:
        table = pa.ipc.open_stream(data).read_all()
        meta = table.schema.metadata or {}
        items = table.to_pandas()
        if list(items.columns) != list(ITEM_COLUMNS):
            raise ValueError(f"unexpected columns {list(items.columns)}")
        return SalesWindow(
            today=date.fromisoformat(meta[b"today"].decode()),
            start=date.fromisoformat(meta[b"start"].decode()),
            items=items,
            fetched_at=float(meta[b"fetched_at"]),
        )

    def size(self, value: SalesWindow) -> int:
        return int(value.items.memory_usage(index=True, deep=True).sum())


CATALOGUE_CODEC: Codec[Catalogue] = CatalogueCodec()
INVENTORY_CODEC: Codec[Inventory] = InventoryCodec()
SALES_WINDOW_CODEC: Codec[SalesWindow] = SalesWindowCodec()
