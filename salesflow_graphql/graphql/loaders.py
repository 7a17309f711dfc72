"""Per-request DataLoaders: products and stock rows by key, batched per turn of the loop.

Java has no multi-get, so a batch of product ids or skus is served from the
whole catalogue of the request's reading (one ``GET /products``, cached across
requests), never from N single GETs: a dashboard page needs dozens of products
and the catalogue is one small call. ``bench/analytics.py`` measures both ways.

The reading itself (``sor/reading.py``: one data generation, each resource and
sales window fetched once) is what the services get; these loaders are only
the GraphQL fields' way of looking things up in it.
"""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from ..sor.reading import Reading
from ..sor.records import InventoryResponse, ProductDto


class Loaders:
    """The loaders of one request, over its reading of the system of record."""

    def __init__(self, data: Reading) -> None:
        #: The request's reading: the services' data source, which knows how old its data is.
        self.data = data
        self.products_by_id: DataLoader[int, ProductDto | None] = DataLoader(self._load_by_id)
        self.products_by_sku: DataLoader[str, ProductDto | None] = DataLoader(self._load_by_sku)
        self.inventory_by_sku: DataLoader[str, InventoryResponse | None] = DataLoader(
            self._load_inventory_by_sku
        )

    async def _load_by_id(self, ids: Sequence[int]) -> list[ProductDto | None]:
        by_id = (await self.data.catalogue()).by_id
        return [by_id.get(i) for i in ids]

    async def _load_by_sku(self, skus: Sequence[str]) -> list[ProductDto | None]:
        by_sku = (await self.data.catalogue()).by_sku
        return [by_sku.get(s) for s in skus]

    async def _load_inventory_by_sku(self, skus: Sequence[str]) -> list[InventoryResponse | None]:
        by_sku = (await self.data.inventory()).by_sku
        return [by_sku.get(s) for s in skus]
