"""Anomaly detection over daily sales and current stock: pure functions, no I/O.

Sales (SALES_SPIKE, SALES_DROP), for every series of a :class:`~.series.SalesPanel`
(TOTAL, each category, each catalogue product) and each scanned day:

- **Baseline**: the median of the same weekday over the trailing 8 weeks (the
  day itself excluded), so the weekly pattern and slow trends never alert.
- **Scale**: a robust sigma, 1.4826 × the MAD of the 56 trailing days around
  their own weekday medians, corrected for the shrinkage of those medians and
  widened for the baseline's own noise; floored (at least 1 unit, sqrt of the
  baseline for counts, 2 % of the baseline) so a very regular series cannot turn
  a tiny wobble into a huge score.
- **Zero MAD**: a series whose MAD is zero (an intermittent product that mostly
  sells nothing) never alerts: its "normal" is not known well enough.
- **Score**: the robust z, ``(observed - baseline) / scale``.
- **Gates**: a volume gate (the series sold ``min_daily_units`` a day on average
  in the window), a minimum absolute change (units and money) and a minimum
  relative change, so a 3-sigma move of a tiny series does not page anyone.
- **Zero-outs**: a product that normally sells and sells nothing at all gets a
  second score, from the Poisson chance of seeing no order at all given its
  usual number of orders that day. A product in ten orders a day that sells
  nothing is a 1-in-20,000 event even when its unit count is noisy.
- **Today** (not finished yet) is only checked for spikes against a whole
  day's baseline: a partial day can prove a spike, never a drop.
- Units and revenue are both scored; a (series, day) raises at most one alert,
  from the metric with the stronger score.

Stock (STOCKOUT, STOCKOUT_RISK), from :func:`~..analytics.stock.compute_stock_analytics`
(the definitions of ``stockAnalytics``): STOCKOUT when stock is 0 and the
product sold in the lookback window; STOCKOUT_RISK when days of cover are below
the lead time.

Severity combines how sure we are with how much money is at stake: the
revenue at stake as a share of the shop's usual daily revenue gives 0 to 3
steps (1 %, 5 %, 15 %), a score of twice the threshold one more; LOW + steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from ..analytics.products import current_catalogue
from ..analytics.stock import StockStatus, compute_stock_analytics
from .model import Alert, AlertKind, ProductSnapshot, Severity, SubjectLevel
from .series import SalesPanel, build_sales_panel

if TYPE_CHECKING:
    from ..config import Settings

#: Trailing weeks of the seasonal baseline, and the days they span.
BASELINE_WEEKS = 8
WINDOW_DAYS = 7 * BASELINE_WEEKS
#: MAD → sigma for normal noise.
MAD_TO_SIGMA = 1.4826
#: Deviations from the median of 8 same-weekday values are smaller than the
#: noise (the median follows its own sample): their MAD is 0.835 of the true one
#: (simulated for 8 weeks of normal noise).
GROUP_MEDIAN_SHRINK = 0.835
#: A new day differs from a median of 8 values by the noise plus the median's own
#: error (variance pi/2 * sigma^2 / 8), so the z divides by a slightly wider sigma.
PREDICTIVE_INFLATION = math.sqrt(1.0 + math.pi / (2.0 * BASELINE_WEEKS))
#: Floors of the scale: never below this many units, nor this share of the baseline.
MIN_SCALE_UNITS = 1.0
MIN_SCALE_SHARE = 0.02
#: Counts are at least as noisy as Poisson: the unit scale is never below this x sqrt(baseline).
POISSON_FLOOR = 1.0
#: Revenue at stake, as a share of the shop's usual daily revenue, that adds a severity step.
MONEY_STEPS = (0.01, 0.05, 0.15)
#: Smallest Poisson probability turned into a score (keeps the normal quantile finite).
MIN_PROBABILITY = 1e-12

_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class DetectionRules:
    """The thresholds of detection (``SALESFLOW_ALERT_*`` settings)."""

    min_score: float = 3.0
    min_daily_units: float = 2.0
    min_delta_units: float = 5.0
    min_delta_revenue: float = 50.0
    min_relative_delta: float = 0.25
    lead_time_days: int = 7
    stock_lookback_days: int = 30
    currency: str = "$"

    @classmethod
    def from_settings(cls, settings: Settings) -> DetectionRules:
        return cls(
            min_score=settings.alerts.min_score,
            min_daily_units=settings.alerts.min_daily_units,
            min_delta_units=settings.alerts.min_delta_units,
            min_delta_revenue=settings.alerts.min_delta_revenue,
            min_relative_delta=settings.alerts.min_relative_delta,
            lead_time_days=settings.alerts.lead_time_days,
            stock_lookback_days=settings.alerts.stock_lookback_days,
            currency=settings.reports.currency,
        )


# ------------------------------------------------------------------ robust scores
@dataclass(frozen=True, slots=True)
class SeasonalFit:
    """Baseline and robust noise of each series (rows) on each evaluated day (columns)."""

    baseline: np.ndarray
    #: Robust sigma of the day-to-day noise around the weekly pattern (no floor).
    sigma: np.ndarray
    #: The MAD was exactly zero: the series is (mostly) constant, usually all zeros.
    zero_mad: np.ndarray
    #: Mean value per day over the trailing window (the volume gate).
    level: np.ndarray


def seasonal_fit(values: np.ndarray, days: np.ndarray) -> SeasonalFit:
    """Same-weekday medians and robust sigma over the 56 days before each of ``days``.

    ``values`` is (series, calendar days); every day in ``days`` must be at least
    :data:`WINDOW_DAYS`. Vectorised over series and days.
    """
    rows = values.shape[0]
    windows = sliding_window_view(values, WINDOW_DAYS, axis=1)[:, days - WINDOW_DAYS]
    grid = windows.reshape(rows, len(days), BASELINE_WEEKS, 7)
    medians = np.median(grid, axis=2)
    # The window starts 56 days (8 whole weeks) before the day: column 0 is its weekday.
    deviations = np.abs(grid - medians[:, :, None, :]).reshape(rows, len(days), WINDOW_DAYS)
    mad = np.median(deviations, axis=2)
    return SeasonalFit(
        baseline=medians[:, :, 0],
        sigma=mad * (MAD_TO_SIGMA / GROUP_MEDIAN_SHRINK),
        zero_mad=mad == 0,
        level=windows.mean(axis=2),
    )


def robust_z(observed: np.ndarray, fit: SeasonalFit, floor: np.ndarray) -> np.ndarray:
    """``(observed - baseline) / scale``; the scale is the sigma with its floor, widened."""
    scale = np.maximum(fit.sigma, floor) * PREDICTIVE_INFLATION
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (observed - fit.baseline) / scale
    return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)  # no scale: nothing is known


def zero_out_score(fit: SeasonalFit) -> np.ndarray:
    """Score of a day without any order, from the usual number of orders that day.

    P(no order) = exp(-lambda / phi) with lambda the same-weekday median of
    orders and phi >= 1 the over-dispersion seen in the window (robust variance
    / mean), turned into the normal quantile (negative: a drop).
    """
    usual = np.maximum(fit.baseline, 0.0)
    dispersion = np.maximum(1.0, fit.sigma**2 / np.maximum(usual, 1e-9))
    probability = np.clip(np.exp(-usual / dispersion), MIN_PROBABILITY, 0.5)
    return (
        np.vectorize(_NORMAL.inv_cdf, otypes=[float])(probability)
        if probability.size
        else probability
    )


# -------------------------------------------------------------------- sales alerts
@dataclass(frozen=True, slots=True)
class _MetricScores:
    observed: np.ndarray
    expected: np.ndarray
    score: np.ndarray
    passes_up: np.ndarray
    passes_down: np.ndarray


@dataclass(frozen=True, slots=True)
class SalesScan:
    """The scores behind sales alerts, per (series, scanned day); for tests and the benchmark."""

    days: np.ndarray
    units: np.ndarray  # robust z of units (zero-out score folded in); 0 where not eligible
    revenue: np.ndarray
    spike: np.ndarray  # bool: a SALES_SPIKE would be raised
    drop: np.ndarray  # bool: a SALES_DROP would be raised
    eligible: np.ndarray  # bool: volume gate passed, MAD not zero


def scan_sales(
    panel: SalesPanel, days: Sequence[int], rules: DetectionRules, *, partial: Sequence[int] = ()
) -> tuple[SalesScan, _MetricScores, _MetricScores]:
    """Score every watched series on ``days`` (complete) and ``partial`` (spikes only)."""
    columns = np.asarray([*days, *partial], dtype=np.int64)
    columns = columns[columns >= WINDOW_DAYS]
    complete = np.isin(columns, np.asarray(days, dtype=np.int64))
    units_fit = seasonal_fit(panel.units, columns)
    revenue_fit = seasonal_fit(panel.revenue, columns)
    units_now = panel.units[:, columns]
    revenue_now = panel.revenue[:, columns]

    unit_floor = np.maximum.reduce(
        [
            np.full(units_fit.baseline.shape, MIN_SCALE_UNITS),
            POISSON_FLOOR * np.sqrt(np.maximum(units_fit.baseline, 0.0)),
            MIN_SCALE_SHARE * np.abs(units_fit.baseline),
        ]
    )
    # Money floors follow the unit floors at the series' usual price per unit.
    price = revenue_fit.level / np.maximum(units_fit.level, 1e-9)
    revenue_floor = np.maximum(unit_floor * price, MIN_SCALE_SHARE * np.abs(revenue_fit.baseline))
    units_z = robust_z(units_now, units_fit, unit_floor)
    revenue_z = robust_z(revenue_now, revenue_fit, revenue_floor)

    # A product that sells nothing at all: the chance of no order decides.
    is_product = np.array([level is SubjectLevel.PRODUCT for level in panel.levels])
    zero = (units_now == 0) & is_product[:, None] & complete[None, :]
    if zero.any():
        orders_fit = seasonal_fit(panel.orders, columns)
        rows, cols = np.nonzero(zero)
        picked = SeasonalFit(
            baseline=orders_fit.baseline[rows, cols],
            sigma=orders_fit.sigma[rows, cols],
            zero_mad=orders_fit.zero_mad[rows, cols],
            level=orders_fit.level[rows, cols],
        )
        units_z[rows, cols] = np.minimum(units_z[rows, cols], zero_out_score(picked))

    eligible = (
        panel.watched[:, None]
        & (units_fit.level >= rules.min_daily_units)
        & ~units_fit.zero_mad
        & ~revenue_fit.zero_mad
    )
    units = _gated(units_now, units_fit.baseline, units_z, rules.min_delta_units, rules, eligible)
    revenue = _gated(
        revenue_now, revenue_fit.baseline, revenue_z, rules.min_delta_revenue, rules, eligible
    )
    up = units.passes_up | revenue.passes_up
    down = (units.passes_down | revenue.passes_down) & complete[None, :]
    # One alert per (series, day): the direction of the stronger score wins.
    stronger_up = np.maximum(
        np.where(units.passes_up, units.score, 0), np.where(revenue.passes_up, revenue.score, 0)
    )
    stronger_down = -np.minimum(
        np.where(units.passes_down, units.score, 0),
        np.where(revenue.passes_down, revenue.score, 0),
    )
    spike = up & ~(down & (stronger_down > stronger_up))
    drop = down & ~spike
    scan = SalesScan(
        days=columns,
        units=np.where(eligible, units_z, 0.0),
        revenue=np.where(eligible, revenue_z, 0.0),
        spike=spike,
        drop=drop,
        eligible=eligible,
    )
    return scan, units, revenue


def _gated(
    observed: np.ndarray,
    expected: np.ndarray,
    score: np.ndarray,
    min_delta: float,
    rules: DetectionRules,
    eligible: np.ndarray,
) -> _MetricScores:
    delta = observed - expected
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(expected > 0, np.abs(delta) / expected, np.inf)
    big_enough = eligible & (np.abs(delta) >= min_delta) & (relative >= rules.min_relative_delta)
    return _MetricScores(
        observed=observed,
        expected=expected,
        score=score,
        passes_up=big_enough & (score >= rules.min_score),
        passes_down=big_enough & (score <= -rules.min_score),
    )


def find_sales_anomalies(
    panel: SalesPanel,
    days: Sequence[int],
    rules: DetectionRules,
    detected_at: datetime,
    *,
    partial: Sequence[int] = (),
) -> tuple[list[Alert], int]:
    """SALES_SPIKE and SALES_DROP alerts of ``days`` (and spikes of ``partial`` days).

    Returns the alerts and how many daily series (subject x metric) were checked.
    """
    scan, units, revenue = scan_sales(panel, days, rules, partial=partial)
    if scan.days.size == 0:
        return [], 0
    total_revenue = revenue.expected[0]  # row 0 is TOTAL: the shop's usual day
    partial_days = set(partial)
    alerts = []
    for row, col in zip(*np.nonzero(scan.spike | scan.drop), strict=True):
        spike = bool(scan.spike[row, col])
        use_units = _units_speak_louder(units, revenue, row, col, spike)
        metric = units if use_units else revenue
        day = panel.day(int(scan.days[col]))
        stake = abs(float(revenue.observed[row, col] - revenue.expected[row, col]))
        score = float(metric.score[row, col])
        alerts.append(
            Alert(
                kind=AlertKind.SALES_SPIKE if spike else AlertKind.SALES_DROP,
                severity=sales_severity(score, stake, float(total_revenue[col]), rules),
                level=panel.levels[row],
                subject=panel.subjects[row],
                metric="units" if use_units else "revenue",
                observed=round(float(metric.observed[row, col]), 2),
                expected=round(float(metric.expected[row, col]), 2),
                score=round(score, 2),
                date=day,
                detected_at=detected_at,
                message=_sales_message(
                    panel,
                    row,
                    spike,
                    use_units,
                    day,
                    float(metric.observed[row, col]),
                    float(metric.expected[row, col]),
                    score,
                    stake,
                    int(scan.days[col]) in partial_days,
                    rules.currency,
                ),
                revenue_at_stake=round(stake, 2),
                product=panel.products[row],
            )
        )
    checked = int(scan.eligible.any(axis=1).sum()) * 2  # units and revenue of each
    return alerts, checked


def _units_speak_louder(
    units: _MetricScores, revenue: _MetricScores, row: int, col: int, spike: bool
) -> bool:
    passes = (units.passes_up if spike else units.passes_down)[row, col]
    other = (revenue.passes_up if spike else revenue.passes_down)[row, col]
    if passes and other:
        return abs(units.score[row, col]) >= abs(revenue.score[row, col])
    return bool(passes)


def sales_severity(
    score: float, revenue_at_stake: float, usual_day: float, rules: DetectionRules
) -> Severity:
    """LOW plus one step per money threshold passed, plus one for a score of twice the threshold."""
    steps = _money_steps(revenue_at_stake, usual_day)
    if abs(score) >= 2 * rules.min_score:
        steps += 1
    return Severity.of_rank(steps)


def _money_steps(amount: float, usual_day: float) -> int:
    share = amount / usual_day if usual_day > 0 else 0.0
    return sum(share >= step for step in MONEY_STEPS)


# -------------------------------------------------------------------- stock alerts
def find_stock_alerts(
    items: pd.DataFrame,
    catalogue: pd.DataFrame,
    inventory: pd.DataFrame,
    today: date,
    rules: DetectionRules,
    detected_at: datetime,
    usual_day_revenue: float,
) -> tuple[list[Alert], int]:
    """STOCKOUT and STOCKOUT_RISK alerts for today, with ``stockAnalytics``' definitions."""
    stock = compute_stock_analytics(
        items, catalogue, inventory, today, rules.stock_lookback_days, rules.lead_time_days
    )
    by_id = {int(r.product_id): r for r in current_catalogue(catalogue).itertuples()}
    lead = rules.lead_time_days
    alerts = []
    for line in stock.items:
        if line.average_daily_sales <= 0:
            continue  # no recent demand: nothing is being missed
        record = by_id[line.product_id]
        product = ProductSnapshot(
            id=line.product_id,
            sku=line.sku,
            name=line.name,
            price=float(record.price),
            stock_quantity=line.stock_quantity,
            low_stock_threshold=int(record.low_stock_threshold),
        )
        daily_revenue = line.average_daily_sales * product.price
        label = f"{line.name} ({line.sku})"
        if line.status is StockStatus.OUT_OF_STOCK:
            alerts.append(
                Alert(
                    kind=AlertKind.STOCKOUT,
                    severity=Severity.of_rank(1 + _money_steps(daily_revenue, usual_day_revenue)),
                    level=SubjectLevel.PRODUCT,
                    subject=line.sku,
                    metric="stockQuantity",
                    observed=float(line.stock_quantity),
                    expected=round(line.average_daily_sales * lead, 2),
                    score=1.0,
                    date=today,
                    detected_at=detected_at,
                    message=(
                        f"{label} is out of stock. It sold {line.average_daily_sales:.1f} units a "
                        f"day over the last {rules.stock_lookback_days} days, about "
                        f"{_money(daily_revenue, rules.currency)} of sales a day."
                    ),
                    revenue_at_stake=round(daily_revenue, 2),
                    product=product,
                )
            )
        elif line.days_of_cover is not None and line.days_of_cover < lead:
            short = 1.0 - line.days_of_cover / lead
            alerts.append(
                Alert(
                    kind=AlertKind.STOCKOUT_RISK,
                    severity=Severity.of_rank(
                        _money_steps(daily_revenue, usual_day_revenue) + (short > 0.5)
                    ),
                    level=SubjectLevel.PRODUCT,
                    subject=line.sku,
                    metric="daysOfCover",
                    observed=round(line.days_of_cover, 2),
                    expected=float(lead),
                    score=round(short, 3),
                    date=today,
                    detected_at=detected_at,
                    message=(
                        f"{label} has {line.days_of_cover:.1f} days of stock left at the recent "
                        f"pace of {line.average_daily_sales:.1f} units a day, less than the "
                        f"{lead}-day lead time; about {line.suggested_reorder_quantity} units "
                        "should be reordered."
                    ),
                    revenue_at_stake=round(daily_revenue * (lead - line.days_of_cover), 2),
                    product=product,
                )
            )
    return alerts, len(stock.items)


# ------------------------------------------------------------------------- a check
@dataclass(frozen=True, slots=True)
class Detection:
    """Everything one check found, oldest day first, before dedup."""

    alerts: list[Alert]
    checked_series: int


def history_days(scan_days: int) -> int:
    """Days of sales a check needs: the scanned days, their baselines, and today."""
    return scan_days + WINDOW_DAYS + 1


def detect_anomalies(
    items: pd.DataFrame,
    catalogue: pd.DataFrame,
    inventory: pd.DataFrame,
    today: date,
    rules: DetectionRules,
    *,
    scan_days: int,
    detected_at: datetime,
) -> Detection:
    """Sales anomalies of the last ``scan_days`` complete days (and spikes so far today), and stock alerts."""
    first_day = today - timedelta(days=scan_days + WINDOW_DAYS)
    panel = build_sales_panel(items, catalogue, inventory, first_day, today)
    today_column = panel.column(today)
    days = range(today_column - scan_days, today_column)
    sales, sales_checked = find_sales_anomalies(
        panel, days, rules, detected_at, partial=[today_column]
    )
    usual_day = float(np.median(panel.revenue[0, today_column - WINDOW_DAYS : today_column]))
    stock, stock_checked = find_stock_alerts(
        items, catalogue, inventory, today, rules, detected_at, usual_day
    )
    ordered = sorted(
        [*sales, *stock],
        key=lambda a: (a.date or today, -a.severity.rank, a.kind, a.subject),
    )
    return Detection(alerts=ordered, checked_series=sales_checked + stock_checked)


# ------------------------------------------------------------------------ messages
def _sales_message(
    panel: SalesPanel,
    row: int,
    spike: bool,
    use_units: bool,
    day: date,
    observed: float,
    expected: float,
    score: float,
    stake: float,
    partial: bool,
    currency: str,
) -> str:
    level = panel.levels[row]
    product = panel.products[row]
    if level is SubjectLevel.TOTAL:
        what = "Shop-wide sales"
    elif level is SubjectLevel.CATEGORY:
        what = f"Sales of the {panel.subjects[row]} category"
    else:
        what = (
            f"Sales of {product.name if product else panel.subjects[row]} ({panel.subjects[row]})"
        )
    when = "so far today" if partial else f"on {day.isoformat()}"
    amount = (
        (f"{observed:,.0f} units", f"{expected:,.0f}")
        if use_units
        else (_money(observed, currency), _money(expected, currency))
    )
    if spike:
        verb = "spiked"
        money = f"about {_money(stake, currency)} above a usual day"
    elif observed == 0:
        verb = "dropped to zero"
        money = f"about {_money(stake, currency)} below a usual day"
    else:
        verb = "dropped"
        money = f"about {_money(stake, currency)} below a usual day"
    return (
        f"{what} {verb} {when}: {amount[0]} against about {amount[1]} expected "
        f"(robust z {score:+.1f}); {money}."
    )


def _money(amount: float, currency: str) -> str:
    return f"{currency}{amount:,.0f}"
