"""Forecast benchmark: the core's model against baselines, same series, same folds.

Run: ``uv run python bench/forecast.py`` (``--quick`` for CI; ``--history``
and ``--horizons`` change the scenarios). For the statsforecast AutoETS and
mlforecast LightGBM rows install the bench group first (``uv sync --inexact
--group bench``); without it those rows print "not installed".

Data: the demo shop (``standin/shop.py``) as daily UNITS series over the
``--history`` complete days ending yesterday (365 by default, as the API):
TOTAL, every CATEGORY, and 100 PRODUCT series sampled with a fixed seed (the
product model is trained on all products, as the service may). Every model
is scored on exactly the cutoffs the core's backtest reported for that
series, with the same MASE scale.

Scenarios: the API's defaults (horizon 14, 365 days, interval level 0.9) and
a 28-day horizon on the same history; the core decides how many folds (16
and 8 here, see ``forecast/backtest.py``).

Table 1, accuracy (level 0.9): mean MASE and sMAPE over series;
``rel_mase``, the geometric mean over series of MASE / seasonal-naive MASE;
``beats_snaive``, the share of series with a lower MASE than seasonal naive;
``coverage``, 90% interval coverage (the core's is its reported, nested
leave-one-fold-out backtest coverage); ``seconds``, wall time of train +
forecast + backtest for the whole level.

Table 2, intervals at levels 0.8, 0.9 and 0.95: the core's reported
coverage (mean over series, lowest series, share of series at or above the
level); ``rel_width``, the geometric mean over series of the core's mean
interval width over the forecast days divided by seasonal naive's textbook
interval width at the same level (ŷ ± z·σ·√(⌊(h−1)/7⌋+1), σ the RMS of the
in-sample weekly differences) for the same days: below 1 is sharper than
seasonal naive; ``snaive_cov``, that textbook interval's coverage on the
same folds; ``ets_cov``, AutoETS's where installed.

Table 3, speed: a synthetic panel of 500 products x 2 years
(``synthetic_panel``), 28-day horizon, level 0.9, measured ``--repeats``
times (other work on the machine moves it).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from statistics import NormalDist

import numpy as np
import pandas as pd

from salesflow_graphql.forecast import ForecastResult, forecast_panel, forecast_total
from salesflow_graphql.forecast.fallback import moving_average, seasonal_naive
from salesflow_graphql.forecast.metrics import (
    interval_coverage,
    mase,
    seasonal_naive_scale,
    smape,
)

HISTORY_DAYS = 365
HORIZONS = (14, 28)
LEVELS = (0.8, 0.9, 0.95)
ACCURACY_LEVEL = 0.9
N_PRODUCTS = 100
SEED = 0
TODAY = date(2026, 11, 26)
CORE = "core (this service)"


@dataclass(frozen=True)
class Scenario:
    horizon: int
    history_days: int

    @property
    def title(self) -> str:
        defaults = " (API defaults)" if (self.horizon, self.history_days) == (14, 365) else ""
        return f"horizon {self.horizon}, {self.history_days}-day history{defaults}"


# --------------------------------------------------------------------------- data


@lru_cache(maxsize=1)
def _demo_items() -> pd.DataFrame | None:
    try:
        from salesflow_graphql.standin.shop import build_demo_shop
    except ImportError:
        return None
    shop = build_demo_shop(20240601, TODAY)
    sales = shop.sales
    days = np.repeat(sales.sale_time.astype("datetime64[D]"), sales.item_count)
    items = pd.DataFrame(
        {
            "date": days,
            "sku": np.asarray(sales.skus)[sales.item_sku],
            "value": sales.item_quantity.astype(float),
        }
    )
    category = {row.sku: row.category for row in shop.inventory}
    items["category"] = items["sku"].map(category).fillna("Uncategorized")
    return items


def demo_shop_panels(
    n_products: int, history_days: int
) -> dict[str, tuple[pd.DataFrame, list[str]]] | None:
    """Level -> (panel the core trains on, series to score); None if the shop is missing.

    The history is the ``history_days`` complete days ending yesterday, as the service's.
    """
    items = _demo_items()
    if items is None:
        return None
    end = pd.Timestamp(TODAY) - pd.Timedelta(days=1)
    start = end - pd.Timedelta(days=history_days - 1)
    items = items[(items["date"] >= start) & (items["date"] <= end)]
    products = _daily(items, "sku")
    categories = _daily(items, "category")
    skus = sorted(products["series_id"].unique())
    rng = np.random.default_rng(SEED)
    sample = sorted(rng.choice(skus, size=min(n_products, len(skus)), replace=False).tolist())
    return {
        "TOTAL": (categories, ["__total__"]),
        "CATEGORY": (categories, sorted(categories["series_id"].unique())),
        "PRODUCT": (products, sample),
    }


def _daily(items: pd.DataFrame, key: str) -> pd.DataFrame:
    daily = items.groupby([key, "date"], as_index=False)["value"].sum()
    dates = pd.date_range(items["date"].min(), items["date"].max(), freq="D")
    wide = daily.pivot(index="date", columns=key, values="value").reindex(dates).fillna(0.0)
    long = wide.stack().rename("value").reset_index()
    long.columns = ["date", "series_id", "value"]
    return long[["series_id", "date", "value"]]


def synthetic_panel(n_series: int, n_days: int, seed: int = SEED) -> pd.DataFrame:
    """Products with weekly and yearly seasonality, trends, promotions and a slow tail."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(TODAY - timedelta(days=n_days), periods=n_days, freq="D")
    t = np.arange(n_days)[None, :]
    level = np.exp(rng.normal(0.3, 1.3, n_series))[:, None]
    phase = rng.integers(0, 7, n_series)[:, None]
    weekly = 1 + 0.3 * np.sin(2 * np.pi * (t + phase) / 7)
    yearly = 1 + 0.25 * np.sin(2 * np.pi * t / 365.25)
    trend = np.clip(1 + rng.normal(0, 0.4, n_series)[:, None] * t / n_days, 0.2, None)
    promo = np.where(rng.random((n_series, n_days)) < 0.02, 2.5, 1.0)
    units = rng.poisson(level * weekly * yearly * trend * promo).astype(float)
    return pd.DataFrame(
        {
            "series_id": np.repeat([f"sku-{i:04d}" for i in range(n_series)], n_days),
            "date": np.tile(dates, n_series),
            "value": units.ravel(),
        }
    )


# ------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class SeriesFolds:
    """One series' history and the fold cutoffs (column indices) the core used."""

    series_id: str
    values: np.ndarray
    dates: pd.DatetimeIndex
    cutoffs: tuple[int, ...]
    horizon: int

    @property
    def start(self) -> int:
        return int(np.argmax(self.values > 0)) if (self.values > 0).any() else 0

    def scale(self, cutoff: int) -> float:
        return seasonal_naive_scale(self.values[self.start : cutoff])

    def actual(self, cutoff: int) -> np.ndarray:
        out = np.full(self.horizon, np.nan)
        window = self.values[cutoff : cutoff + self.horizon]
        out[: window.size] = window
        return out


@dataclass(frozen=True)
class Scores:
    mase: float
    smape: float
    coverage: float | None


def score(folds: SeriesFolds, forecasts: list[np.ndarray], bounds: list | None) -> Scores:
    actuals = [folds.actual(c) for c in folds.cutoffs]
    fold_mase = [
        mase(a, f, folds.scale(c))
        for a, f, c in zip(actuals, forecasts, folds.cutoffs, strict=True)
    ]
    coverage = None if bounds is None else fold_coverage(folds, bounds)
    point_smape = smape(np.concatenate(actuals), np.concatenate(forecasts))
    return Scores(float(np.mean(fold_mase)), point_smape, coverage)


def fold_coverage(folds: SeriesFolds, bounds: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Share of the folds' known actual values inside their (lower, upper) bounds."""
    return interval_coverage(
        np.concatenate([folds.actual(c) for c in folds.cutoffs]),
        np.concatenate([b[0] for b in bounds]),
        np.concatenate([b[1] for b in bounds]),
    )


def series_folds(series_id: str, result: ForecastResult, horizon: int) -> SeriesFolds:
    dates = pd.DatetimeIndex([pd.Timestamp(p.date) for p in result.history])
    values = np.array([p.value for p in result.history])
    assert result.backtest is not None
    cutoffs = tuple(int(dates.get_loc(pd.Timestamp(d))) for d in result.backtest.cutoffs)
    return SeriesFolds(series_id, values, dates, cutoffs, horizon)


def snaive_interval(
    history: np.ndarray, horizon: int, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seasonal naive (period 7) with its textbook interval (Hyndman & Athanasopoulos, 5.5)."""
    point = seasonal_naive(history, horizon)[0]
    diffs = history[7:] - history[:-7]
    sigma = float(np.sqrt(np.mean(diffs**2))) if diffs.size else 0.0
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    spread = z * sigma * np.sqrt(np.arange(horizon) // 7 + 1)
    return point, np.clip(point - spread, 0.0, None), point + spread


def snaive_coverage(folds: SeriesFolds, level: float) -> float:
    bounds = []
    for c in folds.cutoffs:
        _, lower, upper = snaive_interval(folds.values[folds.start : c], folds.horizon, level)
        bounds.append((lower, upper))
    return fold_coverage(folds, bounds)


def relative_width(result: ForecastResult, level: float) -> float | None:
    """Mean core interval width over the forecast days / seasonal naive's; None if either is 0."""
    values = np.array([p.value for p in result.history])
    start = int(np.argmax(values > 0)) if (values > 0).any() else 0
    _, lower, upper = snaive_interval(values[start:], len(result.points), level)
    core = float(np.mean([p.upper - p.lower for p in result.points]))
    reference = float(np.mean(upper - lower))
    return core / reference if core > 0 and reference > 0 else None


def local_baseline(model: Callable[[np.ndarray, int], np.ndarray]) -> Callable:
    def run(all_folds: list[SeriesFolds]) -> dict[str, Scores]:
        return {
            f.series_id: score(f, [model(f.values[:c], f.horizon)[0] for c in f.cutoffs], None)
            for f in all_folds
        }

    return run


def autoets(
    all_folds: list[SeriesFolds], levels: tuple[float, ...]
) -> tuple[dict[str, Scores], dict[float, dict[str, float]]]:
    """AutoETS on the same folds: scores at ``ACCURACY_LEVEL`` and coverage per level."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    horizon = all_folds[0].horizon
    percents = sorted({round(100 * x) for x in (*levels, ACCURACY_LEVEL)})
    by_cutoff: dict[pd.Timestamp, list[SeriesFolds]] = {}
    for f in all_folds:
        for c in f.cutoffs:
            by_cutoff.setdefault(f.dates[c], []).append(f)
    predictions: dict[tuple[str, pd.Timestamp], pd.DataFrame] = {}
    for cutoff_date, group in by_cutoff.items():
        frames = []
        for f in group:
            c = f.dates.get_loc(cutoff_date)
            frames.append(
                pd.DataFrame({"unique_id": f.series_id, "ds": f.dates[:c], "y": f.values[:c]})
            )
        model = StatsForecast(models=[AutoETS(season_length=7)], freq="D", n_jobs=1)
        out = model.forecast(df=pd.concat(frames), h=horizon, level=percents)
        for uid, rows in out.groupby("unique_id"):
            predictions[(str(uid), cutoff_date)] = rows

    def bounds(f: SeriesFolds, percent: int) -> list[tuple[np.ndarray, np.ndarray]]:
        rows = [predictions[(f.series_id, f.dates[c])] for c in f.cutoffs]
        return [
            (r[f"AutoETS-lo-{percent}"].to_numpy(), r[f"AutoETS-hi-{percent}"].to_numpy())
            for r in rows
        ]

    results, coverage = {}, {}
    for f in all_folds:
        forecasts = [
            np.clip(predictions[(f.series_id, f.dates[c])]["AutoETS"].to_numpy(), 0, None)
            for c in f.cutoffs
        ]
        results[f.series_id] = score(f, forecasts, bounds(f, round(100 * ACCURACY_LEVEL)))
    for level in levels:
        coverage[level] = {
            f.series_id: fold_coverage(f, bounds(f, round(100 * level))) for f in all_folds
        }
    return results, coverage


def mlforecast_lightgbm(all_folds: list[SeriesFolds], panel: pd.DataFrame) -> dict[str, Scores]:
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean
    from mlforecast.target_transforms import LocalStandardScaler

    horizon = all_folds[0].horizon
    wide = panel.pivot_table(index="date", columns="series_id", values="value", aggfunc="sum")
    wide = wide.asfreq("D").fillna(0.0)
    if "__total__" in {f.series_id for f in all_folds}:
        wide["__total__"] = wide.sum(axis=1)
    long = wide.stack().rename("y").reset_index()
    long.columns = ["ds", "unique_id", "y"]
    cutoff_dates = sorted({f.dates[c] for f in all_folds for c in f.cutoffs})
    predictions: dict[pd.Timestamp, pd.DataFrame] = {}
    for cutoff_date in cutoff_dates:
        model = MLForecast(
            models={
                "lgbm": lgb.LGBMRegressor(
                    n_estimators=200,
                    learning_rate=0.05,
                    num_threads=1,
                    random_state=0,
                    verbosity=-1,
                )
            },
            freq="D",
            lags=[1, 7, 14, 28],
            lag_transforms={1: [RollingMean(7), RollingMean(28)], 7: [RollingMean(4)]},
            date_features=["dayofweek", "month"],
            target_transforms=[LocalStandardScaler()],
        )
        model.fit(long[long["ds"] < cutoff_date], static_features=[])
        predictions[cutoff_date] = model.predict(horizon).set_index("unique_id")
    results = {}
    for f in all_folds:
        forecasts = [
            np.clip(predictions[f.dates[c]].loc[[f.series_id], "lgbm"].to_numpy(), 0, None)
            for c in f.cutoffs
        ]
        results[f.series_id] = score(f, forecasts, None)
    return results


def summarize_level(
    level: str, model: str, scores: dict[str, Scores], baseline: dict[str, Scores], seconds: float
) -> dict[str, object]:
    ids = sorted(scores)
    # A ratio is undefined where either MASE is 0 (an all-zero test window
    # forecast exactly); those series are left out of the geometric mean.
    ratios = [
        scores[i].mase / baseline[i].mase
        for i in ids
        if scores[i].mase > 0 and baseline[i].mase > 0
    ]
    coverages = [scores[i].coverage for i in ids if scores[i].coverage is not None]
    return {
        "level": level,
        "model": model,
        "series": len(ids),
        "mase": float(np.mean([scores[i].mase for i in ids])),
        "smape": float(np.mean([scores[i].smape for i in ids])),
        "rel_mase": float(math.exp(np.mean(np.log(ratios)))),
        "beats_snaive": float(np.mean([scores[i].mase < baseline[i].mase for i in ids])),
        "coverage": float(np.mean(coverages)) if coverages else None,
        "seconds": seconds,
    }


def run_core(
    level: str, panel: pd.DataFrame, horizon: int, interval_level: float, n_threads: int
) -> dict[str, ForecastResult]:
    if level == "TOTAL":
        return {"__total__": forecast_total(panel, horizon, interval_level, n_threads=n_threads)}
    return forecast_panel(panel, horizon, interval_level, n_threads=n_threads)


def bench_level(
    level: str,
    panel: pd.DataFrame,
    targets: list[str],
    scenario: Scenario,
    levels: tuple[float, ...],
    n_threads: int,
) -> tuple[list[dict], list[dict]]:
    """(accuracy rows, interval rows) of one level of the shop."""
    horizon = scenario.horizon
    by_level: dict[float, dict[str, ForecastResult]] = {}
    core_seconds = float("nan")
    for interval_level in sorted({*levels, ACCURACY_LEVEL}):
        started = time.perf_counter()
        by_level[interval_level] = run_core(level, panel, horizon, interval_level, n_threads)
        if interval_level == ACCURACY_LEVEL:
            core_seconds = time.perf_counter() - started
    results = by_level[ACCURACY_LEVEL]
    folds = [series_folds(t, results[t], horizon) for t in targets]
    models = {r.model for t, r in results.items() if t in targets}
    core = {}
    for f in folds:
        bt = results[f.series_id].backtest
        assert bt is not None
        core[f.series_id] = Scores(bt.mase, bt.smape, bt.interval_coverage)

    rows = []
    timed: dict[str, tuple[dict[str, Scores], float]] = {}
    ets_coverage: dict[float, dict[str, float]] = {}

    def ets() -> dict[str, Scores]:
        scored, coverage = autoets(folds, levels)
        ets_coverage.update(coverage)
        return scored

    candidates: list[tuple[str, Callable[[], dict[str, Scores]], str | None]] = [
        ("seasonal naive (7)", lambda: local_baseline(seasonal_naive)(folds), None),
        ("moving average (28)", lambda: local_baseline(moving_average)(folds), None),
        ("statsforecast AutoETS", ets, "statsforecast"),
        ("mlforecast LightGBM", lambda: mlforecast_lightgbm(folds, panel), "mlforecast"),
    ]
    for name, fn, module in candidates:
        if module and importlib.util.find_spec(module) is None:
            timed[name] = ({}, float("nan"))
            continue
        started = time.perf_counter()
        scored = fn()
        timed[name] = (scored, time.perf_counter() - started)
    baseline = timed["seasonal naive (7)"][0]
    for f in folds:  # the core's own baseline must be this one: same folds, same scale
        reported = results[f.series_id].backtest
        assert reported is not None
        assert math.isclose(reported.baseline_mase, baseline[f.series_id].mase, rel_tol=1e-6)
    label = f"{CORE}: {'/'.join(sorted(models))}"
    rows.append(summarize_level(level, label, core, baseline, core_seconds))
    for name, (scored, seconds) in timed.items():
        if scored:
            rows.append(summarize_level(level, name, scored, baseline, seconds))
        else:
            rows.append({"level": level, "model": f"{name} (not installed)", "series": len(folds)})

    intervals = []
    for interval_level in levels:
        answered = by_level[interval_level]
        coverage = [answered[t].backtest.interval_coverage for t in targets]  # type: ignore[union-attr]
        widths = [w for t in targets if (w := relative_width(answered[t], interval_level))]
        intervals.append(
            {
                "level": level,
                "interval": interval_level,
                "series": len(targets),
                "folds": int(np.median([len(f.cutoffs) for f in folds])),
                "coverage": float(np.mean(coverage)),
                "lowest": float(np.min(coverage)),
                "share_met": float(np.mean([c >= interval_level - 1e-9 for c in coverage])),
                "rel_width": float(math.exp(np.mean(np.log(widths)))) if widths else None,
                "snaive_cov": float(np.mean([snaive_coverage(f, interval_level) for f in folds])),
                "ets_cov": (
                    float(np.mean(list(ets_coverage[interval_level].values())))
                    if interval_level in ets_coverage
                    else None
                ),
            }
        )
    return rows, intervals


def speed_rows(n_series: int, n_days: int, n_threads: int, repeats: int) -> list[dict]:
    panel = synthetic_panel(n_series, n_days)
    rows = []
    for run_number in range(1, repeats + 1):
        started = time.perf_counter()
        results = forecast_panel(panel, 28, ACCURACY_LEVEL, n_threads=n_threads)
        seconds = time.perf_counter() - started
        folds = int(np.median([r.backtest.folds for r in results.values() if r.backtest]))
        rows.append(
            {
                "level": f"SPEED {n_series}x{n_days}d, h=28",
                "model": f"{CORE}, n_threads={n_threads}, {folds} folds, run {run_number}",
                "series": n_series,
                "seconds": seconds,
            }
        )
    return rows


def run(
    quick: bool, history_days: int, horizons: tuple[int, ...], repeats: int
) -> list[tuple[str, list[dict], list[dict]]]:
    """(title, accuracy rows, interval rows) per scenario, then the speed rows."""
    n_threads = 1
    levels = (ACCURACY_LEVEL,) if quick else LEVELS
    tables: list[tuple[str, list[dict], list[dict]]] = []
    for horizon in horizons[:1] if quick else horizons:
        scenario = Scenario(horizon, history_days)
        panels = demo_shop_panels(10 if quick else N_PRODUCTS, history_days)
        if panels is None:
            # TODO: the demo shop is missing; a synthetic shop stands in until it lands.
            products = synthetic_panel(40 if quick else 240, history_days)
            panels = {"PRODUCT": (products, sorted(products["series_id"].unique())[:N_PRODUCTS])}
        accuracy: list[dict] = []
        intervals: list[dict] = []
        for level, (panel, targets) in panels.items():
            if quick and level == "PRODUCT":
                keep = set(sorted(panel["series_id"].unique())[:40]) | set(targets)
                panel = panel[panel["series_id"].isin(keep)]
            rows, interval_rows = bench_level(level, panel, targets, scenario, levels, n_threads)
            accuracy.extend(rows)
            intervals.extend(interval_rows)
        tables.append((scenario.title, accuracy, intervals))
    speed = speed_rows(50, 365, n_threads, 1) if quick else speed_rows(500, 730, n_threads, repeats)
    tables.append(("speed", speed, []))
    return tables


def print_table(rows: list[dict], header: tuple[str, ...]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        cells = []
        for key in header:
            value = row.get(key)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                cells.append("—")
            elif isinstance(value, float):
                cells.append(f"{value:.3f}" if key != "seconds" else f"{value:.1f}")
            else:
                cells.append(str(value))
        print("| " + " | ".join(cells) + " |")


ACCURACY_HEADER = (
    "level",
    "model",
    "series",
    "mase",
    "smape",
    "rel_mase",
    "beats_snaive",
    "coverage",
    "seconds",
)
INTERVAL_HEADER = (
    "level",
    "interval",
    "series",
    "folds",
    "coverage",
    "lowest",
    "share_met",
    "rel_width",
    "snaive_cov",
    "ets_cov",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few, small series (CI)")
    parser.add_argument("--history", type=int, default=HISTORY_DAYS, help="days of history")
    parser.add_argument(
        "--horizons", default=",".join(map(str, HORIZONS)), help="comma-separated horizons"
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs of the speed panel")
    args = parser.parse_args()
    horizons = tuple(int(h) for h in args.horizons.split(","))
    for title, accuracy, intervals in run(args.quick, args.history, horizons, args.repeats):
        print(f"\n## {title}\n")
        print_table(
            accuracy, ACCURACY_HEADER if intervals else ("level", "model", "series", "seconds")
        )
        if intervals:
            print(f"\nIntervals ({title}): core coverage is its reported backtest coverage\n")
            print_table(intervals, INTERVAL_HEADER)


if __name__ == "__main__":
    main()
