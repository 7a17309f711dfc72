"""Simple local forecasters for series too thin or too sparse for the global model.

Each takes a history (one series as 1-D, or many as rows of a 2-D array,
oldest day first) and returns non-negative forecasts of shape
(n_series, horizon). NaN marks days before a series existed (before a
product's first sale) and is ignored. None of them raises on thin data: an
empty history forecasts 0.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

SEASONAL_NAIVE = "seasonal-naive"
MOVING_AVERAGE = "moving-average"
TSB = "tsb"


def seasonal_naive(history: ArrayLike, horizon: int, period: int = 7) -> np.ndarray:
    """Repeat the last full season; with less than one season, the moving average."""
    y = _as_rows(history)
    if y.shape[1] < period:
        return moving_average(y, horizon)
    last_season = np.nan_to_num(y[:, -period:])
    reps = -(-horizon // period)
    return np.clip(np.tile(last_season, reps)[:, :horizon], 0.0, None)


def moving_average(history: ArrayLike, horizon: int, window: int = 28) -> np.ndarray:
    """Flat forecast at the mean of the last `window` days (all days if fewer)."""
    y = _as_rows(history)
    if y.shape[1] == 0:
        return np.zeros((y.shape[0], horizon))
    recent = y[:, -window:]
    known = np.isfinite(recent)
    count = known.sum(axis=1)
    total = np.where(known, recent, 0.0).sum(axis=1)
    level = np.divide(total, count, out=np.zeros(y.shape[0]), where=count > 0)
    return np.repeat(np.clip(level, 0.0, None)[:, None], horizon, axis=1)


def tsb(
    history: ArrayLike,
    horizon: int,
    alpha_probability: float = 0.1,
    alpha_size: float = 0.1,
) -> np.ndarray:
    """Teunter–Syntetos–Babai forecast for intermittent demand.

    Unlike Croston, TSB updates the demand probability every day (not only on
    demand days), so a product that stopped selling decays towards 0 instead
    of keeping its last rate forever. The forecast is flat:
    probability x size. Initial states are the history means so a short
    history is not dominated by an arbitrary start value.
    """
    y = _as_rows(history)
    n_series, n_days = y.shape
    if n_days == 0:
        return np.zeros((n_series, horizon))
    known = np.isfinite(y)
    occurred = known & (np.nan_to_num(y) > 0)
    known_days = known.sum(axis=1)
    demand_days = occurred.sum(axis=1)
    probability = np.divide(demand_days, known_days, out=np.zeros(n_series), where=known_days > 0)
    size = np.divide(
        np.nansum(y, axis=1), demand_days, out=np.zeros(n_series), where=demand_days > 0
    )
    # One vectorised pass over days, all series at once; unknown days change nothing.
    for day in range(n_days):
        hit = occurred[:, day]
        step = np.where(known[:, day], alpha_probability, 0.0)
        probability += step * (hit - probability)
        size = np.where(hit, size + alpha_size * (np.nan_to_num(y[:, day]) - size), size)
    level = np.clip(probability * size, 0.0, None)
    return np.repeat(level[:, None], horizon, axis=1)


FALLBACKS = {SEASONAL_NAIVE: seasonal_naive, MOVING_AVERAGE: moving_average, TSB: tsb}


def at_cutoffs(
    method: str, history: ArrayLike, cutoffs: tuple[int, ...], horizon: int
) -> np.ndarray:
    """``method`` fitted on ``history[:c]`` for each cutoff ``c``, shape (len(cutoffs), horizon).

    TSB runs all cutoffs in one pass: a history cut at ``c`` and padded with
    NaN (unknown days, which change nothing) gives exactly the same forecast,
    and a backtest can have 32 folds.
    """
    y = np.asarray(history, dtype=float).ravel()
    if not cutoffs:
        return np.zeros((0, horizon))
    if method == TSB:
        end = max(cutoffs)
        rows = np.repeat(y[None, :end], len(cutoffs), axis=0)
        rows[np.arange(end)[None, :] >= np.asarray(cutoffs)[:, None]] = np.nan
        return tsb(rows, horizon)
    model = FALLBACKS[method]
    return np.stack([model(y[:c], horizon)[0] for c in cutoffs])


def _as_rows(history: ArrayLike) -> np.ndarray:
    y = np.asarray(history, dtype=float)
    return y[None, :] if y.ndim == 1 else y
