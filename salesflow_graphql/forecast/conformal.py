"""Split-conformal prediction intervals per horizon step, from backtest residuals.

Scores are *normalised* signed residuals ``(y - ŷ) / s`` where ``s`` is the
series' in-sample seasonal-naive MAE before the fold's cutoff (the MASE
scale). Normalising makes residuals of a slow product and of a whole
category comparable, so the global model's intervals can pool the scores of
every series it forecast, which gives enough points per horizon step even
with 4 folds. Signed (not absolute) scores keep the intervals asymmetric,
as count data are.

Per step ``h`` the pool is the scores at step ``h``; when it holds fewer
than ``min_points`` finite scores it widens to steps ``h±1``, ``h±2``, …
(the neighbouring steps have nearly the same error), up to all steps.

Honesty of the reported coverage: the coverage of fold ``k`` is measured
with quantiles computed *without* fold ``k`` (leave-one-fold-out), so no
interval is judged on the residuals that calibrated it. The intervals of the
real forecast use all folds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StepQuantiles:
    """Lower (<= 0) and upper (>= 0) normalised score quantiles, one per horizon step.

    NaN where no score was available (no calibration possible).
    """

    lower: np.ndarray
    upper: np.ndarray

    def bounds(self, point: np.ndarray, scale: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Interval around ``point`` (..., horizon), clipped at 0, with lower <= point <= upper.

        Uncalibrated steps get the widest honest answer we can give without
        residuals: [0, 2 x point], and [0, 0] around a zero forecast.
        """
        scale = np.asarray(scale, dtype=float)
        if scale.ndim:
            scale = scale[..., None]
        lower = point + np.nan_to_num(self.lower, nan=-np.inf) * scale
        upper = point + np.nan_to_num(self.upper, nan=0.0) * scale
        upper = np.where(np.isnan(self.upper), 2.0 * point, upper)
        lower = np.clip(np.minimum(lower, point), 0.0, None)
        upper = np.maximum(upper, point)
        return lower, upper


def normalised_scores(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(y - ŷ) / s with ``scale`` broadcast over the horizon axis (last axis)."""
    return (actual - forecast) / scale[..., None]


def minimum_pool(level: float) -> int:
    """Scores needed per step before widening: ~4 beyond each tail's quantile."""
    return max(30, math.ceil(8.0 / (1.0 - level)))


def step_quantiles(scores: np.ndarray, level: float) -> StepQuantiles:
    """Conformal quantiles per step from ``scores`` of shape (n_rows, horizon); NaN = unknown.

    Finite-sample ranks: upper = ⌈(n+1)(1-α/2)⌉-th smallest, lower =
    ⌊(n+1)α/2⌋-th smallest; when the pool is too small for that rank the
    extreme score is used (the interval then can under-cover slightly, which
    the backtest's coverage shows).
    """
    alpha = 1.0 - level
    rows = scores.reshape(-1, scores.shape[-1])
    horizon = rows.shape[1]
    needed = minimum_pool(level)
    lower = np.full(horizon, np.nan)
    upper = np.full(horizon, np.nan)
    for step in range(horizon):
        for width in range(horizon):
            pool = rows[:, max(0, step - width) : step + width + 1]
            pool = pool[np.isfinite(pool)]
            if pool.size >= needed or (step - width <= 0 and step + width >= horizon - 1):
                break
        if pool.size == 0:
            continue
        ordered = np.sort(pool)
        n = ordered.size
        # The epsilon keeps 1 - 0.9 = 0.0999… from moving a rank by one.
        high_rank = min(n, math.ceil((n + 1) * (1.0 - alpha / 2.0) - 1e-9))
        low_rank = max(1, math.floor((n + 1) * (alpha / 2.0) + 1e-9))
        lower[step] = min(0.0, ordered[low_rank - 1])
        upper[step] = max(0.0, ordered[high_rank - 1])
    return StepQuantiles(lower, upper)


def leave_one_fold_out_bounds(
    pool_scores: np.ndarray,
    forecasts: np.ndarray,
    scales: np.ndarray,
    level: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Backtest intervals where fold ``k`` is calibrated on the other folds only.

    ``pool_scores``: (n_folds, n_pool_rows, horizon) scores of the calibration
    pool; ``forecasts``: (n_folds, horizon) of the series being evaluated;
    ``scales``: (n_folds,). With a single fold nothing is left to calibrate
    on, so that fold gets the uncalibrated interval.
    """
    n_folds, horizon = forecasts.shape
    lower = np.empty_like(forecasts)
    upper = np.empty_like(forecasts)
    for fold in range(n_folds):
        others = np.delete(pool_scores, fold, axis=0)
        if others.size:
            quantiles = step_quantiles(others, level)
        else:
            quantiles = StepQuantiles(np.full(horizon, np.nan), np.full(horizon, np.nan))
        lower[fold], upper[fold] = quantiles.bounds(forecasts[fold], scales[fold])
    return lower, upper
