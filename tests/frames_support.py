"""Frames for tests, built the way production builds them: from Java's records.

Rows are dicts (keys = column names) or tuples in column order. They become the
records Java would send (``SaleResponse``, ``ProductDto``, ``InventoryResponse``)
and go through the builders of ``salesflow_graphql.sor.frames``, so a test can
only compute on frames production could produce (same dtypes, one inventory row
per sku). Item rows may leave out ``subtotal`` (``quantity * unit_price``);
consecutive rows of one sale become one sale.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from salesflow_graphql.sor.frames import (
    CATALOGUE_SCHEMA,
    INVENTORY_SCHEMA,
    ITEM_SCHEMA,
    Catalogue,
    Inventory,
    items_frame_from_sales,
)
from salesflow_graphql.sor.records import (
    InventoryResponse,
    ProductDto,
    SaleItemResponse,
    SaleResponse,
)

Row = Mapping[str, Any] | Sequence[Any]


def _as_dict(row: Row, columns: Iterable[str]) -> Mapping[str, Any]:
    return row if isinstance(row, Mapping) else dict(zip(columns, row, strict=False))


def items_frame(rows: Iterable[Row]) -> pd.DataFrame:
    """Sale item lines as Java sends them, as the gateway's items frame."""
    lines = [_as_dict(row, ITEM_SCHEMA) for row in rows]
    sales = []
    for (sale_id, sold_at), group in itertools.groupby(
        lines, key=lambda line: (line["sale_id"], line["sold_at"])
    ):
        items = [
            SaleItemResponse(
                product_id=int(line["product_id"]),
                quantity=int(line["quantity"]),
                unit_price=float(line["unit_price"]),
                subtotal=float(
                    line["subtotal"]
                    if line.get("subtotal") is not None
                    else line["quantity"] * line["unit_price"]
                ),
                product_name=line["product_name"],
                sku=line["sku"],
            )
            for line in group
        ]
        moment = pd.Timestamp(sold_at).isoformat()
        sales.append(SaleResponse(int(sale_id), moment, sum(i.subtotal for i in items), items))
    return items_frame_from_sales(sales)


def empty_items_frame() -> pd.DataFrame:
    return items_frame([])


def catalogue_frame(rows: Iterable[Row]) -> pd.DataFrame:
    """Current products as Java sends them, as the gateway's catalogue frame."""
    return Catalogue.of(
        [
            ProductDto(
                id=int(product["product_id"]),
                name=product["name"],
                sku=product["sku"],
                price=float(product["price"]),
                stock_quantity=int(product["stock_quantity"]),
                low_stock_threshold=int(product["low_stock_threshold"]),
            )
            for product in (_as_dict(row, CATALOGUE_SCHEMA) for row in rows)
        ]
    ).frame


def inventory_frame(rows: Iterable[Row]) -> pd.DataFrame:
    """Inventory rows as Java sends them (NaN cost: unknown), as the gateway's inventory frame."""
    return Inventory.of(
        [
            InventoryResponse(
                sku=row["sku"],
                category=row["category"],
                cost=None if row["cost"] is None or math.isnan(row["cost"]) else row["cost"],
            )
            for row in (_as_dict(row, INVENTORY_SCHEMA) for row in rows)
        ]
    ).frame
