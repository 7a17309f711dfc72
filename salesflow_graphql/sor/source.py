"""Cache-aside reads of Java's resources: each (resource, window) once per TTL.

Upstream data does not depend on the caller's role for these endpoints (Java
serves products, inventory and sales history to USER and ADMIN alike), so the
keys carry no role. Sales windows are keyed by the business date, because a
window of N days moves every midnight, and every key by the data generation
(see ``cache``), so that a committed import is seen at once. An expired
resource is served for ``SALESFLOW_CACHE_STALE_S`` more while one refresh runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from functools import partial
from typing import TypeVar

from ..adapters.cache import Cache, Codec
from ..config import Settings
from .client import JavaClient
from .frames import (
    CATALOGUE_CODEC,
    INVENTORY_CODEC,
    SALES_WINDOW_CODEC,
    Catalogue,
    Inventory,
    SalesWindow,
)
from .reading import Reading

T = TypeVar("T")


class SystemOfRecord:
    """The gateway's view of the Java service, behind the cache."""

    def __init__(self, client: JavaClient, cache: Cache, settings: Settings) -> None:
        self.client = client
        self.cache = cache
        self.settings = settings

    def today(self) -> date:
        return self.settings.today()

    def generation(self) -> int:
        """The data generation a new request reads (it pins it for its whole life)."""
        return self.cache.generation

    def reading(self, token: str | None) -> Reading:
        """A new consistent read as ``token``'s holder, of the current data generation: what
        a request or a job hands the services (their ``DataSource``)."""
        return Reading(self, token)

    async def invalidate(self) -> None:
        """Java's data was just changed through the gateway: every replica reads it anew."""
        await self.cache.invalidate()

    async def catalogue(
        self, token: str | None, *, generation: int | None = None, fresh: bool = False
    ) -> Catalogue:
        """Java's products; ``fresh``: read now, not from the cache (and cache that)."""

        async def fetch() -> Catalogue:
            return await self.client.get(
                "/products", Catalogue.decode, token=token, resource="products"
            )

        return await self._cached(
            "sor:products",
            self.settings.cache.catalogue_ttl_s,
            fetch,
            CATALOGUE_CODEC,
            generation,
            fresh,
        )

    async def inventory(self, token: str | None, *, generation: int | None = None) -> Inventory:
        async def fetch() -> Inventory:
            return await self.client.get(
                "/inventory", Inventory.decode, token=token, resource="inventory"
            )

        return await self._cached(
            "sor:inventory", self.settings.cache.catalogue_ttl_s, fetch, INVENTORY_CODEC, generation
        )

    async def sales_window(
        self, days: int, token: str | None, *, generation: int | None = None
    ) -> SalesWindow:
        """Sales dated from ``today - days`` on (Java's ``/sales/history?days=N``)."""
        today = self.today()
        start = today - timedelta(days=days)

        async def fetch() -> SalesWindow:
            decode = partial(SalesWindow.decode, today=today, start=start)
            return await self.client.get(
                "/sales/history", decode, token=token, resource="sales", params={"days": days}
            )

        return await self._cached(
            f"sor:sales:{today.isoformat()}:{days}",
            self.settings.cache.sales_ttl_s,
            fetch,
            SALES_WINDOW_CODEC,
            generation,
        )

    async def _cached(
        self,
        key: str,
        ttl_s: float,
        fetch: Callable[[], Awaitable[T]],
        codec: Codec[T],
        generation: int | None,
        fresh: bool = False,
    ) -> T:
        generation = self.generation() if generation is None else generation
        if fresh:
            value = await fetch()
            await self.cache.put(key, value, ttl_s, codec=codec, stale=True, generation=generation)
            return value
        return await self.cache.get_or_load(
            key,
            ttl_s,
            fetch,
            codec=codec,
            layer="upstream",
            stale=True,
            generation=generation,
        )
