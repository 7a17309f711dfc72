"""Metrics and fold planning, checked against hand-computed tiny examples."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest

from salesflow_graphql.forecast.backtest import rolling_origins
from salesflow_graphql.forecast.conformal import step_quantiles
from salesflow_graphql.forecast.fallback import moving_average, seasonal_naive, tsb
from salesflow_graphql.forecast.metrics import (
    interval_coverage,
    mase,
    seasonal_naive_scale,
    smape,
)


def test_mase_divides_mae_by_in_sample_weekly_naive_mae() -> None:
    history = [1, 2, 3, 4, 5, 6, 7, 8, 9]  # y[t] - y[t-7] = 7 twice -> scale 7
    assert seasonal_naive_scale(history) == 7.0
    # MAE = (|10 - 12| + |20 - 16|) / 2 = 3
    assert mase([10, 20], [12, 16], seasonal_naive_scale(history)) == pytest.approx(3 / 7)


def test_mase_scale_degrades_instead_of_dividing_by_zero() -> None:
    assert seasonal_naive_scale([3.0] * 10) == 3.0  # flat: weekly and daily MAE are 0 -> mean
    assert seasonal_naive_scale([0.0] * 10) == 1.0
    assert seasonal_naive_scale([]) == 1.0
    assert seasonal_naive_scale([1, 3, 2]) == 1.5  # too short for a week: lag-1 MAE


def test_smape_skips_points_where_both_are_zero() -> None:
    # (0, 0) skipped; (10, 5): 2*5/15 = 2/3; (0, 2): 2*2/2 = 2
    assert smape([0, 10, 0], [0, 5, 2]) == pytest.approx((2 / 3 + 2) / 2)
    assert smape([0, 0], [0, 0]) == 0.0
    assert smape([4], [0]) == 2.0  # the ceiling


def test_interval_coverage_counts_known_actuals_inside_closed_bounds() -> None:
    actual = [1, 5, 10, np.nan]
    assert interval_coverage(actual, [0, 6, 9, 0], [2, 7, 10, 0]) == pytest.approx(2 / 3)


def test_rolling_origins_prefer_non_overlapping_full_windows() -> None:
    assert rolling_origins(100, 10, 4, 28) == (60, 70, 80, 90)


def test_rolling_origins_shrink_the_step_when_history_is_short() -> None:
    cutoffs = rolling_origins(56, 14, 4, 28)
    assert len(cutoffs) == 4 and cutoffs[0] >= 28 and cutoffs[-1] == 56 - 14
    assert all(b > a for a, b in pairwise(cutoffs))


def test_rolling_origins_truncate_windows_when_the_horizon_exceeds_history() -> None:
    assert rolling_origins(10, 30, 4, 7) == (7, 8, 9)
    assert rolling_origins(1, 7, 4, 1) == ()


def test_fallbacks_forecast_the_obvious_values() -> None:
    week = np.arange(1.0, 8.0)
    assert seasonal_naive(np.tile(week, 3), 10)[0].tolist() == [*week, 1, 2, 3]
    assert moving_average([2.0, 4.0], 3)[0].tolist() == [3.0, 3.0, 3.0]
    assert tsb(np.zeros(30), 5)[0].tolist() == [0.0] * 5
    # Demand every other day of size 4: rate ~ 0.5 x 4.
    assert tsb(np.tile([0.0, 4.0], 50), 1)[0, 0] == pytest.approx(2.0, abs=0.3)


def test_conformal_quantiles_use_the_finite_sample_rank() -> None:
    scores = np.arange(1.0, 100.0)[:, None] - 50.0  # -49 .. 49, one horizon step
    q = step_quantiles(scores, 0.9)
    n = 99
    assert q.upper[0] == sorted(scores[:, 0])[math.ceil((n + 1) * 0.95) - 1]
    assert q.lower[0] == sorted(scores[:, 0])[math.floor((n + 1) * 0.05) - 1]
