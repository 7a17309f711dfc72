"""No feature, training row or backtest forecast reads data at or after its cutoff."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesflow_graphql.forecast.features import (
    FEATURE_NAMES,
    feature_tensor,
    first_active_day,
    level_scale,
    to_panel_arrays,
)
from salesflow_graphql.forecast.model import (
    config_for,
    fit_and_forecast,
    fit_and_forecast_origins,
    training_set,
)

CUTOFF = 300


def seasonal_panel(n_series: int = 8, n_days: int = 420, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2025-01-01", periods=n_days, freq="D")
    t = np.arange(n_days)
    rows = []
    for i in range(n_series):
        mean = (1 + i) * (1.5 + np.sin(2 * np.pi * t / 7))
        values = rng.poisson(mean).astype(float)
        values[rng.random(n_days) < 0.02] *= 3  # promotion-like spikes
        rows.append(pd.DataFrame({"series_id": f"p{i}", "date": dates, "value": values}))
    return pd.concat(rows, ignore_index=True)


def with_future_scrambled(panel: pd.DataFrame, cutoff_day: pd.Timestamp) -> pd.DataFrame:
    """The same panel with every value at or after ``cutoff_day`` replaced by noise."""
    changed = panel.copy()
    future = changed["date"] >= cutoff_day
    rng = np.random.default_rng(99)
    changed.loc[future, "value"] = rng.integers(0, 500, future.sum()).astype(float)
    return changed


def test_no_feature_row_up_to_the_cutoff_reads_the_cutoff_day_or_later() -> None:
    panel = seasonal_panel()
    cutoff_day = pd.Timestamp("2025-01-01") + pd.Timedelta(days=CUTOFF)
    original = to_panel_arrays(panel)
    scrambled = to_panel_arrays(with_future_scrambled(panel, cutoff_day))
    assert not np.array_equal(original.values, scrambled.values)

    targets = np.arange(0, CUTOFF + 1)  # includes the cutoff day's own row
    dates = original.dates[targets]
    past = original.values[:, :CUTOFF]
    scale = level_scale(past, first_active_day(past))

    def rows(arrays: object) -> np.ndarray:
        return feature_tensor(arrays.values / scale[:, None], arrays.uplift, targets, dates)

    np.testing.assert_array_equal(rows(original), rows(scrambled))
    # The day after the cutoff does read the cutoff day: the check has teeth.
    after = np.array([CUTOFF + 1])
    assert not np.array_equal(
        feature_tensor(original.values, original.uplift, after, original.dates[after]),
        feature_tensor(scrambled.values, scrambled.uplift, after, scrambled.dates[after]),
    )


def test_training_rows_of_a_fold_ignore_everything_from_its_cutoff_on() -> None:
    panel = seasonal_panel()
    cutoff_day = pd.Timestamp("2025-01-01") + pd.Timedelta(days=CUTOFF)
    config = config_for("tweedie", seed=0, n_threads=1)
    original = training_set(to_panel_arrays(panel), CUTOFF, config)
    future_scrambled = to_panel_arrays(with_future_scrambled(panel, cutoff_day))
    scrambled = training_set(future_scrambled, CUTOFF, config)
    np.testing.assert_array_equal(original.scale, scrambled.scale)
    np.testing.assert_array_equal(original.dataset.data, scrambled.dataset.data)
    np.testing.assert_array_equal(original.dataset.label, scrambled.dataset.label)
    assert original.dataset.data.shape[1] == len(FEATURE_NAMES)


def test_backtest_forecasts_of_a_fold_do_not_change_when_the_future_changes() -> None:
    panel = seasonal_panel()
    cutoff_day = pd.Timestamp("2025-01-01") + pd.Timedelta(days=CUTOFF)
    configs = tuple(config_for(o, seed=0, n_threads=1) for o in ("tweedie", "l2"))
    original = fit_and_forecast(to_panel_arrays(panel), CUTOFF, 14, configs)
    scrambled = fit_and_forecast(
        to_panel_arrays(with_future_scrambled(panel, cutoff_day)), CUTOFF, 14, configs
    )
    for objective in original:
        np.testing.assert_array_equal(original[objective], scrambled[objective])


def test_a_shared_fit_forecasting_a_later_origin_reads_only_days_before_that_origin() -> None:
    # Backtest folds may share one model trained at an earlier cutoff: the
    # later fold's forecast may read the days between the two, never its own.
    panel = seasonal_panel()
    origin = CUTOFF + 21
    origin_day = pd.Timestamp("2025-01-01") + pd.Timedelta(days=origin)
    config = (config_for("tweedie", seed=0, n_threads=1),)
    arrays = to_panel_arrays(panel)
    shared = fit_and_forecast_origins(arrays, CUTOFF, (CUTOFF, origin), 14, config)["tweedie"]
    scrambled = fit_and_forecast_origins(
        to_panel_arrays(with_future_scrambled(panel, origin_day)),
        CUTOFF,
        (CUTOFF, origin),
        14,
        config,
    )["tweedie"]
    np.testing.assert_array_equal(shared, scrambled)
    # The first origin is the plain fit at the cutoff; the later one used the days in between.
    np.testing.assert_array_equal(
        shared[0], fit_and_forecast(arrays, CUTOFF, 14, config)["tweedie"]
    )
    scrambled_between = fit_and_forecast_origins(
        to_panel_arrays(with_future_scrambled(panel, origin_day - pd.Timedelta(days=7))),
        CUTOFF,
        (CUTOFF, origin),
        14,
        config,
    )["tweedie"]
    assert not np.array_equal(shared[1], scrambled_between[1])


def test_panel_preparation_zero_fills_gaps_and_sums_duplicates() -> None:
    panel = pd.DataFrame(
        {
            "series_id": ["a", "a", "a", "b"],
            "date": pd.to_datetime(
                ["2025-03-01 00:00", "2025-03-01 15:00", "2025-03-04 00:00", "2025-03-02 00:00"]
            ),
            "value": [1.0, 2.0, 5.0, -4.0],
        }
    )
    arrays = to_panel_arrays(panel, include=("c",))
    assert arrays.series_ids == ("a", "b", "c")
    assert len(arrays.dates) == 4
    np.testing.assert_array_equal(arrays.values[0], [3.0, 0.0, 0.0, 5.0])
    np.testing.assert_array_equal(arrays.values[1], [0.0, 0.0, 0.0, 0.0])  # refunds clip at 0
    np.testing.assert_array_equal(arrays.values[2], [0.0] * 4)
