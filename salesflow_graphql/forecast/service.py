"""``SalesForecastService.generate_forecast``: fetch, build the series, train off the loop, cache.

History is made of complete days: the window ends yesterday and the first
forecast point is today, so today's half-finished sales never look like a drop.

Training runs in a small process pool (``SALESFLOW_FORECAST_WORKERS``, one
LightGBM thread each): the event loop and its GIL stay free for other queries.
Results are cached by (level, key, metric, horizon, history, interval level,
fingerprint of the series), so changed data trains anew and concurrent
identical requests train once (single-flight).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from ..cache import Cache, Codec, Typed
from ..config import Settings
from ..errors import BadUserInput, NotFound
from ..metrics import FORECAST_SECONDS
from ..sor.loaders import Loaders
from .series import ForecastLevel, ForecastMetric, UnknownSeries, daily_panel, fingerprint

if TYPE_CHECKING:
    from .core import ForecastResult

log = logging.getLogger(__name__)

MIN_INTERVAL_LEVEL = 0.5
MAX_INTERVAL_LEVEL = 0.99


@dataclass(frozen=True, slots=True)
class ForecastRequest:
    level: ForecastLevel = ForecastLevel.TOTAL
    key: str | None = None
    metric: ForecastMetric = ForecastMetric.UNITS
    horizon_days: int = 14
    history_days: int = 365
    interval_level: float = 0.9


@dataclass(frozen=True, slots=True)
class Forecast:
    """A forecast as the API shows it: the core's result plus what was asked and when it trained."""

    request: ForecastRequest
    trained_at: datetime
    result: ForecastResult


class SalesForecastService:
    def __init__(self, cache: Cache, settings: Settings) -> None:
        self.cache = cache
        self.settings = settings
        self._pool: ProcessPoolExecutor | None = None

    async def generate_forecast(
        self,
        loaders: Loaders,
        request: ForecastRequest,
        *,
        series_ready: asyncio.Event | None = None,
    ) -> Forecast:
        """The forecast of ``request``; ``series_ready`` is set once its data is in and only
        training (or the cache) is left, for a caller with other heavy work to start then."""
        request = self._validated(request)
        today = loaders.today()
        end = today - timedelta(days=1)
        start = end - timedelta(days=request.history_days - 1)
        window, catalogue, inventory = await asyncio.gather(
            loaders.sales_since(start), loaders.catalogue(), loaders.inventory()
        )
        try:
            panel = await asyncio.to_thread(
                _panel_and_fingerprint,
                window.items,
                catalogue.frame,
                inventory.frame,
                request,
                start,
                end,
            )
        except UnknownSeries as exc:
            message = str(exc)
            raise NotFound(message[:1].upper() + message[1:] + ".", field="key") from exc
        series, digest = panel
        key = (
            f"forecast:{request.level}:{request.key or ''}:{request.metric}:{request.horizon_days}:"
            f"{request.history_days}:{request.interval_level}:{digest}"
        )

        async def train() -> Forecast:
            started = time.perf_counter()
            result = await asyncio.get_running_loop().run_in_executor(
                self._executor(), _train, series, request, self.settings.demo_seed
            )
            FORECAST_SECONDS.labels(result.model.split("-")[0]).observe(
                time.perf_counter() - started
            )
            return Forecast(request, datetime.now(self.settings.tz), result)

        if series_ready is not None:
            series_ready.set()
        return await self.cache.get_or_load(
            key, self.settings.forecast_ttl_s, train, codec=FORECAST_CODEC, layer="forecast"
        )

    def warm_up(self) -> None:
        """Start the training processes now (importing LightGBM takes seconds), not on first use."""
        self._executor().submit(_warm)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: never fork a process that runs an event loop and threads
            self._pool = ProcessPoolExecutor(
                max_workers=self.settings.forecast_workers,
                mp_context=multiprocessing.get_context("spawn"),
            )
        return self._pool

    def _validated(self, request: ForecastRequest) -> ForecastRequest:
        s = self.settings
        if not 1 <= request.horizon_days <= s.forecast_max_horizon:
            raise BadUserInput(
                f"horizonDays must be between 1 and {s.forecast_max_horizon}", field="horizonDays"
            )
        if not s.forecast_min_history <= request.history_days <= s.forecast_max_history:
            raise BadUserInput(
                f"historyDays must be between {s.forecast_min_history} and {s.forecast_max_history}",
                field="historyDays",
            )
        if not MIN_INTERVAL_LEVEL <= request.interval_level <= MAX_INTERVAL_LEVEL:
            raise BadUserInput(
                f"intervalLevel must be between {MIN_INTERVAL_LEVEL} and {MAX_INTERVAL_LEVEL}",
                field="intervalLevel",
            )
        key = (request.key or "").strip() or None
        if request.level is ForecastLevel.TOTAL and key is not None:
            raise BadUserInput(
                "key is only for CATEGORY (a category) and PRODUCT (a sku)", field="key"
            )
        if request.level is not ForecastLevel.TOTAL and key is None:
            raise BadUserInput(f"key is required for level {request.level}", field="key")
        return ForecastRequest(
            request.level,
            key,
            request.metric,
            request.horizon_days,
            request.history_days,
            round(request.interval_level, 4),
        )


class _ForecastCodec(Codec[Forecast]):
    """A forecast as msgpack of (request, trained_at, result). The result's types live with
    the forecast core, imported on first use (as reading a trained result does anyway)."""

    def __init__(self) -> None:
        self._typed: Typed[tuple[ForecastRequest, datetime, ForecastResult]] | None = None

    def _codec(self) -> Typed[tuple[ForecastRequest, datetime, ForecastResult]]:
        if self._typed is None:
            from .core import ForecastResult

            self._typed = Typed(tuple[ForecastRequest, datetime, ForecastResult])
        return self._typed

    def encode(self, value: Forecast) -> bytes:
        return self._codec().encode((value.request, value.trained_at, value.result))

    def decode(self, data: bytes) -> Forecast:
        return Forecast(*self._codec().decode(data))


FORECAST_CODEC = _ForecastCodec()


def _panel_and_fingerprint(
    items: pd.DataFrame,
    catalogue: pd.DataFrame,
    inventory: pd.DataFrame,
    request: ForecastRequest,
    start: object,
    end: object,
) -> tuple[pd.DataFrame, str]:
    panel = daily_panel(
        items,
        catalogue,
        inventory,
        level=request.level,
        metric=request.metric,
        key=request.key,
        start=start,
        end=end,  # type: ignore[arg-type]
    )
    return panel, fingerprint(panel)


def _warm() -> None:
    import lightgbm  # noqa: F401 - the import is the warm-up


def _train(panel: pd.DataFrame, request: ForecastRequest, seed: int) -> ForecastResult:
    """Runs in a pool process: one LightGBM thread, fixed seed."""
    from .core import forecast, forecast_total  # LightGBM is imported by the trainers only

    if request.level is ForecastLevel.TOTAL:
        return forecast_total(
            panel, request.horizon_days, request.interval_level, seed=seed, n_threads=1
        )
    assert request.key is not None
    return forecast(
        panel, request.key, request.horizon_days, request.interval_level, seed=seed, n_threads=1
    )
