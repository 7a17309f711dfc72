"""The one HTTP client toward the Java API.

- one shared ``httpx.AsyncClient`` with connect/read timeouts;
- a bound on concurrent calls (Java loads sale items lazily and is slow under load);
- retries for idempotent GETs only, on connection errors, 429, 500, 502, 503 and
  504, with the backoff of :mod:`..retry` (``Retry-After`` honoured, capped);
  a GET that still gets 500 is an ``UPSTREAM_ERROR``, the others are unavailable;
- a circuit breaker that fails fast while Java is down and probes for recovery;
  every attempt, retries included, counts toward it;
- the caller's bearer token forwarded;
- answers decoded into typed records (msgspec), large bodies off the event loop.

Failures become :class:`UpstreamUnavailable` (Java down, slow, breaker open) or
:class:`UpstreamError` (Java answered something we cannot use); details are
logged, never sent to clients.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import msgspec

from ..config import Settings
from ..errors import Forbidden, NotFound, Unauthenticated, UpstreamError, UpstreamUnavailable
from ..metrics import BREAKER_OPEN, UPSTREAM_CALLS, UPSTREAM_LATENCY
from ..request_stats import count_upstream_call
from ..retry import RetryPolicy
from .breaker import BreakerState, CircuitBreaker
from .records import JavaErrorBody

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Answers to a GET that are worth asking again: Java answers 500 for transient trouble
#: too (lazy loading under load, a pool timeout), a proxy 502-504, a limiter 429.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
#: Bodies larger than this are decoded in a worker thread, not on the loop.
OFF_LOOP_BYTES = 256 * 1024
#: Longest wait before a retry, a ``Retry-After`` included: a GET's caller is waiting.
MAX_RETRY_WAIT_S = 5.0

_error_decoder = msgspec.json.Decoder(JavaErrorBody)


@dataclass(frozen=True, slots=True)
class JavaAnswer:
    """A raw answer to a write: status, body and content type, with Java's error body if any."""

    status: int
    body: bytes
    content_type: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def is_json(self) -> bool:
        return "json" in self.content_type

    def error(self) -> JavaErrorBody | None:
        """Java's ``{"status","code","message",...}`` body, when it sent one."""
        if self.ok or not self.is_json:
            return None
        try:
            return _error_decoder.decode(self.body)
        except msgspec.MsgspecError:
            return None


class _Transient(Exception):
    """An attempt failed in a way worth retrying (for GETs)."""

    def __init__(
        self, reason: str, retry_after: float | None = None, *, status: int | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.status = status


class JavaClient:
    """Speaks SOR_CONTRACT.md. Create one per process; close it on shutdown."""

    def __init__(
        self,
        settings: Settings,
        *,
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.base_url = (base_url or settings.java.api_url or "http://standin/api/v1").rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(
                connect=settings.java.connect_timeout_s,
                read=settings.java.read_timeout_s,
                write=settings.java.read_timeout_s,
                pool=settings.java.read_timeout_s,
            ),
            limits=httpx.Limits(
                max_connections=settings.java.max_concurrency,
                max_keepalive_connections=settings.java.max_concurrency,
            ),
            headers={"Accept": "application/json"},
        )
        self._slots = asyncio.Semaphore(settings.java.max_concurrency)
        self.retries = RetryPolicy(
            settings.java.retries + 1, settings.java.backoff_s, cap_s=MAX_RETRY_WAIT_S
        )
        self.breaker = CircuitBreaker(
            settings.java.breaker_failures,
            settings.java.breaker_reset_s,
            on_change=lambda s: BREAKER_OPEN.set(0 if s is BreakerState.CLOSED else 1),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ reads
    async def get(
        self,
        path: str,
        decode: Callable[[bytes], T],
        *,
        token: str | None,
        resource: str,
        params: dict[str, Any] | None = None,
    ) -> T:
        """GET ``path`` and decode its JSON body with ``decode`` (retried, breaker-guarded)."""

        def retrying(retry: int, failure: Exception, wait: float) -> None:
            log.info("java %s: %s; retry %d in %.2fs", resource, failure, retry, wait)

        async def attempt() -> bytes:
            response = await self._call("GET", path, token=token, resource=resource, params=params)
            return self._check_read(response, resource)

        try:
            body = await self.retries.call(
                attempt,
                retry_on=(_Transient,),
                retry_after=lambda failure: getattr(failure, "retry_after", None),
                on_retry=retrying,
            )
        except _Transient as exc:
            log.warning(
                "java %s failed after %d attempts: %s", resource, self.retries.attempts, exc.reason
            )
            if exc.status == 500:  # Java kept failing on its side: an error, not an outage
                raise UpstreamError(
                    "The SalesFlow service answered with an error.", upstreamStatus=500
                ) from exc
            raise UpstreamUnavailable(
                "The SalesFlow service is unavailable right now; try again shortly."
            ) from exc
        return await self._decode(body, decode, resource)

    def _check_read(self, response: httpx.Response, resource: str) -> bytes:
        status = response.status_code
        if 200 <= status < 300:
            if "json" not in response.headers.get("content-type", ""):
                UPSTREAM_CALLS.labels(resource, "bad_body").inc()
                log.warning(
                    "java %s answered %s, not JSON", resource, response.headers.get("content-type")
                )
                raise UpstreamError("The SalesFlow service sent an answer the gateway cannot read.")
            return response.content
        if status in RETRYABLE_STATUS:
            raise _Transient(f"HTTP {status}", _retry_after(response), status=status)
        error = JavaAnswer(
            status, response.content, response.headers.get("content-type", "")
        ).error()
        log.warning(
            "java %s answered %d %s: %s",
            resource,
            status,
            error.code if error else "-",
            error.message if error else response.text[:200],
        )
        if status == 401:
            raise Unauthenticated("The SalesFlow service refused the token.")
        if status == 403:
            raise Forbidden("The SalesFlow service denied access to this resource.")
        if status == 404:
            raise NotFound("Not found in the SalesFlow service.")
        raise UpstreamError("The SalesFlow service answered with an error.", upstreamStatus=status)

    async def _decode(self, body: bytes, decode: Callable[[bytes], T], resource: str) -> T:
        try:
            if len(body) > OFF_LOOP_BYTES:
                return await asyncio.to_thread(decode, body)
            return decode(body)
        except (msgspec.MsgspecError, ValueError, TypeError) as exc:
            UPSTREAM_CALLS.labels(resource, "bad_body").inc()
            log.warning("java %s sent an unreadable body: %s", resource, exc)
            raise UpstreamError("The SalesFlow service sent data the gateway cannot read.") from exc

    # ----------------------------------------------------------------- writes
    async def send(
        self, method: str, path: str, *, token: str | None, resource: str, json: Any = None
    ) -> JavaAnswer:
        """A write: sent once (never retried), answered as-is for the caller to interpret.

        Writes are not idempotent in Java, so a connection error or timeout raises
        :class:`UpstreamUnavailable` and the caller must treat the outcome as unknown.
        """
        body = msgspec.json.encode(json) if json is not None else None
        try:
            response = await self._call(
                method,
                path,
                token=token,
                resource=resource,
                content=body,
                headers={"Content-Type": "application/json"} if body is not None else None,
            )
        except _Transient as exc:
            raise UpstreamUnavailable(
                "The SalesFlow service is unavailable right now; try again shortly."
            ) from exc
        return JavaAnswer(
            response.status_code, response.content, response.headers.get("content-type", "")
        )

    async def probe(self, timeout_s: float) -> bool:
        """Does Java answer at all? Any HTTP answer below 500 counts (401 without a token is fine)."""
        try:
            response = await self._http.get("/auth/me", timeout=timeout_s)
        except httpx.HTTPError:
            return False
        return response.status_code < 500

    # ------------------------------------------------------------- machinery
    async def _call(
        self, method: str, path: str, *, token: str | None, resource: str, **kwargs: Any
    ) -> httpx.Response:
        if not self.breaker.allow():
            UPSTREAM_CALLS.labels(resource, "breaker_open").inc()
            raise UpstreamUnavailable(
                "The SalesFlow service is unavailable right now; try again shortly."
            )
        headers = dict(kwargs.pop("headers", None) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        outcome = "error"
        try:
            async with self._slots:
                response = await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            outcome = "timeout"
            self.breaker.record_failure()
            if isinstance(exc, httpx.ConnectTimeout):
                raise _Transient("connect timeout") from exc
            # A read timeout is not retried: Java is slow, asking again makes it slower.
            raise UpstreamUnavailable("The SalesFlow service timed out.") from exc
        except httpx.TransportError as exc:
            outcome = "unreachable"
            self.breaker.record_failure()
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        except asyncio.CancelledError:
            self.breaker.abandon()  # the caller went away; says nothing about Java
            raise
        else:
            outcome = str(response.status_code)
            if response.status_code >= 500 or response.status_code == 429:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            return response
        finally:
            UPSTREAM_CALLS.labels(resource, outcome).inc()
            count_upstream_call()
            UPSTREAM_LATENCY.labels(resource).observe(time.perf_counter() - started)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
