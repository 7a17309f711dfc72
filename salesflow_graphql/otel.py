"""OpenTelemetry tracing of the process, when ``SALESFLOW_OTEL_ENABLED`` is set.

:func:`configure_tracing` installs the global tracer provider once at start-up
(``serve``, ``worker``); the schema's tracing extension
(:mod:`.graphql.tracing`) uses whatever provider is global, so tests can
install their own. Spans go to stderr (``console``) or to an OTLP collector
(``otlp``, configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables).
OpenTelemetry itself is the optional ``otel`` extra and the OTLP exporter an
optional package (:mod:`.extras`): settings refuse tracing without them, and
nothing here imports OpenTelemetry unless tracing is on.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

from .config import Settings
from .extras import MISSING_OTEL, MISSING_OTLP, OTLP_MODULES, installed, otel_installed

log = logging.getLogger(__name__)


def configure_tracing(settings: Settings) -> Any:
    """Install a tracer provider exporting to the configured exporter; None when disabled."""
    if not settings.observability.otel_enabled:
        return None
    if not otel_installed():
        raise RuntimeError(MISSING_OTEL)
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.observability.otel_service_name})
    )
    provider.add_span_processor(
        BatchSpanProcessor(_exporter(settings.observability.otel_exporter.lower()))
    )
    trace.set_tracer_provider(provider)
    log.info("tracing on: spans to %s", settings.observability.otel_exporter.lower())
    return provider


def _exporter(kind: str) -> Any:
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr)  # stdout carries the CLI's own output
    for name in OTLP_MODULES:
        if installed(name):
            module = importlib.import_module(name)
            return module.OTLPSpanExporter()
    raise RuntimeError(MISSING_OTLP)
