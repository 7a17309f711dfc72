"""The stand-in's HTTP face: SOR_CONTRACT.md under ``/api/v1``, controls under ``/__standin``.

Request flow for a contract path (``_Gate``, a pure ASGI middleware): injected
faults first (latency, then failure or garbled answer), then the bearer-token
check Spring Security does before routing (so an unknown path without a token
is 401, with one it is 404), then the route. Every contract request is logged
with the status it got. The ``/__standin`` control endpoints are not part of
the contract: no auth, no faults, not logged.

Choices where the contract leaves room:
- a missing or non-Bearer token is 401 ``AUTH_FAILED`` (never 403); any valid
  access token is accepted, whoever its subject (tokens are stateless);
- a duplicate sku or name on ``POST``/``PUT`` is 400 ``RUNTIME_ERROR``;
- a malformed body or a non-numeric path/query parameter is 400 ``RUNTIME_ERROR``,
  field problems are 400 ``VALIDATION_ERROR`` with ``details``;
- ``POST /products/bulk`` (when switched on, ADMIN) upserts by sku, all or
  nothing, and answers 200 with the saved ``[ProductDto]`` in request order;
  every problem (field or name/sku conflict) is one 400 ``VALIDATION_ERROR``
  with ``details`` keyed ``[i].field``;
- ``INSUFFICIENT_STOCK`` details are ``{"sku","available","requested"}`` (strings);
- a wrong method on a known path is 405 ``METHOD_NOT_ALLOWED`` with ``Allow``;
- the generated day "today" spans all opening hours whatever the clock says,
  so a sale posted during the day may sort before generated later ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import anyio
import jwt
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..auth import (
    ISSUER,
    REFRESH_TOKEN_TTL_S,
    Principal,
    Role,
    TokenProblem,
    TokenRejected,
    bearer_token,
    mint_access_token,
    mint_refresh_token,
    verify_access_token,
)
from .errors import ApiError, error_body, not_found
from .faults import Faults, garbage_json, html_page
from .shop import DemoShop, DemoUser, build_demo_shop
from .store import Clock, ShopState, local_datetime
from .validation import (
    login_fields,
    parse_json,
    parse_product,
    parse_product_list,
    parse_sale,
    parse_sale_list,
    query_int,
)

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
CONTROL_PREFIX = "/__standin"
#: Spring permits ``/auth/**`` without a token, except ``/auth/me``.
OPEN_PREFIX, TOKEN_PATHS = "/auth/", frozenset({"/auth/me"})
#: Days further back than this are clamped (Java would overflow its date arithmetic).
MAX_DAYS = 36_500
BULK_SALES_ANSWER = "Bulk sales imported successfully"

_JSON = "application/json"
Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One contract request as the stand-in saw it.

    ``path`` is relative to ``/api/v1`` (``/sales/history``); ``query`` is the raw
    query string; ``status`` is what was answered (0 if the caller left before an
    answer); ``role`` is the verified token's role, if any.
    """

    method: str
    path: str
    query: str
    status: int
    role: str | None = None

    @property
    def params(self) -> dict[str, str]:
        """The query string as a dict (last value wins)."""
        return dict(parse_qsl(self.query, keep_blank_values=True))

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class StandIn:
    """An in-memory SalesFlow Java service over a :class:`DemoShop`.

    ``app`` is the Starlette ASGI app; ``faults`` injects trouble; ``requests``
    logs contract requests in arrival order; ``products_bulk`` switches
    ``POST /products/bulk`` on (off = 404, like the real Java build).
    """

    def __init__(
        self,
        shop: DemoShop,
        secret: str,
        products_bulk: bool = False,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.shop = shop
        self.secret = secret
        self.products_bulk = products_bulk
        self.faults = Faults()
        self.requests: list[RequestRecord] = []
        self.state = ShopState(shop, clock)
        self.app = _build_app(self)

    def clear_requests(self) -> None:
        """Forget logged requests."""
        self.requests.clear()

    def error_response(self, error: ApiError) -> Response:
        """Java's JSON error body for ``error``."""
        return Response(error_body(error, self.state.now()), error.status, media_type=_JSON)

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller of an access token, or :class:`ApiError` 401 with Java's code."""
        try:
            return verify_access_token(bearer_token(authorization), self.secret)
        except TokenRejected as rejected:
            if rejected.problem is TokenProblem.MISSING:
                raise ApiError(
                    401, "AUTH_FAILED", "Full authentication is required to access this resource"
                ) from None
            raise ApiError(401, rejected.problem.value, rejected.message) from None


def create_standin_from_settings(settings: Settings) -> StandIn:
    """The embedded stand-in the gateway runs when no Java URL is configured.

    Seeded with ``demo_seed`` for the business's today; its clock is the
    configured time zone's wall clock, so "today" means the same to both.
    """
    shop = build_demo_shop(seed=settings.standin.demo_seed, today=settings.today())
    tz = settings.tz
    return StandIn(
        shop,
        secret=settings.auth.jwt_secret,
        products_bulk=settings.standin.products_bulk,
        clock=lambda: datetime.now(tz).replace(tzinfo=None),
    )


# ------------------------------------------------------------------ gate
class _Gate:
    """Faults, authentication and the request log around every ``/api/v1`` request."""

    def __init__(self, app: ASGIApp, standin: StandIn) -> None:
        self.app = app
        self.standin = standin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        relative = path[len(API_PREFIX) :] or "/"
        standin, faults = self.standin, self.standin.faults
        status, role = 0, None

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await faults.delay(relative)
            decision = faults.decide(relative)
            if decision != "pass":
                await _faulty_answer(faults, decision)(scope, receive, capture)
                return
            if not _is_open(relative):
                headers = dict(scope.get("headers") or [])
                authorization = headers.get(b"authorization", b"").decode("latin-1") or None
                try:
                    principal = standin.authenticate(authorization)
                except ApiError as error:
                    await standin.error_response(error)(scope, receive, capture)
                    return
                scope["standin.principal"] = principal
                role = principal.role.value
            await self.app(scope, receive, capture)
        finally:
            query = scope.get("query_string", b"").decode("latin-1")
            standin.requests.append(RequestRecord(scope["method"], relative, query, status, role))


def _is_open(path: str) -> bool:
    return path.startswith(OPEN_PREFIX) and path not in TOKEN_PATHS


def _faulty_answer(faults: Faults, decision: str) -> Response:
    if decision == "garble":
        if faults.garble == "html":
            return Response(html_page(200), 200, media_type="text/html")
        return Response(garbage_json(200), 200, media_type=_JSON)
    headers = {}
    if faults.retry_after_s is not None:
        headers["Retry-After"] = str(
            int(faults.retry_after_s) if faults.retry_after_s.is_integer() else faults.retry_after_s
        )
    status = faults.error_status
    if faults.error_body == "html":
        return Response(html_page(status), status, headers=headers, media_type="text/html")
    if faults.error_body == "garbage":
        return Response(garbage_json(status), status, headers=headers, media_type=_JSON)
    code = "INTERNAL_ERROR" if status >= 500 else "RUNTIME_ERROR"
    body = error_body(ApiError(status, code, "Injected failure"), datetime.now())
    return Response(body, status, headers=headers, media_type=_JSON)


# ------------------------------------------------------------------ routes
def _principal(request: Request) -> Principal:
    return request.scope["standin.principal"]


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type=_JSON)


def _bytes(body: bytes, status: int = 200) -> Response:
    return Response(body, status, media_type=_JSON)


class _Api:
    """The contract's endpoints over one :class:`StandIn`."""

    def __init__(self, standin: StandIn) -> None:
        self.standin = standin
        self.state = standin.state

    def endpoint(self, handler: Handler, *, admin: bool = False) -> Handler:
        """Java's exception handling and role check around a handler."""

        async def run(request: Request) -> Response:
            try:
                if admin and _principal(request).role is not Role.ADMIN:
                    raise ApiError(403, "ACCESS_DENIED", "Access Denied")
                return await handler(request)
            except ApiError as error:
                return self.standin.error_response(error)
            except Exception:
                log.exception("stand-in failed on %s %s", request.method, request.url.path)
                return self.standin.error_response(
                    ApiError(500, "INTERNAL_ERROR", "An unexpected error occurred")
                )

        return run

    def routes(self) -> list[BaseRoute]:
        e = self.endpoint
        return [
            Route("/auth/login", e(self.login), methods=["POST"]),
            Route("/auth/refresh", e(self.refresh), methods=["POST"]),
            Route("/auth/me", e(self.me), methods=["GET"]),
            Route("/products", e(self.list_products), methods=["GET"]),
            Route("/products", e(self.create_product, admin=True), methods=["POST"]),
            Route("/products/bulk", e(self.bulk_products), methods=["POST"]),
            Route("/products/low-stock", e(self.low_stock, admin=True), methods=["GET"]),
            Route("/products/by-id/{product_id}", e(self.product_by_id), methods=["GET"]),
            Route("/products/by-sku/{sku}", e(self.product_by_sku), methods=["GET"]),
            Route("/products/by-sku/{sku}", e(self.replace_product, admin=True), methods=["PUT"]),
            Route("/products/by-sku/{sku}", e(self.delete_product, admin=True), methods=["DELETE"]),
            Route("/products/by-name/{name}", e(self.product_by_name), methods=["GET"]),
            Route("/sales", e(self.all_sales), methods=["GET"]),
            Route("/sales", e(self.create_sale), methods=["POST"]),
            Route("/sales/bulk", e(self.bulk_sales, admin=True), methods=["POST"]),
            Route("/sales/today", e(self.sales_today), methods=["GET"]),
            Route("/sales/history", e(self.sales_history), methods=["GET"]),
            Route("/sales/recent", e(self.sales_recent), methods=["GET"]),
            Route("/sales/history/by-sku/{sku}", e(self.sku_history, admin=True), methods=["GET"]),
            Route("/inventory", e(self.list_inventory), methods=["GET"]),
            Route("/inventory/by-sku/{sku}", e(self.inventory_by_sku), methods=["GET"]),
        ]

    # auth
    def _session(self, user: DemoUser, message: str) -> Response:
        now = time.time()
        access = mint_access_token(
            self.standin.secret,
            user.role,
            subject=user.phone_number,
            username=user.username,
            now=now,
        )
        refresh = mint_refresh_token(self.standin.secret, subject=user.phone_number, now=now)
        created = local_datetime(user.created_at)
        return _json(
            {
                "accessToken": access,
                "refreshToken": refresh,
                "refreshExpiresAt": local_datetime(
                    datetime.fromtimestamp(int(now) + REFRESH_TOKEN_TTL_S)
                ),
                "tokenType": "Bearer",
                "message": message,
                "user": {
                    "id": user.id,
                    "phoneNumber": user.phone_number,
                    "username": user.username,
                    "email": user.email,
                    "role": user.role.value,
                    "createdAt": created,
                    "updatedAt": created,
                },
            }
        )

    async def login(self, request: Request) -> Response:
        fields = login_fields(await request.body(), "phoneNumber", "password")
        user = self.state.users.get(fields["phoneNumber"])
        if user is None or user.password != fields["password"]:
            raise ApiError(401, "AUTH_FAILED", "Invalid phone number or password")
        return self._session(user, "Login successful")

    async def refresh(self, request: Request) -> Response:
        token = login_fields(await request.body(), "refreshToken")["refreshToken"]
        try:
            claims = jwt.decode(
                token,
                self.standin.secret.encode(),
                algorithms=["HS256"],
                issuer=ISSUER,
                options={"require": ["exp", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "TOKEN_EXPIRED", "The refresh token has expired.") from None
        except jwt.InvalidSignatureError:
            raise ApiError(401, "INVALID_SIGNATURE", "The token signature is invalid.") from None
        except jwt.PyJWTError:
            raise ApiError(401, "AUTH_FAILED", "The refresh token is malformed.") from None
        user = self.state.users.get(str(claims["sub"]))
        if "role" in claims or user is None:
            raise ApiError(401, "AUTH_FAILED", "Not a valid refresh token.")
        return self._session(user, "Token refreshed successfully")

    async def me(self, request: Request) -> Response:
        principal = _principal(request)
        user = self.state.users.get(principal.subject)
        return _json(
            {
                "username": user.username if user else principal.username,
                "role": principal.role.value,
                "phoneNumber": principal.subject,
            }
        )

    # products
    async def list_products(self, request: Request) -> Response:
        return _bytes(self.state.render_products())

    async def product_by_id(self, request: Request) -> Response:
        raw = request.path_params["product_id"]
        product_id = query_int({"id": raw}, "id", 0)
        return _json(self.state.catalogue.by_id(product_id).as_json())

    async def product_by_sku(self, request: Request) -> Response:
        return _json(self.state.catalogue.by_sku(request.path_params["sku"]).as_json())

    async def product_by_name(self, request: Request) -> Response:
        return _json(self.state.catalogue.by_name(request.path_params["name"]).as_json())

    async def low_stock(self, request: Request) -> Response:
        return _json([p.as_json() for p in self.state.catalogue.low_stock()])

    async def create_product(self, request: Request) -> Response:
        data = parse_product(await request.body())
        return _json(self.state.catalogue.create(data, self.state.now()).as_json(), 201)

    async def replace_product(self, request: Request) -> Response:
        data = parse_product(await request.body())
        product = self.state.catalogue.replace(request.path_params["sku"], data, self.state.now())
        return _json(product.as_json())

    async def delete_product(self, request: Request) -> Response:
        self.state.catalogue.delete(request.path_params["sku"])
        return Response(status_code=204)

    async def bulk_products(self, request: Request) -> Response:
        if not self.standin.products_bulk:
            raise _no_route(request.method, request.url.path)
        if _principal(request).role is not Role.ADMIN:
            raise ApiError(403, "ACCESS_DENIED", "Access Denied")
        items = parse_product_list(await request.body())
        saved = self.state.catalogue.upsert_many(items, self.state.now())
        return _json([p.as_json() for p in saved])

    # sales
    async def _sales(self, endpoint: str, param: int | None = None) -> Response:
        body = self.state.cached_sales(endpoint, param)
        if body is None:
            body = await anyio.to_thread.run_sync(self.state.render_sales, endpoint, param)
        return _bytes(body)

    async def all_sales(self, request: Request) -> Response:
        return await self._sales("all")

    async def sales_today(self, request: Request) -> Response:
        return await self._sales("today")

    async def sales_history(self, request: Request) -> Response:
        days = min(query_int(request.query_params, "days", 90), MAX_DAYS)
        return await self._sales("history", days)

    async def sales_recent(self, request: Request) -> Response:
        limit = query_int(request.query_params, "limit", 100)
        if limit < 1:
            raise ApiError(400, "RUNTIME_ERROR", "Page size must not be less than one")
        return await self._sales("recent", limit)

    async def sku_history(self, request: Request) -> Response:
        days = min(query_int(request.query_params, "days", 90), MAX_DAYS)
        return _json(self.state.daily_quantity(request.path_params["sku"], days))

    async def create_sale(self, request: Request) -> Response:
        lines = parse_sale(await request.body())
        (index,) = self.state.record_sales([lines])
        return _bytes(self.state.render_sale(index), 201)

    async def bulk_sales(self, request: Request) -> Response:
        sales = parse_sale_list(await request.body())
        self.state.record_sales(sales)
        return PlainTextResponse(BULK_SALES_ANSWER)

    # inventory
    async def list_inventory(self, request: Request) -> Response:
        return _bytes(self.state.render_inventory())

    async def inventory_by_sku(self, request: Request) -> Response:
        sku = request.path_params["sku"]
        product = self.state.catalogue.find_sku(sku)
        row = self.state.catalogue.inventory_row(product) if product else None
        if row is None:
            raise not_found(f"Inventory not found with sku: {sku}")
        return _json(row)


def _no_route(method: str, path: str) -> ApiError:
    return not_found(f"No endpoint {method} {path}.")


# ------------------------------------------------------------------ controls
class _Controls:
    """``/__standin``: drive a stand-in that runs in another process."""

    def __init__(self, standin: StandIn) -> None:
        self.standin = standin

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/requests", self.requests, methods=["GET", "DELETE"]),
            Route("/faults", self.faults, methods=["GET", "PUT", "DELETE"]),
            Route("/products-bulk", self.products_bulk, methods=["GET", "PUT"]),
        ]

    async def requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.standin.clear_requests()
            return Response(status_code=204)
        return _json([r.as_json() for r in self.standin.requests])

    async def faults(self, request: Request) -> Response:
        faults = self.standin.faults
        if request.method == "DELETE":
            faults.reset()
        elif request.method == "PUT":
            try:
                changes = parse_json(await request.body())
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object of fault settings")
                faults.update(changes)
            except (ApiError, ValueError, TypeError) as exc:
                return _json({"error": str(exc)}, 400)
        return _json(faults.as_json())

    async def products_bulk(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                data = parse_json(await request.body())
            except ApiError as exc:
                return _json({"error": exc.message}, 400)
            if not isinstance(data, dict) or not isinstance(data.get("enabled"), bool):
                return _json({"error": 'expected {"enabled": true|false}'}, 400)
            self.standin.products_bulk = data["enabled"]
        return _json({"enabled": self.standin.products_bulk})


# ------------------------------------------------------------------ app
def _build_app(standin: StandIn) -> Starlette:
    async def missing(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(API_PREFIX):
            return standin.error_response(_no_route(request.method, request.url.path))
        return PlainTextResponse("Not Found", 404)

    async def wrong_method(request: Request, exc: Exception) -> Response:
        allowed = (
            exc.headers.get("Allow", "") if isinstance(exc, HTTPException) and exc.headers else ""
        )
        error = ApiError(
            405, "METHOD_NOT_ALLOWED", f"Request method '{request.method}' is not supported"
        )
        response = standin.error_response(error)
        if allowed:
            response.headers["Allow"] = allowed
        return response

    return Starlette(
        routes=[
            Mount(API_PREFIX, app=Router(_Api(standin).routes(), redirect_slashes=False)),
            Mount(CONTROL_PREFIX, app=Router(_Controls(standin).routes(), redirect_slashes=False)),
        ],
        middleware=[Middleware(_Gate, standin=standin)],
        exception_handlers={404: missing, 405: wrong_method},
    )
