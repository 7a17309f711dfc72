"""The client's address and the gateway's public URL, trusting ``X-Forwarded-*`` only from proxies.

Behind a reverse proxy the peer of every connection is the proxy. When that
peer is listed in ``SALESFLOW_TRUSTED_PROXIES`` (addresses or networks), its
``X-Forwarded-For`` (the nearest address that is not itself a trusted proxy),
``X-Forwarded-Proto`` and ``X-Forwarded-Host`` replace the client address,
the scheme and the ``Host`` header. From anyone else they are ignored: a
client cannot choose the address its rate limit is counted under, nor the
host that links are built on. (``serve`` turns uvicorn's own proxy-header
handling off, so that this is the only one.)

:func:`public_base_url` is where links in answers point: ``SALESFLOW_PUBLIC_URL``
when set, else the scheme and host the request came in on.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import Settings
from .exchange import runtime_of

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


@lru_cache(maxsize=8)
def trusted_networks(setting: str) -> tuple[Network, ...]:
    """``SALESFLOW_TRUSTED_PROXIES`` parsed (checked at start-up by the settings)."""
    return tuple(
        ipaddress.ip_network(item.strip(), strict=False)
        for item in setting.split(",")
        if item.strip()
    )


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


class ForwardedHeaders:
    """Pure ASGI middleware: apply ``X-Forwarded-*`` from trusted proxies (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            networks = trusted_networks(runtime_of(scope).settings.edge.trusted_proxies)
            client = scope.get("client")
            if networks and client and _trusted(client[0], networks):
                _apply_forwarded(scope, networks)
        await self.app(scope, receive, send)


def _apply_forwarded(scope: Scope, networks: tuple[Network, ...]) -> None:
    headers = {
        name: value for name, value in scope.get("headers", ()) if name.startswith(b"x-forwarded-")
    }
    forwarded_for = headers.get(b"x-forwarded-for")
    if forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.decode("latin-1").split(",") if hop.strip()]
        for hop in reversed(hops):  # the nearest hop a trusted proxy did not add itself
            if not _trusted(hop, networks):
                scope["client"] = (hop, 0)
                break
    proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").split(",")[0].strip().lower()
    if proto in ("http", "https"):
        secure = proto == "https"
        scope["scheme"] = ("wss" if secure else "ws") if scope["type"] == "websocket" else proto
    host = headers.get(b"x-forwarded-host", b"").decode("latin-1").split(",")[0].strip()
    if host and _HOST.fullmatch(host):
        scope["headers"] = [
            *((name, value) for name, value in scope["headers"] if name != b"host"),
            (b"host", host.encode()),
        ]


def public_base_url(scope: Scope, settings: Settings) -> str:
    """The URL the gateway is reached at, without a trailing slash."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    scheme = _SCHEMES.get(scope.get("scheme", "http"), "http")
    host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), "")
    if not _HOST.fullmatch(host):
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] in (None, 80, 443) else f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}{scope.get('root_path', '')}"
