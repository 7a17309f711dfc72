"""What a product is now: its current sku, name and category. The one place that says so.

Analytics, forecasts and alerts group sale lines by ``product_id`` and call each
product what this module says, so they always agree:

- A product in the catalogue is what the catalogue says now: its last row per
  ``product_id`` (:func:`current_catalogue`). The sku and name snapshots on old
  lines of a renamed product never rename it.
- A product no longer in the catalogue (deleted) keeps the sku and name of its
  latest line among the lines looked at: latest ``sold_at``, then highest
  ``sale_id``, then the later row. Looking only at the lines of the window
  asked about keeps an answer independent of how much history was fetched.
- Its category and unit cost come from the inventory row of that sku. Inventory
  holds at most one row per sku, the first Java lists (:func:`inventory_by_sku`,
  as :class:`~salesflow_graphql.sor.frames.Inventory` keeps it); no row or an
  empty category is :data:`UNCATEGORIZED`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..sor.frames import as_text

UNCATEGORIZED = "Uncategorized"


@dataclass(frozen=True, slots=True)
class Products:
    """Products as they are now, one entry per product (aligned arrays)."""

    product_id: np.ndarray  # int64
    sku: list[str]
    name: list[str]
    category: list[str]
    #: Still in the catalogue (False: deleted, named after its latest line).
    listed: np.ndarray

    def __len__(self) -> int:
        return len(self.product_id)


def current_catalogue(catalogue: pd.DataFrame) -> pd.DataFrame:
    """The catalogue with one row per ``product_id``: the last one listed."""
    return catalogue.drop_duplicates("product_id", keep="last").reset_index(drop=True)


def inventory_by_sku(inventory: pd.DataFrame) -> pd.DataFrame:
    """The inventory with one row per sku: the first one listed."""
    return inventory.drop_duplicates("sku", keep="first").reset_index(drop=True)


def identify(
    product_ids: np.ndarray,
    items: pd.DataFrame,
    rows: np.ndarray,
    codes: np.ndarray,
    catalogue: pd.DataFrame,
    inventory: pd.DataFrame,
) -> Products:
    """What each of ``product_ids`` (distinct) is now.

    ``rows`` are the item lines looked at (positions in ``items``) and ``codes``
    the index in ``product_ids`` of each: a deleted product is named after its
    latest one. Vectorised; only the lines of deleted products are sorted.
    """
    product_ids = np.asarray(product_ids, dtype=np.int64)
    current = current_catalogue(catalogue)
    position = pd.Index(current["product_id"].to_numpy(dtype=np.int64)).get_indexer(product_ids)
    listed = position >= 0
    sku = np.empty(len(product_ids), dtype=object)
    name = np.empty(len(product_ids), dtype=object)
    sku[listed] = current["sku"].to_numpy(dtype=object)[position[listed]]
    name[listed] = current["name"].to_numpy(dtype=object)[position[listed]]
    if not listed.all():
        deleted_lines = np.flatnonzero(~listed[codes])
        line_codes = codes[deleted_lines]
        frame_rows = rows[deleted_lines]
        sold_at = items["sold_at"].to_numpy()[frame_rows]
        sale_ids = items["sale_id"].to_numpy(dtype=np.int64)[frame_rows]
        # Sort by product, then time, sale id and row: the last line per product wins.
        order = np.lexsort((frame_rows, sale_ids, sold_at, line_codes))
        sorted_codes = line_codes[order]
        is_last = np.append(sorted_codes[1:] != sorted_codes[:-1], True)
        latest_rows = frame_rows[order][is_last]
        latest_codes = sorted_codes[is_last]
        # Take the few rows first: converting a whole string column would cost 1M objects.
        sku[latest_codes] = items["sku"].iloc[latest_rows].to_numpy(dtype=object)
        name[latest_codes] = items["product_name"].iloc[latest_rows].to_numpy(dtype=object)
    skus = _texts(sku)
    return Products(
        product_id=product_ids,
        sku=skus.tolist(),
        name=_texts(name).tolist(),
        category=categories_of(skus, inventory),
        listed=listed,
    )


def _texts(values: np.ndarray) -> np.ndarray:
    """String cells as ``str`` (missing ones ``""``), vectorised ``as_text``."""
    return np.where(pd.isna(values), "", values).astype(str).astype(object)


def categories_of(skus: Sequence[str], inventory: pd.DataFrame) -> list[str]:
    """Each sku's inventory category, :data:`UNCATEGORIZED` without a row or with an empty one."""
    by_sku = inventory_by_sku(inventory)
    position = _positions(by_sku["sku"], skus)
    names = _texts(by_sku["category"].to_numpy(dtype=object))
    return [(names[p] or UNCATEGORIZED) if p >= 0 else UNCATEGORIZED for p in position.tolist()]


def unit_costs(skus: Sequence[str], inventory: pd.DataFrame) -> np.ndarray:
    """Each sku's inventory unit cost; NaN when unknown."""
    by_sku = inventory_by_sku(inventory)
    position = _positions(by_sku["sku"], skus)
    cost = np.full(len(position), np.nan)
    found = position >= 0
    cost[found] = by_sku["cost"].to_numpy(dtype=np.float64)[position[found]]
    return cost


def _positions(keys: pd.Series, wanted: Sequence[str] | np.ndarray) -> np.ndarray:
    """Where each of ``wanted`` is in ``keys`` (distinct), -1 when absent."""
    return pd.Index(keys.to_numpy(dtype=object)).get_indexer(np.asarray(wanted, dtype=object))


def known_categories(inventory: pd.DataFrame) -> set[str]:
    """Every category a product can be in: the inventory's, and :data:`UNCATEGORIZED`."""
    return {as_text(c) or UNCATEGORIZED for c in inventory["category"].to_numpy(dtype=object)} | {
        UNCATEGORIZED
    }
