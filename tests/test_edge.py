"""The edge: one middleware stack for every route, and every refusal a GraphQL error.

Refusals that depend on the bytes on the wire (invalid UTF-8, deep JSON, a body
that trickles) go over a real loopback socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from support import error_codes, serving, wait_until

from salesflow_graphql.adapters.ratelimit import RateLimiter
from salesflow_graphql.app import create_app
from salesflow_graphql.config import Settings
from salesflow_graphql.edge import exchange_of
from salesflow_graphql.edge.limits import WATCH_TASK
from salesflow_graphql.edge.policy import ROUTES, UNDECLARED, Access, policy_for
from salesflow_graphql.logs import ACCESS_LOGGER
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.standin import StandIn

QUERY = "{ salesAnalytics { kpis { revenue orders } } }"
PREFLIGHT = {"Apollo-Require-Preflight": "true"}
GRAPHQL_RESPONSE = "application/graphql-response+json"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def access_lines(caplog: pytest.LogCaptureFixture) -> Callable[[], list[Any]]:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    return lambda: [record for record in caplog.records if record.name == ACCESS_LOGGER]


@contextlib.asynccontextmanager
async def _over_socket(runtime: Runtime, app: Any = None) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serving(app or create_app(runtime=runtime)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield client


def _refusal(response: httpx.Response) -> dict[str, Any]:
    """The one GraphQL error of a refusal, checked for the shape every refusal has."""
    assert response.headers["content-type"].split(";")[0] in ("application/json", GRAPHQL_RESPONSE)
    assert response.headers["x-request-id"]
    answer = response.json()
    assert "data" not in answer, "nothing ran: no data key"
    (error,) = answer["errors"]
    assert error["extensions"]["code"] not in (None, "INTERNAL"), error
    return error


# ------------------------------------------------------------------ one edge


def test_every_route_of_the_app_has_a_declared_policy(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)
    concrete = {
        "/graphql": "/graphql",
        "/healthz": "/healthz",
        "/readyz": "/readyz",
        "/metrics": "/metrics",
        "/dashboard": "/dashboard",
        "/static": "/static/app.css",
        "/reports/render": "/reports/render",
        "/reports/{id}/download": "/reports/abc/download",
        "/imports/{import_id}/errors.xlsx": "/imports/abc/errors.xlsx",
    }
    paths = {getattr(route, "path", "") for route in app.routes}
    assert paths == set(concrete), "a new route: declare its policy in edge/policy.py"
    for path in concrete.values():
        policy = policy_for({"type": "http", "method": "GET", "path": path, "headers": []})
        assert policy is not UNDECLARED, path
    assert {p.access for _, p in ROUTES} == set(Access)


async def test_a_route_added_later_is_behind_the_whole_edge(
    runtime: Runtime, user_token: str, access_lines: Callable[[], list[Any]]
) -> None:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    async def broken(request: Request) -> PlainTextResponse:
        raise RuntimeError("a bug")

    app = create_app(runtime=runtime)
    app.add_route("/hello", hello)
    app.add_route("/broken", broken)
    runtime.rate_limiter = RateLimiter(0.001, 2)
    async with _over_socket(runtime, app) as client:
        anonymous = await client.get("/hello")
        allowed = await client.get("/hello", headers=_auth(user_token))
        crashed = await client.get("/broken", headers=_auth(user_token))
        limited = await client.get("/hello", headers=_auth(user_token))
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"]
    assert _refusal(anonymous)["extensions"]["code"] == "UNAUTHENTICATED"
    assert allowed.status_code == 200 and allowed.text == "hello"
    assert allowed.headers["x-request-id"]
    assert crashed.status_code == 500, "an escaped exception is an INTERNAL GraphQL error"
    (internal,) = crashed.json()["errors"]
    assert internal["extensions"] == {
        "code": "INTERNAL",
        "requestId": crashed.headers["x-request-id"],
    }
    assert limited.status_code == 429 and _refusal(limited)["extensions"]["retryAfter"] >= 1
    lines = [(line.route, line.status, line.outcome) for line in access_lines()]
    assert lines == [
        ("(other)", 401, "unauthenticated"),
        ("(other)", 200, "ok"),
        ("(other)", 500, "error"),
        ("(other)", 429, "rate_limited"),
    ]


async def test_render_in_a_burst_from_one_user_gets_429_and_access_lines(
    runtime: Runtime, user_token: str, access_lines: Callable[[], list[Any]]
) -> None:
    runtime.rate_limiter = RateLimiter(0.001, 3)  # three tokens, then hardly any refill
    async with _over_socket(runtime) as client:
        answers = [
            await client.get("/reports/render", params={"kind": "NOPE"}, headers=_auth(user_token))
            for _ in range(6)
        ]
    assert [a.status_code for a in answers] == [400, 400, 400, 429, 429, 429]
    assert all(error_codes(a.json()) == ["RATE_LIMITED"] for a in answers[3:])
    assert answers[3].headers["retry-after"]
    lines = [(line.route, line.status, line.user) for line in access_lines()]
    assert len(lines) == 6 and {route for route, _, _ in lines} == {"/reports/render"}
    assert all(user is not None for _, _, user in lines)


async def test_render_has_the_request_deadline(
    runtime: Runtime, settings: Settings, user_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(30)

    monkeypatch.setattr(runtime.reports, "generate_report", slow)
    runtime.settings = settings.replace(edge={"request_timeout_s": 0.3})
    async with _over_socket(runtime) as client:
        response = await client.get("/reports/render", headers=_auth(user_token))
    assert response.status_code == 504
    error = _refusal(response)
    assert error["extensions"]["reason"] == "TIMEOUT"
    assert "request took longer" in error["message"]


async def test_signed_links_are_rate_limited_by_address_and_logged(
    runtime: Runtime, access_lines: Callable[[], list[Any]]
) -> None:
    runtime.rate_limiter = RateLimiter(0.001, 2)
    link = "/reports/" + "a" * 32 + "/download?exp=9999999999&sig=" + "0" * 64
    async with _over_socket(runtime) as client:
        answers = [await client.get(link) for _ in range(3)]
    assert [a.status_code for a in answers] == [403, 403, 429]
    assert [_refusal(a)["extensions"]["code"] for a in answers] == [
        "FORBIDDEN",
        "FORBIDDEN",
        "RATE_LIMITED",
    ]
    assert [line.route for line in access_lines()] == ["/reports/{id}/download"] * 3


# --------------------------------------------------------- every refusal, on the wire

DEEP = b"[" * 5000 + b"]" * 5000


@pytest.mark.parametrize(
    ("case", "request_", "status", "reason"),
    [
        (
            "invalid UTF-8 in a JSON body",
            {"content": b'{"query": "{ __typename \xff }"}', "json_type": True},
            400,
            "INVALID_JSON",
        ),
        (
            "JSON nested 5000 deep",
            {"content": b'{"query": "{ __typename }", "variables": {"a": ' + DEEP + b"}}"},
            400,
            "INVALID_JSON",
        ),
        ("a body that is not JSON", {"content": b"query { __typename }"}, 400, "INVALID_JSON"),
        (
            "a mutation over GET",
            {"get": {"query": "mutation { runAnomalyCheck { found } }"}},
            405,
            "MUTATION_OVER_GET",
        ),
        ("a batch", {"json": [{"query": "{ __typename }"}]}, 400, "BATCH_NOT_SUPPORTED"),
        (
            "a query that is not a string",
            {"json": {"query": {"not": "a string"}}},
            400,
            "INVALID_REQUEST",
        ),
        (
            "a subscription over HTTP",
            {"json": {"query": "subscription { alerts { id } }"}},
            400,
            "SUBSCRIPTION_OVER_HTTP",
        ),
        ("no document at all", {"json": {"variables": {}}}, 400, "MISSING_QUERY"),
        (
            "an unsupported content type",
            {"content": b"{ __typename }", "headers": {"content-type": "application/graphql"}},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
    ],
)
async def test_each_refusal_is_a_graphql_error_over_a_real_socket(
    runtime: Runtime,
    user_token: str,
    case: str,
    request_: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    headers = {**_auth(user_token), **request_.get("headers", {})}
    async with _over_socket(runtime) as client:
        if "get" in request_:
            response = await client.get("/graphql", params=request_["get"], headers=headers)
        elif "json" in request_:
            response = await client.post("/graphql", json=request_["json"], headers=headers)
        else:
            headers.setdefault("content-type", "application/json")
            response = await client.post("/graphql", content=request_["content"], headers=headers)
    assert response.status_code == status, (case, response.text)
    error = _refusal(response)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": reason}, case
    if status == 405:
        assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"query": "query A { __typename }", "operationName": "B"}, "no operation named 'B'"),
        (
            {"query": "query A { __typename } query B { __typename }"},
            "several operations",
        ),
        ({"query": "{ salesAnalytics { nope } }"}, "Cannot query field"),
        ({"query": "{ "}, "Syntax Error"),
    ],
)
async def test_request_errors_have_no_data_and_their_status_follows_the_media_type(
    gateway: httpx.AsyncClient, user_token: str, body: dict[str, Any], message: str
) -> None:
    legacy = await gateway.post("/graphql", json=body, headers=_auth(user_token))
    spec = await gateway.post(
        "/graphql",
        json=body,
        headers={**_auth(user_token), "Accept": f"{GRAPHQL_RESPONSE}, application/json;q=0.9"},
    )
    # application/json: 200 for every well-formed request; the new media type: 400.
    assert (legacy.status_code, legacy.headers["content-type"]) == (200, "application/json")
    assert spec.status_code == 400
    assert spec.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    for response in (legacy, spec):
        error = _refusal(response)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert message in error["message"]


async def test_two_operations_run_when_one_is_named(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    document = "query A { __typename } query B { alerts(limit: 1) { id } }"
    answer = await gateway.post(
        "/graphql", json={"query": document, "operationName": "B"}, headers=_auth(user_token)
    )
    assert answer.status_code == 200
    assert "errors" not in answer.json() and "alerts" in answer.json()["data"]


async def test_refusals_at_the_edge_speak_the_new_media_type_too(
    gateway: httpx.AsyncClient,
) -> None:
    response = await gateway.post(
        "/graphql", json={"query": QUERY}, headers={"Accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert _refusal(response)["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_successful_answer_is_200_in_either_media_type(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    for accept, expected in (
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        (f"{GRAPHQL_RESPONSE},application/json;q=0.9", f"{GRAPHQL_RESPONSE}; charset=utf-8"),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", "application/json"),
    ):
        headers = {**_auth(user_token), **({"Accept": accept} if accept else {})}
        response = await gateway.post("/graphql", json={"query": QUERY}, headers=headers)
        assert response.status_code == 200, accept
        assert response.headers["content-type"] == expected, accept
        assert response.json()["data"]["salesAnalytics"]["kpis"]["orders"] > 0


async def test_the_router_s_own_refusals_are_graphql_errors(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    missing = await gateway.get("/nowhere", headers=_auth(user_token))
    wrong_method = await gateway.delete("/graphql", headers={**_auth(user_token), **PREFLIGHT})
    assert missing.status_code == 404 and _refusal(missing)["extensions"]["code"] == "NOT_FOUND"
    assert wrong_method.status_code == 405
    assert _refusal(wrong_method)["extensions"]["code"] == "BAD_USER_INPUT"


# ------------------------------------------------------------ deadline by operation


async def test_an_empty_json_body_is_refused_at_once(
    started: Callable[..., Any], user_token: str
) -> None:
    """Found by the fuzz: the view asked the server for a body already read, and waited
    for the client to hang up, until the deadline (504)."""
    async with started(edge={"request_timeout_s": 5}) as runtime, _over_socket(runtime) as client:
        response = await client.post(
            "/graphql",
            content=b"",
            headers={**_auth(user_token), "content-type": "application/json"},
        )
    assert response.status_code == 400, response.text
    assert _refusal(response)["extensions"]["reason"] == "INVALID_JSON"


async def test_a_query_sent_as_multipart_gets_the_query_deadline(
    started: Callable[..., Any], standin: StandIn, user_token: str
) -> None:
    standin.faults.latency_s = 3.0
    try:
        async with (
            started(edge={"request_timeout_s": 1.0, "upload_timeout_s": 60}) as runtime,
            _over_socket(runtime) as client,
        ):
            response = await client.post(
                "/graphql",
                data={"operations": json.dumps({"query": QUERY}), "map": "{}"},
                files={"unused": ("x.csv", b"a,b\n", "text/csv")},
                headers={**_auth(user_token), **PREFLIGHT},
            )
    finally:
        standin.faults.latency_s = 0.0
    assert response.status_code == 504, response.text
    assert _refusal(response)["extensions"]["timeoutSeconds"] == 1.0


def _multipart_head(query: str) -> bytes:
    operations = json.dumps({"query": query, "variables": {"file": None}})
    return (
        '--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
        f"{operations}\r\n"
        '--b\r\nContent-Disposition: form-data; name="map"\r\n\r\n{"0": ["variables.file"]}\r\n'
        '--b\r\nContent-Disposition: form-data; name="0"; filename="a.csv"\r\n'
        "Content-Type: text/csv\r\n\r\nsku,name\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("query", "deadline"),
    [
        ("query($file: Upload) { alerts(limit: 1) { id } }", 0.3),
        ("mutation($file: Upload!) { importExcel(file: $file) { status } }", 1.5),
    ],
)
async def test_a_trickling_multipart_body_gets_the_deadline_of_its_operation(
    started: Callable[..., Any], admin_token: str, query: str, deadline: float
) -> None:
    """Only an upload mutation waits for its file for the upload deadline."""
    async with (
        started(edge={"request_timeout_s": 0.3, "upload_timeout_s": 1.5}) as runtime,
        serving(create_app(runtime=runtime)) as url,
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", int(url.rsplit(":", 1)[1]))
        try:
            writer.write(
                (
                    "POST /graphql HTTP/1.1\r\nHost: gateway\r\n"
                    f"Authorization: Bearer {admin_token}\r\nApollo-Require-Preflight: 1\r\n"
                    "Content-Type: multipart/form-data; boundary=b\r\n"
                    "Content-Length: 100000\r\n\r\n"
                ).encode()
                + _multipart_head(query)
            )  # ... and the rest of the file never comes
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), timeout=20)
        finally:
            writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    (error,) = json.loads(body)["errors"]
    assert error["extensions"]["reason"] == "REQUEST_TIMEOUT"
    assert error["extensions"]["timeoutSeconds"] == deadline


# ---------------------------------------------------------------------- client gone


async def _request_then_close(url: str, head: str, body: bytes, running: asyncio.Event) -> None:
    """Send a request over a socket of its own and close it once the route is running."""
    _, writer = await asyncio.open_connection("127.0.0.1", int(url.rsplit(":", 1)[1]))
    try:
        writer.write(head.encode() + body[:3])
        await writer.drain()
        writer.write(body[3:])  # the body in two pieces
        await writer.drain()
        await asyncio.wait_for(running.wait(), timeout=10)
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_client_that_disconnects_stops_the_work_and_gets_a_499_line(
    runtime: Runtime, user_token: str, access_lines: Callable[[], list[Any]], method: str
) -> None:
    seen: list[bytes] = []
    running, cancelled = asyncio.Event(), asyncio.Event()

    async def slow(request: Request) -> PlainTextResponse:
        seen.append(await request.body())  # handed on whole, also for a GET's empty body
        running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return PlainTextResponse("never")

    app = create_app(runtime=runtime)
    app.add_route("/slow", slow, methods=["GET", "POST"])
    body = b'{"some": "body"}' if method == "POST" else b""
    head = (
        f"{method} /slow HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {user_token}\r\n"
        + (f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n" if body else "")
        + "\r\n"
    )
    async with serving(app) as url:
        await _request_then_close(url, head, body, running)
        await wait_until(cancelled.is_set, what="the route's work to be cancelled")
        await wait_until(lambda: access_lines(), what="the access line")
    assert seen == [body]
    assert [(line.route, line.status, line.outcome) for line in access_lines()] == [
        ("(other)", 499, "disconnected")
    ]


async def test_a_write_goes_on_when_its_client_disconnects(
    runtime: Runtime, user_token: str, access_lines: Callable[[], list[Any]]
) -> None:
    """A mutation is not cut (as at the deadline); it is told of the disconnect through
    ``receive`` like any ASGI app, and its answer is recorded as sent."""
    running, finished = asyncio.Event(), asyncio.Event()
    told: list[str] = []

    async def write(request: Request) -> PlainTextResponse:
        exchange_of(request.scope).stats.operation_type = "mutation"
        await request.body()
        running.set()
        told.append((await request.receive())["type"])  # waits until the client has gone
        told.append((await request.receive())["type"])  # and says so again
        finished.set()
        return PlainTextResponse("written")

    app = create_app(runtime=runtime)
    app.add_route("/write", write, methods=["POST"])
    head = (
        f"POST /write HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {user_token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 7\r\n\r\n"
    )
    async with serving(app) as url:
        await _request_then_close(url, head, b'"hello"', running)
        await wait_until(finished.is_set, what="the write to finish")
        await wait_until(lambda: access_lines(), what="the access line")
    assert told == ["http.disconnect", "http.disconnect"]
    assert [(line.status, line.outcome) for line in access_lines()] == [(200, "ok")]


def _watchers() -> int:
    return sum(task.get_name() == WATCH_TASK for task in asyncio.all_tasks())


async def test_a_quick_answer_never_starts_a_watcher_but_a_long_one_does(
    runtime: Runtime, user_token: str
) -> None:
    """Watching for a client that leaves costs a task: only a request still running after
    WATCH_AFTER_S pays for it (a task per request cost a third of the warm throughput)."""
    seen: dict[str, int] = {}

    async def quick(request: Request) -> PlainTextResponse:
        await request.body()
        await asyncio.sleep(0)  # a turn of the loop, as a cached answer takes
        seen["quick"] = _watchers()
        return PlainTextResponse("quick")

    async def long(request: Request) -> PlainTextResponse:
        await request.body()
        await wait_until(lambda: _watchers() == 1, what="the watcher of a long request")
        seen["long"] = _watchers()
        return PlainTextResponse("long")

    app = create_app(runtime=runtime)
    app.add_route("/quick", quick, methods=["POST"])
    app.add_route("/long", long, methods=["POST"])
    headers = {"Authorization": f"Bearer {user_token}"}
    async with serving(app) as url, httpx.AsyncClient(base_url=url, headers=headers) as client:
        assert (await client.post("/quick", json={})).text == "quick"
        assert (await client.post("/long", json={})).text == "long"
        await wait_until(lambda: _watchers() == 0, what="the watcher to stop with its request")
    assert seen == {"quick": 0, "long": 1}


# --------------------------------------------------------------- links, proxies, CORS

REPORT = "mutation { generateReport(input: { kind: SALES }) { id } }"
IMPORT_URL = "query($id: ID!) { report(id: $id) { status downloadUrl } }"


async def _download_url(client: httpx.AsyncClient, token: str, **headers: str) -> str:
    started = await client.post(
        "/graphql", json={"query": REPORT}, headers={**_auth(token), **headers}
    )
    job_id = started.json()["data"]["generateReport"]["id"]
    found: dict[str, Any] = {}

    async def done() -> bool:
        answer = await client.post(
            "/graphql",
            json={"query": IMPORT_URL, "variables": {"id": job_id}},
            headers={**_auth(token), **headers},
        )
        found.update(answer.json()["data"]["report"])
        return found["status"] in ("COMPLETED", "FAILED")

    await wait_until(done, timeout=30, what="the report")
    return str(found["downloadUrl"])


@pytest.fixture
def quick_reports(runtime: Runtime) -> None:
    runtime.reports.forecasts = None  # no forecast training in the report


async def test_links_are_absolute_and_forwarded_headers_count_only_from_trusted_proxies(
    runtime: Runtime, settings: Settings, user_token: str, quick_reports: None
) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sales.example"}
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))  # the peer: 127.0.0.1
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        untrusted = await _download_url(client, user_token, **forwarded)
        runtime.settings = settings.replace(edge={"trusted_proxies": "127.0.0.0/8"})
        trusted = await _download_url(client, user_token, **forwarded)
        runtime.settings = settings.replace(
            edge={"trusted_proxies": "127.0.0.0/8"}, public_url="https://api.example/"
        )
        configured = await _download_url(client, user_token, **forwarded)
        downloaded = await client.get(configured.replace("https://api.example", ""))
    assert untrusted.startswith("http://gateway/reports/"), untrusted
    assert trusted.startswith("https://sales.example/reports/"), trusted
    assert configured.startswith("https://api.example/reports/"), configured
    assert downloaded.status_code == 200


async def test_the_rate_limit_counts_the_forwarded_client_only_behind_a_trusted_proxy(
    runtime: Runtime, settings: Settings
) -> None:
    runtime.rate_limiter = RateLimiter(0.001, 1)
    link = "/reports/" + "b" * 32 + "/download?exp=9999999999&sig=" + "0" * 64
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        spoofed = [
            (await client.get(link, headers={"X-Forwarded-For": f"10.0.0.{i}"})).status_code
            for i in range(2)
        ]
        runtime.settings = settings.replace(edge={"trusted_proxies": "127.0.0.1"})
        proxied = [
            (await client.get(link, headers={"X-Forwarded-For": f"10.0.1.{i}"})).status_code
            for i in range(2)
        ]
    assert spoofed == [403, 429], "an untrusted peer cannot pick the address it is counted as"
    assert proxied == [403, 403], "behind a trusted proxy, each client has its own bucket"


async def test_cors_allows_apollo_s_client_awareness_headers(
    started: Callable[..., Any],
) -> None:
    dash = "https://dash.example"
    async with started(edge={"cors_origins": dash}) as runtime:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            preflight = await client.options(
                "/graphql",
                headers={
                    "Origin": dash,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "apollographql-client-name,"
                    "apollographql-client-version,x-apollo-operation-name,content-type,"
                    "authorization,accept",
                },
            )
            refused = await client.post("/graphql", json={"query": QUERY}, headers={"Origin": dash})
    assert preflight.status_code == 200, preflight.text
    allowed = preflight.headers["access-control-allow-headers"].lower()
    for header in (
        "apollographql-client-name",
        "apollographql-client-version",
        "x-apollo-operation-name",
    ):
        assert header in allowed
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == dash, "a page can read the refusal"
