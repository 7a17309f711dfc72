"""OpenTelemetry tracing of the process, when ``SALESFLOW_OTEL_ENABLED`` is set.

:func:`configure_tracing` installs the global tracer provider once at start-up
(``serve``, ``worker``); the schema's tracing extension
(:mod:`.graphql.tracing`) uses whatever provider is global, so tests can
install their own. Spans go to stderr (``console``) or to an OTLP collector
(``otlp``, configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables).
The OTLP exporter is an optional package: it is not a dependency of the
gateway, and settings refuse ``otlp`` when it is missing.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from typing import Any

from .config import Settings

log = logging.getLogger(__name__)

_OTLP_MODULES = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
)


def otlp_exporter_available() -> bool:
    """True when an OTLP span exporter (HTTP or gRPC) can be imported."""
    return any(_module_exists(name) for name in _OTLP_MODULES)


def configure_tracing(settings: Settings) -> Any:
    """Install a tracer provider exporting to the configured exporter; None when disabled."""
    if not settings.otel_enabled:
        return None
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.otel_service_name})
    )
    provider.add_span_processor(BatchSpanProcessor(_exporter(settings.otel_exporter.lower())))
    trace.set_tracer_provider(provider)
    log.info("tracing on: spans to %s", settings.otel_exporter.lower())
    return provider


def _exporter(kind: str) -> Any:
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr)  # stdout carries the CLI's own output
    for name in _OTLP_MODULES:
        if _module_exists(name):
            module = importlib.import_module(name)
            return module.OTLPSpanExporter()
    raise RuntimeError("no OTLP span exporter installed (opentelemetry-exporter-otlp)")


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False
