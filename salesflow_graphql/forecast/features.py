"""Panel preparation and the features of the global model.

Every feature of day ``t`` reads only days strictly before ``t`` (the
calendar features read only the date of ``t`` itself). That one rule is what
makes the backtest honest and the recursive forecast possible: the features
of a fold's training rows are the same whatever happens at or after its
cutoff (``tests/test_forecast_features.py`` proves it by perturbing the future).

Level features (lags, rolling means and stds) are computed on values already
divided by a per-series scale, so one model serves series of any size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

LAGS = (1, 2, 3, 7, 14, 21, 28, 364)
MEAN_WINDOWS = (7, 14, 28, 56)
STD_WINDOWS = (7, 28)
UPLIFT_WINDOW = 28
UPLIFT_FACTOR = 2.0
YEAR_AGO_FROM, YEAR_AGO_TO = 367, 360  # the week centred on lag 364
#: The deepest day any lag feature reads, counted back from the target day.
LOOKBACK_DAYS = max(*LAGS, *MEAN_WINDOWS, YEAR_AGO_FROM)

LAG_FEATURE_NAMES = (
    *(f"lag_{lag}" for lag in LAGS),
    *(f"mean_{w}" for w in MEAN_WINDOWS),
    *(f"std_{w}" for w in STD_WINDOWS),
    "weekday_mean_4w",
    "year_ago_week_mean",
    "zero_share_28",
    "uplift_lag_1",
    "uplift_share_28",
)
CALENDAR_FEATURE_NAMES = ("day_of_week", "day_of_month", "week_of_year", "month")
FEATURE_NAMES = (*LAG_FEATURE_NAMES, *CALENDAR_FEATURE_NAMES)
CATEGORICAL_FEATURES = ("day_of_week",)


@dataclass(frozen=True)
class PanelArrays:
    """A daily panel as dense arrays: one row per series, one column per day."""

    series_ids: tuple[str, ...]
    dates: pd.DatetimeIndex
    values: np.ndarray  # (n_series, n_days), float, >= 0, zero-filled
    uplift: np.ndarray  # (n_series, n_days), 1.0 on promotion-like days

    def row(self, series_id: str) -> int:
        return self.series_ids.index(series_id)


def to_panel_arrays(panel: pd.DataFrame, include: tuple[str, ...] = ()) -> PanelArrays:
    """Pivot a long ``series_id, date, value[, promo]`` frame to dense arrays.

    Robust to what callers forget: dates are floored to days, duplicate
    (series, day) rows are summed, missing days become 0, negative values
    (refund noise) are clipped to 0, and ids in ``include`` that have no rows
    become all-zero series. A ``promo`` column, when present, replaces the
    inferred uplift flags.
    """
    if panel.empty:
        raise ValueError("the panel has no rows: at least one day of history is needed")
    frame = pd.DataFrame(
        {
            "series_id": panel["series_id"].astype(str).to_numpy(),
            "date": pd.to_datetime(panel["date"]).dt.floor("D").to_numpy(),
            "value": pd.to_numeric(panel["value"], errors="coerce").fillna(0.0).to_numpy(),
        }
    )
    has_promo = "promo" in panel.columns
    if has_promo:
        frame["promo"] = pd.to_numeric(panel["promo"], errors="coerce").fillna(0.0).to_numpy()
    dates = pd.date_range(frame["date"].min(), frame["date"].max(), freq="D")
    ids = tuple(sorted(set(frame["series_id"]) | set(include)))

    def dense(column: str) -> np.ndarray:
        wide = frame.pivot_table(
            index="series_id", columns="date", values=column, aggfunc="sum", fill_value=0.0
        )
        wide = wide.reindex(index=list(ids), columns=dates, fill_value=0.0)
        return wide.to_numpy(dtype=float)

    values = np.clip(dense("value"), 0.0, None)
    uplift = (dense("promo") > 0).astype(float) if has_promo else uplift_flags(values)
    return PanelArrays(ids, dates, values, uplift)


def uplift_flags(values: np.ndarray) -> np.ndarray:
    """Flag promotion-like days: at least 2x the median of the 28 days before.

    Prices are not available, so promotions are inferred from the sales
    themselves. The median of the *previous* days is robust to earlier
    spikes, and the flag of day ``t`` only enters features of later days
    (``uplift_lag_1``, ``uplift_share_28``), so no feature sees its own target.
    Days with a zero median are never flagged (intermittent sellers would
    otherwise flag every sale).
    """
    n_days = values.shape[1]
    flags = np.zeros_like(values, dtype=float)
    if n_days <= UPLIFT_WINDOW:
        return flags
    windows = sliding_window_view(values[:, :-1], UPLIFT_WINDOW, axis=1)
    median = np.median(windows, axis=2)
    today = values[:, UPLIFT_WINDOW:]
    flags[:, UPLIFT_WINDOW:] = ((median > 0) & (today >= UPLIFT_FACTOR * median)).astype(float)
    return flags


def lag_features(scaled: np.ndarray, uplift: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Features of the target days ``targets`` (column indices), reading days < target.

    ``targets`` may point one past the last column (the next day to
    forecast); reads before the first column are NaN, which LightGBM treats
    as missing. Returns float32 of shape (n_series, len(targets), n_features).
    """
    n_series = scaled.shape[0]
    t = np.asarray(targets, dtype=np.int64)
    padded_sum = _prefix_sums(scaled)
    padded_sq = _prefix_sums(scaled * scaled)
    padded_nonzero = _prefix_sums((scaled > 0).astype(float))
    padded_uplift = _prefix_sums(uplift)

    def window_sum(prefix: np.ndarray, start_back: int, end_back: int = 0) -> np.ndarray:
        # Sum over days [t - start_back, t - end_back); NaN where it starts before day 0.
        start, end = t - start_back, t - end_back
        total = prefix[:, np.clip(end, 0, None)] - prefix[:, np.clip(start, 0, None)]
        return np.where(start >= 0, total, np.nan)

    def lag(values: np.ndarray, back: int) -> np.ndarray:
        index = t - back
        return np.where(index >= 0, values[:, np.clip(index, 0, None)], np.nan)

    columns: list[np.ndarray] = [lag(scaled, k) for k in LAGS]
    for w in MEAN_WINDOWS:
        columns.append(window_sum(padded_sum, w) / w)
    for w in STD_WINDOWS:
        mean = window_sum(padded_sum, w) / w
        variance = window_sum(padded_sq, w) / w - mean * mean
        columns.append(np.sqrt(np.clip(variance, 0.0, None)))
    columns.append(np.mean([lag(scaled, k) for k in (7, 14, 21, 28)], axis=0))
    columns.append(window_sum(padded_sum, YEAR_AGO_FROM, YEAR_AGO_TO) / 7)
    columns.append(1.0 - window_sum(padded_nonzero, 28) / 28)
    columns.append(lag(uplift, 1))
    columns.append(window_sum(padded_uplift, 28) / 28)
    stacked = np.stack(columns, axis=-1)
    return stacked.astype(np.float32).reshape(n_series, t.size, len(LAG_FEATURE_NAMES))


def calendar_features(dates: pd.DatetimeIndex) -> np.ndarray:
    """Day of week, day of month, week of year and month of each target date.

    Week of year is ``(day_of_year - 1) // 7 + 1`` rather than the ISO week:
    the same information without pandas' slow ``isocalendar`` in the
    per-step loop of the recursive forecast.
    """
    return np.column_stack(
        [
            dates.day_of_week.to_numpy(),
            dates.day.to_numpy(),
            (dates.day_of_year.to_numpy() - 1) // 7 + 1,
            dates.month.to_numpy(),
        ]
    ).astype(np.float32)


def feature_tensor(
    scaled: np.ndarray, uplift: np.ndarray, targets: np.ndarray, target_dates: pd.DatetimeIndex
) -> np.ndarray:
    """Lag and calendar features, shape (n_series, len(targets), len(FEATURE_NAMES))."""
    lags = lag_features(scaled, uplift, targets)
    calendar = np.broadcast_to(
        calendar_features(target_dates)[None, :, :],
        (scaled.shape[0], len(target_dates), len(CALENDAR_FEATURE_NAMES)),
    )
    return np.concatenate([lags, calendar], axis=-1)


def level_scale(values: np.ndarray, first_active: np.ndarray, window: int = 91) -> np.ndarray:
    """Per-series scale: mean of the last ``window`` active days (1.0 if they are all 0).

    The caller passes only the days before a cutoff, so the scale never sees
    the fold it is evaluated on. Recent days rather than the whole history,
    so a trending series is scaled to its current level.
    """
    n_series, n_days = values.shape
    start = np.maximum(first_active, n_days - window)
    index = np.arange(n_days)[None, :]
    active = (index >= start[:, None]).astype(float)
    count = active.sum(axis=1)
    mean = np.divide((values * active).sum(axis=1), count, out=np.zeros(n_series), where=count > 0)
    return np.where(mean > 0, mean, 1.0)


def first_active_day(values: np.ndarray) -> np.ndarray:
    """Index of each series' first non-zero day (n_days when it never sold)."""
    nonzero = values > 0
    return np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), values.shape[1])


def _prefix_sums(values: np.ndarray) -> np.ndarray:
    # Column k holds the sum of days [0, k); sequential cumsum, so prefixes of
    # the past are bit-identical whatever the later days hold.
    out = np.zeros((values.shape[0], values.shape[1] + 1))
    np.cumsum(values, axis=1, out=out[:, 1:])
    return out
