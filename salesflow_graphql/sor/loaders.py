"""Per-request DataLoaders: each (resource, window) is fetched at most once per request.

Java has no multi-get, so a batch of product ids or skus is served from the
whole catalogue (one ``GET /products``, cached across requests), never from N
single GETs: a dashboard page needs dozens of products and the catalogue is one
small call. ``bench/analytics.py`` measures both ways.

Sales windows are served from the widest window already asked for in this
request: asking for 30 days after 60 were fetched cuts the 60-day lines.

A request reads one data generation (see ``cache``), the one current when its
loaders were made: an import committed meanwhile never leaves it with half old,
half new data, and what it caches is filed under the generation it read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from strawberry.dataloader import DataLoader

from .frames import Catalogue, Inventory, SalesWindow
from .records import InventoryResponse, ProductDto
from .source import SystemOfRecord


class Loaders:
    """The loaders of one request, bound to the caller's token."""

    def __init__(self, source: SystemOfRecord, token: str | None) -> None:
        self.source = source
        self.token = token
        #: The data generation this request reads, whatever happens meanwhile.
        self.generation = source.generation()
        self._resources: DataLoader[str, Any] = DataLoader(self._load_resources)
        self.products_by_id: DataLoader[int, ProductDto | None] = DataLoader(self._load_by_id)
        self.products_by_sku: DataLoader[str, ProductDto | None] = DataLoader(self._load_by_sku)
        self.inventory_by_sku: DataLoader[str, InventoryResponse | None] = DataLoader(
            self._load_inventory_by_sku
        )
        self._windows: DataLoader[int, SalesWindow] = DataLoader(self._load_windows)
        self._widest: tuple[int, asyncio.Future[SalesWindow]] | None = None
        #: When the oldest Java data this request used was fetched (epoch seconds).
        self.oldest_data_at: float | None = None

    def observe(self, fetched_at: float) -> None:
        """Note that the answer rests on data fetched at ``fetched_at``."""
        if self.oldest_data_at is None or fetched_at < self.oldest_data_at:
            self.oldest_data_at = fetched_at

    def today(self) -> date:
        return self.source.today()

    async def catalogue(self) -> Catalogue:
        catalogue: Catalogue = await self._resources.load("catalogue")
        self.observe(catalogue.fetched_at)
        return catalogue

    async def inventory(self) -> Inventory:
        inventory: Inventory = await self._resources.load("inventory")
        self.observe(inventory.fetched_at)
        return inventory

    async def sales_since(self, start: date) -> SalesWindow:
        """Sale lines dated ``start`` or later (up to today)."""
        window = await self._window_from(start)
        self.observe(window.fetched_at)
        return window.since(start)

    def prefetch_sales(self, start: date) -> asyncio.Future[SalesWindow]:
        """Start fetching sales from ``start`` now (the future of the window): every later ask
        for a shorter window is cut from it, whatever order the parts of the request ask in."""
        return self._window_from(start)

    def fork(self) -> Loaders:
        """Loaders of the same request (token, data generation) with windows of their own: a
        part that needs a short window gets it without waiting for a long one."""
        forked = Loaders(self.source, self.token)
        forked.generation = self.generation
        return forked

    def _window_from(self, start: date) -> asyncio.Future[SalesWindow]:
        days = max(0, (self.today() - start).days)
        if self._widest is not None and self._widest[0] >= days:
            return self._widest[1]
        future = asyncio.ensure_future(self._windows.load(days))
        self._widest = (days, future)
        return future

    async def _load_resources(self, names: Sequence[str]) -> list[Any]:
        fetchers = {"catalogue": self.source.catalogue, "inventory": self.source.inventory}
        return list(
            await asyncio.gather(
                *(fetchers[name](self.token, generation=self.generation) for name in names)
            )
        )

    async def _load_by_id(self, ids: Sequence[int]) -> list[ProductDto | None]:
        by_id = (await self.catalogue()).by_id
        return [by_id.get(i) for i in ids]

    async def _load_by_sku(self, skus: Sequence[str]) -> list[ProductDto | None]:
        by_sku = (await self.catalogue()).by_sku
        return [by_sku.get(s) for s in skus]

    async def _load_inventory_by_sku(self, skus: Sequence[str]) -> list[InventoryResponse | None]:
        by_sku = (await self.inventory()).by_sku
        return [by_sku.get(s) for s in skus]

    async def _load_windows(self, days: Sequence[int]) -> list[SalesWindow]:
        widest = await self.source.sales_window(max(days), self.token, generation=self.generation)
        return [widest.since(self.source.today() - timedelta(days=d)) for d in days]
