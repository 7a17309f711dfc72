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

Backtest and intervals: at least ``n_folds`` rolling origins of ``horizon``
days, more when the history allows (``backtest.plan``: up to 32 weeks of
folds; 16 folds at the API's defaults); each fold's forecast comes from a
model trained only on days before its cutoff (neighbouring folds may share
one, ``backtest.fit_schedule``). Intervals are split-conformal per horizon
step with a per-series, coverage-calibrated scale (``conformal``); the
reported coverage is nested leave-one-fold-out, never in-sample, and the
real forecast's intervals come from the same procedure on all folds. A
series is scored only on folds where it had sold for ``MIN_FOLD_HISTORY``
days before the cutoff. Thin data never raises: one day of history answers
with a moving average, and below two days (no fold possible) ``backtest``
is None.

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
    MAX_FITS,
    ROW_BUDGET,
    BacktestSummary,
    fit_schedule,
    fold_actuals,
    fold_scales,
    plan,
    summarize,
)
from .conformal import Calibration, StepQuantiles, nested, normalised_scores
from .features import PanelArrays, first_active_day, to_panel_arrays, uplift_flags
from .metrics import seasonal_naive_scale
from .model import OBJECTIVES, config_for, fit_and_forecast, fit_and_forecast_origins, training_rows

DEFAULT_MIN_HISTORY = 56
#: Days of panel history before the first backtest cutoff of the global model.
MIN_TRAIN_DAYS = 28
#: Days a series must have been selling before a fold's cutoff to be scored on it; a series
#: needs it before the first of the last ``n_folds`` folds to be forecast by the global model.
MIN_FOLD_HISTORY = 14
#: The objective is chosen on the folds of the last this-many backtest fits (both objectives
#: train there); the winner alone trains for the older folds.
SELECTION_FITS = 2
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
    return plan(arrays.values.shape[1], settings.horizon, settings.n_folds, MIN_TRAIN_DAYS)


def _methods(arrays: PanelArrays, settings: _Settings) -> list[str]:
    """The method each series gets, from its own history (see module doc)."""
    n_days = arrays.values.shape[1]
    cutoffs = _panel_cutoffs(arrays, settings)
    # The extra folds beyond n_folds are a bonus: a series young for them still goes global.
    first_scored = cutoffs[max(0, len(cutoffs) - settings.n_folds)] if cutoffs else 0
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
            or first_scored - start < MIN_FOLD_HISTORY
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
    cutoffs = plan(active.shape[1], horizon, settings.n_folds, min_train)
    model = fallback.FALLBACKS[method]
    final = model(active, horizon)[0]
    final_scale = seasonal_naive_scale(active[0])
    if not cutoffs:
        bounds = StepQuantiles.unknown(horizon).bounds(final, final_scale)
        return _result(arrays, i, method, final, bounds, None)
    forecasts = fallback.at_cutoffs(method, active[0], cutoffs, horizon)[:, None, :]
    actuals = fold_actuals(active, cutoffs, horizon)
    scales = fold_scales(active, cutoffs, np.zeros(1, dtype=int))
    held_out, calibration = nested(normalised_scores(actuals, forecasts, scales), settings.level)
    baseline = fallback.at_cutoffs(fallback.SEASONAL_NAIVE, active[0], cutoffs, horizon)
    return _evaluated_result(
        arrays,
        i,
        method,
        settings,
        tuple(start + c for c in cutoffs),
        actuals[:, 0],
        forecasts[:, 0],
        baseline,
        scales[:, 0],
        [c.quantiles(0) for c in held_out],
        final,
        final_scale,
        calibration.quantiles(0),
    )


def _evaluated_result(
    arrays: PanelArrays,
    i: int,
    model: str,
    settings: _Settings,
    cutoffs: tuple[int, ...],
    actual: np.ndarray,
    forecast_folds: np.ndarray,
    baseline: np.ndarray,
    scales: np.ndarray,
    held_out: list[StepQuantiles],
    final: np.ndarray,
    final_scale: float,
    final_quantiles: StepQuantiles,
) -> ForecastResult:
    """Backtest summary with nested leave-one-fold-out intervals, plus the final forecast.

    Fold arrays are (n_folds, horizon) for this series' scored folds;
    ``cutoffs`` are their column indices in the panel and ``held_out[k]``
    the interval calibrated without fold ``k``.
    """
    lower = np.empty_like(forecast_folds)
    upper = np.empty_like(forecast_folds)
    for k, quantiles in enumerate(held_out):
        lower[k], upper[k] = quantiles.bounds(forecast_folds[k], scales[k])
    cutoff_dates = tuple(arrays.dates[c].date() for c in cutoffs)
    summary = summarize(
        actual, forecast_folds, baseline, scales, lower, upper, settings.horizon, cutoff_dates
    )
    bounds = final_quantiles.bounds(final, final_scale)
    return _result(arrays, i, model, final, bounds, summary)


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
    """The global model's backtest folds (winning objective), its final fit and intervals."""

    objective: str
    cutoffs: tuple[int, ...]
    fold_forecasts: np.ndarray  # (n_folds, n_series, horizon), winning objective
    final: np.ndarray  # (n_series, horizon)
    actuals: np.ndarray  # (n_folds, n_series, horizon)
    scales: np.ndarray  # (n_folds, n_series)
    final_scales: np.ndarray  # (n_series,)
    baseline: np.ndarray  # (n_folds, n_series, horizon)
    scored: np.ndarray  # (n_folds, n_series) bool: the series is scored on the fold
    pool_rows: np.ndarray  # indices of the series the global model answers for
    held_out: list[Calibration]  # per fold, over pool_rows
    calibration: Calibration  # all folds, over pool_rows

    @property
    def model_name(self) -> str:
        return f"{_GLOBAL}-{self.objective}-global"

    @classmethod
    def fit(cls, arrays: PanelArrays, methods: list[str], settings: _Settings) -> _GlobalRun:
        horizon = settings.horizon
        n_series, n_days = arrays.values.shape
        cutoffs = _panel_cutoffs(arrays, settings)
        first = first_active_day(arrays.values)
        actuals = fold_actuals(arrays.values, cutoffs, horizon)
        scales = fold_scales(arrays.values, cutoffs, first)
        pool_rows = np.array([i for i, m in enumerate(methods) if m == _GLOBAL], dtype=int)
        scored = (np.array(cutoffs)[:, None] - first[None, :]) >= MIN_FOLD_HISTORY

        configs = {o: config_for(o, settings.seed, settings.n_threads) for o in OBJECTIVES}
        rows = training_rows(n_series, n_days, configs[OBJECTIVES[0]])
        max_fits = min(MAX_FITS, max(SELECTION_FITS, ROW_BUDGET // rows - SELECTION_FITS))
        groups = fit_schedule(len(cutoffs), max_fits)
        forecasts = {o: np.full((len(cutoffs), n_series, horizon), np.nan) for o in OBJECTIVES}

        def run(group: list[int], objectives: tuple[str, ...]) -> None:
            origins = tuple(cutoffs[k] for k in group)
            chosen = tuple(configs[o] for o in objectives)
            for o, predicted in fit_and_forecast_origins(
                arrays, origins[0], origins, horizon, chosen
            ).items():
                forecasts[o][group] = predicted

        selection = groups[-SELECTION_FITS:]
        for group in selection:
            run(group, OBJECTIVES)
        compared = [k for group in selection for k in group]

        def panel_mase(folds: np.ndarray) -> float:
            mae = np.nanmean(np.abs(actuals[compared] - folds[compared]), axis=2) / scales[compared]
            mae = np.where(scored[compared], mae, np.nan)[:, pool_rows]
            return float(np.nanmean(mae)) if np.isfinite(mae).any() else 0.0

        # Ties go to the first objective (tweedie), so the choice is deterministic.
        objective = min(OBJECTIVES, key=lambda o: panel_mase(forecasts[o]))
        for group in groups[: len(groups) - len(selection)]:
            run(group, (objective,))
        fold_forecasts = forecasts[objective]
        final = fit_and_forecast(arrays, n_days, horizon, (configs[objective],))[objective]
        final_scales = np.array(
            [seasonal_naive_scale(row[s:]) for row, s in zip(arrays.values, first, strict=True)]
        )
        baseline = np.stack(
            [fallback.seasonal_naive(arrays.values[:, :c], horizon) for c in cutoffs]
        )
        pool = normalised_scores(actuals, fold_forecasts, scales)
        pool = np.where(scored[:, :, None], pool, np.nan)[:, pool_rows]
        held_out, calibration = nested(pool, settings.level)
        return cls(
            objective,
            cutoffs,
            fold_forecasts,
            final,
            actuals,
            scales,
            final_scales,
            baseline,
            scored,
            pool_rows,
            held_out,
            calibration,
        )

    def result(self, arrays: PanelArrays, i: int, settings: _Settings) -> ForecastResult:
        row = int(np.searchsorted(self.pool_rows, i))
        folds = np.flatnonzero(self.scored[:, i])
        return _evaluated_result(
            arrays,
            i,
            self.model_name,
            settings,
            tuple(self.cutoffs[k] for k in folds),
            self.actuals[folds, i],
            self.fold_forecasts[folds, i],
            self.baseline[folds, i],
            self.scales[folds, i],
            [self.held_out[k].quantiles(row) for k in folds],
            self.final[i],
            float(self.final_scales[i]),
            self.calibration.quantiles(row),
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
                fold_parts[:, j] = fallback.at_cutoffs(
                    methods[row], padded[row], self.cutoffs, horizon
                )
                final_parts[j] = fallback.FALLBACKS[methods[row]](padded[row], horizon)[0]
        folds = np.flatnonzero(self.scored[:, total])
        fold_sum = fold_parts.sum(axis=1)[folds]
        actual = self.actuals[folds, total]
        scales = self.scales[folds, total]
        own = normalised_scores(actual, fold_sum, scales)[:, None, :]
        peers = normalised_scores(self.actuals, self.fold_forecasts, self.scales)
        peers = np.where(self.scored[:, :, None], peers, np.nan)[folds]
        peer_rows = [r for r in self.pool_rows if r != total]
        pool = np.concatenate([peers[:, peer_rows], own], axis=1)
        held_out, calibration = nested(pool, settings.level)
        last = pool.shape[1] - 1
        return _evaluated_result(
            arrays,
            total,
            f"{self.model_name}-bottom-up",
            settings,
            tuple(self.cutoffs[k] for k in folds),
            actual,
            fold_sum,
            self.baseline[folds, total],
            scales,
            [c.quantiles(last) for c in held_out],
            final_parts.sum(axis=0),
            float(self.final_scales[total]),
            calibration.quantiles(last),
        )
