"""The one schema: every capability's root types merged, with the gateway's extensions.

Each capability module contributes its Query/Mutation/Subscription classes to
the lists below; nothing else in this file changes when a capability is added.
"""

from __future__ import annotations

from collections.abc import Iterator

import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from ..config import Settings
from .alerts import AlertMutation, AlertQuery, AlertSubscription
from .analytics import AnalyticsQuery
from .extensions import (
    DataAge,
    GatewaySchema,
    OperationChoice,
    OperationObservation,
    ResponseCacheEligibility,
)
from .forecast import ForecastQuery
from .imports import ImportMutation
from .limits import limit_extensions
from .products import ProductQuery
from .reports import ReportMutation, ReportQuery, ReportSubscription
from .tracing import tracing_extensions

QUERIES: tuple[type, ...] = (AnalyticsQuery, ForecastQuery, ProductQuery, ReportQuery, AlertQuery)
MUTATIONS: tuple[type, ...] = (ImportMutation, ReportMutation, AlertMutation)
SUBSCRIPTIONS: tuple[type, ...] = (ReportSubscription, AlertSubscription)

#: Bounded caches: a flood of distinct documents cannot grow memory without limit.
PARSER_CACHE_SIZE = 512
VALIDATION_CACHE_SIZE = 512
#: Larger documents are parsed and validated each time, never kept: at most
#: 512 x 16 KiB of source (and their trees) stay cached, whatever comes in.
CACHED_DOCUMENT_MAX_CHARS = 16 * 1024


class SmallDocumentParserCache(ParserCache):
    """Strawberry's parser cache for documents up to :data:`CACHED_DOCUMENT_MAX_CHARS`."""

    def on_parse(self) -> Iterator[None]:
        if len(self.execution_context.query or "") > CACHED_DOCUMENT_MAX_CHARS:
            yield  # Strawberry parses it itself, and nothing keeps it
            return
        yield from super().on_parse()


class SmallDocumentValidationCache(ValidationCache):
    """Strawberry's validation cache for documents up to :data:`CACHED_DOCUMENT_MAX_CHARS`."""

    def on_validate(self) -> Iterator[None]:
        if len(self.execution_context.query or "") > CACHED_DOCUMENT_MAX_CHARS:
            yield
            return
        yield from super().on_validate()


def _root(name: str, parts: tuple[type, ...], description: str) -> type | None:
    if not parts:
        return None
    root = merge_types(name, parts)
    root.__strawberry_definition__.description = description
    return root


def create_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with ``settings``' query limits (the defaults when not given).

    Operation batching stays off (no ``batching_config``): a list body is refused.
    """
    settings = settings or Settings()
    return GatewaySchema(
        query=_root("Query", QUERIES, "Read the shop's analytics, forecasts, products and jobs."),
        mutation=_root("Mutation", MUTATIONS, "Import data, start reports and run checks."),
        subscription=_root("Subscription", SUBSCRIPTIONS, "Live alerts and job progress."),
        extensions=[
            ResponseCacheEligibility,
            OperationChoice,
            DataAge,
            OperationObservation,
            # The LRUs themselves are shared by every request (keyed by maxsize).
            lambda: SmallDocumentParserCache(maxsize=PARSER_CACHE_SIZE),
            lambda: SmallDocumentValidationCache(maxsize=VALIDATION_CACHE_SIZE),
            *limit_extensions(settings),
            *tracing_extensions(settings),
        ],
        config=StrawberryConfig(
            auto_camel_case=True, disable_field_suggestions=not settings.graphql.introspection
        ),
    )


def schema_sdl() -> str:
    """The schema as SDL, exactly as ``schema.graphql`` is checked in."""
    return create_schema().as_str().rstrip() + "\n"
