"""``SalesForecastService.generate_forecast``: fetch, build the series, train off the loop, cache.

History is made of complete days: the window ends yesterday and the first
forecast point is today, so today's half-finished sales never look like a drop.

Training runs in child processes (``SALESFLOW_FORECAST_WORKERS``, one
LightGBM thread each, :mod:`..processes`): the event loop and its GIL stay free
for other queries, and a training nobody waits for any more is stopped.
Results are cached by (level, key, metric, horizon, history, interval level,
fingerprint of the series), so changed data trains anew; concurrent identical
requests train once, and each user's share of the trainings is capped
(:mod:`.trainings`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from ..adapters.cache import Cache, Codec, Typed
from ..config import Settings
from ..datasource import DataSource
from ..errors import BadUserInput, NotFound
from ..metrics import FORECAST_SECONDS
from ..processes import ChildPool
from . import trainer
from .series import ForecastLevel, ForecastMetric, UnknownSeries, daily_panel, fingerprint
from .trainings import Trainings

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
        # The trainers (and LightGBM) are imported when a child starts, not on its first training.
        self.pool = ChildPool(
            settings.forecast.workers, name="forecast", preload=(f"{__package__}.core",)
        )
        self.trainings = Trainings(
            slots=settings.forecast.workers,
            per_user=settings.forecast.max_per_user,
            max_queued=settings.forecast.max_queued,
        )

    async def generate_forecast(
        self,
        data: DataSource,
        request: ForecastRequest,
        *,
        user: str | None = None,
        handed_off: asyncio.Event | None = None,
    ) -> Forecast:
        """The forecast, from the cache or trained now. ``user`` (the JWT subject) is held
        to the per-user cap on trainings; None for internal callers (report jobs).

        ``handed_off`` is set once this process has nothing left to do for it but wait: the
        forecast came from the cache, its training is in its child process (the whole
        series sent), or it joined a training under way or waits for a slot. A caller with
        other heavy work starts it then: before, work holding the GIL would delay the
        training's start."""
        request = self._validated(request)
        today = data.today()
        end = today - timedelta(days=1)
        start = end - timedelta(days=request.history_days - 1)
        window, catalogue, inventory = await asyncio.gather(
            data.sales_since(start), data.catalogue(), data.inventory()
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

        cached = await self.cache.peek(key, codec=FORECAST_CODEC, layer="forecast")
        if cached is not None and cached.fresh(time.time()):
            if handed_off is not None:
                handed_off.set()
            return cached.value
        if handed_off is not None and self.trainings.waits(key):
            handed_off.set()  # not sent by this ask right away: nothing to keep clear for

        async def train() -> Forecast:
            started = time.perf_counter()
            result = await self.pool.run(
                trainer.train,
                series,
                request.level,
                request.key,
                request.horizon_days,
                request.interval_level,
                self.settings.standin.demo_seed,
                sent=None if handed_off is None else handed_off.set,
            )
            FORECAST_SECONDS.labels(result.model.split("-")[0]).observe(
                time.perf_counter() - started
            )
            forecast = Forecast(request, datetime.now(self.settings.tz), result)
            await self.cache.put(key, forecast, self.settings.forecast.ttl_s, codec=FORECAST_CODEC)
            return forecast

        return await self.trainings.run(key, user, train)

    def warm_up(self) -> None:
        """Start the training processes now (importing LightGBM takes seconds), not on first use."""
        self.pool.start()

    async def close(self) -> None:
        """Stop the training processes (a training in progress is abandoned)."""
        await self.pool.close()

    def _validated(self, request: ForecastRequest) -> ForecastRequest:
        s = self.settings
        if not 1 <= request.horizon_days <= s.forecast.max_horizon:
            raise BadUserInput(
                f"horizonDays must be between 1 and {s.forecast.max_horizon}", field="horizonDays"
            )
        if not s.forecast.min_history <= request.history_days <= s.forecast.max_history:
            raise BadUserInput(
                f"historyDays must be between {s.forecast.min_history} and {s.forecast.max_history}",
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
