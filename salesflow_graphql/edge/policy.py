"""Which routes need what: every route's access policy, in one place.

- ``PUBLIC``: nothing to check (health, readiness, metrics, the web pages and
  their static files, CORS preflights).
- ``SIGNED``: the link's HMAC signature is the credential (download links);
  still rate limited (per client address), logged and deadlined.
- ``BEARER``: a valid access token in ``Authorization: Bearer``. Anything not
  declared below is ``BEARER``, so a route added later is protected by default.

The ``name`` of a policy is the route's template: the bounded ``route`` label
of the metrics and the access line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from starlette.types import Scope


class Access(StrEnum):
    PUBLIC = "public"
    SIGNED = "signed"
    BEARER = "bearer"


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """How the edge treats requests to one route."""

    name: str
    access: Access
    #: A GraphQL request: its metrics and access line carry the operation.
    graphql: bool = False
    #: Successful requests leave an access line (refusals and errors always do).
    logged: bool = True


GRAPHQL = RoutePolicy("/graphql", Access.BEARER, graphql=True)
#: One operation on a WebSocket (authenticated by ``connection_init``, not by a header).
GRAPHQL_WEBSOCKET = RoutePolicy("/graphql (websocket)", Access.BEARER)
GRAPHIQL_PAGE = RoutePolicy("/graphql (GraphiQL page)", Access.PUBLIC, logged=False)
PREFLIGHT = RoutePolicy("(CORS preflight)", Access.PUBLIC, logged=False)
UNDECLARED = RoutePolicy("(other)", Access.BEARER)

#: Every route's policy; a path matching none of these is ``UNDECLARED`` (bearer).
ROUTES: tuple[tuple[re.Pattern[str], RoutePolicy], ...] = tuple(
    (re.compile(pattern), policy)
    for pattern, policy in (
        (r"/graphql", GRAPHQL),
        (r"/healthz", RoutePolicy("/healthz", Access.PUBLIC, logged=False)),
        (r"/readyz", RoutePolicy("/readyz", Access.PUBLIC, logged=False)),
        (r"/metrics", RoutePolicy("/metrics", Access.PUBLIC, logged=False)),
        (r"/dashboard", RoutePolicy("/dashboard", Access.PUBLIC, logged=False)),
        (r"/static/.*", RoutePolicy("/static", Access.PUBLIC, logged=False)),
        (r"/reports/render", RoutePolicy("/reports/render", Access.BEARER)),
        (r"/reports/.+/download", RoutePolicy("/reports/{id}/download", Access.SIGNED)),
        (r"/imports/.+/errors\.xlsx", RoutePolicy("/imports/{id}/errors.xlsx", Access.SIGNED)),
    )
)


def policy_for(scope: Scope) -> RoutePolicy:
    """The policy of the route ``scope`` is for."""
    path = scope.get("path", "")
    if scope["type"] == "http":
        if scope.get("method") == "OPTIONS":
            return PREFLIGHT  # answered by CORS (or refused by the router); runs nothing
        if path == "/graphql" and is_graphiql_page_request(scope):
            return GRAPHIQL_PAGE
    for pattern, policy in ROUTES:
        if pattern.fullmatch(path):
            return policy
    return UNDECLARED


def is_graphiql_page_request(scope: Scope) -> bool:
    """A browser's GET of ``/graphql`` that carries no operation: it wants the GraphiQL page."""
    if scope.get("method") != "GET":
        return False
    query = scope.get("query_string", b"")
    if any(f"{name}=".encode() in query for name in ("query", "extensions", "documentId")):
        return False
    accept = next((v for k, v in scope.get("headers", ()) if k == b"accept"), b"")
    return b"text/html" in accept
