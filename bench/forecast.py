"""Forecast benchmark: the core's model against baselines, same series, same folds.

Run: ``uv run python bench/forecast.py`` (``--quick`` for CI). For the
statsforecast AutoETS and mlforecast LightGBM rows install the bench group
first (``uv sync --inexact --group bench``); without it those rows print
"not installed".

Data: the demo shop (``sor/standin/shop.py``) as daily UNITS series: TOTAL,
every CATEGORY, and 100 PRODUCT series sampled with a fixed seed (the
product model is trained on all products, as the service may). Every model
is scored on exactly the cutoffs the core's backtest reported for that
series, with the same MASE scale. The speed row is a synthetic panel of 500
products x 2 years (``synthetic_panel``).

Columns: mean MASE and sMAPE over series; ``rel_mase``, the geometric mean
over series of MASE / seasonal-naive MASE; ``beats_snaive``, the share of
series with a lower MASE than seasonal naive; ``coverage``, 90% interval
coverage (the core's is leave-one-fold-out); ``seconds``, wall time of train
+ forecast + backtest for the whole level.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

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

HORIZON = 28
LEVEL = 0.9
N_FOLDS = 4
N_PRODUCTS = 100
SEED = 0
TODAY = date(2026, 11, 26)
CORE = "core (this service)"


# --------------------------------------------------------------------------- data


def demo_shop_panels(n_products: int) -> dict[str, tuple[pd.DataFrame, list[str]]] | None:
    """Level -> (panel the core trains on, series to score); None if the shop is missing."""
    try:
        from salesflow_graphql.sor.standin.shop import build_demo_shop
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
    # Today is still selling: score complete days only.
    items = items[items["date"] < pd.Timestamp(TODAY)]
    category = {row.sku: row.category for row in shop.inventory}
    items["category"] = items["sku"].map(category).fillna("Uncategorized")
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

    def scale(self, cutoff: int) -> float:
        start = int(np.argmax(self.values > 0)) if (self.values > 0).any() else 0
        return seasonal_naive_scale(self.values[start:cutoff])

    def actual(self, cutoff: int) -> np.ndarray:
        out = np.full(HORIZON, np.nan)
        window = self.values[cutoff : cutoff + HORIZON]
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
    coverage = None
    if bounds is not None:
        coverage = interval_coverage(
            np.concatenate(actuals),
            np.concatenate([b[0] for b in bounds]),
            np.concatenate([b[1] for b in bounds]),
        )
    point_smape = smape(np.concatenate(actuals), np.concatenate(forecasts))
    return Scores(float(np.mean(fold_mase)), point_smape, coverage)


def series_folds(panel: pd.DataFrame, series_id: str, result: ForecastResult) -> SeriesFolds:
    dates = pd.DatetimeIndex([pd.Timestamp(p.date) for p in result.history])
    values = np.array([p.value for p in result.history])
    assert result.backtest is not None
    cutoffs = tuple(int(dates.get_loc(pd.Timestamp(d))) for d in result.backtest.cutoffs)
    return SeriesFolds(series_id, values, dates, cutoffs)


def local_baseline(model: Callable[[np.ndarray, int], np.ndarray]) -> Callable:
    def run(all_folds: list[SeriesFolds]) -> dict[str, Scores]:
        return {
            f.series_id: score(f, [model(f.values[:c], HORIZON)[0] for c in f.cutoffs], None)
            for f in all_folds
        }

    return run


def autoets(all_folds: list[SeriesFolds]) -> dict[str, Scores]:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

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
        out = model.forecast(df=pd.concat(frames), h=HORIZON, level=[90])
        for uid, rows in out.groupby("unique_id"):
            predictions[(str(uid), cutoff_date)] = rows
    results = {}
    for f in all_folds:
        forecasts, bounds = [], []
        for c in f.cutoffs:
            rows = predictions[(f.series_id, f.dates[c])]
            forecasts.append(np.clip(rows["AutoETS"].to_numpy(), 0, None))
            bounds.append((rows["AutoETS-lo-90"].to_numpy(), rows["AutoETS-hi-90"].to_numpy()))
        results[f.series_id] = score(f, forecasts, bounds)
    return results


def mlforecast_lightgbm(all_folds: list[SeriesFolds], panel: pd.DataFrame) -> dict[str, Scores]:
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean
    from mlforecast.target_transforms import LocalStandardScaler

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
        predictions[cutoff_date] = model.predict(HORIZON).set_index("unique_id")
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


def bench_level(level: str, panel: pd.DataFrame, targets: list[str], n_threads: int) -> list[dict]:
    started = time.perf_counter()
    if level == "TOTAL":
        total = forecast_total(panel, HORIZON, LEVEL, n_folds=N_FOLDS, n_threads=n_threads)
        results = {"__total__": total}
    else:
        results = forecast_panel(panel, HORIZON, LEVEL, n_folds=N_FOLDS, n_threads=n_threads)
    core_seconds = time.perf_counter() - started
    folds = [series_folds(panel, t, results[t]) for t in targets]
    models = {r.model for t, r in results.items() if t in targets}
    core = {}
    for f in folds:
        bt = results[f.series_id].backtest
        assert bt is not None
        core[f.series_id] = Scores(bt.mase, bt.smape, bt.interval_coverage)

    rows = []
    timed: dict[str, tuple[dict[str, Scores], float]] = {}
    candidates: list[tuple[str, Callable[[], dict[str, Scores]], str | None]] = [
        ("seasonal naive (7)", lambda: local_baseline(seasonal_naive)(folds), None),
        ("moving average (28)", lambda: local_baseline(moving_average)(folds), None),
        ("statsforecast AutoETS", lambda: autoets(folds), "statsforecast"),
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
    return rows


def speed_row(n_series: int, n_days: int, n_threads: int) -> dict[str, object]:
    panel = synthetic_panel(n_series, n_days)
    started = time.perf_counter()
    forecast_panel(panel, HORIZON, LEVEL, n_folds=N_FOLDS, n_threads=n_threads)
    return {
        "level": f"SPEED {n_series}x{n_days}d",
        "model": f"{CORE}, n_threads={n_threads}",
        "series": n_series,
        "seconds": time.perf_counter() - started,
    }


def run(quick: bool) -> list[dict]:
    """All benchmark rows; ``quick`` keeps it to seconds for CI."""
    n_threads = 1
    panels = demo_shop_panels(10 if quick else N_PRODUCTS)
    if panels is None:
        # TODO: the demo shop is missing; a synthetic shop stands in until it lands.
        products = synthetic_panel(40 if quick else 240, 760)
        panels = {"PRODUCT": (products, sorted(products["series_id"].unique())[:N_PRODUCTS])}
    rows: list[dict] = []
    for level, (panel, targets) in panels.items():
        if quick and level == "PRODUCT":
            keep = set(sorted(panel["series_id"].unique())[:40]) | set(targets)
            panel = panel[panel["series_id"].isin(keep)]
        rows.extend(bench_level(level, panel, targets, n_threads))
    rows.append(speed_row(50, 365, n_threads) if quick else speed_row(500, 730, n_threads))
    return rows


def print_table(rows: list[dict]) -> None:
    header = (
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
    print(" | ".join(header))
    print("|".join("---" for _ in header))
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
        print(" | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few, small series (CI)")
    print_table(run(parser.parse_args().quick))


if __name__ == "__main__":
    main()
