"""Metrics and fold planning, checked against hand-computed tiny examples."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest

from salesflow_graphql.forecast.backtest import fit_schedule, plan, rolling_origins
from salesflow_graphql.forecast.conformal import calibrate, nested, pac_rank, step_quantiles
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


def test_the_backtest_takes_more_folds_when_the_history_allows() -> None:
    # The API's defaults: 365 days. 32 weeks of folds, ending on the last day.
    for horizon, folds in ((7, 32), (14, 16), (28, 8)):
        cutoffs = plan(365, horizon, 4, 28)
        assert len(cutoffs) == folds
        assert cutoffs[-1] == 365 - horizon
        assert all(b - a == horizon for a, b in pairwise(cutoffs))  # non-overlapping
    # Too short for extra folds: exactly the folds asked for, as rolling_origins plans them.
    assert plan(100, 14, 4, 28) == rolling_origins(100, 14, 4, 28)
    assert plan(56, 14, 4, 28) == rolling_origins(56, 14, 4, 28)
    assert len(plan(365, 90, 4, 28)) == 4


def test_folds_share_fits_in_consecutive_groups() -> None:
    assert fit_schedule(16, 8) == [[2 * k, 2 * k + 1] for k in range(8)]
    assert fit_schedule(5, 8) == [[0], [1], [2], [3], [4]]
    assert fit_schedule(7, 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert fit_schedule(0, 8) == []


def test_the_pac_rank_is_the_smallest_rank_with_enough_confidence() -> None:
    def tail(n: int, k: int, p: float) -> float:  # P(Binomial(n, p) >= k)
        return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))

    for n, level in ((20, 0.8), (100, 0.9), (150, 0.95)):
        k = pac_rank(n, level, 0.9)
        assert tail(n, k, level) <= 0.1 + 1e-12
        assert k == 1 or tail(n, k - 1, level) > 0.1
        assert k > math.ceil((n + 1) * level)  # stricter than the marginal rank
    assert pac_rank(10, 0.95, 0.9) == 10  # nothing qualifies: the largest score


def test_reported_coverage_never_sees_the_fold_it_scores() -> None:
    # Nested leave-one-fold-out: fold k's interval must not move, however fold k's
    # own residuals change, and the final interval is the same procedure on all folds.
    rng = np.random.default_rng(3)
    scores = rng.standard_t(4, size=(6, 9, 7)) * rng.uniform(0.5, 3.0, size=(1, 9, 1))
    held_out, final = nested(scores, 0.9)
    for k in range(6):
        changed = scores.copy()
        changed[k] = rng.normal(0, 50, size=changed[k].shape)
        again, _ = nested(changed, 0.9)
        np.testing.assert_array_equal(again[k].shape.upper, held_out[k].shape.upper)
        np.testing.assert_array_equal(again[k].multipliers, held_out[k].multipliers)
        others = [j for j in range(6) if j != k]
        np.testing.assert_array_equal(
            calibrate(scores, 0.9, others).multipliers, held_out[k].multipliers
        )
    np.testing.assert_array_equal(calibrate(scores, 0.9).multipliers, final.multipliers)


def test_each_series_gets_its_own_scale_of_the_pooled_shape() -> None:
    # Nine series with the same error shape, one of them three times as wide:
    # the pooled shape is shared, the wide series' multiplier is about 3x the others'.
    rng = np.random.default_rng(5)
    scores = rng.normal(0, 1, size=(8, 10, 14))
    scores[:, 9] *= 3.0
    calibration = calibrate(scores, 0.9)
    narrow = np.median(calibration.multipliers[:9])
    assert 2.0 < calibration.multipliers[9] / narrow < 4.5
    for row in range(10):
        q = calibration.quantiles(row)
        inside = (scores[:, row] >= q.lower) & (scores[:, row] <= q.upper)
        assert inside.mean() >= 0.9
