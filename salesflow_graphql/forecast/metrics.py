"""Point and interval accuracy metrics used by the backtest.

All functions take plain arrays, ignore NaN positions (a truncated fold leaves
NaN past the end of the history) and return plain floats.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

SEASON_DAYS = 7


def seasonal_naive_scale(history: ArrayLike, period: int = SEASON_DAYS) -> float:
    """In-sample MAE of the seasonal-naive forecast: the MASE denominator.

    Thin or flat histories would make the textbook scale 0 or undefined, and a
    forecast must never fail on thin data, so the scale degrades in steps:
    seasonal naive (needs period + 1 days), then lag-1 naive, then mean |y|,
    then 1.0. A scale of exactly 0 is never returned.
    """
    y = np.asarray(history, dtype=float)
    y = y[np.isfinite(y)]
    for lag in (period, 1):
        if y.size > lag:
            scale = float(np.mean(np.abs(y[lag:] - y[:-lag])))
            if scale > 0:
                return scale
    mean_abs = float(np.mean(np.abs(y))) if y.size else 0.0
    return mean_abs if mean_abs > 0 else 1.0


def mean_absolute_error(actual: ArrayLike, forecast: ArrayLike) -> float:
    """MAE over the positions where the actual value is known."""
    a, f = _aligned(actual, forecast)
    return float(np.mean(np.abs(a - f))) if a.size else 0.0


def mase(actual: ArrayLike, forecast: ArrayLike, scale: float) -> float:
    """Mean absolute scaled error: MAE divided by a positive in-sample scale."""
    return mean_absolute_error(actual, forecast) / scale


def smape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Mean of 2|y − ŷ| / (|y| + |ŷ|), a fraction in [0, 2].

    Points where both y and ŷ are 0 are perfect and undefined, so they are
    left out; when every point is such a point the answer is 0.0.
    """
    a, f = _aligned(actual, forecast)
    denominator = np.abs(a) + np.abs(f)
    keep = denominator > 0
    if not keep.any():
        return 0.0
    return float(np.mean(2.0 * np.abs(a[keep] - f[keep]) / denominator[keep]))


def interval_coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of known actual values inside [lower, upper] (1.0 when none is known)."""
    a = np.asarray(actual, dtype=float).ravel()
    lo = np.asarray(lower, dtype=float).ravel()
    hi = np.asarray(upper, dtype=float).ravel()
    known = np.isfinite(a)
    if not known.any():
        return 1.0
    inside = (a[known] >= lo[known]) & (a[known] <= hi[known])
    return float(np.mean(inside))


def _aligned(actual: ArrayLike, forecast: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype=float).ravel()
    f = np.asarray(forecast, dtype=float).ravel()
    known = np.isfinite(a) & np.isfinite(f)
    return a[known], f[known]
