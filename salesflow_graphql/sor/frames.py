"""Java's records turned into the columnar frames the analytics and forecasts compute on.

``items`` has one row per sale item line (see :data:`ITEM_COLUMNS`); the
catalogue and inventory frames are keyed by ``product_id`` and ``sku``. Building
them is CPU work: call these from a worker thread for anything large.

Each kept resource has its cache codec (typed, never pickle): the catalogue and
inventory as their msgspec records (the indexes and frames are rebuilt from
them), a sales window as an Arrow IPC stream (lz4), which decodes straight
into the frame's columns.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from operator import attrgetter

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa

from ..cache import Codec
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
    """One row per item line, in the dtypes of :data:`ITEM_COLUMNS`.

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

    return pd.DataFrame(
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
        columns=list(ITEM_COLUMNS),
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
