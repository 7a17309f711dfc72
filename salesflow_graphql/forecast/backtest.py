"""Rolling-origin backtest: where the folds are and what a series' folds score.

A *cutoff* is the column index of a fold's first test day: the model sees
days ``[0, cutoff)`` and is scored on ``[cutoff, cutoff + horizon)``. Test
days past the end of the history are NaN and simply not scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from .fallback import seasonal_naive
from .metrics import interval_coverage, mase, seasonal_naive_scale, smape


@dataclass(frozen=True)
class BacktestSummary:
    """How the method that answered did on rolling-origin folds before the last day.

    ``mase`` and ``baseline_mase`` are the mean over folds of each fold's MAE
    divided by the in-sample seasonal-naive (period 7) MAE before that fold's
    cutoff; the baseline is seasonal naive on the same folds. ``smape`` is a
    fraction (0–2). ``interval_coverage`` is measured with leave-one-fold-out
    calibrated intervals at the requested level. ``cutoffs`` are the first
    test day of each fold.
    """

    folds: int
    horizon_days: int
    mase: float
    smape: float
    baseline_mase: float
    interval_coverage: float
    cutoffs: tuple[date, ...] = ()


def rolling_origins(n_days: int, horizon: int, n_folds: int, min_train: int) -> tuple[int, ...]:
    """Cutoffs of ``n_folds`` folds, the last one ending on the last day.

    Prefers non-overlapping windows (step = horizon); when the history is too
    short it shrinks the step (overlapping windows), and when even that is
    impossible it uses consecutive cutoffs from ``min_train`` whose last
    windows are truncated at the end of the history. Returns fewer folds only
    when fewer than ``n_folds`` days lie after ``min_train``; empty when no
    day does.
    """
    min_train = max(1, min_train)
    if n_days - 1 < min_train:
        return ()
    end = max(min_train, n_days - horizon)
    if n_folds == 1:
        return (end,)
    step = min(horizon, (end - min_train) // (n_folds - 1))
    if step >= 1:
        return tuple(end - (n_folds - 1 - k) * step for k in range(n_folds))
    return tuple(range(min_train, min(n_days, min_train + n_folds)))


def fold_actuals(values: np.ndarray, cutoffs: tuple[int, ...], horizon: int) -> np.ndarray:
    """Actual values of each fold's test window, (n_folds, n_series, horizon), NaN past the end."""
    n_series, n_days = values.shape
    out = np.full((len(cutoffs), n_series, horizon), np.nan)
    for k, cutoff in enumerate(cutoffs):
        stop = min(n_days, cutoff + horizon)
        out[k, :, : stop - cutoff] = values[:, cutoff:stop]
    return out


def fold_scales(
    values: np.ndarray, cutoffs: tuple[int, ...], first_active: np.ndarray
) -> np.ndarray:
    """MASE scale of each series before each cutoff, (n_folds, n_series).

    Measured from the series' first sale: the zeros before a launch are not
    the series' behaviour and would shrink its scale.
    """
    rows = list(zip(values, first_active, strict=True))
    return np.array(
        [[seasonal_naive_scale(row[start:cutoff]) for row, start in rows] for cutoff in cutoffs]
    ).reshape(len(cutoffs), values.shape[0])


def seasonal_naive_folds(values: np.ndarray, cutoffs: tuple[int, ...], horizon: int) -> np.ndarray:
    """The baseline: seasonal naive (period 7) at each cutoff, (n_folds, n_series, horizon)."""
    return (
        np.stack([seasonal_naive(values[:, :c], horizon) for c in cutoffs])
        if cutoffs
        else (np.zeros((0, values.shape[0], horizon)))
    )


def summarize(
    actual: np.ndarray,
    forecast: np.ndarray,
    baseline: np.ndarray,
    scales: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    horizon: int,
    cutoff_dates: tuple[date, ...],
) -> BacktestSummary:
    """Score one series' folds; every array is (n_folds, horizon), ``scales`` (n_folds,)."""
    folds = actual.shape[0]
    return BacktestSummary(
        folds=folds,
        horizon_days=horizon,
        mase=float(np.mean([mase(actual[k], forecast[k], scales[k]) for k in range(folds)])),
        smape=smape(actual, forecast),
        baseline_mase=float(
            np.mean([mase(actual[k], baseline[k], scales[k]) for k in range(folds)])
        ),
        interval_coverage=interval_coverage(actual, lower, upper),
        cutoffs=cutoff_dates,
    )
