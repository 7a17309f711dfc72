"""forecast(input) end to end on the stand-in: levels, metrics, fallbacks, errors, single-flight."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta

import httpx
import pytest
from support import error_codes, graphql

from salesflow_graphql.app import create_app
from salesflow_graphql.config import Settings
from salesflow_graphql.forecast.series import ForecastLevel, ForecastMetric
from salesflow_graphql.forecast.service import ForecastRequest
from salesflow_graphql.metrics import REGISTRY
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.standin import DemoShop, StandIn

FORECAST = """query($i: ForecastInput!) { forecast(input: $i) {
  level key metric model trainedAt
  history { date value } points { date value lower upper }
  backtest { folds horizonDays mase smape baselineMase intervalCoverage } } }"""


@pytest.fixture(scope="module")
async def forecasting_runtime(
    base_settings: Settings, demo_shop: DemoShop
) -> AsyncIterator[tuple[Runtime, StandIn]]:
    """One runtime for the module: its training pool starts once."""
    standin = StandIn(demo_shop, secret=base_settings.auth.jwt_secret)
    runtime = await Runtime.start(base_settings, standin=standin)
    yield runtime, standin
    await runtime.close()


@pytest.fixture(scope="module")
async def forecasting(
    forecasting_runtime: tuple[Runtime, StandIn],
) -> AsyncIterator[tuple[httpx.AsyncClient, StandIn]]:
    runtime, standin = forecasting_runtime
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gateway", timeout=120
    ) as client:
        yield client, standin


async def _forecast(client: httpx.AsyncClient, token: str, **given: object) -> dict:
    return await graphql(client, FORECAST, token, {"i": given})


def _check_shape(forecast: dict, horizon: int, history_days: int) -> None:
    today = date.today()
    history = [date.fromisoformat(p["date"]) for p in forecast["history"]]
    assert len(history) == history_days
    assert history[-1] == today - timedelta(days=1), "history is made of complete days"
    assert history == [history[0] + timedelta(days=i) for i in range(history_days)]
    points = forecast["points"]
    assert [date.fromisoformat(p["date"]) for p in points] == [
        history[-1] + timedelta(days=i + 1) for i in range(horizon)
    ]
    for p in points:
        assert 0 <= p["lower"] <= p["value"] <= p["upper"]
    backtest = forecast["backtest"]
    assert backtest["folds"] >= 4 and backtest["horizonDays"] == horizon
    assert backtest["mase"] >= 0 and 0 <= backtest["smape"] <= 2
    assert 0 <= backtest["intervalCoverage"] <= 1


async def test_total_units_with_the_api_defaults(forecasting, user_token: str) -> None:
    client, _ = forecasting
    answer = await _forecast(client, user_token)
    assert "errors" not in answer, answer
    forecast = answer["data"]["forecast"]
    assert (forecast["level"], forecast["key"], forecast["metric"]) == ("TOTAL", None, "UNITS")
    assert forecast["model"].startswith("lightgbm")
    _check_shape(forecast, horizon=14, history_days=365)
    mean_history = sum(p["value"] for p in forecast["history"][-28:]) / 28
    mean_forecast = sum(p["value"] for p in forecast["points"]) / 14
    assert 0.5 < mean_forecast / mean_history < 2, "a busy shop's forecast stays near its level"


@pytest.mark.parametrize(
    ("level", "metric"),
    [("CATEGORY", "REVENUE"), ("CATEGORY", "UNITS"), ("PRODUCT", "UNITS"), ("PRODUCT", "REVENUE")],
)
async def test_category_and_product_levels_answer_for_both_metrics(
    forecasting, demo_shop: DemoShop, user_token: str, level: str, metric: str
) -> None:
    client, _ = forecasting
    best_seller = "ELE-00001"
    key = "Electronics" if level == "CATEGORY" else best_seller
    answer = await _forecast(
        client, user_token, level=level, key=key, metric=metric, horizonDays=7, historyDays=120
    )
    assert "errors" not in answer, answer
    forecast = answer["data"]["forecast"]
    assert (forecast["level"], forecast["key"], forecast["metric"]) == (level, key, metric)
    _check_shape(forecast, horizon=7, history_days=120)


async def test_an_intermittent_product_falls_back_without_error(
    forecasting, demo_shop: DemoShop, user_token: str
) -> None:
    client, _ = forecasting
    answer = await _forecast(client, user_token, level="PRODUCT", key=demo_shop.intermittent[0])
    forecast = answer["data"]["forecast"]
    assert not forecast["model"].startswith("lightgbm")
    assert forecast["model"] in {"tsb", "seasonal-naive", "moving-average"}
    assert len(forecast["points"]) == 14


async def test_a_product_that_never_sold_gets_a_zero_forecast(
    gateway: httpx.AsyncClient, standin: StandIn, admin_token: str, user_token: str
) -> None:
    transport = httpx.ASGITransport(app=standin.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://java/api/v1") as java:
        created = await java.post(
            "/products",
            json={"name": "Brand new gadget", "sku": "NEW-00001", "price": 10, "stockQuantity": 5},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        assert created.status_code == 201
    answer = await _forecast(gateway, user_token, level="PRODUCT", key="NEW-00001", historyDays=60)
    forecast = answer["data"]["forecast"]
    assert forecast["model"] == "tsb"
    assert all(p["value"] == 0 for p in forecast["points"])


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ({"level": "PRODUCT", "key": "NO-SUCH-SKU"}, "NOT_FOUND"),
        ({"level": "CATEGORY", "key": "Spaceships"}, "NOT_FOUND"),
        ({"level": "PRODUCT"}, "BAD_USER_INPUT"),
        ({"level": "TOTAL", "key": "Electronics"}, "BAD_USER_INPUT"),
        ({"horizonDays": 0}, "BAD_USER_INPUT"),
        ({"horizonDays": 91}, "BAD_USER_INPUT"),
        ({"historyDays": 10}, "BAD_USER_INPUT"),
        ({"historyDays": 5000}, "BAD_USER_INPUT"),
        ({"intervalLevel": 1.5}, "BAD_USER_INPUT"),
    ],
)
async def test_bad_requests_get_clear_codes(
    forecasting, user_token: str, given: dict, code: str
) -> None:
    client, _ = forecasting
    answer = await _forecast(client, user_token, **given)
    assert error_codes(answer) == [code]


async def test_concurrent_identical_requests_train_once_and_repeats_hit_the_cache(
    forecasting, user_token: str
) -> None:
    client, _ = forecasting

    def trainings() -> float:
        return sum(
            sample.value
            for metric in REGISTRY.collect()
            if metric.name == "salesflow_forecast_training_seconds"
            for sample in metric.samples
            if sample.name.endswith("_count")
        )

    before = trainings()
    given = {"level": "CATEGORY", "key": "Toys & Games", "horizonDays": 10, "historyDays": 90}
    answers = await asyncio.gather(*(_forecast(client, user_token, **given) for _ in range(5)))
    assert trainings() - before == 1
    trained_at = {a["data"]["forecast"]["trainedAt"] for a in answers}
    assert len(trained_at) == 1
    again = await graphql(
        client, FORECAST.replace("query(", "query Again("), user_token, {"i": given}
    )
    assert again["data"]["forecast"]["trainedAt"] in trained_at
    assert trainings() - before == 1


async def test_handed_off_once_the_training_runs_in_its_process_or_needs_nothing_more(
    forecasting_runtime: tuple[Runtime, StandIn], user_token: str
) -> None:
    """What a report waits for before its heavy sections start: set while the training
    runs in its process (not before it was sent, not only after it ended), for a joined
    training, and for a cached forecast."""
    runtime, _ = forecasting_runtime
    forecasts = runtime.forecasts
    request = ForecastRequest(ForecastLevel.TOTAL, None, ForecastMetric.REVENUE, 14, 365, 0.8)

    def ask(handed_off: asyncio.Event) -> asyncio.Task:
        data = runtime.source.reading(user_token)
        return asyncio.ensure_future(
            forecasts.generate_forecast(data, request, handed_off=handed_off)
        )

    first_off, joined_off = asyncio.Event(), asyncio.Event()
    first = ask(first_off)
    async with asyncio.timeout(60):
        await first_off.wait()
    assert not first.done() and forecasts.trainings.in_flight == 1, "set while it trains"
    joined = ask(joined_off)
    async with asyncio.timeout(60):
        await joined_off.wait()
    assert not first.done(), "a joined training is handed off without waiting for it"
    trained, again = await asyncio.gather(first, joined)
    assert again.trained_at == trained.trained_at

    cached_off = asyncio.Event()
    cached = await ask(cached_off)
    assert cached_off.is_set() and cached.trained_at == trained.trained_at
