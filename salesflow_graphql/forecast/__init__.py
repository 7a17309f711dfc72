"""Sales forecasting: a pure core (features, global model, backtest, intervals).

``core`` is the entry point; see its module docstring for the API. The
service that fetches data and caches answers builds on these names.

The names are loaded on first use: importing the package (as the gateway and
the report worker do) does not import LightGBM, which takes seconds; only the
training processes need it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backtest import BacktestSummary
    from .core import (
        ForecastPoint,
        ForecastResult,
        SeriesPoint,
        forecast,
        forecast_panel,
        forecast_total,
    )

_HOMES = {
    "BacktestSummary": ".backtest",
    "ForecastPoint": ".core",
    "ForecastResult": ".core",
    "SeriesPoint": ".core",
    "forecast": ".core",
    "forecast_panel": ".core",
    "forecast_total": ".core",
}

__all__ = [
    "BacktestSummary",
    "ForecastPoint",
    "ForecastResult",
    "SeriesPoint",
    "forecast",
    "forecast_panel",
    "forecast_total",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name], __name__), name)
