"""Optional packages of the gateway: which are installed (nothing is imported to tell).

Tracing needs the ``otel`` extra (``pip install 'salesflow-graphql[otel]'``, or
``uv sync --extra otel``): OpenTelemetry's API and SDK. Exporting spans over
OTLP needs ``opentelemetry-exporter-otlp`` besides. Settings refuse tracing
that cannot run, naming what to install.
"""

from __future__ import annotations

import importlib.util

#: What ``SALESFLOW_OTEL_ENABLED`` needs (the ``otel`` extra).
OTEL_MODULES = ("opentelemetry.trace", "opentelemetry.sdk.trace")
#: OTLP span exporters, preferred first (HTTP, then gRPC).
OTLP_MODULES = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
)

#: Why tracing cannot run without the ``otel`` extra.
MISSING_OTEL = (
    "tracing needs OpenTelemetry, the 'otel' extra: "
    "pip install 'salesflow-graphql[otel]' (uv sync --extra otel)"
)
#: Why spans cannot go to OTLP without the exporter.
MISSING_OTLP = (
    "the otlp exporter needs the opentelemetry-exporter-otlp package "
    "(not installed); install it or use console"
)


def installed(module: str) -> bool:
    """True when ``module`` can be imported."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def otel_installed() -> bool:
    """True when the ``otel`` extra (OpenTelemetry API and SDK) is installed."""
    return all(installed(name) for name in OTEL_MODULES)


def otlp_exporter_available() -> bool:
    """True when an OTLP span exporter (HTTP or gRPC) can be imported."""
    return any(installed(name) for name in OTLP_MODULES)
