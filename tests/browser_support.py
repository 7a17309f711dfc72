"""Browser tests: Debian's Chromium driven by Playwright (async API) against a live gateway.

Use it from a test module (no conftest needed)::

    from typing import TYPE_CHECKING
    if TYPE_CHECKING:  # a runtime import before pytest_plugins would skip assert rewriting
        from browser_support import GuardedPage, LiveGateway

    pytest_plugins = ["browser_support"]

    async def test_the_dashboard_loads(live_gateway, browser_page):
        await browser_page.preset_token(live_gateway.user_token)   # optional
        page = browser_page.page                                   # a playwright Page
        await page.goto(live_gateway.url + "/dashboard")
        await page.get_by_text("Revenue").first.wait_for()
        browser_page.assert_clean()   # no non-local request, no page error, no CSP violation

Fixtures
--------
``live_gateway`` -> :class:`LiveGateway`
    The gateway on the embedded default (seeded demo shop, conftest's ``settings``
    and ``standin``) served by uvicorn on a real loopback socket. ``url``
    (``http://127.0.0.1:<port>``), ``ws_url`` (``ws://.../graphql``), ``runtime``,
    ``user_token``, ``admin_token``, and ``await live_gateway.graphql(query,
    variables=None, token=None)`` (HTTP POST, USER token by default; returns the
    decoded answer). Override the ``live_gateway_settings`` fixture in a module
    to change settings (it receives conftest's ``settings``).
``browser_page`` -> :class:`GuardedPage`
    A fresh browser context and page (1440x900) per test. Every request and
    WebSocket URL is recorded; at teardown a screenshot is saved to
    ``test-artifacts/<test-name>.png`` and the test fails if anything went to a
    host other than 127.0.0.1/localhost (``[::1]``). ``requests``, ``websockets``,
    ``console_errors``, ``page_errors``, ``csp_violations``; ``non_local()``,
    ``assert_local()``, ``assert_clean(console=True)``; ``await
    screenshot("step")`` -> ``test-artifacts/<test-name>-step.png`` (``await
    screenshot()`` takes the main one now, and teardown keeps it); ``await
    preset_token(token)`` puts the token in sessionStorage (``salesflow.token``,
    read by GraphiQL) before every page load of this context.
``chromium`` -> a playwright ``Browser`` (one per session).

Chromium is ``/usr/bin/chromium`` (``SALESFLOW_CHROMIUM`` to point elsewhere;
``scripts/ensure-chromium.sh`` installs Debian's); a Playwright-downloaded
browser is never used. Tests that need it are skipped when it is missing.
Extra launch flags make Chromium fail every name lookup except localhost and
keep its own background traffic off, so a stray CDN URL fails fast and shows
up in ``non_local()``. The async API is used because the tests and the
in-process gateway share pytest-asyncio's session loop (the sync API cannot run
inside a running loop).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from support import graphql, serving

from salesflow_graphql.app import create_app
from salesflow_graphql.config import Settings
from salesflow_graphql.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("SALESFLOW_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1440, "height": 900}
TOKEN_STORAGE_KEY = "salesflow.token"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})

LAUNCH_ARGS = [
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-first-run",
    "--no-pings",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]


def is_local(url: str) -> bool:
    """True for loopback http(s)/ws(s) URLs and for data:, blob:, about: ones."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.scheme in ("http", "https", "ws", "wss") and (parts.hostname or "") in LOCAL_HOSTS


def artifact_name(test_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name).strip("_") or "test"


@dataclasses.dataclass
class LiveGateway:
    """A gateway served on a real socket; see the module docstring."""

    url: str
    runtime: Runtime
    user_token: str
    admin_token: str

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/graphql"

    async def graphql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        timeout: float = 60.0,  # noqa: ASYNC109 - the HTTP client's timeout
    ) -> dict[str, Any]:
        """POST a document (with the USER token unless given another) and return the answer."""
        async with httpx.AsyncClient(base_url=self.url, timeout=timeout) as client:
            return await graphql(client, query, token or self.user_token, variables)


class GuardedPage:
    """A Playwright page whose network traffic, console and CSP reports are recorded."""

    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.name = name
        self.requests: list[str] = []
        self.websockets: list[str] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.csp_violations: list[str] = []
        self.saved_default = False  # the test took its own test-artifacts/<test-name>.png
        page.context.on("request", lambda request: self.requests.append(request.url))
        page.on("websocket", lambda socket: self.websockets.append(socket.url))
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        text = message.text
        self.console_errors.append(text)
        if "Content Security Policy" in text:
            self.csp_violations.append(text)

    def non_local(self) -> list[str]:
        return [url for url in [*self.requests, *self.websockets] if not is_local(url)]

    def assert_local(self) -> None:
        outside = self.non_local()
        assert not outside, f"the page contacted non-local hosts: {outside}"

    def assert_clean(self, *, console: bool = True) -> None:
        """No non-local traffic, no uncaught page error, no CSP violation (no console error)."""
        self.assert_local()
        assert not self.page_errors, f"uncaught errors in the page: {self.page_errors}"
        assert not self.csp_violations, f"Content-Security-Policy violations: {self.csp_violations}"
        if console:
            assert not self.console_errors, f"console errors: {self.console_errors}"

    async def screenshot(self, step: str | None = None, *, full_page: bool = False) -> Path:
        """Save ``test-artifacts/<test-name>[-<step>].png`` and return its path.

        Without ``step`` this is the test's main screenshot, which teardown then
        leaves alone (by default teardown takes it of the page as it ends).
        """
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = self.name if step is None else f"{self.name}-{artifact_name(step)}"
        self.saved_default = self.saved_default or step is None
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        return path

    async def preset_token(self, token: str, key: str = TOKEN_STORAGE_KEY) -> None:
        """Put ``token`` in sessionStorage before any page script runs, on every load."""
        await self.page.context.add_init_script(
            script=f"window.sessionStorage.setItem({key!r}, {token!r});"
        )


def chromium_available() -> bool:
    return os.access(CHROMIUM, os.X_OK)


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium, headless, launched once per session."""
    if not chromium_available():
        pytest.skip(f"no Chromium at {CHROMIUM} (run scripts/ensure-chromium.sh)")
    from playwright.async_api import async_playwright

    args = list(LAUNCH_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to sandbox as root
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=args
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def live_gateway_settings(settings: Settings) -> Settings:
    """The settings of ``live_gateway``; override in a module to change them."""
    return settings


@pytest.fixture
async def live_gateway(
    live_gateway_settings: Settings, standin: Any, user_token: str, admin_token: str
) -> AsyncIterator[LiveGateway]:
    runtime = await Runtime.start(live_gateway_settings, standin=standin)
    try:
        async with serving(create_app(runtime=runtime)) as url:
            yield LiveGateway(url, runtime, user_token, admin_token)
    finally:
        await runtime.close()


@pytest.fixture
async def browser_page(chromium: Any, request: pytest.FixtureRequest) -> AsyncIterator[GuardedPage]:
    context = await chromium.new_context(
        viewport=VIEWPORT, locale="en-US", color_scheme="light", service_workers="block"
    )
    context.set_default_timeout(15_000)
    try:
        guarded = GuardedPage(await context.new_page(), artifact_name(request.node.name))
        yield guarded
        try:
            if not guarded.saved_default:
                await guarded.screenshot()
        except Exception as error:  # a crashed page must not hide the test's own failure
            print(f"no screenshot for {guarded.name}: {error}")
    finally:
        await context.close()
    guarded.assert_local()
