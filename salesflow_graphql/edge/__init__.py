"""The edge: one middleware stack that every request passes, whatever its route.

Starlette's own middleware model, pure ASGI classes, applied by ``create_app``
to the whole application, so a route added later is covered without a line
of its own. Outermost first:

1. :mod:`.proxy`: ``X-Forwarded-*`` from trusted proxies only;
2. :mod:`.observe`: request id, the 500 safety net, metrics, the access line;
3. :mod:`.cors`: CORS (refusals below carry its headers too);
4. :mod:`.csrf`: a POST a browser form could send is refused;
5. :mod:`.auth`: a ``BEARER`` route needs a valid token (:mod:`.policy` says
   which routes are ``PUBLIC``, ``SIGNED`` or ``BEARER``; undeclared: bearer);
6. :mod:`.ratelimit`: the caller's token bucket;
7. :mod:`.limits`: body size, the per-operation deadline, and a query's work
   stopped when its client disconnects.

Every refusal is a GraphQL error in the negotiated media type (:mod:`.envelope`).
The WebSocket path uses the same authentication, rate limit and access line
(``graphql/websocket.py``). :mod:`.server` runs the whole under uvicorn with
bounded request headers.
"""

from __future__ import annotations

from starlette.middleware import Middleware

from ..config import Settings
from .auth import BearerAuth
from .cors import cors_middleware
from .csrf import CsrfGuard
from .envelope import Refusal
from .exchange import Exchange, current_exchange, exchange_of, runtime_of
from .limits import RequestLimits
from .observe import Observe
from .policy import Access, RoutePolicy
from .proxy import ForwardedHeaders, public_base_url
from .ratelimit import RateLimit

__all__ = [
    "Access",
    "Exchange",
    "Refusal",
    "RoutePolicy",
    "current_exchange",
    "edge_middleware",
    "exchange_of",
    "public_base_url",
    "runtime_of",
]


def edge_middleware(settings: Settings) -> list[Middleware]:
    """The stack, outermost first (see the module)."""
    return [
        Middleware(ForwardedHeaders),
        Middleware(Observe),
        *cors_middleware(settings),
        Middleware(CsrfGuard),
        Middleware(BearerAuth),
        Middleware(RateLimit),
        Middleware(RequestLimits),
    ]
