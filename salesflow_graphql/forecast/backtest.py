"""Rolling-origin backtest: where the folds are and what a series' folds score.

A *cutoff* is the column index of a fold's first test day: the model sees
days ``[0, cutoff)`` and is scored on ``[cutoff, cutoff + horizon)``. Test
days past the end of the history are NaN and simply not scored.

How many folds (``plan``)
    At least the ``n_folds`` asked for (4 by default), and more when the
    history allows: enough non-overlapping windows of ``horizon`` days to
    cover ``BACKTEST_DAYS`` (32 weeks), at most ``MAX_FOLDS``, while the
    first extra fold still trains on ``FIRST_TRAIN_DAYS``. With the API's
    defaults (365 days of history) that is 16 folds of 14 days, 32 of 7 and 8
    of 28. The intervals need it. The days of one fold share its weather
    (a season ramping up, a promotion, the shop's growth), so its misses come
    together: on the demo shop, the 14 days before 2026-11-26 (the ramp into
    the Christmas peak) held 7 of TOTAL's misses at level 0.9. With 4 folds
    such a fold is a quarter of the reported coverage and three quarters of
    the calibration never saw anything like it; what counts is how many
    distinct weeks the calibration has seen, not how many points. 32 weeks
    rather than 24 because 6 folds of 28 days still left TOTAL short at 0.8.
    Extra folds train on less history than the final model, so they err
    on the wide side.

How many models (``fit_schedule``)
    Training is the cost, so consecutive folds share one fit when there are
    more folds than ``MAX_FITS``, or more than a row budget allows for a big
    panel: each group of folds uses the model trained at its first cutoff,
    which forecasts the later folds of its group from their own origins
    (reading only days before each origin). A shared model is a little
    staler than the final one, so its errors, and the intervals made from
    them, err on the wide side; the backtest reports exactly what ran.
"""

from __future__ import annotations

import math
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
    fraction (0–2). ``interval_coverage`` is measured with intervals at the
    requested level calibrated without the fold they are scored on (nested
    leave-one-fold-out, ``conformal.nested``). ``cutoffs`` are the first test
    day of each fold the series was scored on.
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


#: Days the backtest aims to cover (more folds than ``n_folds`` when the history allows).
BACKTEST_DAYS = 224
#: At most this many folds, whatever the horizon.
MAX_FOLDS = 32
#: An extra fold (beyond ``n_folds``) must leave this many days of training before it.
FIRST_TRAIN_DAYS = 112
#: At most this many model fits per objective for the backtest's folds.
MAX_FITS = 8
#: Training rows the backtest's fits may use together; a big panel shares fits sooner.
ROW_BUDGET = 600_000


def plan(n_days: int, horizon: int, n_folds: int, min_train: int) -> tuple[int, ...]:
    """Cutoffs of the backtest: at least ``n_folds``, more when the history allows (module doc)."""
    wanted = max(n_folds, min(MAX_FOLDS, math.ceil(BACKTEST_DAYS / horizon)))
    first_train = max(min_train, FIRST_TRAIN_DAYS)
    room = (n_days - horizon - first_train) // horizon + 1 if n_days - horizon >= first_train else 0
    return rolling_origins(n_days, horizon, max(n_folds, min(wanted, room)), min_train)


def fit_schedule(n_cutoffs: int, max_fits: int) -> list[list[int]]:
    """Groups of consecutive fold indices that share one fit (at the group's first cutoff).

    ``max_fits`` >= 1 groups at most, as equal as possible, earlier groups larger.
    """
    if n_cutoffs == 0:
        return []
    groups = min(n_cutoffs, max(1, max_fits))
    return [chunk.tolist() for chunk in np.array_split(np.arange(n_cutoffs), groups)]


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
