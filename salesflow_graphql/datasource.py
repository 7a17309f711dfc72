"""``DataSource``: what the services read the shop's data through, and nothing more.

The analytics, forecast, alert and report services take one of these and know
nothing of where it comes from: a GraphQL request, a background job and a
plain-HTTP render all hand them the same thing, a reading of the system of
record (:class:`~salesflow_graphql.sor.reading.Reading`); tests may hand them
any object of this shape.

A data source is one consistent read: everything read through it is of one
data generation (see ``cache``), and it remembers how old the oldest data it
served is (``observe``), so that whoever answers with it can say so.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from .sor.frames import Catalogue, Inventory, SalesWindow


class DataSource(Protocol):
    """Catalogue, inventory and sales of one consistent read of the shop's data."""

    @property
    def generation(self) -> int:
        """The data generation read (what is cached from it is filed under it)."""
        ...

    def today(self) -> date:
        """The business date."""
        ...

    async def catalogue(self) -> Catalogue: ...

    async def inventory(self) -> Inventory: ...

    async def sales_since(self, start: date) -> SalesWindow:
        """Sale lines dated ``start`` or later (up to today)."""
        ...

    def prefetch_sales(self, start: date) -> None:
        """Start fetching sales from ``start`` now: later asks for shorter windows are cut
        from it, whatever order they come in."""
        ...

    def fork(self) -> DataSource:
        """The same read (caller, generation) with sales windows of its own: a part that
        needs a short window gets it without waiting for a long one."""
        ...

    def observe(self, fetched_at: float) -> None:
        """Note that the answer rests on data fetched at ``fetched_at`` (epoch seconds)."""
        ...
