"""The self-hosted GraphiQL page and the static assets, over HTTP (no browser)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from support import gateway_on, graphql

import salesflow_graphql.web as web
from salesflow_graphql.config import Settings
from salesflow_graphql.standin import StandIn
from salesflow_graphql.web.examples import BUILT_IN, graphiql_examples

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
VENDOR = Path(web.__file__).parent / "static" / "vendor"
#: The served names the GraphiQL page and the dashboard rely on.
VENDOR_FILES = [
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "graphiql.min.css",
    "plugin-explorer.umd.js",
    "plugin-explorer.css",
    "graphql-ws.min.js",
    "uPlot.iife.min.js",
    "uPlot.min.css",
]


class _Refs(HTMLParser):
    """Every URL-bearing attribute and every script element of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.inline_handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "poster", "data") and value:
                self.urls.append(value)
            if name.startswith("on"):
                self.inline_handlers.append(f"<{tag} {name}>")
            if name == "style":
                self.inline_handlers.append(f"<{tag} style>")
        if tag == "script":
            self.scripts.append(dict(attrs))


def _directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


async def _page(client: httpx.AsyncClient) -> httpx.Response:
    response = await client.get("/graphql", headers=HTML)
    assert response.status_code == 200, response.text
    return response


async def test_a_browser_gets_our_graphiql_page_with_strict_security_headers(
    gateway: httpx.AsyncClient,
) -> None:
    page = await _page(gateway)
    assert page.headers["content-type"].startswith("text/html")
    assert "/static/vendor/graphiql.min.js" in page.text and "Strawberry" not in page.text
    policy = _directives(page.headers["content-security-policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["connect-src"] == ["'self'", "ws://gateway", "wss://gateway"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY"


async def test_the_page_has_no_external_url_and_no_inline_script(
    gateway: httpx.AsyncClient,
) -> None:
    page = await _page(gateway)
    refs = _Refs()
    refs.feed(page.text)
    assert refs.urls, "the page references its assets"
    for url in refs.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"external URL in the page: {url}"
        assert url.startswith("/"), url
    assert not re.search(
        r"(?i)\b(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page.text.split("sf-config")[0]
    )
    assert not refs.inline_handlers
    for script in refs.scripts:
        # Either a file of this origin, or the JSON data block (not executed, not covered by CSP).
        assert script.get("src") or script.get("type") == "application/json", script


async def test_every_asset_of_the_page_is_served_versioned_and_cached_for_good(
    gateway: httpx.AsyncClient,
) -> None:
    page = await _page(gateway)
    refs = _Refs()
    refs.feed(page.text)
    assets = [url for url in refs.urls if url.startswith("/static/")]
    assert len(assets) >= 9
    for url in assets:
        assert re.search(r"\?v=[0-9a-f]{12}$", url), url
        response = await gateway.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable", url
        assert response.headers["x-content-type-options"] == "nosniff"
        path = urlsplit(url).path
        expected = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
        assert response.headers["content-type"].startswith(expected[Path(path).suffix]), url
        digest = hashlib.sha256(response.content).hexdigest()[:12]
        assert url.endswith(f"?v={digest}"), f"{url} does not name its content"


async def test_the_vendor_files_are_served_under_their_fixed_names(
    gateway: httpx.AsyncClient,
) -> None:
    for name in VENDOR_FILES:
        response = await gateway.get(f"/static/vendor/{name}")
        assert response.status_code == 200, name
        assert response.headers["cache-control"] == "public, max-age=86400"
        assert response.content == (VENDOR / name).read_bytes()
        stale = await gateway.get(f"/static/vendor/{name}?v=000000000000")
        assert stale.headers["cache-control"] == "public, max-age=86400"  # not immutable
    graphql_ws = (VENDOR / "graphql-ws.min.js").read_text()
    assert "graphqlWs" in graphql_ws  # the UMD global the pages use
    own = await gateway.get("/static/graphiql/graphiql.js")
    assert own.headers["cache-control"] == "no-cache" and own.headers["etag"]
    again = await gateway.get(
        "/static/graphiql/graphiql.js", headers={"If-None-Match": own.headers["etag"]}
    )
    assert again.status_code == 304


def test_the_vendor_files_match_their_checksums_and_licenses() -> None:
    sums = {}
    for line in (VENDOR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.lstrip("*")] = digest
    assert set(VENDOR_FILES) <= set(sums)
    for name, digest in sums.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    licenses = (VENDOR / "LICENSES.md").read_text()
    for package in ("react", "react-dom", "graphiql", "@graphiql/plugin-explorer", "graphql-ws"):
        assert f"| {package} | " in licenses
    assert "| uplot | " in licenses and licenses.count("Permission is hereby granted") >= 6
    for name in VENDOR_FILES:
        assert "sourceMappingURL" not in (VENDOR / name).read_text(encoding="utf-8")[-300:]


async def test_pages_and_paths_outside_the_assets_are_not_served_as_static_files(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    # With a token: a path that leaves /static is no public route, so without one it is a 401.
    headers = {"Authorization": f"Bearer {user_token}"}
    for path in (
        "/static/graphiql/index.html",  # a page: only through its route, with its headers
        "/static/dashboard/index.html",
        "/static/vendor/nothing.js",
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/vendor/../../app.py",
    ):
        response = await gateway.get(path, headers=headers)
        assert response.status_code == 404, path
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_queries_by_get_still_answer_json_even_from_a_browser(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    response = await gateway.get(
        "/graphql",
        params={"query": "{ salesAnalytics { kpis { orders } } }"},
        headers={**HTML, "Authorization": f"Bearer {user_token}"},
    )
    assert response.status_code == 200
    assert response.json()["data"]["salesAnalytics"]["kpis"]["orders"] > 0


async def test_the_example_tabs_are_baked_into_the_page(gateway: httpx.AsyncClient) -> None:
    page = await _page(gateway)
    block = re.search(
        r'<script type="application/json" id="sf-config">(.*?)</script>', page.text, re.S
    )
    assert block is not None
    config = json.loads(block.group(1))
    assert config["endpoint"] == "/graphql"
    tabs = config["examples"]
    assert tabs == graphiql_examples()
    assert re.search(r"\bquery Dashboard\b", tabs[0]["query"])
    assert any(re.search(r"\bsubscription Alerts\b", tab["query"]) for tab in tabs)


def test_examples_come_from_the_folder_in_a_useful_order(tmp_path: Path) -> None:
    assert graphiql_examples(tmp_path / "missing") == BUILT_IN
    (tmp_path / "zeta.graphql").write_text("query Zeta { alerts { id } }\n")
    (tmp_path / "forecast.graphql").write_text("query Forecast($input: ForecastInput!) { x }\n")
    (tmp_path / "forecast.variables.json").write_text('{"input": {"level": "TOTAL"}}')
    (tmp_path / "my-dashboard.graphql").write_text("query Dashboard { y }\n")
    (tmp_path / "empty.graphql").write_text("  \n")
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "broken.graphql").write_text("query Broken { z }\n")
    (tmp_path / "import.graphql").write_text("mutation Import($file: Upload!) { z }\n")
    tabs = graphiql_examples(tmp_path)
    assert [re.split(r"[\s(]", tab["query"])[1] for tab in tabs] == [
        "Dashboard",
        "Forecast",
        "Broken",
        "Zeta",
    ]
    assert json.loads(tabs[1]["variables"]) == {"input": {"level": "TOTAL"}}
    assert "variables" not in tabs[2]


def test_the_config_block_cannot_end_its_script_element() -> None:
    text = web._json_for_html({"q": "</script><script>alert(1)</script> & <!--"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"q": "</script><script>alert(1)</script> & <!--"}


def test_the_policy_names_only_a_well_formed_host_for_websockets() -> None:
    assert "ws://shop.example:8443 wss://shop.example:8443" in web.content_security_policy(
        "shop.example:8443"
    )
    assert "ws://[::1]:8000" in web.content_security_policy("[::1]:8000")
    for hostile in ("evil.example; script-src *", "a b", "x'y", ""):
        policy = web.content_security_policy(hostile)
        assert "connect-src 'self';" in policy and "*" not in policy


async def test_the_dashboard_page_is_served_with_the_same_headers(
    gateway: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dashboard").mkdir()
    (tmp_path / "dashboard" / "dashboard.js").write_text("console.log('hi');\n")
    (tmp_path / "dashboard" / "index.html").write_text(
        '<!doctype html><title>Dashboard</title><script src="/static/dashboard/dashboard.js"></script>'
        '<script src="/static/vendor/absent.js"></script>'
    )
    monkeypatch.setattr(web, "STATIC_DIR", tmp_path)
    monkeypatch.setattr(web, "_versions", web._Versions(tmp_path))
    page = await gateway.get("/dashboard")
    assert page.status_code == 200
    digest = hashlib.sha256(b"console.log('hi');\n").hexdigest()[:12]
    assert f'src="/static/dashboard/dashboard.js?v={digest}"' in page.text
    assert 'src="/static/vendor/absent.js"' in page.text  # unknown files keep their URL
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    (tmp_path / "dashboard" / "index.html").unlink()
    missing = await gateway.get("/dashboard")
    assert missing.status_code == 404 and "not installed" in missing.text


@pytest.fixture
async def graphiql_off(settings: Settings, standin: StandIn) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_on(settings.replace(graphql={"graphiql": False}), standin) as client:
        yield client


async def test_with_graphiql_off_a_browser_gets_no_page(
    graphiql_off: httpx.AsyncClient, user_token: str
) -> None:
    page = await graphiql_off.get("/graphql", headers=HTML)
    assert page.status_code == 404
    assert "graphiql" not in page.text.lower() and "<html" not in page.text.lower()
    for path in ("/static/graphiql/graphiql.js", "/static/graphiql/graphiql.css"):
        assert (await graphiql_off.get(path)).status_code == 404, path
    # The API itself and the shared vendor files are unaffected.
    answer = await graphql(graphiql_off, "{ salesAnalytics { kpis { orders } } }", user_token)
    assert answer["data"]["salesAnalytics"]["kpis"]["orders"] > 0
    assert (await graphiql_off.get("/static/vendor/react.production.min.js")).status_code == 200
