"""The one schema: every capability's query type merged, with the gateway's extensions."""

from __future__ import annotations

import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from .analytics import AnalyticsQuery
from .extensions import ErrorCodes, ResponseCacheEligibility
from .products import ProductQuery

Query = merge_types("Query", (AnalyticsQuery, ProductQuery))
Query.__strawberry_definition__.description = "Read the shop's analytics and products."

#: Bounded caches: a flood of distinct documents cannot grow memory without limit.
PARSER_CACHE_SIZE = 512
VALIDATION_CACHE_SIZE = 512


def create_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        extensions=[
            ErrorCodes,
            ResponseCacheEligibility,
            lambda: ParserCache(maxsize=PARSER_CACHE_SIZE),  # the LRU itself is shared
            lambda: ValidationCache(maxsize=VALIDATION_CACHE_SIZE),
        ],
        config=StrawberryConfig(auto_camel_case=True),
    )


def schema_sdl() -> str:
    """The schema as SDL, exactly as ``schema.graphql`` is checked in."""
    return create_schema().as_str().rstrip() + "\n"
