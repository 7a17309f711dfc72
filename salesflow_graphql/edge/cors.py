"""CORS for ``SALESFLOW_CORS_ORIGINS``: which other origins' pages may call the API.

Bearer tokens, not cookies: credentials are not allowed, so ``*`` is safe to
use. The allowed request headers are what Apollo Client, urql and the upload
links send, Apollo's client-awareness headers included.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from ..config import Settings

#: Request headers a browser page on an allowed origin may send.
CORS_ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    "Apollo-Require-Preflight",
    "X-Apollo-Operation-Name",
    "Apollographql-Client-Name",
    "Apollographql-Client-Version",
    "X-Request-Id",
)
#: Response headers such a page may read.
CORS_EXPOSE_HEADERS = ("X-Request-Id", "Retry-After", "WWW-Authenticate")


def cors_middleware(settings: Settings) -> list[Middleware]:
    """The CORS middleware, or none (same origin only) when no origin is configured."""
    origins = settings.edge.cors_origin_list
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,  # type: ignore[arg-type]
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=list(CORS_ALLOW_HEADERS),
            expose_headers=list(CORS_EXPOSE_HEADERS),
            allow_credentials=False,
            max_age=600,
        )
    ]
