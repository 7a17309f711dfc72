"""GraphiQL in a real browser (Debian's Chromium): a token, a query, a live alert subscription."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

import pytest
from support import wait_until

from salesflow_graphql.config import Settings

if (
    TYPE_CHECKING
):  # imported by pytest_plugins below (an earlier import would skip assert rewriting)
    from browser_support import GuardedPage, LiveGateway

pytest_plugins = ["browser_support"]

RUN_CHECK = "mutation { runAnomalyCheck { alerts { id kind severity subject message } } }"
SEVERITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
RESULT = "section.result-window"


@pytest.fixture
def live_gateway_settings(settings: Settings) -> Settings:
    # Sixty days of history to scan: the demo shop then has alerts of every severity.
    return settings.replace(alerts={"check_interval_minutes": 0, "scan_days": 60})


async def _open_graphiql(browser_page: GuardedPage, gateway: LiveGateway) -> Any:
    page = browser_page.page
    await page.goto(f"{gateway.url}/graphql")
    await page.locator(".graphiql-container").wait_for()
    await page.locator(".graphiql-tab-button").first.wait_for()
    return page


async def _editor_value(page: Any, selector: str) -> str:
    """The whole text of a GraphiQL (CodeMirror 5) editor, not just its rendered lines."""
    return await page.locator(f"{selector} .CodeMirror").first.evaluate(
        "element => element.CodeMirror.getValue()"
    )


async def _result_text(page: Any) -> str:
    return await _editor_value(page, RESULT)


async def _wait_for_result(
    page: Any,
    predicate: Any,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - a polling deadline
    what: str,
) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = await _result_text(page)
        if predicate(text):
            return text
        await page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}; the result pane shows:\n{text[:2000]}")


async def _open_tab(page: Any, operation: str, keyword: str) -> None:
    """Click a tab and wait until its operation is in the query editor."""
    await page.locator(".graphiql-tab-button", has_text=re.compile(f"^{operation}$")).click()
    deadline = time.monotonic() + 15
    while f"{keyword} {operation}" not in await _editor_value(page, ".graphiql-query-editor"):
        assert time.monotonic() < deadline, f"the {operation} tab did not open"
        await page.wait_for_timeout(50)


async def _schema_loaded(page: Any) -> None:
    """The docs explorer lists the root types once introspection (with the token) succeeded."""
    await page.get_by_role("button", name="Show Documentation Explorer").click()
    await page.locator(".graphiql-doc-explorer").get_by_text("Subscription", exact=True).wait_for()
    await page.get_by_role("button", name="Hide Documentation Explorer").click()


async def test_graphiql_runs_the_dashboard_query_with_a_pasted_token(
    live_gateway: LiveGateway, browser_page: GuardedPage
) -> None:
    page = await _open_graphiql(browser_page, live_gateway)
    notice = page.locator("#sf-notice")
    await notice.wait_for()
    assert "No token" in await notice.inner_text()
    assert await page.locator(".graphiql-tab-button").first.inner_text() == "Dashboard"
    await browser_page.screenshot("no-token")

    # Pasted as `serve` prints it: the token is taken out of the JSON line.
    await page.fill(
        "#sf-token-input", json.dumps({"Authorization": f"Bearer {live_gateway.user_token}"})
    )
    await page.click("#sf-token-use")
    await notice.wait_for(state="hidden")
    assert re.search(r"\bUSER\b", await page.locator("#sf-token-status").inner_text())
    stored = await page.evaluate("window.sessionStorage.getItem('salesflow.token')")
    assert stored == live_gateway.user_token
    await _schema_loaded(page)

    await page.click(".graphiql-execute-button")
    text = await _wait_for_result(
        page, lambda t: '"salesAnalytics"' in t and '"kpis"' in t, what="the dashboard answer"
    )
    assert '"errors"' not in text
    await page.locator(RESULT, has_text="salesAnalytics").wait_for()  # on screen too
    # The tab ran with its example variables (May 2025), as an HTTP client gets it.
    expected = await live_gateway.graphql(
        '{ salesAnalytics(range: {start: "2025-05-01", end: "2025-05-31"}) { kpis { orders } } }'
    )
    assert f'"orders": {expected["data"]["salesAnalytics"]["kpis"]["orders"]},' in text
    assert '"start": "2025-05-01"' in text

    # The explorer plugin builds its tree from the schema.
    await page.get_by_role("button", name="Show GraphiQL Explorer").click()
    explorer = page.locator(".graphiql-explorer-root")
    await explorer.get_by_text("salesAnalytics", exact=True).first.wait_for()
    await explorer.get_by_text("stockAnalytics", exact=True).first.wait_for()
    await browser_page.screenshot("explorer")
    await page.get_by_role("button", name="Hide GraphiQL Explorer").click()

    # The token outlives a reload (sessionStorage), with no need to paste it again, and the
    # tabs come back as they were (same tabs, the first one with its variables).
    tabs = await page.locator(".graphiql-tab-button").count()
    await page.reload()
    await page.locator(".graphiql-container").wait_for()
    await page.locator("#sf-token-status", has_text="USER").wait_for()
    assert await notice.is_hidden()
    assert await page.locator(".graphiql-tab-button").count() == tabs
    assert await page.locator(".graphiql-tab-active").inner_text() == "Dashboard"
    await page.click(".graphiql-execute-button")
    await _wait_for_result(
        page, lambda t: '"start": "2025-05-01"' in t, what="the answer after the reload"
    )
    await page.locator(RESULT, has_text="salesAnalytics").wait_for()

    browser_page.assert_clean(console=False)  # the first load's 401s are logged by Chromium
    assert not [e for e in browser_page.console_errors if "401" not in e]


async def test_an_alert_subscription_in_graphiql_shows_a_live_alert(
    live_gateway: LiveGateway, browser_page: GuardedPage
) -> None:
    await browser_page.preset_token(live_gateway.user_token)
    page = await _open_graphiql(browser_page, live_gateway)
    await page.locator("#sf-token-status", has_text="USER").wait_for()
    await _open_tab(page, "Alerts", "subscription")
    variables = json.loads(await _editor_value(page, ".graphiql-editor-tool") or "{}")
    minimum = SEVERITIES.index(variables.get("minSeverity", "LOW"))

    await page.click(".graphiql-execute-button")
    bus = live_gateway.runtime.alerts.bus
    await wait_until(lambda: bus.subscribers == 1, timeout=15, what="GraphiQL's subscription")
    assert any(url == live_gateway.ws_url for url in browser_page.websockets)

    run = await live_gateway.graphql(RUN_CHECK, token=live_gateway.admin_token)
    alerts = run["data"]["runAnomalyCheck"]["alerts"]
    shown = [a for a in alerts if SEVERITIES.index(a["severity"]) >= minimum]
    assert shown, f"the check raised no alert at {SEVERITIES[minimum]} or above: {alerts}"
    ids = {a["id"]: a for a in shown}

    def shows_an_alert(text: str) -> bool:
        return any(f'"id": "{alert_id}"' in text for alert_id in ids)

    text = await _wait_for_result(page, shows_an_alert, timeout=20, what="an alert of the check")
    displayed = ids[re.search(r'"id": "([^"]+)"', text).group(1)]
    assert '"alerts"' in text and f'"subject": "{displayed["subject"]}"' in text
    assert f'"kind": "{displayed["kind"]}"' in text
    # Visible on screen, not only in the editor's model.
    await page.locator(RESULT, has_text=displayed["kind"]).wait_for()
    await browser_page.screenshot()

    await page.locator(".graphiql-execute-button[aria-label^='Stop']").click()
    await wait_until(lambda: bus.subscribers == 0, timeout=15, what="the subscription to end")
    browser_page.assert_clean()


async def test_a_subscription_without_a_token_says_what_is_missing(
    live_gateway: LiveGateway, browser_page: GuardedPage
) -> None:
    page = await _open_graphiql(browser_page, live_gateway)
    # The schema cannot load without a token; GraphiQL says so in the result pane first.
    await _wait_for_result(page, lambda t: "UNAUTHENTICATED" in t, what="the schema's 401")
    await _open_tab(page, "Alerts", "subscription")
    await page.click(".graphiql-execute-button")
    text = await _wait_for_result(page, lambda t: "4403" in t, what="the refusal")
    assert "needs a valid token" in text and "UNAUTHENTICATED" in text
    assert live_gateway.runtime.alerts.bus.subscribers == 0
    browser_page.assert_local()
    assert not browser_page.page_errors and not browser_page.csp_violations


async def test_a_refused_token_is_reported_and_can_be_forgotten(
    live_gateway: LiveGateway, browser_page: GuardedPage
) -> None:
    page = await _open_graphiql(browser_page, live_gateway)
    forged = live_gateway.user_token[:-4] + "AAAA"
    await page.fill("#sf-token-input", f"Bearer {forged}")
    await page.click("#sf-token-use")
    notice = page.locator("#sf-notice", has_text="refused this token")
    await notice.wait_for()
    assert "refused" in await page.locator("#sf-token-status").inner_text()

    await page.click("#sf-token-forget")
    await page.locator("#sf-notice", has_text="No token").wait_for()
    assert await page.evaluate("window.sessionStorage.getItem('salesflow.token')") is None
    assert await page.locator("#sf-token-forget").is_hidden()
    browser_page.assert_local()
    assert not browser_page.page_errors and not browser_page.csp_violations
