"""The one schema: every capability's root types merged, with the gateway's extensions.

Each capability module contributes its Query/Mutation/Subscription classes to
the lists below; nothing else in this file changes when a capability is added.
"""

from __future__ import annotations

import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from ..config import Settings
from .alerts import AlertMutation, AlertQuery, AlertSubscription
from .analytics import AnalyticsQuery
from .extensions import DataAge, GatewaySchema, OperationObservation, ResponseCacheEligibility
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
            DataAge,
            OperationObservation,
            lambda: ParserCache(maxsize=PARSER_CACHE_SIZE),  # the LRU itself is shared
            lambda: ValidationCache(maxsize=VALIDATION_CACHE_SIZE),
            *limit_extensions(settings),
            *tracing_extensions(settings),
        ],
        config=StrawberryConfig(
            auto_camel_case=True, disable_field_suggestions=not settings.introspection
        ),
    )


def schema_sdl() -> str:
    """The schema as SDL, exactly as ``schema.graphql`` is checked in."""
    return create_schema().as_str().rstrip() + "\n"
