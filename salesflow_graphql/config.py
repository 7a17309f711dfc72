"""One typed settings object, read from ``SALESFLOW_*`` environment variables.

The settings are grouped by capability (``settings.java.retries``,
``settings.cache.stale_s``, ``settings.alerts.email_to``...); each field names its
environment variable, a flat ``SALESFLOW_*`` name (``SALESFLOW_JAVA_RETRIES``).
Values are parsed once, here, into what their consumers use (a number, a
:class:`~.severity.Severity`, checked e-mail addresses, scheduled reports),
and checked by their bounds; all bad values are reported together, each naming
its variable, before start-up goes on. The parsers this needs are leaf modules
beneath the settings (:mod:`.addresses`, :mod:`.schedules`,
:mod:`.manifests`, :mod:`.extras`): nothing imported here imports the settings.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import Field, dataclass, field
from datetime import date, datetime, tzinfo
from enum import Enum
from typing import Any, get_type_hints
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .addresses import valid_address
from .extras import MISSING_OTEL, MISSING_OTLP, otel_installed, otlp_exporter_available
from .manifests import ManifestError, load_manifest
from .schedules import ScheduledReport, parse_report_schedules
from .severity import Severity

PREFIX = "SALESFLOW_"
#: The secret the embedded default signs with; production must set its own.
DEMO_JWT_SECRET = "salesflow-demo-secret-change-me-in-production-0123456789"


class SettingsError(ValueError):
    """Start-up refused: one line per bad variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("Invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


#: A value's own parser: the raw text and the values parsed before it (by
#: dotted name: ``"limits.max_range_days"``).
Parser = Callable[[str, Mapping[str, Any]], Any]


def setting(
    var: str,
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    parse: Parser | None = None,
) -> Any:
    """A settings field: its environment variable, its default, a line of help, the bounds
    a value must respect, and the parser of a value that is not a plain str/bool/int/float
    (its errors name the variable, not the raw value)."""
    meta = {"var": var, "help": help, "low": low, "high": high, "parse": parse}
    return field(default=default, metadata=meta)


def _addresses(raw: str, _: Mapping[str, Any]) -> tuple[str, ...]:
    """Comma-separated e-mail addresses, trimmed and deduplicated, each checked."""
    found = tuple(dict.fromkeys(a.strip() for a in raw.split(",") if a.strip()))
    bad = [a for a in found if not valid_address(a)]
    if bad:
        raise ValueError("; ".join(f"{a!r} is not an e-mail address" for a in bad))
    return found


def _report_schedules(raw: str, parsed: Mapping[str, Any]) -> tuple[ScheduledReport, ...]:
    return parse_report_schedules(raw, max_days=parsed["limits.max_range_days"])


@dataclass(frozen=True)
class JavaSettings:
    """The system of record: the Java API, its timeouts, retries and breaker."""

    api_url: str | None = setting(
        "SALESFLOW_JAVA_API_URL",
        None,
        "Base URL of the Java API including /api/v1; unset = embedded stand-in",
    )
    connect_timeout_s: float = setting(
        "SALESFLOW_JAVA_CONNECT_TIMEOUT_S", 2.0, "Connect timeout toward Java", low=0.05, high=60
    )
    read_timeout_s: float = setting(
        "SALESFLOW_JAVA_READ_TIMEOUT_S", 30.0, "Read timeout toward Java", low=0.05, high=600
    )
    max_concurrency: int = setting(
        "SALESFLOW_JAVA_MAX_CONCURRENCY", 8, "Concurrent calls toward Java", low=1, high=256
    )
    retries: int = setting(
        "SALESFLOW_JAVA_RETRIES",
        4,
        "Retries of an idempotent GET (connection errors, 429, 500, 502-504)",
        low=0,
        high=10,
    )
    backoff_s: float = setting(
        "SALESFLOW_JAVA_BACKOFF_S",
        0.2,
        "Longest wait before the first GET retry (doubles, equal jitter)",
        low=0,
        high=30,
    )
    breaker_failures: int = setting(
        "SALESFLOW_BREAKER_FAILURES",
        10,
        "Consecutive failed calls (retries count) that open the breaker; a Java failing "
        "30 % of calls at random should not",
        low=1,
        high=1000,
    )
    breaker_reset_s: float = setting(
        "SALESFLOW_BREAKER_RESET_S", 10.0, "Seconds the breaker stays open before a probe", low=0.01
    )


@dataclass(frozen=True)
class AuthSettings:
    """Tokens and signed links."""

    jwt_secret: str = setting(
        "SALESFLOW_JWT_SECRET", DEMO_JWT_SECRET, "HS256 secret shared with the Java service"
    )
    jwt_leeway_s: float = setting(
        "SALESFLOW_JWT_LEEWAY_S",
        60.0,
        "Clock skew allowed when checking a token's exp, nbf and iat",
        low=0,
        high=3600,
    )
    link_ttl_s: int = setting(
        "SALESFLOW_LINK_TTL_S", 3600, "Lifetime of signed download links", low=1, high=7 * 24 * 3600
    )


@dataclass(frozen=True)
class CacheSettings:
    """What is cached, how long, and the in-process tier."""

    catalogue_ttl_s: float = setting(
        "SALESFLOW_CATALOGUE_TTL_S", 60.0, "TTL of products and inventory fetched from Java", low=0
    )
    sales_ttl_s: float = setting(
        "SALESFLOW_SALES_TTL_S", 60.0, "TTL of sales windows fetched from Java", low=0
    )
    analytics_ttl_s: float = setting(
        "SALESFLOW_ANALYTICS_TTL_S", 60.0, "TTL of computed analytics and cached answers", low=0
    )
    stale_s: float = setting(
        "SALESFLOW_CACHE_STALE_S",
        60.0,
        "After its TTL, how long a cached value is still served while one refresh runs; 0 = off",
        low=0,
        high=86400,
    )
    local_mb: int = setting(
        "SALESFLOW_CACHE_LOCAL_MB",
        256,
        "Memory budget of the in-process cache tier (MiB)",
        low=1,
        high=65536,
    )


@dataclass(frozen=True)
class LimitSettings:
    """Bounds of the arguments the services accept."""

    max_top: int = setting("SALESFLOW_MAX_TOP", 100, "Largest `top` accepted", low=1, high=10_000)
    max_range_days: int = setting(
        "SALESFLOW_MAX_RANGE_DAYS", 1095, "Longest date range in days", low=1, high=3660
    )
    max_lookback_days: int = setting(
        "SALESFLOW_MAX_LOOKBACK_DAYS", 365, "Longest stock lookback in days", low=1, high=3660
    )
    max_lead_time_days: int = setting(
        "SALESFLOW_MAX_LEAD_TIME_DAYS", 365, "Longest lead time in days", low=0, high=3660
    )


@dataclass(frozen=True)
class GraphQLSettings:
    """The GraphQL endpoint: query limits (checked before any resolver runs), introspection,
    GraphiQL and persisted queries."""

    max_depth: int = setting(
        "SALESFLOW_MAX_QUERY_DEPTH",
        12,
        "Deepest selection nesting, fragments counted",
        low=1,
        high=1000,
    )
    max_tokens: int = setting(
        "SALESFLOW_MAX_QUERY_TOKENS", 2000, "Most tokens in one document", low=10, high=1_000_000
    )
    max_aliases: int = setting(
        "SALESFLOW_MAX_QUERY_ALIASES", 20, "Most aliases in one document", low=0, high=10_000
    )
    max_cost: int = setting(
        "SALESFLOW_MAX_QUERY_COST",
        5000,
        "Largest estimated cost: 1 a field, list fields times their size (top, limit, "
        "horizonDays, historyDays, else query_list_size)",
        low=1,
    )
    list_size: int = setting(
        "SALESFLOW_QUERY_LIST_SIZE",
        50,
        "Assumed size of lists without a size argument, for the cost",
        low=1,
        high=100_000,
    )
    introspection: bool = setting(
        "SALESFLOW_INTROSPECTION",
        True,
        "Answer introspection (off: also no field suggestions in errors)",
    )
    graphiql: bool = setting("SALESFLOW_GRAPHIQL", True, "Serve GraphiQL at GET /graphql")
    persisted_queries: str = setting(
        "SALESFLOW_PERSISTED_QUERIES",
        "automatic",
        "automatic: Apollo's automatic persisted queries (hash -> document in Redis, else in "
        "memory); trusted: only documents of SALESFLOW_TRUSTED_DOCUMENTS run; off",
    )
    trusted_documents: str = setting(
        "SALESFLOW_TRUSTED_DOCUMENTS",
        "",
        "Comma-separated manifest files (Apollo persisted-query manifest or GraphQL Code "
        "Generator persisted-documents JSON) for persisted_queries=trusted",
    )
    persisted_queries_ttl_s: float = setting(
        "SALESFLOW_PERSISTED_QUERIES_TTL_S",
        7 * 24 * 3600.0,
        "How long an automatic persisted query is remembered",
        low=60,
    )

    @property
    def trusted_document_paths(self) -> list[str]:
        return [p.strip() for p in self.trusted_documents.split(",") if p.strip()]

    def problems(self) -> list[str]:
        mode = self.persisted_queries.lower()
        if mode not in ("automatic", "trusted", "off"):
            return [
                f"{PREFIX}PERSISTED_QUERIES={self.persisted_queries!r}: automatic, trusted or off"
            ]
        if mode != "trusted":
            return []
        if not self.trusted_document_paths:
            return [
                f"{PREFIX}PERSISTED_QUERIES=trusted needs {PREFIX}TRUSTED_DOCUMENTS (manifest files)"
            ]
        problems = []
        for path in self.trusted_document_paths:
            try:
                load_manifest(path)
            except ManifestError as exc:
                problems.append(f"{PREFIX}TRUSTED_DOCUMENTS: {exc}")
        return problems


@dataclass(frozen=True)
class EdgeSettings:
    """Serving HTTP: the socket, body and header limits, deadlines, CORS, proxies and the per-user rate limit."""

    host: str = setting("SALESFLOW_HOST", "127.0.0.1", "Interface the gateway binds to")
    port: int = setting("SALESFLOW_PORT", 8000, "Port the gateway listens on", low=1, high=65535)
    max_body_bytes: int = setting(
        "SALESFLOW_MAX_BODY_BYTES",
        1024 * 1024,
        "Largest body of a POST that is not an upload (JSON), counted while it streams; "
        "larger: HTTP 413",
        low=1024,
        high=64 * 1024 * 1024,
    )
    request_timeout_s: float = setting(
        "SALESFLOW_REQUEST_TIMEOUT_S",
        30.0,
        "Longest a GraphQL HTTP request may take (body and query); over it a query is stopped "
        "(HTTP 504, QUERY_TOO_COMPLEX, reason TIMEOUT); a mutation that has started is never "
        "stopped; 0 = no limit",
        low=0,
        high=3600,
    )
    upload_timeout_s: float = setting(
        "SALESFLOW_UPLOAD_TIMEOUT_S",
        120.0,
        "The same limit for a file upload (multipart) to arrive and be parsed; 0 = no limit",
        low=0,
        high=3600,
    )
    shutdown_grace_s: float = setting(
        "SALESFLOW_SHUTDOWN_GRACE_S",
        5.0,
        "Seconds a gateway stopping on SIGTERM lets requests in flight finish before it "
        "cancels them and closes; keep it below the supervisor's stop timeout (Docker: 10 s)",
        low=0,
        high=600,
    )
    cors_origins: str = setting(
        "SALESFLOW_CORS_ORIGINS",
        "",
        "Comma-separated origins (https://dash.example) whose pages may call the API "
        "(CORS, and WebSocket handshakes); empty = same origin only; * = any",
    )
    max_document_bytes: int = setting(
        "SALESFLOW_MAX_DOCUMENT_BYTES",
        64 * 1024,
        "Largest GraphQL document (query text), refused before parsing (HTTP 413, reason "
        "DOCUMENT_TOO_LARGE)",
        low=1024,
        high=1024 * 1024,
    )
    max_header_bytes: int = setting(
        "SALESFLOW_MAX_HEADER_BYTES",
        32 * 1024,
        "Largest request line and headers together (larger: HTTP 431, connection closed)",
        low=4096,
        high=1024 * 1024,
    )
    header_timeout_s: float = setting(
        "SALESFLOW_HEADER_TIMEOUT_S",
        10.0,
        "Longest a client may take to send a request's line and headers, from its first byte "
        "or from the connection (then HTTP 408, connection closed)",
        low=0.5,
        high=600,
    )
    trusted_proxies: str = setting(
        "SALESFLOW_TRUSTED_PROXIES",
        "",
        "Comma-separated addresses or networks (10.0.0.0/8) of reverse proxies whose "
        "X-Forwarded-For/-Proto/-Host are trusted; empty = none",
    )
    rate_limit_per_s: float = setting(
        "SALESFLOW_RATE_LIMIT_PER_S",
        20.0,
        "Requests a second each user may make on average; 0 = no rate limit",
        low=0,
    )
    rate_limit_burst: int = setting(
        "SALESFLOW_RATE_LIMIT_BURST",
        40,
        "Requests a user may make at once before the rate applies",
        low=1,
    )

    @property
    def cors_origin_list(self) -> list[str]:
        """``cors_origins`` as a list (empty: same origin only)."""
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    def problems(self) -> list[str]:
        problems = []
        for origin in self.cors_origin_list:
            parsed = urlparse(origin)
            if origin != "*" and (
                parsed.scheme not in ("http", "https")
                or not parsed.netloc
                or parsed.path
                or parsed.query
            ):
                problems.append(
                    f"{PREFIX}CORS_ORIGINS: {origin!r} is not an origin like "
                    "https://dash.example (scheme, host and port, no path) or *"
                )
        for proxy in (p.strip() for p in self.trusted_proxies.split(",")):
            try:
                if proxy:
                    ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                problems.append(
                    f"{PREFIX}TRUSTED_PROXIES: {proxy!r} is not an address or network "
                    "(10.0.0.7, 10.0.0.0/8, fd00::/8)"
                )
        return problems


@dataclass(frozen=True)
class WebSocketSettings:
    """WebSocket subscriptions."""

    max_subscriptions: int = setting(
        "SALESFLOW_WS_MAX_SUBSCRIPTIONS",
        20,
        "Operations one WebSocket connection may run at once",
        low=1,
        high=1000,
    )
    keepalive_s: float = setting(
        "SALESFLOW_WS_KEEPALIVE_S",
        15.0,
        "Seconds between server pings on idle WebSockets; 0 = no pings",
        low=0,
        high=3600,
    )
    max_connections_per_user: int = setting(
        "SALESFLOW_WS_MAX_CONNECTIONS_PER_USER",
        10,
        "WebSocket connections one user (JWT subject) may hold open on one process; more are "
        "closed with 4429; 0 = no cap",
        low=0,
        high=100_000,
    )
    init_timeout_s: float = setting(
        "SALESFLOW_WS_INIT_TIMEOUT_S",
        10.0,
        "Seconds a WebSocket may wait before connection_init (then 4408)",
        low=0.1,
        high=600,
    )
    max_message_bytes: int = setting(
        "SALESFLOW_WS_MAX_MESSAGE_BYTES",
        64 * 1024,
        "Largest WebSocket message accepted from a client (larger: closed with 1009)",
        low=1024,
        high=16 * 1024 * 1024,
    )


@dataclass(frozen=True)
class ObservabilitySettings:
    """Logs, tracing (OpenTelemetry) and the worker's metrics."""

    log_level: str = setting("SALESFLOW_LOG_LEVEL", "INFO", "Log level")
    log_format: str = setting(
        "SALESFLOW_LOG_FORMAT",
        "json",
        "Log lines: json (one object a line: ts, level, logger, message, extras) or text",
    )
    otel_enabled: bool = setting(
        "SALESFLOW_OTEL_ENABLED", False, "Trace GraphQL operations and resolvers (OpenTelemetry)"
    )
    otel_exporter: str = setting(
        "SALESFLOW_OTEL_EXPORTER",
        "console",
        "Where spans go: console (stderr) or otlp (needs opentelemetry-exporter-otlp; "
        "endpoint from OTEL_EXPORTER_OTLP_ENDPOINT)",
    )
    otel_service_name: str = setting(
        "SALESFLOW_OTEL_SERVICE_NAME", "salesflow-graphql", "service.name of the spans"
    )
    worker_metrics_port: int = setting(
        "SALESFLOW_WORKER_METRICS_PORT",
        0,
        "Port on which `salesflow-graphql worker` serves Prometheus metrics (job durations); "
        "0 = none",
        low=0,
        high=65535,
    )

    def log_problems(self) -> list[str]:
        problems = []
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            problems.append(
                f"{PREFIX}LOG_LEVEL={self.log_level!r}: one of DEBUG, INFO, WARNING, ERROR"
            )
        if self.log_format.lower() not in ("json", "text"):
            problems.append(f"{PREFIX}LOG_FORMAT={self.log_format!r}: json or text")
        return problems

    def otel_problems(self) -> list[str]:
        exporter = self.otel_exporter.lower()
        if exporter not in ("console", "otlp"):
            return [f"{PREFIX}OTEL_EXPORTER={self.otel_exporter!r}: console or otlp"]
        if self.otel_enabled and not otel_installed():
            return [f"{PREFIX}OTEL_ENABLED: {MISSING_OTEL}"]
        if self.otel_enabled and exporter == "otlp" and not otlp_exporter_available():
            return [f"{PREFIX}OTEL_EXPORTER=otlp: {MISSING_OTLP}"]
        return []


@dataclass(frozen=True)
class ForecastSettings:
    """Forecasts: their bounds, cache and training processes."""

    max_horizon: int = setting(
        "SALESFLOW_FORECAST_MAX_HORIZON", 90, "Longest forecast horizon in days", low=1, high=365
    )
    min_history: int = setting(
        "SALESFLOW_FORECAST_MIN_HISTORY", 56, "Shortest historyDays accepted", low=14, high=3650
    )
    max_history: int = setting(
        "SALESFLOW_FORECAST_MAX_HISTORY", 1095, "Longest historyDays accepted", low=28, high=3650
    )
    ttl_s: float = setting(
        "SALESFLOW_FORECAST_TTL_S",
        6 * 3600.0,
        "TTL of a trained forecast (keyed by its data)",
        low=0,
    )
    workers: int = setting(
        "SALESFLOW_FORECAST_WORKERS",
        1,
        "Processes that train forecasts (1 thread each)",
        low=1,
        high=64,
    )
    max_per_user: int = setting(
        "SALESFLOW_FORECAST_MAX_PER_USER",
        2,
        "Forecast trainings one user may wait on at once (queued or running); more: "
        "RATE_LIMITED with retryAfter (asking for a forecast already training is always fine)",
        low=1,
        high=1000,
    )
    max_queued: int = setting(
        "SALESFLOW_FORECAST_MAX_QUEUED",
        32,
        "Forecast trainings one process holds at once (queued or running); more: RATE_LIMITED",
        low=1,
        high=10_000,
    )


@dataclass(frozen=True)
class ImportSettings:
    """Spreadsheet imports: upload and archive limits, the sandbox and writes toward Java."""

    max_upload_bytes: int = setting(
        "SALESFLOW_IMPORT_MAX_UPLOAD_BYTES",
        20 * 1024 * 1024,
        "Largest upload (whole request body), counted while streaming",
        low=1024,
    )
    max_rows: int = setting(
        "SALESFLOW_IMPORT_MAX_ROWS", 200_000, "Most data rows one import may have", low=1
    )
    zip_max_entries: int = setting(
        "SALESFLOW_IMPORT_ZIP_MAX_ENTRIES",
        2_000,
        "Most members an .xlsx/.xlsm/.ods archive may have",
        low=1,
    )
    zip_max_uncompressed_bytes: int = setting(
        "SALESFLOW_IMPORT_ZIP_MAX_UNCOMPRESSED_BYTES",
        256 * 1024 * 1024,
        "Most bytes an archive may inflate to, in total",
        low=1024,
    )
    zip_max_ratio: float = setting(
        "SALESFLOW_IMPORT_ZIP_MAX_RATIO",
        200.0,
        "Largest inflate ratio of one archive member (above 1 MiB)",
        low=1,
    )
    idempotency_ttl_s: int = setting(
        "SALESFLOW_IMPORT_IDEMPOTENCY_TTL_S",
        24 * 3600,
        "How long an idempotencyKey remembers its import",
        low=60,
    )
    bulk_chunk_size: int = setting(
        "SALESFLOW_IMPORT_BULK_CHUNK_SIZE",
        500,
        "Products or sales per bulk request to Java",
        low=1,
        high=10_000,
    )
    write_concurrency: int = setting(
        "SALESFLOW_IMPORT_WRITE_CONCURRENCY",
        4,
        "Concurrent per-product writes when Java has no bulk endpoint",
        low=1,
        high=64,
    )
    max_concurrent: int = setting(
        "SALESFLOW_IMPORT_MAX_CONCURRENT",
        2,
        "Imports parsed at the same time by one process (CPU and memory bound)",
        low=1,
    )
    max_sheet_cells: int = setting(
        "SALESFLOW_IMPORT_MAX_SHEET_CELLS",
        5_000_000,
        "Most cells (rows × columns from A1) one sheet may reach, measured in its XML "
        "before any parser runs",
        low=1,
    )
    sandbox_memory_bytes: int = setting(
        "SALESFLOW_IMPORT_SANDBOX_MEMORY_BYTES",
        2 * 1024**3,
        "Address-space limit (RLIMIT_AS) of each process that parses uploads",
        low=256 * 1024**2,
    )
    sandbox_timeout_s: float = setting(
        "SALESFLOW_IMPORT_SANDBOX_TIMEOUT_S",
        120.0,
        "Longest one step of parsing an upload (read, check, render) may run before its "
        "process is killed",
        low=1,
        high=3600,
    )


@dataclass(frozen=True)
class JobSettings:
    """Background jobs (embedded runner or arq workers)."""

    timeout_s: float = setting(
        "SALESFLOW_JOB_TIMEOUT_S", 300.0, "Longest run of one job attempt", low=1, high=3600
    )
    retries: int = setting(
        "SALESFLOW_JOB_RETRIES",
        3,
        "Retries of a job after Java was unavailable (then FAILED)",
        low=0,
        high=10,
    )
    backoff_s: float = setting(
        "SALESFLOW_JOB_BACKOFF_S",
        2.0,
        "Longest wait before the first job retry (doubles per retry, equal jitter)",
        low=0,
        high=300,
    )
    concurrency: int = setting(
        "SALESFLOW_JOB_CONCURRENCY",
        2,
        "Jobs one process (gateway or worker) runs at once",
        low=1,
        high=64,
    )
    lease_s: float = setting(
        "SALESFLOW_JOB_LEASE_S",
        15.0,
        "A worker's lease on a running job, renewed every third of it: a job whose worker "
        "died runs again on another worker within this time",
        low=1,
        high=600,
    )


@dataclass(frozen=True)
class ReportSettings:
    """Report jobs, their files and schedules."""

    max_open_per_user: int = setting(
        "SALESFLOW_REPORT_MAX_OPEN_PER_USER",
        5,
        "Report jobs one user may have queued or running at once; more: RATE_LIMITED with "
        "retryAfter (scheduled reports do not count)",
        low=1,
        high=1000,
    )
    retention_days: float = setting(
        "SALESFLOW_REPORT_RETENTION_DAYS",
        7.0,
        "Days report files and job records are kept",
        low=0.001,
        high=3650,
    )
    currency: str = setting(
        "SALESFLOW_REPORT_CURRENCY", "$", "Currency symbol printed before money in reports"
    )
    schedules: tuple[ScheduledReport, ...] = setting(
        "SALESFLOW_REPORT_SCHEDULES",
        (),
        'Scheduled reports, a JSON list of {"cron": "0 7 * * 1", "kind": "FULL", '
        '"format": "PDF", "recipients": ["a@b.example"], "days": 7}',
        parse=_report_schedules,
    )


@dataclass(frozen=True)
class MailSettings:
    """Sending e-mail."""

    smtp_host: str | None = setting(
        "SALESFLOW_SMTP_HOST", None, "SMTP server; unset = e-mail is logged, not sent"
    )
    smtp_port: int = setting("SALESFLOW_SMTP_PORT", 25, "SMTP port", low=1, high=65535)
    smtp_username: str | None = setting(
        "SALESFLOW_SMTP_USERNAME", None, "SMTP user, if the server needs a login"
    )
    smtp_password: str | None = setting("SALESFLOW_SMTP_PASSWORD", None, "SMTP password")
    smtp_starttls: bool = setting(
        "SALESFLOW_SMTP_STARTTLS", False, "Upgrade the SMTP connection with STARTTLS"
    )
    smtp_timeout_s: float = setting(
        "SALESFLOW_SMTP_TIMEOUT_S", 10.0, "SMTP timeout", low=0.1, high=300
    )
    sender: str = setting(
        "SALESFLOW_MAIL_FROM", "SalesFlow <salesflow@localhost>", "Sender of every e-mail"
    )
    retries: int = setting("SALESFLOW_MAIL_RETRIES", 3, "Retries of a failed send", low=0, high=10)
    backoff_s: float = setting(
        "SALESFLOW_MAIL_BACKOFF_S",
        1.0,
        "Longest wait before the first send retry (doubles, equal jitter)",
        low=0,
        high=60,
    )


@dataclass(frozen=True)
class AlertSettings:
    """Anomaly checks, their thresholds and the e-mail digest."""

    check_interval_minutes: int = setting(
        "SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES",
        10,
        "Minutes between scheduled anomaly checks (divides 60, or a whole number of hours "
        "dividing 24); 0 = no scheduled checks",
        low=0,
        high=1440,
    )
    scan_days: int = setting(
        "SALESFLOW_ALERT_SCAN_DAYS",
        0,
        "Complete days each check scans for sales anomalies; 0 = 60 on the embedded default "
        "(the demo shop's planted anomalies), 7 with a Java URL",
        low=0,
        high=365,
    )
    cooldown_days: int = setting(
        "SALESFLOW_ALERT_COOLDOWN_DAYS",
        3,
        "Days after an alert in which the same kind on the same subject stays quiet",
        low=0,
    )
    min_score: float = setting(
        "SALESFLOW_ALERT_MIN_SCORE", 3.0, "Robust z a sales anomaly must reach", low=1, high=100
    )
    min_daily_units: float = setting(
        "SALESFLOW_ALERT_MIN_DAILY_UNITS",
        2.0,
        "Volume gate: units a day a series must sell on average to be watched",
        low=0,
    )
    min_delta_units: float = setting(
        "SALESFLOW_ALERT_MIN_DELTA_UNITS",
        5.0,
        "Smallest change in units, against the baseline, that alerts",
        low=0,
    )
    min_delta_revenue: float = setting(
        "SALESFLOW_ALERT_MIN_DELTA_REVENUE",
        50.0,
        "Smallest change in revenue, against the baseline, that alerts",
        low=0,
    )
    min_relative_delta: float = setting(
        "SALESFLOW_ALERT_MIN_RELATIVE_DELTA",
        0.25,
        "Smallest change as a fraction of the baseline that alerts (0.25 = 25 %)",
        low=0,
    )
    lead_time_days: int = setting(
        "SALESFLOW_ALERT_LEAD_TIME_DAYS",
        7,
        "Lead time for STOCKOUT_RISK: days of cover below it alert",
        low=1,
        high=365,
    )
    stock_lookback_days: int = setting(
        "SALESFLOW_ALERT_STOCK_LOOKBACK_DAYS",
        30,
        "Days of sales behind average daily sales and days of cover",
        low=1,
        high=365,
    )
    email_to: tuple[str, ...] = setting(
        "SALESFLOW_ALERT_EMAIL_TO",
        (),
        "Comma-separated recipients of the alert digest e-mails",
        parse=_addresses,
    )
    email_min_severity: Severity = setting(  # noqa: RUF009 (an enum member is immutable)
        "SALESFLOW_ALERT_EMAIL_MIN_SEVERITY",
        Severity.HIGH,
        "Lowest severity in the e-mail digest: LOW, MEDIUM, HIGH or CRITICAL",
    )
    stream_maxlen: int = setting(
        "SALESFLOW_ALERT_STREAM_MAXLEN",
        10_000,
        "Alerts kept for replay and the alerts query (approximately, in Redis)",
        low=100,
    )
    check_timeout_s: float = setting(
        "SALESFLOW_ALERT_CHECK_TIMEOUT_S",
        120.0,
        "Longest one anomaly check may hold the check lock",
        low=5,
        high=3600,
    )

    def problems(self) -> list[str]:
        minutes = self.check_interval_minutes
        if minutes and not (
            (minutes <= 60 and 60 % minutes == 0) or (minutes % 60 == 0 and 1440 % minutes == 0)
        ):
            return [
                f"{PREFIX}ALERT_CHECK_INTERVAL_MINUTES={minutes}: must divide 60 (1, 2, 5, 10, "
                "15, 30...) or be whole hours dividing 24 (60, 120, 180, 240, 360, 720, 1440)"
            ]
        return []


@dataclass(frozen=True)
class StandInSettings:
    """The embedded stand-in of the Java service."""

    demo_seed: int = setting("SALESFLOW_DEMO_SEED", 20240601, "Seed of the demo shop", low=0)
    products_bulk: bool = setting(
        "SALESFLOW_STANDIN_PRODUCTS_BULK", False, "Stand-in serves POST /products/bulk"
    )


@dataclass(frozen=True)
class Settings:
    """Everything the gateway can be told, by capability; see README for each variable."""

    java: JavaSettings = field(default_factory=JavaSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    graphql: GraphQLSettings = field(default_factory=GraphQLSettings)
    edge: EdgeSettings = field(default_factory=EdgeSettings)
    ws: WebSocketSettings = field(default_factory=WebSocketSettings)
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)
    forecast: ForecastSettings = field(default_factory=ForecastSettings)
    imports: ImportSettings = field(default_factory=ImportSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    reports: ReportSettings = field(default_factory=ReportSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    standin: StandInSettings = field(default_factory=StandInSettings)
    # --- shared by several capabilities ---
    redis_url: str | None = setting(
        "SALESFLOW_REDIS_URL", None, "Redis URL; unset = memory cache and in-process jobs"
    )
    timezone: str = setting(
        "SALESFLOW_TIMEZONE", "", "IANA zone for business dates; empty = the server's local zone"
    )
    public_url: str | None = setting(
        "SALESFLOW_PUBLIC_URL",
        None,
        "Base URL users reach the gateway at, for links in e-mails (unset: no link)",
    )
    exports_dir: str = setting(
        "SALESFLOW_EXPORTS_DIR", "exports", "Folder (shared volume) for reports and import files"
    )

    @property
    def embedded(self) -> bool:
        """True when no Java URL is set: the stand-in runs in process."""
        return self.java.api_url is None

    @property
    def tz(self) -> tzinfo:
        if not self.timezone:
            local = datetime.now().astimezone().tzinfo
            assert local is not None
            return local
        return ZoneInfo(self.timezone)

    @property
    def alert_scan_window_days(self) -> int:
        """Days a check scans: the setting, or 60 on the embedded default and 7 otherwise."""
        if self.alerts.scan_days:
            return self.alerts.scan_days
        return 60 if self.embedded else 7

    def today(self) -> date:
        """The business's calendar date now (server-local unless `timezone` is set)."""
        return datetime.now(self.tz).date()

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed: a group's by a mapping of its fields
        (``settings.replace(cache={"stale_s": 0}, redis_url=url)``), or by a whole group."""
        return dataclasses.replace(
            self,
            **{
                name: dataclasses.replace(getattr(self, name), **value)
                if isinstance(value, Mapping)
                else value
                for name, value in changes.items()
            },
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate; raise :class:`SettingsError` naming every bad variable."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for name, f, kind in _leaves(cls):
            var = f.metadata["var"]
            raw = environ.get(var)
            own = f.metadata["parse"]
            if raw is None or (raw.strip() == "" and (f.default is None or own)):
                continue
            try:
                if own is not None:
                    earlier = {n: values.get(n, g.default) for n, g, _ in _leaves(cls)}
                    values[name] = own(raw.strip(), earlier)
                else:
                    values[name] = _parse(raw.strip(), kind, f.metadata)
            except ValueError as exc:
                problems.append(f"{var}: {exc}" if own else f"{var}={raw!r}: {exc}")
        settings = None if problems else cls._of(values)
        if settings is not None:
            problems.extend(settings._cross_checks())
        if problems:
            raise SettingsError(problems)
        assert settings is not None
        return settings

    @classmethod
    def _of(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from parsed values by dotted name (``"java.retries"``), else defaults."""
        grouped: dict[str, dict[str, Any]] = {}
        for name, value in values.items():
            group_name, _, leaf = name.rpartition(".")
            grouped.setdefault(group_name, {})[leaf] = value
        top = grouped.pop("", {})
        hints = get_type_hints(cls)
        return cls(**top, **{g: hints[g](**leaves) for g, leaves in grouped.items()})

    def _cross_checks(self) -> list[str]:
        problems = []
        for var, url, schemes in (
            ("JAVA_API_URL", self.java.api_url, ("http", "https")),
            ("REDIS_URL", self.redis_url, ("redis", "rediss", "unix")),
        ):
            if url is not None:
                parsed = urlparse(url)
                if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
                    problems.append(f"{PREFIX}{var}={url!r}: expected a {'/'.join(schemes)} URL")
        if self.timezone:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(f"{PREFIX}TIMEZONE={self.timezone!r}: unknown IANA time zone")
        if not self.embedded and self.auth.jwt_secret == DEMO_JWT_SECRET:
            problems.append(
                f"{PREFIX}JWT_SECRET must be set to the Java service's secret when "
                f"{PREFIX}JAVA_API_URL is set (the demo secret is for the embedded default only)"
            )
        if len(self.auth.jwt_secret.encode()) < 32:
            problems.append(f"{PREFIX}JWT_SECRET: must be at least 32 bytes for HS256")
        if self.public_url is not None and urlparse(self.public_url).scheme not in (
            "http",
            "https",
        ):
            problems.append(f"{PREFIX}PUBLIC_URL={self.public_url!r}: expected an http(s) URL")
        problems.extend(self.alerts.problems())
        problems.extend(self.observability.log_problems())
        problems.extend(self.edge.problems())
        problems.extend(self.graphql.problems())
        problems.extend(self.observability.otel_problems())
        return problems


def _leaves(cls: type) -> Iterator[tuple[str, Field[Any], Any]]:
    """Every setting of ``cls`` in order: its dotted name, its field and its type."""
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):  # a group of settings
            inner = get_type_hints(kind)
            for g in dataclasses.fields(kind):
                yield f"{f.name}.{g.name}", g, inner[g.name]
        else:
            yield f.name, f, hints[f.name]


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse(raw: str, kind: Any, meta: Mapping[str, Any]) -> Any:
    base = kind
    if getattr(kind, "__args__", None):  # Optional[X]
        base = next(a for a in kind.__args__ if a is not type(None))
    if base is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError("expected true or false")
    if base is str:
        return raw
    if isinstance(base, type) and issubclass(base, Enum):
        try:
            return base(raw.upper())
        except ValueError:
            raise ValueError("one of " + ", ".join(m.value for m in base)) from None
    try:
        value = base(raw)
    except ValueError:
        raise ValueError(f"expected {'a whole number' if base is int else 'a number'}") from None
    low, high = meta.get("low"), meta.get("high")
    if low is not None and value < low:
        raise ValueError(f"must be at least {low}")
    if high is not None and value > high:
        raise ValueError(f"must be at most {high}")
    return value
