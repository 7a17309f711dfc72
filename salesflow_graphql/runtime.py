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

from .adapters.cache import Cache
from .adapters.mail import Mailer
from .adapters.ratelimit import RateLimiter
from .adapters.signing import LinkSigner
from .adapters.storage import FileStore
from .alerts.jobs import register_alert_jobs
from .alerts.service import BusinessAlertService
from .analytics.service import SalesAnalyticsService, StockAnalyticsService
from .config import Settings
from .forecast.service import SalesForecastService
from .imports import ExcelImportService
from .jobs import JobProvider, JobRunner, build_registry, create_job_runner
from .reports.jobs import register_report_jobs
from .reports.service import ReportService
from .services import Services
from .sor.client import JavaClient
from .sor.source import SystemOfRecord

if TYPE_CHECKING:
    from .standin import StandIn

log = logging.getLogger(__name__)

#: Each capability's background work (tasks and periodic jobs, see ``jobs``): the arq
#: worker and the embedded scheduler both run what these register.
JOB_PROVIDERS: tuple[JobProvider, ...] = (register_report_jobs, register_alert_jobs)


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
    imports: ExcelImportService
    jobs: JobRunner
    reports: ReportService
    alerts: BusinessAlertService
    rate_limiter: RateLimiter
    #: What jobs and plain-HTTP routes use (the same objects as above, no GraphQL).
    services: Services
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
            from .standin import create_standin_from_settings

            standin = await asyncio.to_thread(create_standin_from_settings, settings)
        if standin is not None and transport is None:
            transport = httpx.ASGITransport(app=standin.app)
        cache = Cache(
            settings.redis_url,
            stale_s=settings.cache.stale_s,
            local_bytes=settings.cache.local_mb * 2**20,
        )
        await cache.start()  # other replicas' invalidations
        client = JavaClient(settings, transport=transport)
        source = SystemOfRecord(client, cache, settings)
        signer = LinkSigner(settings.auth.jwt_secret, ttl_s=settings.auth.link_ttl_s)
        files = FileStore(settings.exports_dir)
        sales_analytics = SalesAnalyticsService(cache, settings)
        stock_analytics = StockAnalyticsService(cache, settings)
        forecasts = SalesForecastService(cache, settings)
        jobs = create_job_runner(settings, build_registry(JOB_PROVIDERS, settings))
        mailer = Mailer(settings)
        alerts = BusinessAlertService.create(settings, mailer)
        reports = ReportService(settings, sales_analytics, stock_analytics, forecasts)
        services = Services(
            settings=settings,
            source=source,
            reports=reports,
            alerts=alerts,
            jobs=jobs,
            files=files,
            mailer=mailer,
            signer=signer,
        )
        log.info(
            "gateway wired: system of record %s, cache %s, jobs %s",
            "embedded stand-in" if standin is not None else client.base_url,
            cache.backend,
            jobs.mode,
        )
        runtime = cls(
            settings=settings,
            cache=cache,
            client=client,
            source=source,
            sales_analytics=sales_analytics,
            stock_analytics=stock_analytics,
            forecasts=forecasts,
            signer=signer,
            mailer=mailer,
            files=files,
            imports=ExcelImportService(settings, source, cache, files, signer),
            jobs=jobs,
            reports=reports,
            alerts=alerts,
            standin=standin,
            rate_limiter=RateLimiter.from_settings(settings),
            services=services,
        )
        await jobs.start(services)
        return runtime

    async def close(self) -> None:
        await self.jobs.close()  # first: running jobs still use the services below
        await self.alerts.close()
        await self.imports.close()
        await self.forecasts.close()
        await self.client.aclose()
        await self.cache.close()
        await self.rate_limiter.close()
