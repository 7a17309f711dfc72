"""CSRF prevention as Apollo does it: a browser form cannot send these requests.

A plain HTML form (or a "simple" cross-site fetch) can POST only
``application/x-www-form-urlencoded``, ``multipart/form-data`` or
``text/plain``, and no custom header. So a POST must either have another
content type (JSON) or carry a non-empty ``Apollo-Require-Preflight`` (or
``X-Apollo-Operation-Name``) header; either makes a browser ask first (CORS
preflight), which other origins fail. Uploads (multipart) need the header.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import ErrorCode
from .envelope import Refusal, refuse
from .exchange import exchange_of

#: Content types a plain HTML form (or a "simple" cross-site fetch) can send without preflight.
SIMPLE_CONTENT_TYPES = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CSRF_MESSAGE = (
    "This request was blocked as a possible cross-site request forgery (CSRF): a "
    "multipart (file upload) or other non-JSON POST must carry a non-empty "
    "'Apollo-Require-Preflight' (or 'X-Apollo-Operation-Name') header, which a plain "
    "browser form cannot send. Apollo Client and urql upload links can add it."
)


def preflighted(headers: Headers) -> bool:
    """True when a browser would have had to ask before sending this request."""
    if any(headers.get(name, "").strip() for name in PREFLIGHT_HEADERS):
        return True
    essence = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return bool(essence) and essence not in SIMPLE_CONTENT_TYPES


class CsrfGuard:
    """Pure ASGI middleware: an unsafe-method request must be one a form could not send."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in SAFE_METHODS
            and not preflighted(Headers(scope=scope))
        ):
            refusal = Refusal(
                400, ErrorCode.BAD_USER_INPUT, CSRF_MESSAGE, reason="CSRF_PREFLIGHT_REQUIRED"
            )
            await refuse(refusal, exchange_of(scope), scope, receive, send)
            return
        await self.app(scope, receive, send)
