"""``ReportService``: gather a report's figures through the analytics services, render off the loop.

The figures are the API's own: sales KPIs, trend and rankings come from
``SalesAnalyticsService.compute_sales_analytics`` for the report's range (so a
report and ``salesAnalytics`` agree to the cent), stock from
``StockAnalyticsService.compute_stock_analytics`` (30-day demand, 7-day lead
time, as the dashboard's default), and the FULL report's forecast from
``SalesForecastService.generate_forecast`` (TOTAL revenue, 14 days).

Choices where the issue is silent:

- The deltas on the KPI tiles compare with the previous range of the same
  length (API.md's ``previousRange``); the previous range's orders, units and
  average order value come from the same pure computation over the same data.
- The forecast is best effort: when it fails or takes longer than
  :data:`FORECAST_TIMEOUT_S`, the report says so in a note and goes on.
- Rendering (ReportLab, openpyxl) is CPU work: it runs in a worker thread so
  the event loop keeps serving queries meanwhile.

Cold, a FULL report is mostly fetching sales and training the forecast, so the
two overlap: the forecast reads its own year of history (the window the
dashboard's forecast card uses, often cached, as is its trained forecast) and
starts training as soon as that year is in, while the sales and stock
sections share one fetch of the widest window either needs. That fetch starts
once the training has its series in its own process: decoding a long window
holds the GIL for a long C call, and the series must not wait behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..analytics.periods import DateRange, Granularity, window_ending
from ..analytics.sales import SalesAnalytics, SalesKpis
from ..analytics.service import SalesAnalyticsService, StockAnalyticsService
from ..config import Settings
from ..datasource import DataSource
from ..errors import GatewayError, UpstreamUnavailable
from .model import (
    ForecastBand,
    RenderedReport,
    ReportContent,
    ReportFormat,
    ReportKind,
    ReportRequest,
    StockSection,
)

if TYPE_CHECKING:
    from ..forecast.service import SalesForecastService

log = logging.getLogger(__name__)

#: How many products the top-products sections list (the PDF shows the first 10).
TOP_PRODUCTS = 25
STOCK_LOOKBACK_DAYS = 30
STOCK_LEAD_TIME_DAYS = 7
FORECAST_HORIZON_DAYS = 14
#: As the dashboard's forecast card asks, so that a report reuses its window and forecast.
FORECAST_HISTORY_DAYS = 365
FORECAST_HISTORY_SHOWN_DAYS = 42
FORECAST_TIMEOUT_S = 60.0

Progress = Callable[[float], Awaitable[None]]


async def _no_progress(fraction: float) -> None:
    return None


class ReportService:
    """Sales and stock reports as PDF or XLSX."""

    def __init__(
        self,
        settings: Settings,
        sales_analytics: SalesAnalyticsService,
        stock_analytics: StockAnalyticsService,
        forecasts: SalesForecastService | None = None,
    ) -> None:
        self.settings = settings
        self.sales_analytics = sales_analytics
        self.stock_analytics = stock_analytics
        #: None when the forecast capability is not wired.
        self.forecasts = forecasts

    async def generate_report(
        self, data: DataSource, request: ReportRequest, progress: Progress = _no_progress
    ) -> RenderedReport:
        """Gather the figures of ``request`` and render its file."""
        content = await self.generate_sales_stock_report(
            data, request.kind, request.range, progress
        )
        await progress(0.7)
        render = _renderer(request.format)
        data = await asyncio.to_thread(render, content)
        await progress(0.9)
        return RenderedReport(request.filename, request.format.mime_type, data, content)

    async def generate_sales_stock_report(
        self,
        data: DataSource,
        kind: ReportKind,
        period: DateRange,
        progress: Progress = _no_progress,
    ) -> ReportContent:
        """The figures of a ``kind`` report over ``period`` (stock is as of now)."""
        await progress(0.05)
        training: asyncio.Future[Any] | None = None
        if kind is ReportKind.FULL and self.forecasts is not None:
            # The forecast first, in a fork of the data source (its year of history): the sections'
            # longer window is fetched while it trains.
            handed_off = asyncio.Event()
            forecast_part = asyncio.ensure_future(self._forecast(data.fork(), handed_off))
            training = asyncio.ensure_future(handed_off.wait())
            forecast_part.add_done_callback(lambda _: training.cancel())
        else:
            forecast_part = asyncio.ensure_future(_ready((None, None)))
        try:
            (sales, previous, stock), (forecast, note) = await asyncio.gather(
                self._sections(data, kind, period, after=training), forecast_part
            )
        finally:
            forecast_part.cancel()  # when the sections failed; a no-op once it is done
        await progress(0.5)
        return ReportContent(
            kind=kind,
            range=period,
            generated_at=datetime.now(self.settings.tz),
            currency=self.settings.reports.currency,
            sales=sales,
            previous_kpis=previous,
            stock=stock,
            forecast=forecast,
            notes=(note,) if note else (),
        )

    async def _sections(
        self,
        data: DataSource,
        kind: ReportKind,
        period: DateRange,
        *,
        after: asyncio.Future[Any] | None,
    ) -> tuple[SalesAnalytics | None, SalesKpis | None, StockSection | None]:
        """The sales and stock sections, started once ``after`` is done (if given).

        Decoding a long sales window holds the interpreter (one C call), which
        would starve the forecast's own fetch, series and the sending of it to
        its training process: waiting until the training runs in its process lets
        the two overlap instead.
        """
        if after is not None:
            await asyncio.wait([after])  # how it ended is the forecast's business
        if kind.has_sales:  # one fetch for both sections, asked for before either runs
            stock_start = window_ending(data.today(), STOCK_LOOKBACK_DAYS).start
            data.prefetch_sales(min(self.sales_analytics.window_start(period), stock_start))
        sales_part = self._sales(data, period) if kind.has_sales else _ready((None, None))
        stock_part = self._stock(data) if kind.has_stock else _ready(None)
        (sales, previous), stock = await asyncio.gather(sales_part, stock_part)
        return sales, previous, stock

    async def _sales(self, data: DataSource, period: DateRange) -> tuple[SalesAnalytics, SalesKpis]:
        current = await self.sales_analytics.compute_sales_analytics(
            data, period, Granularity.DAY, TOP_PRODUCTS
        )
        return current, current.previous_kpis

    async def _stock(self, data: DataSource) -> StockSection:
        as_of, analytics = await self.stock_analytics.compute_stock_analytics(
            data, STOCK_LOOKBACK_DAYS, STOCK_LEAD_TIME_DAYS
        )
        return StockSection(analytics, as_of, STOCK_LOOKBACK_DAYS, STOCK_LEAD_TIME_DAYS)

    async def _forecast(
        self, data: DataSource, handed_off: asyncio.Event
    ) -> tuple[ForecastBand | None, str | None]:
        if self.forecasts is None:
            return None, None  # the capability is not wired in this build
        from ..forecast.series import ForecastLevel, ForecastMetric
        from ..forecast.service import ForecastRequest

        request = ForecastRequest(
            level=ForecastLevel.TOTAL,
            metric=ForecastMetric.REVENUE,
            horizon_days=FORECAST_HORIZON_DAYS,
            history_days=FORECAST_HISTORY_DAYS,
        )
        try:
            async with asyncio.timeout(FORECAST_TIMEOUT_S):
                answer = await self.forecasts.generate_forecast(
                    data, request, handed_off=handed_off
                )
        except UpstreamUnavailable:
            raise  # the whole report retries
        except (GatewayError, TimeoutError) as exc:
            log.warning("report forecast left out: %s", exc)
            return None, "The 14-day forecast could not be computed for this report."
        except Exception:
            log.exception("report forecast left out")
            return None, "The 14-day forecast could not be computed for this report."
        result = answer.result
        return (
            ForecastBand(
                metric=str(request.metric),
                model=result.model,
                interval_level=request.interval_level,
                history=tuple(
                    (p.date, p.value) for p in result.history[-FORECAST_HISTORY_SHOWN_DAYS:]
                ),
                points=tuple((p.date, p.value, p.lower, p.upper) for p in result.points),
            ),
            None,
        )


async def _ready(value: Any) -> Any:
    return value


def _renderer(fmt: ReportFormat) -> Callable[[ReportContent], bytes]:
    if fmt is ReportFormat.PDF:
        from .pdf import render_pdf

        return render_pdf
    from .xlsx import render_xlsx

    return render_xlsx
