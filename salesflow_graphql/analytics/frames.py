"""The input frames of the analytics core, built one way with the right dtypes.

These factories are the contract between the data layer and the pure
computations in :mod:`.sales` and :mod:`.stock`:

- items: one row per sale item line (``ITEM_DTYPES``). ``sale_date`` is the
  server-local calendar date of the sale (``sold_at`` normalized to midnight);
  ``sku`` and ``product_name`` are snapshots taken at sale time.
- catalogue: current products (``CATALOGUE_DTYPES``), one row per product_id.
- inventory: category and unit cost per sku (``INVENTORY_DTYPES``); ``cost`` is
  NaN when unknown, at most one row per sku.

Rows may be dicts (keys = column names) or tuples in column order. For item
dicts, ``sale_date`` and ``subtotal`` may be left out: they default to the
midnight of ``sold_at`` and ``quantity * unit_price``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

ITEM_DTYPES: dict[str, str] = {
    "sale_id": "int64",
    "sold_at": "datetime64[ns]",
    "sale_date": "datetime64[ns]",
    "product_id": "int64",
    "sku": "str",
    "product_name": "str",
    "quantity": "int64",
    "unit_price": "float64",
    "subtotal": "float64",
}

CATALOGUE_DTYPES: dict[str, str] = {
    "product_id": "int64",
    "sku": "str",
    "name": "str",
    "price": "float64",
    "stock_quantity": "int64",
    "low_stock_threshold": "int64",
}

INVENTORY_DTYPES: dict[str, str] = {
    "sku": "str",
    "category": "str",
    "cost": "float64",
}

Row = Mapping[str, Any] | Sequence[Any]


def empty_items_frame() -> pd.DataFrame:
    """An items frame with no rows and the contract's columns and dtypes."""
    return _empty(ITEM_DTYPES)


def items_frame(rows: Iterable[Row]) -> pd.DataFrame:
    """Sale item lines as a frame; see the module docstring for row shapes."""
    frame = _raw_frame(rows, ITEM_DTYPES)
    return conform_items(frame) if len(frame) else empty_items_frame()


def conform_items(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill the derivable columns (``sale_date``, ``subtotal``) and cast to the contract."""
    frame = frame.copy()
    if "sold_at" in frame:
        frame["sold_at"] = pd.to_datetime(frame["sold_at"])
    if "sale_date" not in frame or frame["sale_date"].isna().all():
        frame["sale_date"] = frame["sold_at"].dt.normalize()
    if "subtotal" not in frame or frame["subtotal"].isna().all():
        frame["subtotal"] = frame["quantity"] * frame["unit_price"]
    return _cast(frame, ITEM_DTYPES)


def catalogue_frame(rows: Iterable[Row]) -> pd.DataFrame:
    """Current products as a frame (columns ``CATALOGUE_DTYPES``)."""
    return _cast(_raw_frame(rows, CATALOGUE_DTYPES), CATALOGUE_DTYPES)


def inventory_frame(rows: Iterable[Row]) -> pd.DataFrame:
    """Inventory rows as a frame (columns ``INVENTORY_DTYPES``); missing cost is NaN."""
    return _cast(_raw_frame(rows, INVENTORY_DTYPES), INVENTORY_DTYPES)


def _raw_frame(rows: Iterable[Row], dtypes: dict[str, str]) -> pd.DataFrame:
    rows = list(rows)
    if not rows:
        return _empty(dtypes)
    if isinstance(rows[0], Mapping):
        return pd.DataFrame.from_records(rows)
    return pd.DataFrame.from_records(rows, columns=list(dtypes))


def _cast(frame: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    missing = [column for column in dtypes if column not in frame]
    if missing:
        raise ValueError(f"missing columns: {', '.join(missing)}")
    frame = frame[list(dtypes)]
    if "cost" in dtypes:
        frame = frame.assign(cost=pd.to_numeric(frame["cost"], errors="coerce"))
    return frame.astype(dtypes).reset_index(drop=True)


def _empty(dtypes: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in dtypes.items()})


def epoch_days(dates: pd.Series) -> np.ndarray:
    """Calendar dates (any datetime64 unit) as int64 days since 1970-01-01."""
    return dates.to_numpy().astype("datetime64[D]").astype(np.int64)


def as_text(value: object) -> str:
    """A string cell as ``str``; missing (None/NaN/NA) becomes ``""``."""
    return "" if value is None or pd.isna(value) else str(value)  # type: ignore[arg-type]
