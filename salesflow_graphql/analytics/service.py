"""Analytics services: read a ``DataSource``, compute off the loop, cache.

The pure computation lives in :mod:`.sales` and :mod:`.stock`; these classes
only validate arguments, gather the frames, run the computation in a worker
thread and cache its result (keyed by every argument that changes the answer;
the answer does not depend on the caller's role).

A cached result remembers when its Java data was fetched: it is fresh only for
what is left of that data's TTL (then served stale while one refresh runs, see
``cache``), and tells the data source its age, so that a response cache
above never keeps an answer longer than its data. Results are filed under the
data source's generation, so a committed import is seen at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, TypeVar

from ..adapters.cache import Cache, Codec, Typed
from ..config import Settings
from ..datasource import DataSource
from ..errors import BadUserInput
from .periods import DateRange, Granularity, validated_range, window_ending
from .sales import SalesAnalytics, compute_sales_analytics
from .stock import StockAnalytics, compute_stock_analytics

DEFAULT_RANGE_DAYS = 30

T = TypeVar("T")

#: A computed result and when the oldest Java data under it was fetched.
Dated = tuple[float, T]

SALES_CODEC: Codec[Any] = Typed(tuple[float, SalesAnalytics])
STOCK_CODEC: Codec[Any] = Typed(tuple[float, tuple[datetime, StockAnalytics]])


async def _cached(
    cache: Cache,
    key: str,
    ttl_s: float,
    data: DataSource,
    compute: Callable[[], Awaitable[Dated[T]]],
    codec: Codec[Any],
) -> T:
    data_at, result = await cache.get_or_load(
        key,
        ttl_s,
        compute,
        codec=codec,
        layer="analytics",
        stale=True,
        generation=data.generation,
        data_at=lambda dated: dated[0],
    )
    data.observe(data_at)
    return result


class SalesAnalyticsService:
    """KPIs, trend and rankings of sales over a date range."""

    def __init__(self, cache: Cache, settings: Settings) -> None:
        self.cache = cache
        self.settings = settings

    @staticmethod
    def window_start(period: DateRange) -> date:
        """The first day of sales ``period``'s analytics read: two ranges before it, as the
        previous range's KPIs are compared with theirs."""
        return period.previous().previous().start

    async def compute_sales_analytics(
        self,
        data: DataSource,
        period: DateRange | None = None,
        granularity: Granularity = Granularity.DAY,
        top: int = 10,
    ) -> SalesAnalytics:
        if not 1 <= top <= self.settings.limits.max_top:
            raise BadUserInput(
                f"top must be between 1 and {self.settings.limits.max_top}", field="top"
            )
        today = data.today()
        if period is None:
            period = window_ending(today, DEFAULT_RANGE_DAYS)
        else:
            # Two ranges before it: the previous range's KPIs are compared with theirs.
            period = validated_range(
                period.start,
                period.end,
                max_days=self.settings.limits.max_range_days,
                comparisons=2,
            )
        # v2: the result gained previous_kpis and bucket spans (older pickles lack them).
        key = f"analytics:sales:v2:{today}:{period.start}:{period.end}:{granularity}:{top}"

        async def compute() -> Dated[SalesAnalytics]:
            window, catalogue, inventory = await asyncio.gather(
                data.sales_since(self.window_start(period)),
                data.catalogue(),
                data.inventory(),
            )
            data_at = min(window.fetched_at, catalogue.fetched_at, inventory.fetched_at)
            return data_at, await asyncio.to_thread(
                compute_sales_analytics,
                window.items,
                catalogue.frame,
                inventory.frame,
                period,
                granularity,
                top,
            )

        return await _cached(
            self.cache, key, self.settings.cache.analytics_ttl_s, data, compute, SALES_CODEC
        )


class StockAnalyticsService:
    """Stock KPIs and per-product status, cover and reorder suggestions."""

    def __init__(self, cache: Cache, settings: Settings) -> None:
        self.cache = cache
        self.settings = settings

    async def compute_stock_analytics(
        self, data: DataSource, lookback_days: int = 30, lead_time_days: int = 7
    ) -> tuple[datetime, StockAnalytics]:
        """The analytics and when the stock they describe was read from Java (``asOf``)."""
        if not 1 <= lookback_days <= self.settings.limits.max_lookback_days:
            raise BadUserInput(
                f"lookbackDays must be between 1 and {self.settings.limits.max_lookback_days}",
                field="lookbackDays",
            )
        if not 0 <= lead_time_days <= self.settings.limits.max_lead_time_days:
            raise BadUserInput(
                f"leadTimeDays must be between 0 and {self.settings.limits.max_lead_time_days}",
                field="leadTimeDays",
            )
        today = data.today()
        lookback = window_ending(today, lookback_days)
        key = f"analytics:stock:{today}:{lookback_days}:{lead_time_days}"

        async def compute() -> Dated[tuple[datetime, StockAnalytics]]:
            window, catalogue, inventory = await asyncio.gather(
                data.sales_since(lookback.start), data.catalogue(), data.inventory()
            )
            as_of = datetime.fromtimestamp(catalogue.fetched_at, self.settings.tz)
            data_at = min(window.fetched_at, catalogue.fetched_at, inventory.fetched_at)
            result = await asyncio.to_thread(
                compute_stock_analytics,
                window.items,
                catalogue.frame,
                inventory.frame,
                today,
                lookback_days,
                lead_time_days,
            )
            return data_at, (as_of, result)

        return await _cached(
            self.cache, key, self.settings.cache.analytics_ttl_s, data, compute, STOCK_CODEC
        )
