"""Query limits: depth, tokens, aliases, cost, batching and introspection.

An over-limit document is refused with QUERY_TOO_COMPLEX before any resolver
runs, which the stand-in's request log proves: nothing was fetched from Java.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from graphql import get_introspection_query, parse, validate
from support import error_codes, graphql
from test_loader_calls import DASHBOARD

from salesflow_graphql.config import Settings
from salesflow_graphql.graphql.limits import cost_rule
from salesflow_graphql.graphql.schema import create_schema

if TYPE_CHECKING:
    from salesflow_graphql.standin import StandIn

TOO_COMPLEX = "QUERY_TOO_COMPLEX"


@pytest.fixture
def settings(base_settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The shared test settings, with the limits a test asks for (``indirect`` parameter)."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    return base_settings.replace(java={"backoff_s": 0.0}).replace(**overrides)


def limits(**overrides: Any) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("settings", [overrides], indirect=True)


def _bench_dashboard() -> str:
    """``bench/analytics.py``'s DASHBOARD_QUERY, read without importing the benchmark."""
    source = (Path(__file__).parent.parent / "bench" / "analytics.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DASHBOARD_QUERY":
            return str(ast.literal_eval(node.value))
    raise AssertionError("DASHBOARD_QUERY not found in bench/analytics.py")


def estimated_cost(query: str, settings: Settings | None = None) -> int:
    """The cost rule's estimate, read from its error with a maximum of 0."""
    settings = (settings or Settings()).replace(graphql={"max_cost": 1})
    schema = create_schema(settings)._schema
    errors = validate(schema, parse(query), [cost_rule(settings)])
    assert len(errors) == 1, errors
    return int(errors[0].extensions["cost"])  # type: ignore[index]


# ------------------------------------------------------------------ defaults


def test_limits_are_on_by_default() -> None:
    settings = Settings()
    assert settings.graphql.max_depth == 12
    assert settings.graphql.max_tokens == 2000
    assert settings.graphql.max_aliases == 20
    assert settings.graphql.max_cost == 5000
    assert settings.graphql.introspection is True


def test_limits_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "SALESFLOW_MAX_QUERY_DEPTH": "5",
            "SALESFLOW_MAX_QUERY_COST": "100",
            "SALESFLOW_INTROSPECTION": "false",
        }
    )
    assert (settings.graphql.max_depth, settings.graphql.max_cost) == (5, 100)
    assert settings.graphql.introspection is False


async def test_the_dashboard_queries_pass_the_default_limits(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    for query in (DASHBOARD, _bench_dashboard()):
        assert estimated_cost(query) < Settings().graphql.max_cost / 2
        answer = await graphql(gateway, query, user_token)
        assert "errors" not in answer, answer["errors"]


async def test_the_graphiql_introspection_query_passes_the_default_limits(
    gateway: httpx.AsyncClient, user_token: str, standin: StandIn
) -> None:
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    answer = await graphql(gateway, query, user_token)
    assert "errors" not in answer, answer["errors"]
    assert answer["data"]["__schema"]["queryType"]["name"] == "Query"
    assert standin.requests == []


# ---------------------------------------------------------------------- cost


def test_the_cost_multiplies_nested_lists() -> None:
    size = Settings().graphql.list_size
    # stockAnalytics 1 + items (1 + size × (product 1 + sku 1 + status 1))
    assert estimated_cost("{ stockAnalytics { items { status product { sku } } } }") == (
        1 + 1 + size * 3
    )
    # topProducts is sized by `top`, its parent's argument; the default is 10.
    assert estimated_cost("{ salesAnalytics { topProducts { revenue } } }") == 1 + 1 + 10
    assert estimated_cost("{ salesAnalytics(top: 3) { topProducts { revenue } } }") == 1 + 1 + 3
    # Forecast points by horizonDays and history by historyDays, inside the input object.
    query = """{ forecast(input: {horizonDays: 30, historyDays: 100}) {
        points { date } history { date } } }"""
    assert estimated_cost(query) == 1 + (1 + 30) + (1 + 100)
    # An argument given as a variable counts at its largest allowed value.
    query = "query($top: Int!) { salesAnalytics(top: $top) { topProducts { revenue } } }"
    assert estimated_cost(query) == 1 + 1 + Settings().limits.max_top
    # Fragments are counted where they are spread; introspection fields are free.
    query = """{ salesAnalytics(top: 4) { __typename topProducts { ...P } } }
        fragment P on ProductSales { revenue unitsSold }"""
    assert estimated_cost(query) == 1 + 1 + 4 * 2


async def test_an_expensive_query_is_refused_before_any_fetch(
    gateway: httpx.AsyncClient, user_token: str, standin: StandIn
) -> None:
    part = "salesAnalytics(top: 100) { topProducts { revenue product { sku name price cost } } }"
    query = "{ " + " ".join(f"a{i}: {part}" for i in range(9)) + " }"  # 9 aliases: allowed
    answer = await graphql(gateway, query, user_token)
    assert error_codes(answer) == [TOO_COMPLEX]
    assert answer["errors"][0]["extensions"]["cost"] > Settings().graphql.max_cost
    assert answer.get("data") is None
    assert standin.requests == [], "refused before any resolver ran"


async def test_a_top_given_as_a_variable_counts_at_its_maximum(
    gateway: httpx.AsyncClient, user_token: str, standin: StandIn
) -> None:
    part = "salesAnalytics(top: $top) { topProducts { revenue product { sku name price cost } } }"
    query = "query($top: Int!) { " + " ".join(f"a{i}: {part}" for i in range(9)) + " }"
    answer = await graphql(gateway, query, user_token, {"top": 1})
    assert error_codes(answer) == [TOO_COMPLEX]
    assert standin.requests == []


async def test_an_out_of_range_top_is_still_bad_input_not_a_cost(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    answer = await graphql(
        gateway, "{ salesAnalytics(top: 100000) { topProducts { revenue } } }", user_token
    )
    assert error_codes(answer) == ["BAD_USER_INPUT"]


# ------------------------------------------------------- depth, tokens, aliases


DEEP = "{ salesAnalytics { topProducts { product { sku } } } }"
DEEP_BY_FRAGMENTS = """{ salesAnalytics { ...S } }
fragment S on SalesAnalytics { topProducts { ...T } }
fragment T on ProductSales { product { sku } }"""


@limits(graphql={"max_depth": 2})
@pytest.mark.parametrize("query", [DEEP, DEEP_BY_FRAGMENTS], ids=["inline", "fragments"])
async def test_a_deep_query_is_refused_before_any_fetch(
    gateway: httpx.AsyncClient, user_token: str, standin: StandIn, query: str
) -> None:
    answer = await graphql(gateway, query, user_token)
    assert error_codes(answer) == [TOO_COMPLEX]
    assert "depth" in answer["errors"][0]["message"]
    assert standin.requests == []


@limits(graphql={"max_depth": 3})
async def test_a_query_at_the_depth_limit_runs(gateway: httpx.AsyncClient, user_token: str) -> None:
    answer = await graphql(gateway, DEEP_BY_FRAGMENTS, user_token)
    assert "errors" not in answer, answer["errors"]


@limits(graphql={"max_tokens": 30})
async def test_a_long_document_is_refused_before_any_fetch(
    gateway: httpx.AsyncClient, user_token: str, standin: StandIn
) -> None:
    fields = " ".join(["revenue"] * 40)
    answer = await graphql(gateway, "{ salesAnalytics { kpis { " + fields + " } } }", user_token)
    assert error_codes(answer) == [TOO_COMPLEX]
    assert "tokens" in answer["errors"][0]["message"]
    assert standin.requests == []


@limits(graphql={"max_aliases": 3})
async def test_too_many_aliases_are_refused_before_any_fetch(
    gateway: httpx.AsyncClient, user_token: str, standin: StandIn
) -> None:
    query = "{ " + " ".join(f'p{i}: product(sku: "X") {{ sku }}' for i in range(4)) + " }"
    answer = await graphql(gateway, query, user_token)
    assert error_codes(answer) == [TOO_COMPLEX]
    assert standin.requests == []
    query = "{ " + " ".join(f'p{i}: product(sku: "X") {{ sku }}' for i in range(3)) + " }"
    assert "errors" not in await graphql(gateway, query, user_token)


def test_documents_are_limited_to_64_kib_by_default() -> None:
    assert Settings.from_env({}).edge.max_document_bytes == 64 * 1024


async def test_a_document_over_the_size_limit_is_refused_before_parsing(
    gateway: httpx.AsyncClient, user_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from strawberry.schema import schema as strawberry_schema

    parsed: list[str] = []
    real_parse = strawberry_schema.parse
    monkeypatch.setattr(
        strawberry_schema, "parse", lambda text, **kw: parsed.append(text) or real_parse(text, **kw)
    )
    big = '{ product(sku: "' + "x" * 70_000 + '") { sku } }'
    response = await gateway.post(
        "/graphql", json={"query": big}, headers={"Authorization": f"Bearer {user_token}"}
    )
    assert response.status_code == 413
    assert "data" not in response.json()
    assert response.json()["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "reason": "DOCUMENT_TOO_LARGE",
        "limitBytes": 64 * 1024,
    }
    assert parsed == [], "refused before any parsing"


async def test_large_documents_are_never_kept_in_the_parser_and_validation_caches(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    from strawberry.extensions.parser_cache import _get_parse_cache
    from strawberry.extensions.validation_cache import _get_validate_cache

    from salesflow_graphql.graphql.schema import PARSER_CACHE_SIZE, VALIDATION_CACHE_SIZE

    parse_cache = _get_parse_cache(PARSER_CACHE_SIZE)
    validate_cache = _get_validate_cache(VALIDATION_CACHE_SIZE)
    for index in range(3):  # within the token limit: long string literals
        document = f'{{ product(sku: "{index}{"y" * 30_000}") {{ sku }} }}'
        before = (parse_cache.cache_info().currsize, validate_cache.cache_info().currsize)
        answer = await graphql(gateway, document, user_token)
        assert answer["data"] == {"product": None}
        after = (parse_cache.cache_info().currsize, validate_cache.cache_info().currsize)
        assert after == before
    small = f'{{ product(sku: "{user_token[-12:]}") {{ sku }} }}'
    await graphql(gateway, small, user_token)
    assert parse_cache.cache_info().currsize >= 1, "small documents are still cached"


async def test_ordinary_validation_errors_stay_bad_user_input(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    answer = await graphql(gateway, "{ salesAnalytics { nope } }", user_token)
    assert error_codes(answer) == ["BAD_USER_INPUT"]


# ------------------------------------------------------ batching, introspection


async def test_operation_batching_is_off(
    gateway: httpx.AsyncClient, user_token: str, standin: StandIn
) -> None:
    body = [{"query": "{ salesAnalytics { kpis { revenue } } }"}] * 2
    response = await gateway.post(
        "/graphql", json=body, headers={"Authorization": f"Bearer {user_token}"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["reason"] == "BATCH_NOT_SUPPORTED"
    assert standin.requests == []


@limits(graphql={"introspection": False})
async def test_introspection_and_field_suggestions_can_be_turned_off(
    gateway: httpx.AsyncClient, user_token: str, standin: StandIn
) -> None:
    answer = await graphql(gateway, "{ __schema { queryType { name } } }", user_token)
    assert answer.get("data") is None
    assert "introspection" in answer["errors"][0]["message"]
    answer = await graphql(gateway, "{ salesAnalytic { kpis { revenue } } }", user_token)
    assert error_codes(answer) == ["BAD_USER_INPUT"]
    assert "Did you mean" not in answer["errors"][0]["message"]
    assert standin.requests == []
    answer = await graphql(gateway, "{ __typename }", user_token)
    assert answer == {"data": {"__typename": "Query"}}


async def test_field_suggestions_are_given_while_introspection_is_on(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    answer = await graphql(gateway, "{ salesAnalytic { kpis { revenue } } }", user_token)
    assert "Did you mean" in answer["errors"][0]["message"]


def test_the_exported_sdl_is_unchanged_by_the_limits() -> None:
    from salesflow_graphql.graphql.schema import schema_sdl

    strict = create_schema(Settings().replace(graphql={"introspection": False, "max_cost": 1}))
    assert strict.as_str().rstrip() + "\n" == schema_sdl()
