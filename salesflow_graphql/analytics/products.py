"""What a product is now: its current sku, name and category. The one place that says so.

Analytics, forecasts and alerts group sale lines by ``product_id`` and call each
product what this module says, so they always agree:

- A product in the catalogue is what the catalogue says now: its last row per
  ``product_id`` (:func:`current_catalogue`). The sku and name snapshots on old
  lines of a renamed product never rename it.
- A product no longer in the catalogue (deleted) keeps the sku, name and unit
  price of its latest line in the frame: latest ``sold_at``, then highest
  ``sale_id``, then the later row. A frame always runs to today, so that is the
  product's last sale ever: every answer (any range, analytics, forecast or
  alert) describes a deleted product the same way, and a client cache keyed by
  its id never sees two versions of it.
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
    #: A deleted product's unit price on its latest line (0 for listed products).
    last_unit_price: np.ndarray

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
    catalogue: pd.DataFrame,
    inventory: pd.DataFrame,
) -> Products:
    """What each of ``product_ids`` (distinct) is now.

    A deleted product is named after its latest line in ``items``. Vectorised;
    only the lines of deleted products are sorted.
    """
    product_ids = np.asarray(product_ids, dtype=np.int64)
    current = current_catalogue(catalogue)
    position = pd.Index(current["product_id"].to_numpy(dtype=np.int64)).get_indexer(product_ids)
    listed = position >= 0
    sku = np.empty(len(product_ids), dtype=object)
    name = np.empty(len(product_ids), dtype=object)
    last_price = np.zeros(len(product_ids), dtype=np.float64)
    sku[listed] = current["sku"].to_numpy(dtype=object)[position[listed]]
    name[listed] = current["name"].to_numpy(dtype=object)[position[listed]]
    if not listed.all():
        deleted = pd.Index(product_ids[~listed])
        deleted_code = deleted.get_indexer(items["product_id"].to_numpy(dtype=np.int64))
        frame_rows = np.flatnonzero(deleted_code >= 0)
        line_codes = np.flatnonzero(~listed)[deleted_code[frame_rows]]
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
        last_price[latest_codes] = items["unit_price"].iloc[latest_rows].to_numpy(np.float64)
    skus = _texts(sku)
    return Products(
        product_id=product_ids,
        sku=skus.tolist(),
        name=_texts(name).tolist(),
        category=categories_of(skus, inventory),
        listed=listed,
        last_unit_price=last_price,
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
