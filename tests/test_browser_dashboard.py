"""The reference dashboard at ``GET /dashboard`` in Debian's Chromium, against a live gateway.

Each test drives the page as a person would (token in sessionStorage, clicks, file
input, drag and drop), compares what it shows with the same figures asked of the
API over HTTP, saves a screenshot to ``test-artifacts/`` and fails if the page
contacted anything but the local gateway (see ``browser_support``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import spreadsheets as files
from alerts_support import synthetic_alert
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from support import wait_until

from salesflow_graphql.alerts.model import Severity
from salesflow_graphql.auth import Role
from salesflow_graphql.cli import token_line
from salesflow_graphql.config import Settings

if TYPE_CHECKING:
    from browser_support import GuardedPage, LiveGateway

    from salesflow_graphql.standin import StandIn

pytest_plugins = ["browser_support"]

pytestmark = pytest.mark.slow

SALES_KPIS = """query($range: DateRangeInput) { salesAnalytics(range: $range, top: 8) {
  range { start end } kpis { revenue orders unitsSold averageOrderValue }
  topProducts { product { sku } } } }"""
STOCK = "{ stockAnalytics { items { product { sku } status suggestedReorderQuantity } } }"
RUN_CHECK = "mutation { runAnomalyCheck { checkedSeries alerts { id severity message } } }"
IMPORT = """mutation($file: Upload!) { importExcel(file: $file, kind: PRODUCTS) {
  status errors { row column value code message } } }"""

#: A product list with one good row and three bad cells (Excel rows 3, 4 and 5).
BAD_PRODUCTS = [
    ["SKU", "Name", "Price", "Stock"],
    ["DASH-0001", "Dashboard Lamp", 12.5, 10],
    ["DASH-0002", "Dashboard Desk", "abc", 5],
    ["DASH-0003", "", 4, 2],
    ["DASH-0004", "Dashboard Chair", 3, -7],
]


@pytest.fixture
def live_gateway_settings(settings: Settings, tmp_path: Path) -> Settings:
    # Reports go to a temporary folder; a tripped breaker probes Java again soon.
    return settings.replace(exports_dir=str(tmp_path / "exports"), java={"breaker_reset_s": 0.3})


async def _open(browser_page: GuardedPage, gateway: LiveGateway, token: str) -> Any:
    await browser_page.preset_token(token)
    page = browser_page.page
    await page.goto(gateway.url + "/dashboard")
    await page.locator("body[data-ready=true]").wait_for()
    return page


async def _settle(page: Any) -> None:
    """Let a forecast the page asked for finish (it trains a model in a worker process; a
    scroll towards the lower cards shows its card), so that no request is left in flight."""
    card = page.locator("[data-testid=forecast-card]:not([data-state=loading])")
    await card.wait_for(state="attached", timeout=100_000)


async def _kpi(page: Any, name: str) -> tuple[float, str]:
    value = page.locator(f"[data-testid=kpi-{name}] [data-role=value][data-value]")
    await value.wait_for()
    return float(await value.get_attribute("data-value")), (await value.inner_text()).strip()


def _days_before(day: str, days: int) -> str:
    return (date.fromisoformat(day) - timedelta(days=days)).isoformat()


def _data(answer: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in answer, answer
    return answer["data"]


async def test_the_dashboard_shows_the_figures_of_the_api(
    live_gateway: LiveGateway, browser_page: GuardedPage
) -> None:
    forecasts_asked: list[str] = []
    browser_page.page.on(
        "request",
        lambda request: (
            "query Forecast" in (request.post_data or "") and forecasts_asked.append(request.url)
        ),
    )
    page = await _open(browser_page, live_gateway, live_gateway.user_token)
    sales = _data(await live_gateway.graphql(SALES_KPIS))["salesAnalytics"]
    kpis = sales["kpis"]

    revenue, revenue_text = await _kpi(page, "revenue")
    assert revenue == kpis["revenue"] and revenue_text == f"${kpis['revenue']:,.2f}"
    orders, orders_text = await _kpi(page, "orders")
    assert orders == kpis["orders"] and orders_text == f"{kpis['orders']:,}"
    units, _ = await _kpi(page, "units")
    assert units == kpis["unitsSold"]
    aov, aov_text = await _kpi(page, "aov")
    assert aov == kpis["averageOrderValue"] and aov_text == f"${kpis['averageOrderValue']:,.2f}"
    label = page.get_by_test_id("range-label")
    assert await label.get_attribute("data-start") == sales["range"]["start"]
    assert await label.get_attribute("data-end") == sales["range"]["end"]
    # Every tile compares with the previous period once it has loaded.
    await page.locator("[data-testid=kpi-aov] [data-change]").wait_for()
    assert "vs" in await page.get_by_test_id("kpi-orders").inner_text()

    skus = await page.get_by_test_id("top-product").evaluate_all(
        "rows => rows.map(r => r.dataset.sku)"
    )
    assert skus == [row["product"]["sku"] for row in sales["topProducts"]]
    await page.locator("[data-testid=trend-chart] canvas").wait_for()

    items = _data(await live_gateway.graphql(STOCK))["stockAnalytics"]["items"]
    reorder = [i["product"]["sku"] for i in items if i["suggestedReorderQuantity"] > 0]
    shown = await page.get_by_test_id("reorder-item").evaluate_all(
        "rows => rows.map(r => r.dataset.sku)"
    )
    assert shown == reorder and reorder

    # A USER sees why the ADMIN parts are switched off.
    assert await page.get_by_test_id("user-role").inner_text() == "USER"
    await page.get_by_test_id("upload-admin-note").wait_for()
    assert await page.get_by_test_id("run-check").is_disabled()

    # Another range: the tiles follow, and agree with the API for the same dates.
    await page.get_by_test_id("range-7").click()
    week = {"start": _days_before(sales["range"]["end"], 6), "end": sales["range"]["end"]}
    await page.locator(f"[data-testid=range-label][data-start='{week['start']}']").wait_for()
    assert await label.get_attribute("data-end") == week["end"]
    weekly = _data(await live_gateway.graphql(SALES_KPIS, {"range": week}))["salesAnalytics"]
    assert (await _kpi(page, "revenue"))[0] == weekly["kpis"]["revenue"]

    # The forecast trains a model in a worker process, so the page asks for it only once its
    # card is on screen; then its chart (history, forecast and interval band) follows.
    # Every other card has loaded (twice) by now, and none of that asked for a forecast.
    assert forecasts_asked == []
    assert await page.locator("[data-testid=forecast-chart] canvas").count() == 0
    await page.get_by_test_id("forecast-card").scroll_into_view_if_needed()
    await page.locator("[data-testid=forecast-chart] canvas").wait_for(timeout=90_000)
    assert forecasts_asked, "the forecast was asked for once its card was on screen"
    assert await page.locator("[data-testid=forecast-summary] [data-key=model]").count() == 1
    await _settle(page)
    browser_page.assert_clean()


async def test_an_upload_shows_its_errors_then_commits_the_valid_rows(
    live_gateway: LiveGateway, browser_page: GuardedPage
) -> None:
    page = await _open(browser_page, live_gateway, live_gateway.admin_token)
    content = files.xlsx(BAD_PRODUCTS)
    # What the API says about the same file: the page must show each of these.
    async with httpx.AsyncClient(base_url=live_gateway.url, timeout=60) as client:
        response = await client.post(
            "/graphql",
            data={
                "operations": json.dumps({"query": IMPORT, "variables": {"file": None}}),
                "map": json.dumps({"0": ["variables.file"]}),
            },
            files={"0": ("products.xlsx", content, "application/octet-stream")},
            headers={
                "Authorization": f"Bearer {live_gateway.admin_token}",
                "Apollo-Require-Preflight": "true",
            },
        )
    expected = response.json()["data"]["importExcel"]["errors"]
    assert {(e["row"], e["column"], e["code"]) for e in expected} == {
        (3, "Price", "NOT_A_NUMBER"),
        (4, "Name", "REQUIRED"),
        (5, "Stock", "TOO_SMALL"),
    }

    await page.get_by_test_id("upload-input").set_input_files(
        {"name": "products.xlsx", "mimeType": "application/octet-stream", "buffer": content}
    )
    table = page.get_by_test_id("upload-errors")
    await table.wait_for()
    assert await page.get_by_test_id("upload-status").get_attribute("data-status") == "INVALID"
    rows = page.get_by_test_id("upload-error-row")
    assert await rows.count() == len(expected)
    for error in expected:
        row = page.locator(
            f"[data-testid=upload-error-row][data-row='{error['row']}'][data-column='{error['column']}']"
        )
        text = await row.inner_text()
        assert error["message"] in text and error["code"] in text
        assert str(error["row"]) in text and (error["value"] or "blank") in text
    await table.scroll_into_view_if_needed()
    await browser_page.screenshot("dry-run")

    commit = page.get_by_test_id("upload-commit")
    assert "Import 1 valid row" in await commit.inner_text()
    await commit.click()
    status = page.locator("[data-testid=upload-result] [data-testid=upload-status]")
    await status.wait_for()
    assert await status.get_attribute("data-status") == "PARTIAL"
    product = await live_gateway.graphql('{ product(sku: "DASH-0001") { name } }')
    assert product["data"]["product"] == {"name": "Dashboard Lamp"}

    # A clean file dropped on the drop zone: valid, nothing to fix.
    await page.get_by_test_id("upload-clear").click()
    good = files.csv_bytes([["SKU", "Name", "Price"], ["DASH-0010", "Dropped Shelf", 20]])
    transfer = await page.evaluate_handle(
        """([name, data]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "text/csv" }));
            return transfer;
        }""",
        ["shelf.csv", base64.b64encode(good).decode()],
    )
    await page.get_by_test_id("upload-dropzone").dispatch_event("drop", {"dataTransfer": transfer})
    await page.locator("[data-testid=upload-status][data-status=VALID]").wait_for()
    assert await page.get_by_test_id("upload-filename").inner_text() == "shelf.csv"
    await _settle(page)
    browser_page.assert_clean()


async def test_a_report_is_generated_with_progress_and_downloads(
    live_gateway: LiveGateway, browser_page: GuardedPage
) -> None:
    page = await _open(browser_page, live_gateway, live_gateway.user_token)
    await page.locator("[data-testid=kpi-revenue] [data-role=value][data-value]").wait_for()
    await page.get_by_test_id("report-kind-sales").click()
    await page.get_by_test_id("report-format-xlsx").click()
    # Every status the job row shows on its way, however briefly.
    await page.evaluate(
        """() => {
            window.seenStatuses = [];
            const record = () => {
                for (const el of document.querySelectorAll("[data-testid=report-status]")) {
                    const last = window.seenStatuses.at(-1);
                    if (last !== el.dataset.status) window.seenStatuses.push(el.dataset.status);
                }
            };
            new MutationObserver(record).observe(
                document.querySelector("[data-testid=report-jobs]"),
                { subtree: true, childList: true, attributes: true },
            );
        }"""
    )
    await page.get_by_test_id("report-generate").click()
    job = page.get_by_test_id("report-job").first
    await job.wait_for()
    link = page.get_by_test_id("report-download")
    await link.wait_for(timeout=60_000)
    assert await job.get_attribute("data-status") == "COMPLETED"
    seen = await page.evaluate("window.seenStatuses")
    assert seen[0] == "QUEUED" and seen[-1] == "COMPLETED", seen  # with a progress bar first
    href = await link.get_attribute("href")
    # absolute, on the URL the page came from (a page on another origin could follow it too)
    assert href.startswith(f"{live_gateway.url}/reports/") and "sig=" in href

    async with page.expect_download() as info:
        await link.click()
    download = await info.value
    saved = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert download.suggested_filename.startswith("salesflow-sales-")
    assert download.suggested_filename.endswith(".xlsx")
    assert saved[:2] == b"PK"  # a zip: the workbook

    async with httpx.AsyncClient(base_url=live_gateway.url) as client:
        fetched = await client.get(href)  # signed: no bearer token needed
    assert fetched.status_code == 200 and fetched.content == saved
    await _settle(page)
    browser_page.assert_clean()


async def test_a_new_alert_appears_live_and_the_feed_resumes_after_a_reconnect(
    live_gateway: LiveGateway, browser_page: GuardedPage
) -> None:
    subscribes: list[dict[str, Any]] = []

    def watch(socket: Any) -> None:
        def sent(payload: str | bytes) -> None:
            message = json.loads(payload)
            if message.get("type") == "subscribe" and "LiveAlerts" in message["payload"]["query"]:
                subscribes.append(message["payload"]["variables"])

        socket.on("framesent", sent)

    browser_page.page.on("websocket", watch)
    page = await _open(browser_page, live_gateway, live_gateway.user_token)
    bus = live_gateway.runtime.alerts.bus
    await page.locator("[data-testid=live-status][data-state=live]").wait_for()
    await page.locator("[data-testid=alerts-card][data-subscribed=true]").wait_for()
    await wait_until(lambda: bus.subscribers == 1, what="the page's subscription")
    assert subscribes == [{"min": "LOW", "after": None}]  # no alert yet: live from now on

    await page.get_by_test_id("alerts-order").get_by_text("Newest").click()
    run = _data(await live_gateway.graphql(RUN_CHECK, token=live_gateway.admin_token))
    raised = run["runAnomalyCheck"]["alerts"]
    assert raised, "the demo shop should raise alerts"
    started = time.monotonic()
    newest = page.locator(f"[data-testid=alert-item][data-alert-id='{raised[-1]['id']}']")
    await newest.wait_for(timeout=2_000)
    assert time.monotonic() - started < 2.0

    # Every alert counted, the first 30 shown: "30 of N".
    count = page.locator(f"[data-role=alert-count][data-total='{len(raised)}']")
    await count.wait_for(timeout=5_000)
    assert await count.inner_text() == f"30 of {len(raised)}"
    assert await page.get_by_test_id("alert-item").count() == 30
    first = page.get_by_test_id("alert-item").first
    assert await first.get_attribute("data-alert-id") == raised[-1]["id"]  # newest first
    await browser_page.screenshot("live")

    # The socket drops; an alert raised meanwhile is replayed on reconnect (`after`).
    await page.evaluate("globalThis.salesflowDashboard.live.client.terminate()")
    await page.locator("[data-testid=live-status][data-state=reconnecting]").wait_for()
    missed = await bus.publish(synthetic_alert("DASH-MISSED", severity=Severity.CRITICAL))
    await page.locator("[data-testid=live-status][data-state=live]").wait_for()
    await page.locator(f"[data-testid=alert-item][data-alert-id='{missed.id}']").wait_for(
        timeout=5_000
    )
    assert subscribes[-1] == {"min": "LOW", "after": raised[-1]["id"]}
    assert await page.locator(f"[data-alert-id='{missed.id}']").count() == 1
    assert await page.get_by_test_id("alert-item").first.get_attribute("data-alert-id") == missed.id
    await _settle(page)
    browser_page.assert_clean()


async def test_java_down_shows_a_readable_error_then_recovers(
    live_gateway: LiveGateway, browser_page: GuardedPage, standin: StandIn
) -> None:
    standin.faults.update({"error_rate": 1.0, "error_status": 503})
    page = await _open(browser_page, live_gateway, live_gateway.user_token)
    banner = page.get_by_test_id("upstream-banner")
    await banner.wait_for()
    text = await banner.inner_text()
    assert "Java is unavailable" in text and "Showing nothing" in text
    for card in ("trend-error", "top-products-error", "stock-error"):
        error = page.get_by_test_id(card)
        await error.wait_for()
        assert "Java is unavailable" in await error.inner_text()
    assert await page.locator("[data-testid=kpi-revenue] [data-role=value]").inner_text() == "–"
    await page.get_by_test_id("forecast-card").scroll_into_view_if_needed()
    await page.get_by_test_id("forecast-error").wait_for()
    await page.evaluate("window.scrollTo(0, 0)")
    # Alerts do not need Java: the feed still works.
    await page.get_by_test_id("alerts-empty").wait_for()
    await browser_page.screenshot("down")

    # Java is back: retrying brings the figures (the breaker lets one probe through first;
    # once an answer comes, the page reloads every card that failed).
    standin.faults.reset()
    revenue = page.locator("[data-testid=kpi-revenue] [data-role=value][data-value]")
    for _ in range(10):
        await page.wait_for_timeout(400)  # past the breaker's reset time
        if not await banner.is_visible():
            break
        with contextlib.suppress(PlaywrightTimeoutError):  # gone meanwhile: recovered
            await banner.get_by_test_id("upstream-retry").click(timeout=1_000)
    await revenue.wait_for()
    await banner.wait_for(state="hidden")
    await page.get_by_test_id("reorder-list").wait_for()

    # Down again, with the gateway's caches expired: the page keeps its last figures, marked.
    standin.faults.update({"error_rate": 1.0, "error_status": 503})
    live_gateway.runtime.cache.local.clear()
    await page.get_by_test_id("lead-time").get_by_text("14 d").click()
    await page.get_by_test_id("stock-error").wait_for()
    await page.get_by_test_id("lead-time").get_by_text("7 d").click()
    await page.locator("[data-testid=stock] [data-testid=stale-note]").wait_for()
    await banner.wait_for()
    assert "cached" in await banner.inner_text()
    assert await page.get_by_test_id("reorder-item").count() > 0
    await _settle(page)
    browser_page.assert_clean()


# --- issue 15: the polish a new user asked for ----------------------------------------------

SALES_WITH_PREVIOUS = """query($range: DateRangeInput, $g: Granularity!) {
  salesAnalytics(range: $range, granularity: $g, top: 8) {
    range { start end } kpis { revenue orders unitsSold averageOrderValue }
    previousKpis { revenue orders unitsSold averageOrderValue }
    trend { start end days complete } } }"""
STOCK_KPIS = """{ stockAnalytics { kpis { outOfStock lowStock reorderNeeded }
  items { status suggestedReorderQuantity } } }"""
ALERT_COUNTS = """{ all: alertCount critical: alertCount(minSeverity: CRITICAL)
  alerts(limit: 500) { id severity } }"""


async def test_sign_in_takes_the_whole_line_serve_prints_in_both_pages(
    live_gateway: LiveGateway, browser_page: GuardedPage
) -> None:
    line = token_line(Role.USER, live_gateway.user_token)
    page = browser_page.page
    await page.goto(live_gateway.url + "/dashboard")
    await page.get_by_test_id("token-input").fill(line)
    await page.get_by_test_id("token-submit").click()
    await page.locator("body[data-ready=true]").wait_for()
    assert await page.get_by_test_id("user-role").inner_text() == "USER"
    stored = await page.evaluate("sessionStorage.getItem('salesflow.token')")
    assert stored == live_gateway.user_token

    # GraphiQL reads a paste with the very same function.
    await page.goto(live_gateway.url + "/graphql")
    await page.click("#sf-token-forget")
    await page.fill("#sf-token-input", line)
    await page.click("#sf-token-use")
    await page.locator("#sf-token-status", has_text="USER").wait_for()
    assert await page.evaluate("sessionStorage.getItem('salesflow.token')") == stored
    # Forgetting the token made GraphiQL ask without one (HTTP 401) before the paste.
    assert all("401" in error for error in browser_page.console_errors)
    browser_page.assert_clean(console=False)


async def test_figures_come_in_one_query_with_partial_weeks_marked_and_stock_labels_that_add_up(
    live_gateway: LiveGateway, browser_page: GuardedPage
) -> None:
    sales_queries: list[str] = []
    browser_page.page.on(
        "request",
        lambda request: (
            "salesAnalytics" in (request.post_data or "")
            and sales_queries.append(request.post_data or "")
        ),
    )
    page = await _open(browser_page, live_gateway, live_gateway.user_token)
    await page.locator("[data-testid=kpi-aov] [data-change]").wait_for()
    assert len(sales_queries) == 1, "the previous period's KPIs come with the figures"
    sales = _data(await live_gateway.graphql(SALES_WITH_PREVIOUS, {"range": None, "g": "DAY"}))
    sales = sales["salesAnalytics"]
    kpis, previous = sales["kpis"], sales["previousKpis"]
    for tile, key in (("orders", "orders"), ("units", "unitsSold"), ("aov", "averageOrderValue")):
        shown = await page.locator(f"[data-testid=kpi-{tile}] [data-change]").get_attribute(
            "data-change"
        )
        assert float(shown) == pytest.approx(kpis[key] / previous[key] - 1)

    # Stock: the legend's words are the statuses', and the counts add up.
    stock = _data(await live_gateway.graphql(STOCK_KPIS))["stockAnalytics"]
    await page.get_by_test_id("reorder-list").wait_for()
    reorder_status = page.locator("[data-testid=stock] .status-legend li[data-status=REORDER]")
    assert "Low cover" in await reorder_status.inner_text()
    assert "Reorder" not in await reorder_status.inner_text()
    needed = page.locator("[data-testid=stock-kpis] [data-kpi=reorderNeeded] dd")
    assert int(await needed.inner_text()) == stock["kpis"]["reorderNeeded"]
    restock = stock["kpis"]["outOfStock"] + stock["kpis"]["reorderNeeded"]
    assert int(await page.get_by_test_id("restock-count").inner_text()) == restock
    assert await page.get_by_test_id("reorder-item").count() == restock
    breakdown = await page.get_by_test_id("restock-breakdown").inner_text()
    assert breakdown == (
        f"{stock['kpis']['outOfStock']} out of stock + {stock['kpis']['reorderNeeded']} reorder needed"
    )

    # A Wednesday-to-Tuesday range by week: the cut first and last weeks are marked, and the
    # first bucket starts with the range, not on the Monday before it.
    today = date.today()
    end = today - timedelta(days=(today.weekday() - 1) % 7 + 7)  # a past Tuesday
    start = end - timedelta(days=27)  # a Wednesday
    await page.get_by_test_id("range-custom").click()
    await page.get_by_test_id("range-start").fill(start.isoformat())
    await page.get_by_test_id("range-end").fill(end.isoformat())
    await page.get_by_test_id("range-apply").click()
    await page.get_by_test_id("trend-granularity").get_by_text("Week").click()
    chart = page.locator(f"[data-testid=trend-chart][data-first-bucket='{start.isoformat()}']")
    await chart.locator("canvas").wait_for()
    weekly = _data(
        await live_gateway.graphql(
            SALES_WITH_PREVIOUS,
            {"range": {"start": start.isoformat(), "end": end.isoformat()}, "g": "WEEK"},
        )
    )["salesAnalytics"]["trend"]
    partial = [str(i) for i, point in enumerate(weekly) if not point["complete"]]
    assert partial == ["0", str(len(weekly) - 1)]
    assert await chart.get_attribute("data-partial") == ",".join(partial)
    note = await page.get_by_test_id("trend-partial-note").inner_text()
    assert "5 days" in note and "2 days" in note
    await page.get_by_test_id("trend-card").screenshot(
        path=str(await browser_page.screenshot("page")).replace("-page.png", "-trend.png")
    )
    browser_page.assert_clean()


async def test_the_alerts_card_counts_sorts_and_filters_by_severity(
    live_gateway: LiveGateway, browser_page: GuardedPage
) -> None:
    _data(await live_gateway.graphql(RUN_CHECK, token=live_gateway.admin_token))
    counts = _data(await live_gateway.graphql(ALERT_COUNTS))
    assert counts["all"] > 30 and counts["critical"] > 0
    page = await _open(browser_page, live_gateway, live_gateway.user_token)
    count = page.locator("[data-role=alert-count]")
    await page.locator(f"[data-role=alert-count][data-total='{counts['all']}']").wait_for()
    assert await count.inner_text() == f"30 of {counts['all']}"

    rank = {"LOW": 0, "MEDIUM": 1, "HIGH": 2, "CRITICAL": 3}
    items = page.get_by_test_id("alert-item")
    shown = await items.evaluate_all("els => els.map(e => e.dataset.severity)")
    assert len(shown) == 30
    assert [rank[s] for s in shown] == sorted((rank[s] for s in shown), reverse=True)
    assert shown[0] == "CRITICAL"  # most severe first, by default

    await page.get_by_test_id("alerts-more").click()
    assert await items.count() == min(60, counts["all"])

    await page.get_by_test_id("alerts-severity").get_by_text("Critical").click()
    await page.locator(f"[data-role=alert-count][data-total='{counts['critical']}']").wait_for()
    await page.locator("[data-testid=alerts-card][data-subscribed=true]").wait_for()
    severities = await items.evaluate_all("els => els.map(e => e.dataset.severity)")
    assert set(severities) == {"CRITICAL"} and len(severities) == min(30, counts["critical"])
    browser_page.assert_clean()


async def test_the_page_fits_a_phone(live_gateway: LiveGateway, browser_page: GuardedPage) -> None:
    await browser_page.page.set_viewport_size({"width": 390, "height": 844})
    page = await _open(browser_page, live_gateway, live_gateway.user_token)
    await page.locator("[data-testid=kpi-revenue] [data-role=value][data-value]").wait_for()
    await page.get_by_test_id("reorder-list").wait_for()
    await page.locator("[data-testid=top-products-table]").wait_for()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"
    tile = await page.get_by_test_id("kpi-revenue").bounding_box()
    assert tile and tile["x"] >= 0 and tile["x"] + tile["width"] <= 390
    value = page.locator("[data-testid=kpi-revenue] [data-role=value]")
    clipped = await value.evaluate("el => el.scrollWidth > el.clientWidth")
    assert not clipped, "the revenue figure is cut off"
    await browser_page.screenshot()
    browser_page.assert_clean()
