"""Typed records of the Java API (SOR_CONTRACT.md), decoded and validated with msgspec.

msgspec decodes straight into typed structs while validating, which is as fast
as plain ``orjson.loads`` into dicts: validation costs nothing extra, so every
answer from Java is checked. Unknown fields are ignored (newer Java builds may
add some); missing required fields or wrong types are refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

NonNegative = Annotated[float, msgspec.Meta(ge=0)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]


class ProductDto(msgspec.Struct, rename="camel", frozen=True, gc=False):
    """A product as Java serves it; stock lives here."""

    id: int | None
    name: str
    sku: str
    price: NonNegative
    stock_quantity: int
    description: str | None = None
    image_url: str | None = None
    low_stock_threshold: int = 10


class SaleItemResponse(msgspec.Struct, rename="camel", frozen=True, gc=False):
    """One line of a sale; ``product_name`` and ``sku`` are snapshots taken at sale time."""

    product_id: int
    quantity: int
    unit_price: float
    subtotal: float
    product_name: str | None = None
    sku: str | None = None


class SaleResponse(msgspec.Struct, rename="camel", frozen=True, gc=False):
    """A sale with its items; ``sale_date`` is Java's ISO local date-time (no zone).

    It stays text here: the frames parse a whole column of them at once (about
    5x faster than one ``datetime`` each), and reject any that is not ISO-8601.
    Not tracked by the garbage collector (it holds no cycles): two years of
    sales are hundreds of thousands of records, and tracking them made the
    collector's passes cost more than decoding them.
    """

    id: int
    sale_date: str
    total_amount: float
    items: list[SaleItemResponse]

    @property
    def sold_at(self) -> datetime:
        return datetime.fromisoformat(self.sale_date)


class InventoryResponse(msgspec.Struct, rename="camel", frozen=True, gc=False):
    """An inventory row: adds ``cost`` and ``category`` to a product (joined by sku)."""

    id: int | None = None
    sku: str | None = None
    name: str | None = None
    description: str | None = None
    quantity: int | None = None
    price: float | None = None
    cost: float | None = None
    category: str | None = None


class SkuDailyQuantity(msgspec.Struct, frozen=True):
    """A row of ``/sales/history/by-sku/{sku}``."""

    date: str
    quantity: int


class JavaErrorBody(msgspec.Struct, frozen=True):
    """Java's error body; every field optional because not every failure produces one."""

    status: int | None = None
    code: str | None = None
    message: str | None = None
    timestamp: str | None = None
    details: dict[str, str] | None = None


PRODUCT_LIST = list[ProductDto]
SALE_LIST = list[SaleResponse]
INVENTORY_LIST = list[InventoryResponse]
