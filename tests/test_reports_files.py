"""The report files: PDF text against salesAnalytics, the workbook's sheets, charts and formats."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl.chart import BarChart, LineChart
from reports_support import StubForecasts, add_product_with_a_sale, pdf_pages, workbook
from support import graphql

from salesflow_graphql.analytics.periods import DateRange
from salesflow_graphql.config import Settings
from salesflow_graphql.forecast.series import ForecastLevel, ForecastMetric
from salesflow_graphql.forecast.service import ForecastRequest
from salesflow_graphql.reports.model import ReportKind
from salesflow_graphql.runtime import Runtime

KPIS = """query($range: DateRangeInput) {
  salesAnalytics(range: $range) {
    kpis { revenue orders unitsSold averageOrderValue previousRevenue revenueChange distinctProducts }
    topProducts { revenue product { sku name } }
    categories { category revenue shareOfRevenue }
    trend { period revenue }
  }
  stockAnalytics { kpis { productCount outOfStock lowStock reorderNeeded deadStock stockValue } }
}"""


@pytest.fixture
def settings(base_settings: Settings, tmp_path: Path) -> Settings:
    return base_settings.replace(java={"backoff_s": 0.0}, exports_dir=str(tmp_path))


@pytest.fixture
def forecasts(runtime: Runtime) -> StubForecasts:
    stub = StubForecasts()
    runtime.reports.forecasts = stub  # no model training in these tests
    return stub


def _range(settings: Settings, days: int = 30) -> dict[str, str]:
    end = settings.today() - timedelta(days=1)
    return {"start": (end - timedelta(days=days - 1)).isoformat(), "end": end.isoformat()}


async def _render(
    gateway: httpx.AsyncClient, token: str, kind: str, fmt: str, period: dict[str, str]
) -> httpx.Response:
    response = await gateway.get(
        "/reports/render",
        params={"kind": kind, "format": fmt, **period},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return response


def _money(value: float) -> str:
    return f"${value:,.2f}"


async def _analytics(gateway: httpx.AsyncClient, token: str, period: dict[str, str]) -> Any:
    answer = await graphql(gateway, KPIS, token, {"range": period})
    assert "errors" not in answer, answer
    return answer["data"]


async def test_the_full_pdf_shows_the_figures_sales_analytics_returns(
    gateway, user_token, settings, forecasts
) -> None:
    period = _range(settings)
    data = await _analytics(gateway, user_token, period)
    response = await _render(gateway, user_token, "FULL", "PDF", period)
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    pages = pdf_pages(response.content)
    text = " ".join(pages)
    kpis = data["salesAnalytics"]["kpis"]
    assert _money(kpis["revenue"]) in text
    assert f"{kpis['orders']:,}" in text
    assert _money(kpis["averageOrderValue"]) in text
    assert f"{kpis['unitsSold']:,}" in text
    assert f"{kpis['revenueChange'] * 100:+.1f}%" in text
    assert _money(kpis["previousRevenue"]) in text
    top = data["salesAnalytics"]["topProducts"][0]
    assert top["product"]["sku"] in text and _money(top["revenue"]) in text
    biggest = data["salesAnalytics"]["categories"][0]
    assert biggest["category"] in text and f"{biggest['shareOfRevenue'] * 100:.1f}%" in text
    stock = data["stockAnalytics"]["kpis"]
    assert _money(stock["stockValue"]) in text
    assert f"OUT OF STOCK {stock['outOfStock']}" in text
    assert "Sales & Stock Report" in pages[0] and "14-day revenue forecast" in text
    assert "Expected over the next 14 days: $294,000.00" in text  # 14 x the stub's 21,000
    n = len(pages)
    assert all(f"Page {i} of {n}" in page for i, page in enumerate(pages, start=1))
    assert forecasts.requests[0].horizon_days == 14


async def test_sales_and_stock_reports_carry_only_their_own_sections(
    gateway, user_token, settings, forecasts
) -> None:
    period = _range(settings)
    sales = " ".join(
        pdf_pages((await _render(gateway, user_token, "SALES", "PDF", period)).content)
    )
    stock = " ".join(
        pdf_pages((await _render(gateway, user_token, "STOCK", "PDF", period)).content)
    )
    assert "Sales overview" in sales and "Top products" in sales
    assert "Stock position" not in sales and "Reorder list" not in sales
    assert "Stock position" in stock and "Reorder list" in stock
    assert "Sales overview" not in stock and "Top products" not in stock
    assert "forecast" not in sales.lower() and "forecast" not in stock.lower()
    assert forecasts.requests == []


async def test_a_long_range_draws_weekly_and_still_fits(gateway, user_token, settings, forecasts):
    period = _range(settings, 365)
    pages = pdf_pages((await _render(gateway, user_token, "FULL", "PDF", period)).content)
    assert "Average revenue per day, week by week." in pages[0]
    assert len(pages) <= 5


async def test_a_failing_forecast_leaves_a_note_not_a_failure(
    gateway, user_token, settings, runtime
) -> None:
    from salesflow_graphql.errors import BadUserInput

    runtime.reports.forecasts = StubForecasts(fail=BadUserInput("not enough history"))
    text = " ".join(
        pdf_pages((await _render(gateway, user_token, "FULL", "PDF", _range(settings))).content)
    )
    assert "The 14-day forecast could not be computed for this report." in text
    assert "14-day revenue forecast" not in text


async def test_the_workbook_has_its_sheets_charts_formats_and_the_api_values(
    gateway, user_token, settings, forecasts
) -> None:
    period = _range(settings)
    data = await _analytics(gateway, user_token, period)
    response = await _render(gateway, user_token, "FULL", "XLSX", period)
    assert response.headers["content-disposition"] == (
        f'attachment; filename="salesflow-full-{period["start"]}-{period["end"]}.xlsx"'
    )
    book = workbook(response.content)
    assert book.sheetnames == [
        "Summary",
        "Trend",
        "Top products",
        "Categories",
        "Stock",
        "Reorder",
        "Forecast",
    ]
    kpis = data["salesAnalytics"]["kpis"]
    summary = book["Summary"]
    figures = {summary.cell(r, 1).value: summary.cell(r, 2) for r in range(7, summary.max_row + 1)}
    assert figures["Revenue"].value == kpis["revenue"]
    assert figures["Revenue"].number_format == '"$"#,##0.00'
    assert figures["Orders"].value == kpis["orders"] and figures["Orders"].number_format == "#,##0"
    assert figures["Average order value"].value == kpis["averageOrderValue"]
    change = summary.cell(figures["Revenue"].row, 4)
    assert change.value == pytest.approx(kpis["revenueChange"]) and change.number_format == "0.0%"

    trend = book["Trend"]
    assert (
        trend.freeze_panes == "A2"
        and trend.auto_filter.ref == f"A1:D{len(data['salesAnalytics']['trend']) + 1}"
    )
    assert trend["A2"].value.date() == date.fromisoformat(period["start"])
    assert trend["A2"].number_format == "yyyy-mm-dd" and trend["B2"].number_format == '"$"#,##0.00'
    assert sum(trend.cell(r, 2).value for r in range(2, trend.max_row + 1)) == pytest.approx(
        kpis["revenue"], abs=0.05
    )
    assert [type(c) for c in trend._charts] == [LineChart]

    top = book["Top products"]
    first = data["salesAnalytics"]["topProducts"][0]
    assert (top["B2"].value, top["F2"].value) == (first["product"]["sku"], first["revenue"])
    assert top["G2"].number_format == "0.0%" and [type(c) for c in top._charts] == [BarChart]

    categories = book["Categories"]
    assert [type(c) for c in categories._charts] == [BarChart]
    assert categories["A2"].value == data["salesAnalytics"]["categories"][0]["category"]

    stock = book["Stock"]
    assert stock.freeze_panes == "A2" and stock.auto_filter.ref.startswith("A1:I")
    statuses = {stock.cell(r, 3).value for r in range(2, stock.max_row + 1)}
    assert statuses <= {"OUT_OF_STOCK", "LOW_STOCK", "REORDER", "OK", "DEAD_STOCK"}
    assert stock.max_row - 1 == data["stockAnalytics"]["kpis"]["productCount"]
    rules = [rule for cf in stock.conditional_formatting for rule in cf.rules]
    assert {r.formula[0] for r in rules if r.type == "cellIs"} >= {'"OUT_OF_STOCK"', '"LOW_STOCK"'}
    reorder = book["Reorder"]
    assert reorder.max_row - 1 == (
        data["stockAnalytics"]["kpis"]["reorderNeeded"]
        + data["stockAnalytics"]["kpis"]["outOfStock"]
    )
    assert all(book[name].column_dimensions["B"].width >= 9 for name in ("Stock", "Reorder"))
    assert [type(c) for c in book["Forecast"]._charts] == [LineChart]


@pytest.mark.parametrize(
    "name",
    [
        '=HYPERLINK("http://evil.example","Click me")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)",
        "\tTabbed",
        "\rReturn",
    ],
)
async def test_formula_like_product_names_stay_text_in_the_workbook(
    gateway, user_token, settings, standin, forecasts, name
) -> None:
    await add_product_with_a_sale(standin, settings.auth.jwt_secret, name, "EVIL-00001")
    today = settings.today().isoformat()
    response = await _render(gateway, user_token, "FULL", "XLSX", {"start": today, "end": today})
    book = workbook(response.content)
    stored = name.replace("\r", "\n")  # XML turns a raw CR into LF on reading; still text
    cells = [
        cell
        for sheet in ("Top products", "Stock")
        for row in book[sheet].iter_rows()
        for cell in row
        if cell.value == stored
    ]
    assert len(cells) == 2  # in both sheets, value unchanged
    for cell in cells:
        assert cell.data_type == "s"  # a string, never a formula
        assert cell.quotePrefix is True  # and Excel keeps it text when edited
    pdf = await _render(gateway, user_token, "SALES", "PDF", {"start": today, "end": today})
    assert pdf.content.startswith(b"%PDF-")


async def test_markup_in_names_is_printed_not_interpreted(
    gateway, user_token, settings, standin, forecasts
) -> None:
    name = "Tom & Jerry <b>Mug</b>"
    await add_product_with_a_sale(standin, settings.auth.jwt_secret, name, "MUG-00001")
    today = settings.today().isoformat()
    response = await _render(gateway, user_token, "SALES", "PDF", {"start": today, "end": today})
    assert "Tom & Jerry <b>Mug</b>" in " ".join(pdf_pages(response.content))


async def test_a_full_report_fetches_each_window_once_and_reuses_the_dashboards(
    runtime: Runtime, standin: Any, user_token: str, settings: Settings
) -> None:
    """Issue 16 §3: the sections share one fetch of their widest window (three years: the
    previous period's KPIs are compared with the one before), and the forecast reads its own year, the dashboard forecast card's: what
    the dashboard cached is neither fetched nor trained again."""
    end = settings.today() - timedelta(days=1)
    period = DateRange(end - timedelta(days=364), end)

    def history_calls() -> list[str]:
        return [r.query for r in standin.requests if r.path == "/sales/history"]

    card = ForecastRequest(ForecastLevel.TOTAL, None, ForecastMetric.REVENUE, 14, 365, 0.9)
    trained = await runtime.forecasts.generate_forecast(runtime.source.reading(user_token), card)
    assert history_calls() == ["days=365"]
    report = await runtime.reports.generate_sales_stock_report(
        runtime.source.reading(user_token), ReportKind.FULL, period
    )
    assert history_calls() == ["days=365", "days=1095"], "one fetch; the dashboard's year reused"
    assert report.forecast is not None and report.stock is not None
    assert report.forecast.points == tuple(
        (p.date, p.value, p.lower, p.upper) for p in trained.result.points
    ), "the dashboard's trained forecast was reused"
