"""The process's long-lived services, wired once at start-up for either run mode.

Embedded default: the Java stand-in runs in process behind ``httpx.ASGITransport``
and the cache lives in memory. Production: the Java URL and Redis URL from
settings. Everything above this module is the same in both modes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from .analytics.service import SalesAnalyticsService, StockAnalyticsService
from .cache import Cache
from .config import Settings
from .forecast.service import SalesForecastService
from .mail import Mailer
from .signing import LinkSigner
from .sor.client import JavaClient
from .sor.source import SystemOfRecord
from .storage import FileStore

if TYPE_CHECKING:
    from .sor.standin import StandIn

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    cache: Cache
    client: JavaClient
    source: SystemOfRecord
    sales_analytics: SalesAnalyticsService
    stock_analytics: StockAnalyticsService
    forecasts: SalesForecastService
    signer: LinkSigner
    mailer: Mailer
    files: FileStore
    standin: StandIn | None = None

    @classmethod
    async def start(
        cls,
        settings: Settings,
        *,
        standin: StandIn | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Runtime:
        """Wire the services. On the embedded default a seeded stand-in is built unless given."""
        if settings.embedded and standin is None and transport is None:
            from .sor.standin import create_standin_from_settings

            standin = await asyncio.to_thread(create_standin_from_settings, settings)
        if standin is not None and transport is None:
            transport = httpx.ASGITransport(app=standin.app)
        cache = Cache(settings.redis_url)
        client = JavaClient(settings, transport=transport)
        source = SystemOfRecord(client, cache, settings)
        log.info(
            "gateway wired: system of record %s, cache %s",
            "embedded stand-in" if standin is not None else client.base_url,
            cache.backend,
        )
        return cls(
            settings=settings,
            cache=cache,
            client=client,
            source=source,
            sales_analytics=SalesAnalyticsService(cache, settings),
            stock_analytics=StockAnalyticsService(cache, settings),
            forecasts=SalesForecastService(cache, settings),
            signer=LinkSigner(settings.jwt_secret, ttl_s=settings.link_ttl_s),
            mailer=Mailer(settings),
            files=FileStore(settings.exports_dir),
            standin=standin,
        )

    async def close(self) -> None:
        self.forecasts.close()
        await self.client.aclose()
        await self.cache.close()
