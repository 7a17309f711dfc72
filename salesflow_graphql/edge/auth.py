"""Bearer authentication: the one place a request's (or a WebSocket's) token is checked.

HTTP requests to ``BEARER`` routes carry ``Authorization: Bearer <jwt>``;
without a valid access token they get HTTP 401, ``UNAUTHENTICATED``, with
``WWW-Authenticate``. A WebSocket cannot send headers from a browser: its
token comes in ``connection_init`` and is checked by the same
:func:`authenticate` (see ``graphql/websocket.py``), which also closes the
socket when the token expires.

Clocks differ: ``exp``, ``nbf`` and ``iat`` are checked with
``SALESFLOW_JWT_LEEWAY_S`` (60 s) of leeway, so a token minted by a Java server
whose clock runs a little ahead is not refused as "not yet valid".
"""

from __future__ import annotations

import time
from collections import OrderedDict

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ..auth import Principal, TokenRejected, bearer_token, verify_access_token
from ..config import Settings
from ..errors import ErrorCode
from .envelope import Refusal, refuse
from .exchange import exchange_of, runtime_of
from .policy import Access

WWW_AUTHENTICATE = 'Bearer realm="salesflow"'


def authenticate(authorization: str | None, settings: Settings) -> Principal:
    """The caller of an ``Authorization`` header value, or :class:`TokenRejected`."""
    token = bearer_token(authorization)
    known = VERIFIED.get(settings.auth.jwt_secret, token)
    if known is not None and time.time() <= (known.expires_at or 0) + settings.auth.jwt_leeway_s:
        return known
    principal = verify_access_token(
        token, settings.auth.jwt_secret, leeway_s=settings.auth.jwt_leeway_s
    )
    VERIFIED.put(settings.auth.jwt_secret, principal)
    return principal


class VerifiedTokens:
    """Tokens whose signature and claims were checked: a token's bytes never change, so only
    its expiry is checked again when it comes back (a client sends the same token for an
    hour). Only tokens that passed are kept, at most ``size``, the least recently used
    forgotten first."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._known: OrderedDict[tuple[str, str], Principal] = OrderedDict()

    def get(self, secret: str, token: str | None) -> Principal | None:
        if not token:
            return None
        principal = self._known.get((secret, token))
        if principal is not None:
            self._known.move_to_end((secret, token))
        return principal

    def put(self, secret: str, principal: Principal) -> None:
        self._known[(secret, principal.token)] = principal
        while len(self._known) > self.size:
            self._known.popitem(last=False)


VERIFIED = VerifiedTokens()


def unauthenticated(rejected: TokenRejected) -> Refusal:
    return Refusal(
        401,
        ErrorCode.UNAUTHENTICATED,
        rejected.message,
        outcome="unauthenticated",
        headers={"www-authenticate": WWW_AUTHENTICATE},
        reason=str(rejected.problem),
    )


class BearerAuth:
    """Pure ASGI middleware: a ``BEARER`` route's request needs a valid access token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            exchange = exchange_of(scope)
            if exchange.route.access is Access.BEARER:
                settings = runtime_of(scope).settings
                try:
                    exchange.principal = authenticate(
                        Headers(scope=scope).get("authorization"), settings
                    )
                except TokenRejected as rejected:
                    await refuse(unauthenticated(rejected), exchange, scope, receive, send)
                    return
        await self.app(scope, receive, send)
