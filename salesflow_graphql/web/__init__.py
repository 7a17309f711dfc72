"""The gateway's own web pages: GraphiQL at ``GET /graphql``, the dashboard, their assets.

Everything a page loads is served from this package (``static/``); nothing comes
from a CDN. ``static/vendor/`` holds the browser builds of React, GraphiQL, the
explorer plugin, graphql-ws and uPlot, written by ``scripts/refresh-web-assets.sh``.

- ``GET /static/<path>``: files under ``static/`` (never ``.html`` files: pages are
  served by their routes, with their security headers). A URL carrying
  ``?v=<version>`` (see :func:`asset_url`) matching the file's content is cached
  for a year (``immutable``); without it vendor files are cached for a day and
  the rest revalidated (ETag). ``static/graphiql/`` answers 404 when GraphiQL is off.
- ``GET /dashboard``: ``static/dashboard/index.html``.
- GraphiQL (``static/graphiql/index.html``) is answered by the ``/graphql``
  endpoint for a browser's GET (``graphiql_response``), unless ``SALESFLOW_GRAPHIQL`` is off.

Every page carries the headers of :func:`security_headers`: a strict
Content-Security-Policy (scripts only from files of this origin, no inline
script, no eval), ``nosniff``, ``no-referrer``, no framing. In each page's
``src``/``href`` attributes, ``/static/...`` URLs get their ``?v=`` version.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from .examples import graphiql_examples

__all__ = [
    "STATIC_DIR",
    "asset_url",
    "content_security_policy",
    "graphiql_response",
    "security_headers",
    "web_routes",
]

STATIC_DIR = Path(__file__).resolve().parent / "static"
GRAPHIQL_PAGE = "graphiql/index.html"
DASHBOARD_PAGE = "dashboard/index.html"

#: A versioned URL (``?v=`` matches the content) never changes: cache it for a year.
IMMUTABLE = "public, max-age=31536000, immutable"
#: Vendor files without a version change only with a gateway upgrade.
VENDOR_CACHE = "public, max-age=86400"
#: Our own files without a version: always revalidate (cheap with the ETag).
REVALIDATE = "no-cache"
PAGE_CACHE = "no-cache"

_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
_STATIC_REF = re.compile(r'(?P<attr>\b(?:src|href))="(?P<path>/static/(?P<rel>[^"?#]+))"')


def content_security_policy(host: str | None = None) -> str:
    """The policy of every page.

    Scripts, styles, fonts and images come from this origin only (fonts and
    images may also be ``data:`` URLs: GraphiQL's fonts are inlined in its CSS).
    No inline script and no eval anywhere. ``connect-src`` names the page's own
    host for WebSockets too (``'self'`` covers ws/wss only in newer browsers).
    """
    connect = ["'self'"]
    if host and _HOST.match(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "font-src": "'self' data:",
        "connect-src": " ".join(connect),
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def security_headers(host: str | None = None) -> dict[str, str]:
    """The headers every HTML page of the gateway carries."""
    return {
        "content-security-policy": content_security_policy(host),
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
        "cache-control": PAGE_CACHE,
    }


class _Versions:
    """Short content hashes of the static files, recomputed when a file changes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._known: dict[str, tuple[int, int, str]] = {}
        self._lock = threading.Lock()

    def of(self, rel: str) -> str | None:
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        stat = path.stat()
        with self._lock:
            known = self._known.get(rel)
            if known and known[:2] == (stat.st_mtime_ns, stat.st_size):
                return known[2]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        with self._lock:
            self._known[rel] = (stat.st_mtime_ns, stat.st_size, digest)
        return digest


_versions = _Versions(STATIC_DIR)


def asset_url(rel: str) -> str:
    """``/static/<rel>?v=<content hash>`` (without ``?v=`` when the file is missing)."""
    version = _versions.of(rel)
    return f"/static/{rel}" + (f"?v={version}" if version else "")


def _versioned(html: str) -> str:
    return _STATIC_REF.sub(lambda m: f'{m["attr"]}="{asset_url(m["rel"])}"', html)


def _page(rel: str, request: Request, replacements: dict[str, str] | None = None) -> Response:
    path = STATIC_DIR / rel
    if not path.is_file():
        return PlainTextResponse(
            f"{rel} is not installed in this gateway.", status_code=404, headers=security_headers()
        )
    html = path.read_text(encoding="utf-8")
    for marker, value in (replacements or {}).items():
        html = html.replace(marker, value)
    return HTMLResponse(_versioned(html), headers=security_headers(request.headers.get("host")))


def _json_for_html(data: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` data block."""
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def graphiql_response(request: Request) -> Response:
    """The self-hosted GraphiQL page, its example tabs baked in (a data block, not a script)."""
    config = {"endpoint": request.url.path, "examples": graphiql_examples()}
    return _page(GRAPHIQL_PAGE, request, {"{{SALESFLOW_CONFIG}}": _json_for_html(config)})


async def dashboard(request: Request) -> Response:
    return _page(DASHBOARD_PAGE, request)


def _graphiql_enabled(scope: Scope) -> bool:
    app = scope.get("app")
    runtime = getattr(getattr(app, "state", None), "runtime", None)
    return bool(runtime is None or runtime.settings.graphql.graphiql)


class _Static(StaticFiles):
    """Static files with cache headers by URL version, ``nosniff``, and no HTML pages."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        rel = path.replace("\\", "/").lstrip("/")
        if rel.endswith((".html", ".htm")) or (
            rel.startswith("graphiql/") and not _graphiql_enabled(scope)
        ):
            raise HTTPException(status_code=404)
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            wanted = Request(scope).query_params.get("v")
            if wanted and wanted == _versions.of(rel):
                response.headers["cache-control"] = IMMUTABLE
            elif rel.startswith("vendor/"):
                response.headers["cache-control"] = VENDOR_CACHE
            else:
                response.headers["cache-control"] = REVALIDATE
        response.headers["x-content-type-options"] = "nosniff"
        return response


def web_routes() -> list[BaseRoute]:
    """``/dashboard`` and ``/static``; GraphiQL itself is answered at ``/graphql``."""
    return [
        Route("/dashboard", dashboard, methods=["GET", "HEAD"]),
        Mount("/static", app=_Static(directory=STATIC_DIR), name="static"),
    ]
