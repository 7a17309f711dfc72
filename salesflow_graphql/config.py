"""One typed settings object, read from ``SALESFLOW_*`` environment variables.

Every field's environment variable is ``SALESFLOW_`` + the field name in upper
case. Values are parsed once, here, into what their consumers use (a number, a
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


#: A value's own parser: the raw text and the values parsed before it (by field name).
Parser = Callable[[str, Mapping[str, Any]], Any]


def setting(
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    parse: Parser | None = None,
) -> Any:
    """A settings field: its default, a line of help, the bounds a value must respect, and
    the parser of a value that is not a plain str/bool/int/float (its errors name the
    variable, not the raw value)."""
    return field(default=default, metadata={"help": help, "low": low, "high": high, "parse": parse})


def _addresses(raw: str, _: Mapping[str, Any]) -> tuple[str, ...]:
    """Comma-separated e-mail addresses, trimmed and deduplicated, each checked."""
    found = tuple(dict.fromkeys(a.strip() for a in raw.split(",") if a.strip()))
    bad = [a for a in found if not valid_address(a)]
    if bad:
        raise ValueError("; ".join(f"{a!r} is not an e-mail address" for a in bad))
    return found


def _report_schedules(raw: str, parsed: Mapping[str, Any]) -> tuple[ScheduledReport, ...]:
    return parse_report_schedules(raw, max_days=parsed["max_range_days"])


@dataclass(frozen=True)
class Settings:
    """Everything the gateway can be told; see README for each variable."""

    # --- system of record ---
    java_api_url: str | None = setting(
        None, "Base URL of the Java API including /api/v1; unset = embedded stand-in"
    )
    jwt_secret: str = setting(DEMO_JWT_SECRET, "HS256 secret shared with the Java service")
    java_connect_timeout_s: float = setting(2.0, "Connect timeout toward Java", low=0.05, high=60)
    java_read_timeout_s: float = setting(30.0, "Read timeout toward Java", low=0.05, high=600)
    java_max_concurrency: int = setting(8, "Concurrent calls toward Java", low=1, high=256)
    java_retries: int = setting(
        4, "Retries of an idempotent GET (connection errors, 429, 500, 502-504)", low=0, high=10
    )
    java_backoff_s: float = setting(
        0.2, "Longest wait before the first GET retry (doubles, equal jitter)", low=0, high=30
    )
    breaker_failures: int = setting(
        10,
        "Consecutive failed calls (retries count) that open the breaker; a Java failing "
        "30 % of calls at random should not",
        low=1,
        high=1000,
    )
    breaker_reset_s: float = setting(
        10.0, "Seconds the breaker stays open before a probe", low=0.01
    )
    # --- cache ---
    redis_url: str | None = setting(None, "Redis URL; unset = memory cache and in-process jobs")
    catalogue_ttl_s: float = setting(60.0, "TTL of products and inventory fetched from Java", low=0)
    sales_ttl_s: float = setting(60.0, "TTL of sales windows fetched from Java", low=0)
    analytics_ttl_s: float = setting(60.0, "TTL of computed analytics and cached answers", low=0)
    cache_stale_s: float = setting(
        60.0,
        "After its TTL, how long a cached value is still served while one refresh runs; 0 = off",
        low=0,
        high=86400,
    )
    cache_local_mb: int = setting(
        256, "Memory budget of the in-process cache tier (MiB)", low=1, high=65536
    )
    # --- limits ---
    max_top: int = setting(100, "Largest `top` accepted", low=1, high=10_000)
    max_range_days: int = setting(1095, "Longest date range in days", low=1, high=3660)
    max_lookback_days: int = setting(365, "Longest stock lookback in days", low=1, high=3660)
    max_lead_time_days: int = setting(365, "Longest lead time in days", low=0, high=3660)
    # --- query limits (checked before any resolver runs) ---
    max_query_depth: int = setting(
        12, "Deepest selection nesting, fragments counted", low=1, high=1000
    )
    max_query_tokens: int = setting(2000, "Most tokens in one document", low=10, high=1_000_000)
    max_query_aliases: int = setting(20, "Most aliases in one document", low=0, high=10_000)
    max_query_cost: int = setting(
        5000,
        "Largest estimated cost: 1 a field, list fields times their size (top, limit, "
        "horizonDays, historyDays, else query_list_size)",
        low=1,
    )
    query_list_size: int = setting(
        50, "Assumed size of lists without a size argument, for the cost", low=1, high=100_000
    )
    introspection: bool = setting(
        True, "Answer introspection (off: also no field suggestions in errors)"
    )
    # --- rate limiting (per user, token bucket) ---
    rate_limit_per_s: float = setting(
        20.0, "Requests a second each user may make on average; 0 = no rate limit", low=0
    )
    rate_limit_burst: int = setting(
        40, "Requests a user may make at once before the rate applies", low=1
    )
    # --- serving ---
    host: str = setting("127.0.0.1", "Interface the gateway binds to")
    port: int = setting(8000, "Port the gateway listens on", low=1, high=65535)
    graphiql: bool = setting(True, "Serve GraphiQL at GET /graphql")
    timezone: str = setting("", "IANA zone for business dates; empty = the server's local zone")
    log_level: str = setting("INFO", "Log level")
    log_format: str = setting(
        "json", "Log lines: json (one object a line: ts, level, logger, message, extras) or text"
    )
    # --- protection of the HTTP endpoint ---
    max_body_bytes: int = setting(
        1024 * 1024,
        "Largest body of a POST that is not an upload (JSON), counted while it streams; "
        "larger: HTTP 413",
        low=1024,
        high=64 * 1024 * 1024,
    )
    request_timeout_s: float = setting(
        30.0,
        "Longest a GraphQL HTTP request may take (body and query); over it a query is stopped "
        "(HTTP 504, QUERY_TOO_COMPLEX, reason TIMEOUT); a mutation that has started is never "
        "stopped; 0 = no limit",
        low=0,
        high=3600,
    )
    upload_timeout_s: float = setting(
        120.0,
        "The same limit for a file upload (multipart) to arrive and be parsed; 0 = no limit",
        low=0,
        high=3600,
    )
    shutdown_grace_s: float = setting(
        5.0,
        "Seconds a gateway stopping on SIGTERM lets requests in flight finish before it "
        "cancels them and closes; keep it below the supervisor's stop timeout (Docker: 10 s)",
        low=0,
        high=600,
    )
    cors_origins: str = setting(
        "",
        "Comma-separated origins (https://dash.example) whose pages may call the API "
        "(CORS, and WebSocket handshakes); empty = same origin only; * = any",
    )
    max_document_bytes: int = setting(
        64 * 1024,
        "Largest GraphQL document (query text), refused before parsing (HTTP 413, reason "
        "DOCUMENT_TOO_LARGE)",
        low=1024,
        high=1024 * 1024,
    )
    max_header_bytes: int = setting(
        32 * 1024,
        "Largest request line and headers together (larger: HTTP 431, connection closed)",
        low=4096,
        high=1024 * 1024,
    )
    header_timeout_s: float = setting(
        10.0,
        "Longest a client may take to send a request's line and headers, from its first byte "
        "or from the connection (then HTTP 408, connection closed)",
        low=0.5,
        high=600,
    )
    jwt_leeway_s: float = setting(
        60.0, "Clock skew allowed when checking a token's exp, nbf and iat", low=0, high=3600
    )
    trusted_proxies: str = setting(
        "",
        "Comma-separated addresses or networks (10.0.0.0/8) of reverse proxies whose "
        "X-Forwarded-For/-Proto/-Host are trusted; empty = none",
    )
    # --- persisted queries ---
    persisted_queries: str = setting(
        "automatic",
        "automatic: Apollo's automatic persisted queries (hash -> document in Redis, else in "
        "memory); trusted: only documents of SALESFLOW_TRUSTED_DOCUMENTS run; off",
    )
    trusted_documents: str = setting(
        "",
        "Comma-separated manifest files (Apollo persisted-query manifest or GraphQL Code "
        "Generator persisted-documents JSON) for persisted_queries=trusted",
    )
    persisted_queries_ttl_s: float = setting(
        7 * 24 * 3600.0, "How long an automatic persisted query is remembered", low=60
    )
    # --- tracing (OpenTelemetry) ---
    otel_enabled: bool = setting(False, "Trace GraphQL operations and resolvers (OpenTelemetry)")
    otel_exporter: str = setting(
        "console",
        "Where spans go: console (stderr) or otlp (needs opentelemetry-exporter-otlp; "
        "endpoint from OTEL_EXPORTER_OTLP_ENDPOINT)",
    )
    otel_service_name: str = setting("salesflow-graphql", "service.name of the spans")
    # --- forecasts ---
    forecast_max_horizon: int = setting(90, "Longest forecast horizon in days", low=1, high=365)
    forecast_min_history: int = setting(56, "Shortest historyDays accepted", low=14, high=3650)
    forecast_max_history: int = setting(1095, "Longest historyDays accepted", low=28, high=3650)
    forecast_ttl_s: float = setting(
        6 * 3600.0, "TTL of a trained forecast (keyed by its data)", low=0
    )
    forecast_workers: int = setting(
        1, "Processes that train forecasts (1 thread each)", low=1, high=64
    )
    forecast_max_per_user: int = setting(
        2,
        "Forecast trainings one user may wait on at once (queued or running); more: "
        "RATE_LIMITED with retryAfter (asking for a forecast already training is always fine)",
        low=1,
        high=1000,
    )
    forecast_max_queued: int = setting(
        32,
        "Forecast trainings one process holds at once (queued or running); more: RATE_LIMITED",
        low=1,
        high=10_000,
    )
    # --- spreadsheet imports ---
    import_max_upload_bytes: int = setting(
        20 * 1024 * 1024, "Largest upload (whole request body), counted while streaming", low=1024
    )
    import_max_rows: int = setting(200_000, "Most data rows one import may have", low=1)
    import_zip_max_entries: int = setting(
        2_000, "Most members an .xlsx/.xlsm/.ods archive may have", low=1
    )
    import_zip_max_uncompressed_bytes: int = setting(
        256 * 1024 * 1024, "Most bytes an archive may inflate to, in total", low=1024
    )
    import_zip_max_ratio: float = setting(
        200.0, "Largest inflate ratio of one archive member (above 1 MiB)", low=1
    )
    import_idempotency_ttl_s: int = setting(
        24 * 3600, "How long an idempotencyKey remembers its import", low=60
    )
    import_bulk_chunk_size: int = setting(
        500, "Products or sales per bulk request to Java", low=1, high=10_000
    )
    import_write_concurrency: int = setting(
        4, "Concurrent per-product writes when Java has no bulk endpoint", low=1, high=64
    )
    import_max_concurrent: int = setting(
        2, "Imports parsed at the same time by one process (CPU and memory bound)", low=1
    )
    import_max_sheet_cells: int = setting(
        5_000_000,
        "Most cells (rows × columns from A1) one sheet may reach, measured in its XML "
        "before any parser runs",
        low=1,
    )
    import_sandbox_memory_bytes: int = setting(
        2 * 1024**3,
        "Address-space limit (RLIMIT_AS) of each process that parses uploads",
        low=256 * 1024**2,
    )
    import_sandbox_timeout_s: float = setting(
        120.0,
        "Longest one step of parsing an upload (read, check, render) may run before its "
        "process is killed",
        low=1,
        high=3600,
    )
    # --- files ---
    exports_dir: str = setting("exports", "Folder (shared volume) for reports and import files")
    # --- signed links ---
    link_ttl_s: int = setting(
        3600,
        "Lifetime of signed links in e-mails and to import error workbooks (a report's "
        "downloadUrl lasts as long as the report is kept)",
        low=1,
        high=7 * 24 * 3600,
    )
    # --- background jobs and reports ---
    job_timeout_s: float = setting(300.0, "Longest run of one job attempt", low=1, high=3600)
    job_retries: int = setting(
        3, "Retries of a job after Java was unavailable (then FAILED)", low=0, high=10
    )
    job_backoff_s: float = setting(
        2.0,
        "Longest wait before the first job retry (doubles per retry, equal jitter)",
        low=0,
        high=300,
    )
    job_concurrency: int = setting(
        2, "Jobs one process (gateway or worker) runs at once", low=1, high=64
    )
    job_lease_s: float = setting(
        15.0,
        "A worker's lease on a running job, renewed every third of it: a job whose worker "
        "died runs again on another worker within this time",
        low=1,
        high=600,
    )
    report_max_open_per_user: int = setting(
        5,
        "Report jobs one user may have queued or running at once; more: RATE_LIMITED with "
        "retryAfter (scheduled reports do not count)",
        low=1,
        high=1000,
    )
    report_retention_days: float = setting(
        7.0, "Days report files and job records are kept", low=0.001, high=3650
    )
    report_currency: str = setting("$", "Currency symbol printed before money in reports")
    report_schedules: tuple[ScheduledReport, ...] = setting(
        (),
        'Scheduled reports, a JSON list of {"cron": "0 7 * * 1", "kind": "FULL", '
        '"format": "PDF", "recipients": ["a@b.example"], "days": 7}',
        parse=_report_schedules,
    )
    public_url: str | None = setting(
        None, "Base URL users reach the gateway at, for links in e-mails (unset: no link)"
    )
    # --- e-mail ---
    smtp_host: str | None = setting(None, "SMTP server; unset = e-mail is logged, not sent")
    smtp_port: int = setting(25, "SMTP port", low=1, high=65535)
    smtp_username: str | None = setting(None, "SMTP user, if the server needs a login")
    smtp_password: str | None = setting(None, "SMTP password")
    smtp_starttls: bool = setting(False, "Upgrade the SMTP connection with STARTTLS")
    smtp_timeout_s: float = setting(10.0, "SMTP timeout", low=0.1, high=300)
    mail_from: str = setting("SalesFlow <salesflow@localhost>", "Sender of every e-mail")
    mail_retries: int = setting(3, "Retries of a failed send", low=0, high=10)
    mail_backoff_s: float = setting(
        1.0, "Longest wait before the first send retry (doubles, equal jitter)", low=0, high=60
    )
    # --- alerts ---
    alert_check_interval_minutes: int = setting(
        10,
        "Minutes between scheduled anomaly checks (divides 60, or a whole number of hours "
        "dividing 24); 0 = no scheduled checks",
        low=0,
        high=1440,
    )
    alert_scan_days: int = setting(
        0,
        "Complete days each check scans for sales anomalies; 0 = 60 on the embedded default "
        "(the demo shop's planted anomalies), 7 with a Java URL",
        low=0,
        high=365,
    )
    alert_cooldown_days: int = setting(
        3, "Days after an alert in which the same kind on the same subject stays quiet", low=0
    )
    alert_min_score: float = setting(3.0, "Robust z a sales anomaly must reach", low=1, high=100)
    alert_min_daily_units: float = setting(
        2.0, "Volume gate: units a day a series must sell on average to be watched", low=0
    )
    alert_min_delta_units: float = setting(
        5.0, "Smallest change in units, against the baseline, that alerts", low=0
    )
    alert_min_delta_revenue: float = setting(
        50.0, "Smallest change in revenue, against the baseline, that alerts", low=0
    )
    alert_min_relative_delta: float = setting(
        0.25, "Smallest change as a fraction of the baseline that alerts (0.25 = 25 %)", low=0
    )
    alert_lead_time_days: int = setting(
        7, "Lead time for STOCKOUT_RISK: days of cover below it alert", low=1, high=365
    )
    alert_stock_lookback_days: int = setting(
        30, "Days of sales behind average daily sales and days of cover", low=1, high=365
    )
    alert_email_to: tuple[str, ...] = setting(
        (), "Comma-separated recipients of the alert digest e-mails", parse=_addresses
    )
    alert_email_min_severity: Severity = setting(  # noqa: RUF009 (an enum member is immutable)
        Severity.HIGH,
        "Lowest severity in the e-mail digest: LOW, MEDIUM, HIGH or CRITICAL",
    )
    alert_stream_maxlen: int = setting(
        10_000, "Alerts kept for replay and the alerts query (approximately, in Redis)", low=100
    )
    alert_check_timeout_s: float = setting(
        120.0, "Longest one anomaly check may hold the check lock", low=5, high=3600
    )
    # --- WebSocket subscriptions ---
    ws_max_subscriptions: int = setting(
        20, "Operations one WebSocket connection may run at once", low=1, high=1000
    )
    ws_keepalive_s: float = setting(
        15.0, "Seconds between server pings on idle WebSockets; 0 = no pings", low=0, high=3600
    )
    ws_max_connections_per_user: int = setting(
        10,
        "WebSocket connections one user (JWT subject) may hold open on one process; more are "
        "closed with 4429; 0 = no cap",
        low=0,
        high=100_000,
    )
    ws_init_timeout_s: float = setting(
        10.0, "Seconds a WebSocket may wait before connection_init (then 4408)", low=0.1, high=600
    )
    ws_max_message_bytes: int = setting(
        64 * 1024,
        "Largest WebSocket message accepted from a client (larger: closed with 1009)",
        low=1024,
        high=16 * 1024 * 1024,
    )
    # --- background workers ---
    worker_metrics_port: int = setting(
        0,
        "Port on which `salesflow-graphql worker` serves Prometheus metrics (job durations); "
        "0 = none",
        low=0,
        high=65535,
    )
    # --- embedded stand-in ---
    demo_seed: int = setting(20240601, "Seed of the demo shop", low=0)
    standin_products_bulk: bool = setting(False, "Stand-in serves POST /products/bulk")

    @property
    def embedded(self) -> bool:
        """True when no Java URL is set: the stand-in runs in process."""
        return self.java_api_url is None

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
        if self.alert_scan_days:
            return self.alert_scan_days
        return 60 if self.embedded else 7

    def today(self) -> date:
        """The business's calendar date now (server-local unless `timezone` is set)."""
        return datetime.now(self.tz).date()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate; raise :class:`SettingsError` naming every bad variable."""
        environ = os.environ if environ is None else environ
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in dataclasses.fields(cls):
            var = PREFIX + f.name.upper()
            raw = environ.get(var)
            own = f.metadata["parse"]
            if raw is None or (raw.strip() == "" and (f.default is None or own)):
                continue
            try:
                if own is not None:
                    earlier = {
                        g.name: values.get(g.name, g.default) for g in dataclasses.fields(cls)
                    }
                    values[f.name] = own(raw.strip(), earlier)
                else:
                    values[f.name] = _parse(raw.strip(), hints[f.name], f.metadata)
            except ValueError as exc:
                problems.append(f"{var}: {exc}" if own else f"{var}={raw!r}: {exc}")
        settings = cls(**values) if not problems else None
        if settings is not None:
            problems.extend(settings._cross_checks(environ))
        if problems:
            raise SettingsError(problems)
        assert settings is not None
        return settings

    def _cross_checks(self, environ: Mapping[str, str]) -> list[str]:
        problems = []
        for name in ("java_api_url", "redis_url"):
            url = getattr(self, name)
            if url is not None:
                parsed = urlparse(url)
                schemes = (
                    ("http", "https") if name == "java_api_url" else ("redis", "rediss", "unix")
                )
                if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
                    problems.append(
                        f"{PREFIX}{name.upper()}={url!r}: expected a {'/'.join(schemes)} URL"
                    )
        if self.timezone:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(f"{PREFIX}TIMEZONE={self.timezone!r}: unknown IANA time zone")
        if not self.embedded and self.jwt_secret == DEMO_JWT_SECRET:
            problems.append(
                f"{PREFIX}JWT_SECRET must be set to the Java service's secret when "
                f"{PREFIX}JAVA_API_URL is set (the demo secret is for the embedded default only)"
            )
        if len(self.jwt_secret.encode()) < 32:
            problems.append(f"{PREFIX}JWT_SECRET: must be at least 32 bytes for HS256")
        if self.public_url is not None and urlparse(self.public_url).scheme not in (
            "http",
            "https",
        ):
            problems.append(f"{PREFIX}PUBLIC_URL={self.public_url!r}: expected an http(s) URL")
        problems.extend(self._alert_checks())
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            problems.append(
                f"{PREFIX}LOG_LEVEL={self.log_level!r}: one of DEBUG, INFO, WARNING, ERROR"
            )
        if self.log_format.lower() not in ("json", "text"):
            problems.append(f"{PREFIX}LOG_FORMAT={self.log_format!r}: json or text")
        problems.extend(self._protection_checks())
        return problems

    @property
    def cors_origin_list(self) -> list[str]:
        """``cors_origins`` as a list (empty: same origin only)."""
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    def _protection_checks(self) -> list[str]:
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
        problems.extend(self._persisted_query_checks())
        exporter = self.otel_exporter.lower()
        if exporter not in ("console", "otlp"):
            problems.append(f"{PREFIX}OTEL_EXPORTER={self.otel_exporter!r}: console or otlp")
        elif self.otel_enabled and not otel_installed():
            problems.append(f"{PREFIX}OTEL_ENABLED: {MISSING_OTEL}")
        elif self.otel_enabled and exporter == "otlp" and not otlp_exporter_available():
            problems.append(f"{PREFIX}OTEL_EXPORTER=otlp: {MISSING_OTLP}")
        return problems

    def _persisted_query_checks(self) -> list[str]:
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

    @property
    def trusted_document_paths(self) -> list[str]:
        return [p.strip() for p in self.trusted_documents.split(",") if p.strip()]

    def _alert_checks(self) -> list[str]:
        problems = []
        minutes = self.alert_check_interval_minutes
        if minutes and not (
            (minutes <= 60 and 60 % minutes == 0) or (minutes % 60 == 0 and 1440 % minutes == 0)
        ):
            problems.append(
                f"{PREFIX}ALERT_CHECK_INTERVAL_MINUTES={minutes}: must divide 60 (1, 2, 5, 10, "
                "15, 30...) or be whole hours dividing 24 (60, 120, 180, 240, 360, 720, 1440)"
            )
        return problems


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
