"""``Reading``: one consistent read of the system of record, the services' ``DataSource``.

A GraphQL request, a report job or an anomaly check opens one reading, bound to
the caller's token, and hands it to the services.

It reads one data generation (see ``cache``), the one current when it was
opened: an import committed meanwhile never leaves it with half old, half new
data, and what is cached from it is filed under the generation it read.

Each resource is fetched at most once per reading, and sales windows are served
from the widest window already asked for: asking for 30 days after 60 were
fetched cuts the 60-day lines. Asks made within one turn of the event loop are
fetched together (as a DataLoader batches), so the two analytics of one query
asking for 30 and 60 days, in either order, make one fetch of 60; a fetch that
nobody waits for any more is cancelled.

Looking products and stock rows up by key for GraphQL fields is the GraphQL
layer's business (``graphql/loaders.py``), from this reading's catalogue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, timedelta
from typing import Any, Generic, Protocol, TypeVar

from .frames import Catalogue, Inventory, SalesWindow

K = TypeVar("K")
V = TypeVar("V")


class Records(Protocol):
    """What a reading reads through (``source.SystemOfRecord`` is one): Java's cached resources."""

    def today(self) -> date: ...

    def generation(self) -> int: ...

    async def catalogue(self, token: str | None, *, generation: int | None = None) -> Catalogue: ...

    async def inventory(self, token: str | None, *, generation: int | None = None) -> Inventory: ...

    async def sales_window(
        self, days: int, token: str | None, *, generation: int | None = None
    ) -> SalesWindow: ...


class Reading:
    """One read of Java's data as ``token``'s holder, pinned to one data generation."""

    def __init__(
        self, source: Records, token: str | None, *, generation: int | None = None
    ) -> None:
        self.source = source
        self.token = token
        #: The data generation this reading reads, whatever happens meanwhile.
        self.generation = source.generation() if generation is None else generation
        #: When the oldest Java data this reading served was fetched (epoch seconds).
        self.oldest_data_at: float | None = None
        self._resources: _Coalesced[str, Any] = _Coalesced(self._fetch_resources)
        self._windows: _Coalesced[int, SalesWindow] = _Coalesced(self._fetch_windows)
        self._widest: tuple[int, asyncio.Future[SalesWindow]] | None = None

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

    def prefetch_sales(self, start: date) -> None:
        """Start fetching sales from ``start`` now: every later ask for a shorter window is
        cut from it, whatever order the parts of the request ask in."""
        self._window_from(start)

    def fork(self) -> Reading:
        """The same read (token, data generation) with windows of its own: a part that
        needs a short window gets it without waiting for a long one."""
        return Reading(self.source, self.token, generation=self.generation)

    def _window_from(self, start: date) -> asyncio.Future[SalesWindow]:
        days = max(0, (self.today() - start).days)
        if self._widest is not None and self._widest[0] >= days:
            return self._widest[1]
        future = self._windows.load(days)
        self._widest = (days, future)
        return future

    async def _fetch_resources(self, names: Sequence[str]) -> list[Any]:
        fetchers = {"catalogue": self.source.catalogue, "inventory": self.source.inventory}
        return list(
            await asyncio.gather(
                *(fetchers[name](self.token, generation=self.generation) for name in names)
            )
        )

    async def _fetch_windows(self, days: Sequence[int]) -> list[SalesWindow]:
        widest = await self.source.sales_window(max(days), self.token, generation=self.generation)
        return [widest.since(self.source.today() - timedelta(days=d)) for d in days]


class _Coalesced(Generic[K, V]):
    """Values by key, each fetched once; keys first asked for within one turn of the event
    loop are fetched in one call, which is cancelled once nobody waits for its values."""

    def __init__(self, fetch: Callable[[list[K]], Awaitable[Sequence[V]]]) -> None:
        self._fetch = fetch
        self._futures: dict[K, asyncio.Future[V]] = {}
        self._open: _Batch[K, V] | None = None  # the batch still taking keys

    def load(self, key: K) -> asyncio.Future[V]:
        future = self._futures.get(key)
        if future is not None and not future.cancelled():
            return future
        loop = asyncio.get_running_loop()
        future = self._futures[key] = loop.create_future()
        if self._open is None:
            batch = self._open = _Batch[K, V]()
            loop.call_soon(self._send, batch)
        self._open.add(key, future)
        return future

    def _send(self, batch: _Batch[K, V]) -> None:
        batch.task = asyncio.create_task(self._run(batch))

    async def _run(self, batch: _Batch[K, V]) -> None:
        if self._open is batch:
            self._open = None  # later keys go to a batch of their own
        if all(future.cancelled() for future in batch.futures):
            return
        try:
            values = await self._fetch(list(batch.keys))  # one value per key
        except Exception as exc:
            for future in batch.futures:
                if not future.cancelled():
                    future.set_exception(exc)
            return
        for future, value in zip(batch.futures, values, strict=True):
            if not future.cancelled():
                future.set_result(value)


class _Batch(Generic[K, V]):
    def __init__(self) -> None:
        self.keys: list[K] = []
        self.futures: list[asyncio.Future[V]] = []
        self.task: asyncio.Task[None] | None = None

    def add(self, key: K, future: asyncio.Future[V]) -> None:
        self.keys.append(key)
        self.futures.append(future)
        future.add_done_callback(self._cancel_if_unwanted)

    def _cancel_if_unwanted(self, future: asyncio.Future[V]) -> None:
        if (
            future.cancelled()
            and self.task is not None
            and not self.task.done()
            and all(f.cancelled() for f in self.futures)
        ):
            self.task.cancel()
