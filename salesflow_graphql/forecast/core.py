"""The pure forecasting core: daily panel in, forecast with intervals and backtest out.

Public API
----------
``forecast(panel, target, horizon, interval_level, *, min_history=56, n_folds=4,
seed=0, n_threads=1) -> ForecastResult``
    Forecast one series of a panel. ``panel`` is a long frame with columns
    ``series_id`` (str), ``date`` (daily), ``value`` (>= 0) and optionally
    ``promo`` (> 0 on known promotion days; inferred from sales when absent).
    The panel holds the target and its related series, which train the
    global model with it:

    * PRODUCT: the products of its category (or all products); ``target`` = sku.
    * CATEGORY: all categories (with "Uncategorized"); ``target`` = category.
    * TOTAL: use ``forecast_total`` below.

``forecast_total(category_panel, horizon, interval_level, **same) -> ForecastResult``
    TOTAL from the category panel. One global model is trained on the
    categories plus their sum, then two candidates are backtested on the same
    folds: the total forecast directly and the sum of the category forecasts
    (bottom-up). The lower backtest MASE answers; ``model`` ends in
    ``-bottom-up`` when the sum won.

``forecast_panel(panel, horizon, interval_level, **same) -> dict[str, ForecastResult]``
    Every series of the panel from one training run (what a cache of a whole
    category, and the benchmark, want).

Method per series (``ForecastResult.model`` names the one that ran)
    * ``tsb``: never sold, or sold on under 10% of the days since its first sale.
    * ``moving-average``: under 7 days since its first sale.
    * ``seasonal-naive``: under ``min_history`` days since its first sale, or
      a panel too short to backtest the global model.
    * ``lightgbm-<objective>-global``: everything else; the objective (tweedie
      or l2) is chosen per panel by backtest MASE.

Backtest and intervals: ``n_folds`` rolling origins (``backtest.rolling_origins``)
of ``horizon`` days each; each fold trains only on days before its cutoff.
Intervals are split-conformal per horizon step (``conformal``); the reported
coverage is leave-one-fold-out, never in-sample. Thin data never raises: one
day of history answers with a moving average, and below two days (no fold
possible) ``backtest`` is None.

Everything here is CPU-bound and synchronous; ``n_threads`` bounds LightGBM.
Same inputs give the same output (fixed seed, fixed threads, deterministic
LightGBM).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pandas as pd

from . import fallback
from .backtest import (
    BacktestSummary,
    fold_actuals,
    fold_scales,
    rolling_origins,
    summarize,
)
from .conformal import StepQuantiles, normalised_scores, step_quantiles
from .features import PanelArrays, first_active_day, to_panel_arrays, uplift_flags
from .metrics import seasonal_naive_scale
from .model import OBJECTIVES, config_for, fit_and_forecast

DEFAULT_MIN_HISTORY = 56
#: Days of panel history before the first backtest cutoff of the global model.
MIN_TRAIN_DAYS = 28
#: Days a series must have been selling before the first cutoff to be scored by the global model.
MIN_FOLD_HISTORY = 14
#: Below this share of selling days (since the first sale) a series is intermittent.
INTERMITTENT_SHARE = 0.1
TOTAL_ID = "__total__"


class SeriesPoint(NamedTuple):
    """One day of history."""

    date: date
    value: float


class ForecastPoint(NamedTuple):
    """One forecast day with its interval (0 <= lower <= value <= upper)."""

    date: date
    value: float
    lower: float
    upper: float


@dataclass(frozen=True)
class ForecastResult:
    """A forecast as the service maps it to the API's ``Forecast`` type."""

    model: str
    history: tuple[SeriesPoint, ...]
    points: tuple[ForecastPoint, ...]
    backtest: BacktestSummary | None


@dataclass(frozen=True)
class _Settings:
    horizon: int
    level: float
    min_history: int
    n_folds: int
    seed: int
    n_threads: int


def forecast(
    panel: pd.DataFrame,
    target: str,
    horizon: int,
    interval_level: float,
    *,
    min_history: int = DEFAULT_MIN_HISTORY,
    n_folds: int = 4,
    seed: int = 0,
    n_threads: int = 1,
) -> ForecastResult:
    """Forecast ``target`` from a panel of it and its related series (see module doc)."""
    settings = _settings(horizon, interval_level, min_history, n_folds, seed, n_threads)
    arrays = to_panel_arrays(panel, include=(target,))
    return _forecast_rows(arrays, [arrays.row(target)], settings)[0]


def forecast_panel(
    panel: pd.DataFrame,
    horizon: int,
    interval_level: float,
    *,
    min_history: int = DEFAULT_MIN_HISTORY,
    n_folds: int = 4,
    seed: int = 0,
    n_threads: int = 1,
) -> dict[str, ForecastResult]:
    """Forecast every series of the panel from one global-model run."""
    settings = _settings(horizon, interval_level, min_history, n_folds, seed, n_threads)
    arrays = to_panel_arrays(panel)
    rows = list(range(len(arrays.series_ids)))
    return dict(zip(arrays.series_ids, _forecast_rows(arrays, rows, settings), strict=True))


def forecast_total(
    category_panel: pd.DataFrame,
    horizon: int,
    interval_level: float,
    *,
    min_history: int = DEFAULT_MIN_HISTORY,
    n_folds: int = 4,
    seed: int = 0,
    n_threads: int = 1,
) -> ForecastResult:
    """Forecast the total of the categories: direct or bottom-up, chosen by backtest."""
    settings = _settings(horizon, interval_level, min_history, n_folds, seed, n_threads)
    categories = to_panel_arrays(category_panel)
    arrays = _with_total(categories)
    total = arrays.row(TOTAL_ID)
    category_rows = [i for i in range(len(arrays.series_ids)) if i != total]
    methods = _methods(arrays, settings)
    if not methods[total].startswith(_GLOBAL):
        return _fallback_result(arrays, total, methods[total], settings)
    run = _GlobalRun.fit(arrays, methods, settings)
    direct = run.result(arrays, total, settings)
    bottom_up = run.bottom_up(arrays, total, category_rows, methods, settings)
    assert direct.backtest is not None and bottom_up.backtest is not None
    return bottom_up if bottom_up.backtest.mase < direct.backtest.mase else direct


# --- internals ------------------------------------------------------------------------

_GLOBAL = "lightgbm"


def _settings(
    horizon: int, level: float, min_history: int, n_folds: int, seed: int, n_threads: int
) -> _Settings:
    # Programming errors, not thin data: the service validates user input first.
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"interval_level must be in (0, 1), got {level}")
    if n_folds < 1 or n_threads < 1:
        raise ValueError("n_folds and n_threads must be >= 1")
    return _Settings(horizon, level, max(1, min_history), n_folds, seed, n_threads)


def _with_total(categories: PanelArrays) -> PanelArrays:
    total = categories.values.sum(axis=0, keepdims=True)
    flags = uplift_flags(total)
    return PanelArrays(
        (*categories.series_ids, TOTAL_ID),
        categories.dates,
        np.vstack([categories.values, total]),
        np.vstack([categories.uplift, flags]),
    )


def _panel_cutoffs(arrays: PanelArrays, settings: _Settings) -> tuple[int, ...]:
    return rolling_origins(
        arrays.values.shape[1], settings.horizon, settings.n_folds, MIN_TRAIN_DAYS
    )


def _methods(arrays: PanelArrays, settings: _Settings) -> list[str]:
    """The method each series gets, from its own history (see module doc)."""
    n_days = arrays.values.shape[1]
    cutoffs = _panel_cutoffs(arrays, settings)
    first = first_active_day(arrays.values)
    methods = []
    for row, start in zip(arrays.values, first, strict=True):
        active_days = n_days - start
        selling_days = int(np.count_nonzero(row))
        if selling_days == 0 or selling_days < INTERMITTENT_SHARE * active_days:
            methods.append(fallback.TSB)
        elif active_days < 7:
            methods.append(fallback.MOVING_AVERAGE)
        elif (
            active_days < settings.min_history
            or len(cutoffs) < min(settings.n_folds, 2)
            or cutoffs[0] - start < MIN_FOLD_HISTORY
        ):
            methods.append(fallback.SEASONAL_NAIVE)
        else:
            methods.append(_GLOBAL)
    return methods


def _forecast_rows(
    arrays: PanelArrays, rows: list[int], settings: _Settings
) -> list[ForecastResult]:
    methods = _methods(arrays, settings)
    run = None
    if any(methods[i] == _GLOBAL for i in rows):
        run = _GlobalRun.fit(arrays, methods, settings)
    results = []
    for i in rows:
        if methods[i] == _GLOBAL:
            assert run is not None
            results.append(run.result(arrays, i, settings))
        else:
            results.append(_fallback_result(arrays, i, methods[i], settings))
    return results


def _padded(values: np.ndarray) -> np.ndarray:
    """Values with the days before each series' first sale as NaN (unknown, not zero)."""
    out = values.astype(float, copy=True)
    first = first_active_day(values)
    out[np.arange(values.shape[1])[None, :] < first[:, None]] = np.nan
    return out


def _fallback_result(
    arrays: PanelArrays, i: int, method: str, settings: _Settings
) -> ForecastResult:
    """A local method on the series' own active history, backtested on its own folds."""
    row = arrays.values[i]
    start = int(first_active_day(row[None, :])[0])
    if start >= row.size:  # never sold: the whole window is its (zero) history
        start = 0
    active = row[start:][None, :]
    horizon = settings.horizon
    min_train = 7 if active.shape[1] > 7 else 1
    cutoffs = rolling_origins(active.shape[1], horizon, settings.n_folds, min_train)
    model = fallback.FALLBACKS[method]
    forecasts = np.stack([model(active[:, :c], horizon) for c in cutoffs]) if cutoffs else None
    final = model(active, horizon)[0]
    final_scale = seasonal_naive_scale(active[0])
    if forecasts is None:
        quantiles = StepQuantiles(np.full(horizon, np.nan), np.full(horizon, np.nan))
        return _result(arrays, i, method, final, quantiles.bounds(final, final_scale), None)
    actuals = fold_actuals(active, cutoffs, horizon)
    scales = fold_scales(active, cutoffs, np.zeros(1, dtype=int))
    pool = normalised_scores(actuals, forecasts, scales)
    baseline = np.stack([fallback.seasonal_naive(active[:, :c], horizon) for c in cutoffs])
    return _evaluated_result(
        arrays,
        i,
        method,
        settings,
        cutoffs,
        start,
        actuals[:, 0],
        forecasts[:, 0],
        baseline[:, 0],
        scales[:, 0],
        pool,
        final,
        final_scale,
    )


def _evaluated_result(
    arrays: PanelArrays,
    i: int,
    model: str,
    settings: _Settings,
    cutoffs: tuple[int, ...],
    offset: int,
    actual: np.ndarray,
    forecast_folds: np.ndarray,
    baseline: np.ndarray,
    scales: np.ndarray,
    pool: np.ndarray,
    final: np.ndarray,
    final_scale: float,
    lofo: list[StepQuantiles] | None = None,
    final_quantiles: StepQuantiles | None = None,
) -> ForecastResult:
    """Backtest summary with leave-one-fold-out intervals, plus the final forecast.

    ``pool`` (n_folds, n_rows, horizon) holds the calibration scores; callers
    that share one pool across many series pass its quantiles precomputed.
    """
    level = settings.level
    if lofo is None:
        lofo = _leave_one_fold_out(pool, level)
    if final_quantiles is None:
        final_quantiles = step_quantiles(pool, level)
    lower = np.empty_like(forecast_folds)
    upper = np.empty_like(forecast_folds)
    for k, quantiles in enumerate(lofo):
        lower[k], upper[k] = quantiles.bounds(forecast_folds[k], scales[k])
    cutoff_dates = tuple(arrays.dates[offset + c].date() for c in cutoffs)
    summary = summarize(
        actual, forecast_folds, baseline, scales, lower, upper, settings.horizon, cutoff_dates
    )
    bounds = final_quantiles.bounds(final, final_scale)
    return _result(arrays, i, model, final, bounds, summary)


def _leave_one_fold_out(pool: np.ndarray, level: float) -> list[StepQuantiles]:
    n_folds, horizon = pool.shape[0], pool.shape[-1]
    if n_folds == 1:
        return [StepQuantiles(np.full(horizon, np.nan), np.full(horizon, np.nan))]
    return [step_quantiles(np.delete(pool, k, axis=0), level) for k in range(n_folds)]


def _result(
    arrays: PanelArrays,
    i: int,
    model: str,
    final: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray],
    backtest: BacktestSummary | None,
) -> ForecastResult:
    lower, upper = bounds
    point = np.clip(final, 0.0, None)
    last = arrays.dates[-1]
    days = _calendar_days(arrays.dates[0].date(), len(arrays.dates))
    history = tuple(map(SeriesPoint, days, arrays.values[i].tolist()))
    points = tuple(
        ForecastPoint(
            (last + pd.Timedelta(days=h + 1)).date(),
            float(point[h]),
            float(min(lower[h], point[h])),
            float(max(upper[h], point[h])),
        )
        for h in range(point.size)
    )
    return ForecastResult(model, history, points, backtest)


@lru_cache(maxsize=8)
def _calendar_days(first: date, n_days: int) -> tuple[date, ...]:
    # Converting 700 timestamps per series adds up over a 500-series panel.
    return tuple(first + timedelta(days=k) for k in range(n_days))


@dataclass(frozen=True)
class _GlobalRun:
    """One global model per fold (both objectives) plus a final fit with the winner."""

    objective: str
    cutoffs: tuple[int, ...]
    fold_forecasts: np.ndarray  # (n_folds, n_series, horizon), winning objective
    final: np.ndarray  # (n_series, horizon)
    actuals: np.ndarray  # (n_folds, n_series, horizon)
    scales: np.ndarray  # (n_folds, n_series)
    final_scales: np.ndarray  # (n_series,)
    baseline: np.ndarray  # (n_folds, n_series, horizon)
    pool_rows: np.ndarray  # indices of the series the global model answers for
    lofo: list[StepQuantiles]
    final_quantiles: StepQuantiles

    @property
    def model_name(self) -> str:
        return f"{_GLOBAL}-{self.objective}-global"

    @classmethod
    def fit(cls, arrays: PanelArrays, methods: list[str], settings: _Settings) -> _GlobalRun:
        horizon = settings.horizon
        cutoffs = _panel_cutoffs(arrays, settings)
        configs = tuple(config_for(o, settings.seed, settings.n_threads) for o in OBJECTIVES)
        by_objective: dict[str, list[np.ndarray]] = {o: [] for o in OBJECTIVES}
        for cutoff in cutoffs:
            for objective, predicted in fit_and_forecast(arrays, cutoff, horizon, configs).items():
                by_objective[objective].append(predicted)
        first = first_active_day(arrays.values)
        actuals = fold_actuals(arrays.values, cutoffs, horizon)
        scales = fold_scales(arrays.values, cutoffs, first)
        pool_rows = np.array([i for i, m in enumerate(methods) if m == _GLOBAL], dtype=int)

        def panel_mase(folds: np.ndarray) -> float:
            mae = np.nanmean(np.abs(actuals - folds), axis=2) / scales
            return float(np.mean(mae[:, pool_rows]))

        stacked = {o: np.stack(f) for o, f in by_objective.items()}
        # Ties go to the first objective (tweedie), so the choice is deterministic.
        objective = min(OBJECTIVES, key=lambda o: panel_mase(stacked[o]))
        fold_forecasts = stacked[objective]
        n_days = arrays.values.shape[1]
        final_config = config_for(objective, settings.seed, settings.n_threads)
        final = fit_and_forecast(arrays, n_days, horizon, (final_config,))[objective]
        final_scales = np.array(
            [seasonal_naive_scale(row[s:]) for row, s in zip(arrays.values, first, strict=True)]
        )
        baseline = np.stack(
            [fallback.seasonal_naive(arrays.values[:, :c], horizon) for c in cutoffs]
        )
        pool = normalised_scores(actuals, fold_forecasts, scales)[:, pool_rows]
        return cls(
            objective,
            cutoffs,
            fold_forecasts,
            final,
            actuals,
            scales,
            final_scales,
            baseline,
            pool_rows,
            _leave_one_fold_out(pool, settings.level),
            step_quantiles(pool, settings.level),
        )

    def result(self, arrays: PanelArrays, i: int, settings: _Settings) -> ForecastResult:
        return _evaluated_result(
            arrays,
            i,
            self.model_name,
            settings,
            self.cutoffs,
            0,
            self.actuals[:, i],
            self.fold_forecasts[:, i],
            self.baseline[:, i],
            self.scales[:, i],
            np.empty(0),
            self.final[i],
            float(self.final_scales[i]),
            lofo=self.lofo,
            final_quantiles=self.final_quantiles,
        )

    def bottom_up(
        self,
        arrays: PanelArrays,
        total: int,
        parts: list[int],
        methods: list[str],
        settings: _Settings,
    ) -> ForecastResult:
        """The total as the sum of its parts' forecasts, scored on the same folds."""
        horizon = settings.horizon
        fold_parts = self.fold_forecasts[:, parts].copy()
        final_parts = self.final[parts].copy()
        padded = _padded(arrays.values)
        for j, row in enumerate(parts):
            if methods[row] != _GLOBAL:  # a thin part keeps its own method
                model = fallback.FALLBACKS[methods[row]]
                for k, cutoff in enumerate(self.cutoffs):
                    fold_parts[k, j] = model(padded[row, :cutoff], horizon)[0]
                final_parts[j] = model(padded[row], horizon)[0]
        fold_sum = fold_parts.sum(axis=1)
        actual = self.actuals[:, total]
        scales = self.scales[:, total]
        own = normalised_scores(actual, fold_sum, scales)[:, None, :]
        peers = normalised_scores(self.actuals, self.fold_forecasts, self.scales)
        peer_rows = [r for r in self.pool_rows if r != total]
        pool = np.concatenate([peers[:, peer_rows], own], axis=1)
        return _evaluated_result(
            arrays,
            total,
            f"{self.model_name}-bottom-up",
            settings,
            self.cutoffs,
            0,
            actual,
            fold_sum,
            self.baseline[:, total],
            scales,
            pool,
            final_parts.sum(axis=0),
            float(self.final_scales[total]),
        )
