"""Cache-aside reads of Java's resources: each (resource, window) once per TTL.

Upstream data does not depend on the caller's role for these endpoints (Java
serves products, inventory and sales history to USER and ADMIN alike), so the
keys carry no role. Sales windows are keyed by the business date, because a
window of N days moves every midnight.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial

from ..cache import Cache
from ..config import Settings
from .client import JavaClient
from .frames import Catalogue, Inventory, SalesWindow


class SystemOfRecord:
    """The gateway's view of the Java service, behind the cache."""

    def __init__(self, client: JavaClient, cache: Cache, settings: Settings) -> None:
        self.client = client
        self.cache = cache
        self.settings = settings

    def today(self) -> date:
        return self.settings.today()

    async def catalogue(self, token: str | None) -> Catalogue:
        async def fetch() -> Catalogue:
            return await self.client.get(
                "/products", Catalogue.decode, token=token, resource="products"
            )

        return await self.cache.get_or_load(
            "sor:products", self.settings.catalogue_ttl_s, fetch, layer="upstream"
        )

    async def inventory(self, token: str | None) -> Inventory:
        async def fetch() -> Inventory:
            return await self.client.get(
                "/inventory", Inventory.decode, token=token, resource="inventory"
            )

        return await self.cache.get_or_load(
            "sor:inventory", self.settings.catalogue_ttl_s, fetch, layer="upstream"
        )

    async def sales_window(self, days: int, token: str | None) -> SalesWindow:
        """Sales dated from ``today - days`` on (Java's ``/sales/history?days=N``)."""
        today = self.today()
        start = today - timedelta(days=days)

        async def fetch() -> SalesWindow:
            decode = partial(SalesWindow.decode, today=today, start=start)
            return await self.client.get(
                "/sales/history", decode, token=token, resource="sales", params={"days": days}
            )

        return await self.cache.get_or_load(
            f"sor:sales:{today.isoformat()}:{days}",
            self.settings.sales_ttl_s,
            fetch,
            layer="upstream",
        )
