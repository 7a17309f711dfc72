"""The ``forecast`` query (API.md, "Forecast")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from ..forecast import series, service
from .permissions import IsAuthenticated

ForecastLevel = strawberry.enum(
    series.ForecastLevel,
    description="TOTAL (the whole shop), CATEGORY (one inventory category) or PRODUCT (one sku).",
)
ForecastMetric = strawberry.enum(
    series.ForecastMetric, description="UNITS sold or REVENUE (sum of item subtotals)."
)


@strawberry.input(description="What to forecast and how.")
class ForecastInput:
    level: ForecastLevel = strawberry.field(
        default=series.ForecastLevel.TOTAL, description="Aggregation level."
    )
    key: str | None = strawberry.field(
        default=None,
        description="The sku for PRODUCT, the category name for CATEGORY; none for TOTAL.",
    )
    metric: ForecastMetric = strawberry.field(
        default=series.ForecastMetric.UNITS, description="What is forecast."
    )
    horizon_days: int = strawberry.field(
        default=14, description="Days to forecast (1–90 by default)."
    )
    history_days: int = strawberry.field(
        default=365,
        description="Complete days of history to learn from, ending yesterday (56–1095).",
    )
    interval_level: float = strawberry.field(
        default=0.9,
        description="Coverage of the prediction interval, e.g. 0.9 for 90 % (0.5–0.99).",
    )


@strawberry.type(description="One day of history.")
class SeriesPoint:
    date: date = strawberry.field(description="The day.")
    value: float = strawberry.field(
        description="Units or revenue sold that day (0 when nothing sold)."
    )


@strawberry.type(description="One forecast day with its prediction interval.")
class ForecastPoint:
    date: date = strawberry.field(description="The day (one per day after the last history day).")
    value: float = strawberry.field(description="Point forecast.")
    lower: float = strawberry.field(description="Lower bound of the interval (never below 0).")
    upper: float = strawberry.field(description="Upper bound of the interval.")


@strawberry.type(description="How the method that answered did on rolling-origin backtests.")
class Backtest:
    folds: int = strawberry.field(description="Backtest windows (rolling origins).")
    horizon_days: int = strawberry.field(description="Days forecast in each window.")
    mase: float = strawberry.field(
        description="Mean absolute scaled error (scale: in-sample seasonal-naive MAE, period 7)."
    )
    smape: float = strawberry.field(
        description="Symmetric MAPE as a fraction (0–2), over points where actual and forecast are not both 0."
    )
    baseline_mase: float = strawberry.field(
        description="MASE of the seasonal-naive (weekly) model on the same folds."
    )
    interval_coverage: float = strawberry.field(
        description="Share of actual values inside the intervals, calibrated without the scored fold."
    )


@strawberry.type(description="A sales forecast with its history, intervals and backtest.")
class Forecast:
    level: ForecastLevel = strawberry.field(description="Aggregation level.")
    key: str | None = strawberry.field(description="The sku or category; null for TOTAL.")
    metric: ForecastMetric = strawberry.field(description="What is forecast.")
    model: str = strawberry.field(
        description="The method that actually ran, e.g. lightgbm-tweedie-global, seasonal-naive, tsb."
    )
    trained_at: datetime = strawberry.field(description="When the model was trained.")
    history: list[SeriesPoint] = strawberry.field(
        description="The history used, one point per day."
    )
    points: list[ForecastPoint] = strawberry.field(description="The forecast, one point per day.")
    backtest: Backtest | None = strawberry.field(
        description="Backtest of the method; null only when the history is too short for one fold."
    )

    @classmethod
    def of(cls, answer: service.Forecast) -> Forecast:
        request, result = answer.request, answer.result
        money = request.metric is series.ForecastMetric.REVENUE
        digits = 2 if money else 3
        b = result.backtest
        return cls(
            level=request.level,
            key=request.key,
            metric=request.metric,
            model=result.model,
            trained_at=answer.trained_at,
            history=[
                SeriesPoint(date=p.date, value=round(p.value, digits)) for p in result.history
            ],
            points=[
                ForecastPoint(
                    date=p.date,
                    value=round(p.value, digits),
                    lower=round(p.lower, digits),
                    upper=round(p.upper, digits),
                )
                for p in result.points
            ],
            backtest=None
            if b is None
            else Backtest(
                folds=b.folds,
                horizon_days=b.horizon_days,
                mase=b.mase,
                smape=b.smape,
                baseline_mase=b.baseline_mase,
                interval_coverage=b.interval_coverage,
            ),
        )


@strawberry.type
class ForecastQuery:
    @strawberry.field(
        description="Forecast daily units or revenue with prediction intervals and a backtest.",
        permission_classes=[IsAuthenticated],
    )
    async def forecast(
        self,
        info: Info,
        input: Annotated[
            ForecastInput,
            strawberry.argument(description="Level, key, metric, horizon and history."),
        ],
    ) -> Forecast:
        ctx = info.context
        answer = await ctx.runtime.forecasts.generate_forecast(
            ctx.data,
            service.ForecastRequest(
                level=input.level,
                key=input.key,
                metric=input.metric,
                horizon_days=input.horizon_days,
                history_days=input.history_days,
                interval_level=input.interval_level,
            ),
            user=ctx.principal.subject,
        )
        return Forecast.of(answer)
