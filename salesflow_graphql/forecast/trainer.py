"""What a training process runs (:mod:`..processes`): one LightGBM thread, a fixed seed.

Its own small module, with plain arguments, so that a training process imports
the trainers and nothing of the gateway's (cache, HTTP client, metrics).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from .series import ForecastLevel

if TYPE_CHECKING:
    from .core import ForecastResult


def train(
    panel: pd.DataFrame,
    level: ForecastLevel,
    key: str | None,
    horizon_days: int,
    interval_level: float,
    seed: int,
) -> ForecastResult:
    from .core import forecast, forecast_total  # LightGBM is imported by the trainers only

    if level is ForecastLevel.TOTAL:
        return forecast_total(panel, horizon_days, interval_level, seed=seed, n_threads=1)
    assert key is not None
    return forecast(panel, key, horizon_days, interval_level, seed=seed, n_threads=1)
