"""The ASGI application: ``/graphql``, the web pages, reports, health, readiness and metrics.

Every route sits behind the edge (:mod:`.edge`): one middleware stack for
authentication, rate limits, body limits, deadlines, the access log and the
metrics. A route declares nothing of that itself; ``edge/policy.py`` says
which routes are public or signed (all others need a bearer token).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from .config import Settings
from .edge import Refusal, edge_middleware, exchange_of
from .errors import ErrorCode, GatewayError
from .metrics import REGISTRY, observe_job_queue
from .runtime import Runtime
from .web import web_routes
from .web.reports import report_routes

#: ``/readyz`` answers within this long, whatever its dependencies do (a Java that
#: trickles its answer a byte a second included): what has not answered is unavailable.
READY_DEADLINE_S = 3.0


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Starlette:
    """The gateway. Given a started ``runtime`` it uses it; otherwise its lifespan starts one."""
    owned = runtime is None
    configured = runtime.settings if runtime is not None else settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal runtime
        if runtime is None:
            runtime = await Runtime.start(configured)
            runtime.forecasts.warm_up()
            runtime.imports.warm_up()
            # What start-up built (modules, the runtime, the embedded shop) lives as long as the
            # process: the collector's full passes need not walk it again and again. They
            # were the tail of warm latency (bench/load.py, p99.9 65 -> 15 ms at 32 clients).
            gc.collect()
            gc.freeze()
        app.state.runtime = runtime
        try:
            yield
        finally:
            if owned:
                await runtime.close()

    graphql = _LazyGraphQL()
    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/imports/{import_id}/errors.xlsx", import_errors_workbook),
            *report_routes(),
            *web_routes(),
        ],
        middleware=edge_middleware(configured),
        exception_handlers={
            HTTPException: _http_exception,
            GatewayError: _gateway_error,
            Refusal: _refusal,
        },
        lifespan=lifespan,
    )
    if runtime is not None:
        app.state.runtime = runtime
    return app


class _LazyGraphQL:
    """Builds the GraphQL endpoint on first use, once the runtime exists."""

    def __init__(self) -> None:
        self._endpoint = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._endpoint is None:
            from .graphql.endpoint import GraphQLEndpoint

            self._endpoint = GraphQLEndpoint(scope["app"].state.runtime)
        await self._endpoint(scope, receive, send)


# ------------------------------------------------------------------ refusals
# What routes raise becomes the edge's GraphQL error envelope (edge/envelope.py).
async def _refusal(request: Request, refusal: Exception) -> Response:
    assert isinstance(refusal, Refusal)
    exchange = exchange_of(request.scope)
    exchange.answered(refusal.status, refusal.outcome, refusal.code)
    return refusal.response(exchange.media_type, exchange.request_id)


async def _gateway_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, GatewayError)
    return await _refusal(request, Refusal.of(error))


async def _http_exception(request: Request, error: Exception) -> Response:
    """The router's 404 and 405 (and the static files' 404), as GraphQL errors."""
    assert isinstance(error, HTTPException)
    code = ErrorCode.NOT_FOUND if error.status_code == 404 else ErrorCode.BAD_USER_INPUT
    message = "Nothing here." if error.status_code == 404 else str(error.detail)
    refusal = Refusal(error.status_code, code, message, headers=error.headers)
    return await _refusal(request, refusal)


# ------------------------------------------------------------------ routes
async def healthz(request: Request) -> Response:
    """The process is alive and serving."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Dependencies answer: the system of record and, when configured, Redis."""
    runtime: Runtime = request.app.state.runtime
    java, redis = await asyncio.gather(
        _within(runtime.client.probe(READY_DEADLINE_S), READY_DEADLINE_S),
        _within(runtime.cache.ping(), READY_DEADLINE_S),
    )
    checks = {
        "systemOfRecord": "ok" if java else "unavailable",
        "breaker": str(runtime.client.breaker.state),
        "cache": runtime.cache.backend + (":ok" if redis else ":unavailable"),
    }
    ready = java and redis
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


async def _within(
    check: asyncio.Future[bool] | asyncio.Task[bool] | object, seconds: float
) -> bool:
    """A health check's answer, False when it takes longer than ``seconds`` in total."""
    try:
        return bool(await asyncio.wait_for(check, seconds))  # type: ignore[arg-type]
    except TimeoutError:
        return False


async def import_errors_workbook(request: Request) -> Response:
    """An import's error workbook, behind a signed, expiring link (no bearer token needed)."""
    runtime: Runtime = request.app.state.runtime
    import_id = request.path_params["import_id"]
    content = await runtime.imports.error_workbook(
        import_id, request.query_params.get("exp"), request.query_params.get("sig")
    )
    return Response(
        content,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "content-disposition": f'attachment; filename="import-{import_id}-errors.xlsx"',
            "cache-control": "private, no-store",
            "x-content-type-options": "nosniff",
        },
    )


async def metrics(request: Request) -> Response:
    await observe_job_queue(request.app.state.runtime.jobs)  # read at scrape time
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
