"""The LightGBM global model: one booster trained across all series of a panel.

Multi-step strategy: **recursive**. One model per training cutoff predicts
the next day, and its prediction is fed back as history for the following
day. The alternative, direct multi-step, needs one model per horizon step
(or per step bucket), so H x the training cost, and training is the budget
that matters here (500 series x 2 years x 5 fits in seconds). The price of
recursion, error accumulation over the horizon, is exactly what the
per-step conformal intervals measure, so it is reported, not hidden.

A booster trained at one cutoff can also forecast from a later origin
(``fit_and_forecast_origins``): it reads the actual days before that origin,
never a day at or after it. The backtest uses this to score more folds than
it trains models (see ``backtest.fit_schedule``).

Scaling: every series is divided by its own recent mean (``level_scale``)
before features and target are built, so the trees split on "twice the
usual level", not on absolute units that differ by 1000x between a
category and a slow product; predictions are multiplied back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import lightgbm as lgb
import numpy as np
import pandas as pd

from .features import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    LOOKBACK_DAYS,
    PanelArrays,
    calendar_features,
    feature_tensor,
    first_active_day,
    lag_features,
    level_scale,
)

TWEEDIE = "tweedie"
L2 = "l2"
OBJECTIVES = (TWEEDIE, L2)


@dataclass(frozen=True)
class GlobalModelConfig:
    """Hyper-parameters of the global model; fixed seed and threads make it deterministic."""

    objective: str = TWEEDIE
    num_boost_round: int = 120
    learning_rate: float = 0.08
    num_leaves: int = 31
    #: Upper bound; small panels use fewer rows per leaf (see ``training_set``).
    min_data_in_leaf: int = 50
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.7
    lambda_l2: float = 1.0
    tweedie_variance_power: float = 1.2
    max_bin: int = 63
    #: Training rows are bounded by a budget shared by the series: a category
    #: panel (~10 series) trains on all its history, a 500-product panel on
    #: its last ~320 days. Recent days matter most, and this bounds the cost.
    max_train_rows: int = 160_000
    min_train_days: int = 182
    seed: int = 0
    n_threads: int = 1

    def lightgbm_params(self) -> dict[str, object]:
        params: dict[str, object] = {
            "objective": "regression" if self.objective == L2 else self.objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "seed": self.seed,
            "num_threads": self.n_threads,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
        if self.objective == TWEEDIE:
            params["tweedie_variance_power"] = self.tweedie_variance_power
        return params


@dataclass(frozen=True)
class TrainingSet:
    """The rows available to a model trained at ``cutoff`` (all days before it)."""

    cutoff: int
    scale: np.ndarray  # (n_series,) level scale from days before the cutoff
    dataset: lgb.Dataset
    min_data_in_leaf: int


def training_set(arrays: PanelArrays, cutoff: int, config: GlobalModelConfig) -> TrainingSet:
    """Build the LightGBM rows from the days strictly before ``cutoff``.

    Rows of a series start at its first sale (days before a launch are not
    "zero demand", they are "no product yet").
    """
    past = arrays.values[:, :cutoff]
    first_active = first_active_day(past)
    scale = level_scale(past, first_active)
    scaled = past / scale[:, None]
    n_series = past.shape[0]
    train_days = max(config.min_train_days, config.max_train_rows // max(1, n_series))
    targets = np.arange(max(1, cutoff - train_days), cutoff)
    features = feature_tensor(scaled, arrays.uplift[:, :cutoff], targets, arrays.dates[targets])
    keep = targets[None, :] >= first_active[:, None]
    rows = features[keep]
    labels = scaled[:, targets][keep]
    dataset = lgb.Dataset(
        rows,
        label=labels,
        feature_name=list(FEATURE_NAMES),
        categorical_feature=list(CATEGORICAL_FEATURES),
        params={"max_bin": config.max_bin, "verbosity": -1, "seed": config.seed},
        free_raw_data=True,
    )
    # Few rows (a handful of categories) need smaller leaves to learn anything.
    min_data_in_leaf = int(np.clip(labels.size // 500, 10, config.min_data_in_leaf))
    return TrainingSet(cutoff, scale, dataset, min_data_in_leaf)


def fit(train: TrainingSet, config: GlobalModelConfig) -> lgb.Booster:
    """Train one booster; the same TrainingSet can serve several objectives."""
    params = {**config.lightgbm_params(), "min_data_in_leaf": train.min_data_in_leaf}
    return lgb.train(params, train.dataset, num_boost_round=config.num_boost_round)


def forecast_recursive(
    booster: lgb.Booster,
    arrays: PanelArrays,
    train: TrainingSet,
    horizon: int,
    n_threads: int = 1,
    origin: int | None = None,
) -> np.ndarray:
    """Forecast days ``origin .. origin + horizon - 1`` for every series, in original units.

    ``origin`` defaults to the training cutoff. A later origin reuses a
    booster trained at an earlier cutoff (the backtest shares one fit between
    neighbouring folds); it reads the actual days before ``origin``, never
    any day at or after it, and rescales the series by their level before
    ``origin``, as the final forecast does at the end of the history.

    Predicted days carry no promotion flag: future promotions are unknown, so
    the model forecasts a normal day.
    """
    cutoff = train.cutoff if origin is None else origin
    if cutoff < train.cutoff:
        raise ValueError("a booster cannot forecast from before its training cutoff")
    if cutoff == train.cutoff:
        scale = train.scale
    else:
        past = arrays.values[:, :cutoff]
        scale = level_scale(past, first_active_day(past))
    start = max(0, cutoff - LOOKBACK_DAYS)
    n_series = arrays.values.shape[0]
    buffer = np.empty((n_series, cutoff - start + horizon))
    buffer[:, : cutoff - start] = arrays.values[:, start:cutoff] / scale[:, None]
    uplift = np.zeros_like(buffer)
    uplift[:, : cutoff - start] = arrays.uplift[:, start:cutoff]
    future_dates = arrays.dates[0] + pd.to_timedelta(np.arange(cutoff, cutoff + horizon), unit="D")
    predictions = np.empty((n_series, horizon))
    calendar = calendar_features(future_dates)  # once, not per step: pandas fields are slow
    for step in range(horizon):
        position = cutoff - start + step
        lags = lag_features(buffer[:, :position], uplift[:, :position], np.array([position]))
        rows = np.concatenate(
            [lags[:, 0, :], np.broadcast_to(calendar[step], (n_series, calendar.shape[1]))],
            axis=1,
        )
        predicted = np.clip(booster.predict(rows, num_threads=n_threads), 0.0, None)
        buffer[:, position] = predicted
        predictions[:, step] = predicted
    return predictions * scale[:, None]


def fit_and_forecast_origins(
    arrays: PanelArrays,
    cutoff: int,
    origins: tuple[int, ...],
    horizon: int,
    configs: tuple[GlobalModelConfig, ...],
) -> dict[str, np.ndarray]:
    """Train at ``cutoff`` once per config and forecast ``horizon`` days from each origin.

    Every origin is at or after ``cutoff``. Returns objective ->
    (len(origins), n_series, horizon) forecasts.
    """
    train = training_set(arrays, cutoff, configs[0])
    out: dict[str, np.ndarray] = {}
    for config in configs:
        booster = fit(train, config)
        out[config.objective] = np.stack(
            [
                forecast_recursive(booster, arrays, train, horizon, config.n_threads, origin)
                for origin in origins
            ]
        )
    return out


def fit_and_forecast(
    arrays: PanelArrays,
    cutoff: int,
    horizon: int,
    configs: tuple[GlobalModelConfig, ...],
) -> dict[str, np.ndarray]:
    """Train at ``cutoff`` once per config (sharing the rows) and forecast ``horizon`` days.

    Returns objective -> (n_series, horizon) forecasts.
    """
    both = fit_and_forecast_origins(arrays, cutoff, (cutoff,), horizon, configs)
    return {objective: predicted[0] for objective, predicted in both.items()}


def training_rows(n_series: int, cutoff: int, config: GlobalModelConfig) -> int:
    """Upper bound of the rows a fit at ``cutoff`` trains on (what its time grows with)."""
    train_days = max(config.min_train_days, config.max_train_rows // max(1, n_series))
    return n_series * max(1, min(cutoff, train_days))


def config_for(objective: str, seed: int, n_threads: int) -> GlobalModelConfig:
    """The default configuration with an objective, seed and thread count."""
    return replace(GlobalModelConfig(), objective=objective, seed=seed, n_threads=n_threads)
