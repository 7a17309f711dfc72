"""The pure detection core: baselines, robust scores, gates, kinds and severities."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from alerts_support import demo_frames
from frames_support import catalogue_frame, inventory_frame, items_frame

from salesflow_graphql.alerts.detection import (
    WINDOW_DAYS,
    DetectionRules,
    detect_anomalies,
    find_sales_anomalies,
    find_stock_alerts,
    sales_severity,
    seasonal_fit,
)
from salesflow_graphql.alerts.model import AlertKind, ProductSnapshot, Severity, SubjectLevel
from salesflow_graphql.alerts.series import SalesPanel, build_sales_panel, panel_from_products
from salesflow_graphql.config import Settings
from salesflow_graphql.standin import DemoShop, PlantedAnomaly, build_demo_shop

FIRST_DAY = date(2026, 1, 5)  # a Monday
DAYS = WINDOW_DAYS + 14
SCAN = range(WINDOW_DAYS, DAYS)
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
RULES = DetectionRules()
WEEKLY = np.array([0.9, 0.9, 1.0, 1.0, 1.2, 1.6, 0.5])


def _product(sku: str, i: int) -> ProductSnapshot:
    return ProductSnapshot(
        id=i, sku=sku, name=f"Product {sku}", price=10.0, stock_quantity=50, low_stock_threshold=5
    )


def _panel(units: dict[str, np.ndarray], orders: dict[str, np.ndarray] | None = None) -> SalesPanel:
    skus = list(units)
    matrix = np.vstack([units[s] for s in skus]).astype(float)
    order_matrix = (
        np.vstack([orders[s] for s in skus]).astype(float) if orders else np.ceil(matrix / 2)
    )
    return panel_from_products(
        FIRST_DAY,
        skus,
        ["Tools"] * len(skus),
        [_product(s, i) for i, s in enumerate(skus, 1)],
        matrix,
        matrix * 10.0,
        order_matrix,
    )


def _steady(mean: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(mean * np.resize(WEEKLY, DAYS)).astype(float)


def _alerts_of(panel: SalesPanel, subject: str, rules: DetectionRules = RULES, **kwargs):
    alerts, _ = find_sales_anomalies(panel, SCAN, rules, NOW, **kwargs)
    return [a for a in alerts if a.subject == subject]


def test_a_spike_far_above_the_same_weekday_baseline_is_a_sales_spike() -> None:
    units = _steady(20, seed=1)
    quiet = _alerts_of(_panel({"A-1": units}), "A-1")
    units[65] += 60
    alerts = _alerts_of(_panel({"A-1": units}), "A-1")
    new = [a for a in alerts if a not in quiet]
    assert [(a.kind, a.date) for a in new] == [
        (AlertKind.SALES_SPIKE, FIRST_DAY + timedelta(days=65))
    ]
    spike = new[0]
    assert spike.score >= RULES.min_score and spike.observed > spike.expected
    assert spike.level is SubjectLevel.PRODUCT and spike.product is not None
    assert "spiked" in spike.message


def test_the_weekly_pattern_alone_never_alerts_although_a_global_z_score_would() -> None:
    # Saturdays sell three times a Sunday: a global z-score calls every Saturday a spike.
    units = 100 * np.resize(np.array([1, 1, 1, 1, 1.3, 2.4, 0.8]), DAYS)
    units = units + np.random.default_rng(3).normal(0, 3, DAYS)
    global_z = (units - units.mean()) / units.std()
    assert (np.abs(global_z[SCAN.start :]) >= 2).sum() >= 2
    assert _alerts_of(_panel({"W-1": units}), "W-1") == []


def test_intermittent_products_with_zero_mad_never_alert_even_on_a_huge_day() -> None:
    units = np.zeros(DAYS)
    units[[3, 17, 30, 44, 52, 61]] = 12  # a few big orders now and then
    units[66] = 400
    panel = _panel({"I-1": units})
    assert seasonal_fit(panel.units, np.array(list(SCAN))).zero_mad[-1].all()
    rules = dataclasses.replace(RULES, min_daily_units=0.0)  # not even the volume gate helps
    assert _alerts_of(panel, "I-1", rules) == []


def test_a_normally_selling_product_selling_nothing_is_a_sales_drop() -> None:
    rng = np.random.default_rng(5)
    orders = rng.poisson(9 * np.resize(WEEKLY, DAYS)).astype(float)
    units = orders * rng.integers(1, 4, DAYS)  # noisy units: their own z is weak
    units[68] = orders[68] = 0
    panel = _panel({"Z-1": units}, {"Z-1": orders})
    fit = seasonal_fit(panel.units, np.array([68]))
    units_z = -fit.baseline[-1, 0] / (fit.sigma[-1, 0] * 1.094)
    assert units_z > -RULES.min_score, "the unit counts alone would not prove the drop"
    (drop,) = [a for a in _alerts_of(panel, "Z-1") if a.date == FIRST_DAY + timedelta(days=68)]
    assert drop.kind is AlertKind.SALES_DROP and drop.observed == 0
    assert drop.score <= -RULES.min_score
    assert "dropped to zero" in drop.message


def test_products_below_the_volume_gate_are_not_watched() -> None:
    units = _steady(1.5, seed=7)
    units[66] = 25
    assert _alerts_of(_panel({"S-1": units}), "S-1") == []
    lower_gate = dataclasses.replace(RULES, min_daily_units=1.0)
    assert [a.date for a in _alerts_of(_panel({"S-1": units}), "S-1", lower_gate)] == [
        FIRST_DAY + timedelta(days=66)
    ]


def test_a_move_of_many_sigmas_but_a_few_percent_is_gated_out() -> None:
    units = 1000 + np.random.default_rng(9).normal(0, 4, DAYS)
    units[66] += 150  # far beyond the noise, but 15 % of a normal day
    assert _alerts_of(_panel({"B-1": units}), "B-1") == []
    loose = dataclasses.replace(RULES, min_relative_delta=0.0)
    assert [a.kind for a in _alerts_of(_panel({"B-1": units}), "B-1", loose)] == [
        AlertKind.SALES_SPIKE
    ]


def test_today_so_far_can_prove_a_spike_but_never_a_drop() -> None:
    units = np.append(_steady(20, seed=11), 0.0)  # today: nothing sold yet
    today = len(units) - 1
    panel = _panel({"T-1": units})
    assert [
        a for a in _alerts_of(panel, "T-1", partial=[today]) if a.date == panel.day(today)
    ] == []
    units[today] = 120  # already six times a full day
    (spike,) = [
        a
        for a in _alerts_of(_panel({"T-1": units}), "T-1", partial=[today])
        if a.date == panel.day(today)
    ]
    assert spike.kind is AlertKind.SALES_SPIKE and "so far today" in spike.message


def test_category_and_total_rows_are_sums_of_their_products() -> None:
    panel = _panel({"A-1": _steady(20, 1), "A-2": _steady(30, 2)})
    assert panel.subjects[:2] == ["TOTAL", "Tools"]
    assert np.allclose(panel.units[0], panel.units[2:].sum(axis=0))
    assert np.allclose(panel.units[1], panel.units[0])


@pytest.mark.parametrize(
    ("score", "stake", "expected"),
    [
        (3.5, 5.0, Severity.LOW),
        (3.5, 30.0, Severity.MEDIUM),
        (3.5, 80.0, Severity.HIGH),
        (3.5, 300.0, Severity.CRITICAL),
        (7.0, 30.0, Severity.HIGH),
        (-7.0, 5.0, Severity.MEDIUM),
    ],
)
def test_severity_grows_with_the_revenue_at_stake_and_the_score(
    score: float, stake: float, expected: Severity
) -> None:
    assert sales_severity(score, stake, usual_day=1000.0, rules=RULES) is expected


def _stock_frames(stock: dict[str, int], daily_units: dict[str, int], today: date):
    items = items_frame(
        [
            {
                "sale_id": n * 100 + i,
                "sold_at": datetime.combine(today - timedelta(days=n), datetime.min.time()),
                "product_id": i,
                "sku": sku,
                "product_name": sku,
                "quantity": daily_units[sku],
                "unit_price": 10.0,
            }
            for n in range(30)
            for i, sku in enumerate(stock, 1)
            if daily_units[sku]
        ]
    )
    catalogue = catalogue_frame(
        [
            {
                "product_id": i,
                "sku": sku,
                "name": sku,
                "price": 10.0,
                "stock_quantity": qty,
                "low_stock_threshold": 2,
            }
            for i, (sku, qty) in enumerate(stock.items(), 1)
        ]
    )
    inventory = inventory_frame([{"sku": s, "category": "Tools", "cost": 4.0} for s in stock])
    return items, catalogue, inventory


def test_stockouts_and_stockout_risks_follow_the_stock_analytics_definitions() -> None:
    today = date(2026, 3, 20)
    items, catalogue, inventory = _stock_frames(
        {"OUT": 0, "SHORT": 12, "FINE": 500, "DEAD": 0},
        {"OUT": 4, "SHORT": 4, "FINE": 4, "DEAD": 0},
        today,
    )
    alerts, checked = find_stock_alerts(items, catalogue, inventory, today, RULES, NOW, 1000.0)
    assert checked == 4
    by_subject = {a.subject: a for a in alerts}
    assert set(by_subject) == {"OUT", "SHORT"}  # DEAD is out of stock but nobody wants it
    out, short = by_subject["OUT"], by_subject["SHORT"]
    assert (out.kind, out.observed, out.expected, out.date) == (AlertKind.STOCKOUT, 0, 28, today)
    assert out.severity.at_least(Severity.MEDIUM)
    assert (short.kind, short.metric, short.observed, short.expected) == (
        AlertKind.STOCKOUT_RISK,
        "daysOfCover",
        3.0,
        7.0,
    )
    assert short.product is not None and short.product.stock_quantity == 12


def test_the_planted_anomalies_and_current_stockouts_of_the_demo_shop_are_detected(
    demo_shop: DemoShop,
) -> None:
    items, catalogue, inventory = demo_frames(demo_shop)
    found = detect_anomalies(
        items, catalogue, inventory, demo_shop.today, RULES, scan_days=60, detected_at=NOW
    )
    raised = {(a.kind, a.subject, a.date) for a in found.alerts}
    for planted in demo_shop.planted_anomalies:
        assert _expected_alert(planted) in raised, planted
    for sku in demo_shop.current_stockouts:
        assert (AlertKind.STOCKOUT, sku, demo_shop.today) in raised
    sales_subjects = {a.subject for a in found.alerts if a.kind.value.startswith("SALES")}
    assert not sales_subjects & set(demo_shop.intermittent)
    assert found.checked_series > 200
    assert [a.date for a in found.alerts] == sorted(a.date for a in found.alerts)


def _expected_alert(planted: PlantedAnomaly) -> tuple[AlertKind, str | None, date]:
    kind = AlertKind.SALES_SPIKE if planted.kind == "spike" else AlertKind.SALES_DROP
    return kind, planted.sku or planted.category, planted.date


#: Dates whose shop planted what the detector cannot see, before anomalies were planted
#: only where it can: drops on products of ten orders a day with noisy weeks, and (2027-02-17)
#: a category spike in January on a baseline still full of December.
UNSEEN_BEFORE = (date(2026, 12, 6), date(2027, 2, 17))


def test_every_planted_anomaly_is_detected_whatever_the_date(base_settings: Settings) -> None:
    # The shop is drawn relative to today: each date puts the same draws under another season
    # and weekday. A year from today, every 15th day (so each weekday in turn), and the above.
    start = base_settings.today()
    days = sorted({*(start + timedelta(days=15 * k) for k in range(25)), *UNSEEN_BEFORE})
    missed = []
    for today in days:
        shop = build_demo_shop(seed=base_settings.standin.demo_seed, today=today)
        planted = shop.planted_anomalies
        kinds = Counter((a.kind, a.category is None) for a in planted)
        assert kinds == {("spike", True): 4, ("spike", False): 1, ("drop", True): 3}, today
        first_day = today - timedelta(days=60 + WINDOW_DAYS)
        panel = build_sales_panel(*demo_frames(shop, first_day), first_day, today)
        alerts, _ = find_sales_anomalies(
            panel, sorted(panel.column(a.date) for a in planted), RULES, NOW
        )
        raised = {(a.kind, a.subject, a.date) for a in alerts}
        missed += [(today, a) for a in planted if _expected_alert(a) not in raised]
    assert missed == []
