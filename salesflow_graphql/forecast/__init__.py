"""Sales forecasting: a pure core (features, global model, backtest, intervals).

``core`` is the entry point; see its module docstring for the API. The
service that fetches data and caches answers builds on these names.
"""

from .backtest import BacktestSummary
from .core import (
    ForecastPoint,
    ForecastResult,
    SeriesPoint,
    forecast,
    forecast_panel,
    forecast_total,
)

__all__ = [
    "BacktestSummary",
    "ForecastPoint",
    "ForecastResult",
    "SeriesPoint",
    "forecast",
    "forecast_panel",
    "forecast_total",
]
