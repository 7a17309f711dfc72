"""Persisted queries: Apollo's automatic persisted queries (APQ) and trusted documents.

The requests are the ones Apollo's ``PersistedQueryLink`` sends: the hash alone
first (POST, or GET with ``extensions`` in the URL), then, on
``PERSISTED_QUERY_NOT_FOUND``, the document with its hash.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from alerts_support import GraphQLWebSocket
from support import ROOT, serving, shared_redis_url

from salesflow_graphql.app import create_app
from salesflow_graphql.cli import main
from salesflow_graphql.config import Settings, SettingsError
from salesflow_graphql.graphql.persisted import load_manifest, manifest_from_operations
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.standin import StandIn

EXAMPLES = ROOT / "examples" / "operations"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def _sha(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def _apq(document_hash: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": document_hash}}


@asynccontextmanager
async def _gateway(
    settings: Settings, standin: StandIn, **changes: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    runtime = await Runtime.start(settings.replace(**changes), standin=standin)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client, runtime
    finally:
        await runtime.close()


def _unique_query() -> str:
    # A fresh document each run: the Redis store is shared by the test runs.
    return f"query Unique_{uuid.uuid4().hex} {{ alerts(limit: 1) {{ id }} }}"


# ------------------------------------------------------------------ automatic


async def test_apollo_s_persisted_query_exchange(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    query = _unique_query()
    auth = {"Authorization": f"Bearer {user_token}", "Accept": GRAPHQL_RESPONSE}
    unknown = await gateway.post("/graphql", json={"extensions": _apq(_sha(query))}, headers=auth)
    # What the link looks for: 200 (even in the new media type), the code and the message.
    assert unknown.status_code == 200
    assert unknown.headers["cache-control"] == "private, no-cache, must-revalidate"
    assert unknown.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    registered = await gateway.post(
        "/graphql", json={"query": query, "extensions": _apq(_sha(query))}, headers=auth
    )
    assert registered.status_code == 200 and "errors" not in registered.json()
    by_hash = await gateway.post("/graphql", json={"extensions": _apq(_sha(query))}, headers=auth)
    by_get = await gateway.get(
        "/graphql",
        params={"extensions": json.dumps(_apq(_sha(query))), "variables": "{}"},
        headers=auth,
    )
    for answer in (by_hash, by_get):
        assert answer.status_code == 200, answer.text
        assert answer.json() == registered.json()


async def test_a_hash_that_is_not_the_document_s_is_refused(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    query = _unique_query()
    answer = await gateway.post(
        "/graphql",
        json={"query": query, "extensions": _apq("0" * 64)},
        headers={"Authorization": f"Bearer {user_token}"},
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "reason": "PERSISTED_QUERY_HASH_MISMATCH",
    }
    assert "data" not in answer.json()


async def test_only_documents_that_validated_are_remembered(
    gateway: httpx.AsyncClient, user_token: str
) -> None:
    invalid = f"query Broken_{uuid.uuid4().hex} {{ alerts {{ nope }} }}"
    auth = {"Authorization": f"Bearer {user_token}"}
    first = await gateway.post(
        "/graphql", json={"query": invalid, "extensions": _apq(_sha(invalid))}, headers=auth
    )
    assert first.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    again = await gateway.post("/graphql", json={"extensions": _apq(_sha(invalid))}, headers=auth)
    assert again.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_persisted_mutation_is_still_refused_over_get(
    gateway: httpx.AsyncClient, admin_token: str
) -> None:
    mutation = f"mutation Check_{uuid.uuid4().hex} {{ runAnomalyCheck {{ found }} }}"
    auth = {"Authorization": f"Bearer {admin_token}"}
    ran = await gateway.post(
        "/graphql", json={"query": mutation, "extensions": _apq(_sha(mutation))}, headers=auth
    )
    assert "errors" not in ran.json()
    over_get = await gateway.get(
        "/graphql", params={"extensions": json.dumps(_apq(_sha(mutation)))}, headers=auth
    )
    assert over_get.status_code == 405 and over_get.headers["allow"] == "POST"


async def test_replicas_share_persisted_queries_through_redis(
    settings: Settings, standin: StandIn, user_token: str
) -> None:
    query = _unique_query()
    auth = {"Authorization": f"Bearer {user_token}"}
    redis = {"redis_url": shared_redis_url(15)}
    async with _gateway(settings, standin, **redis) as (one, _):
        await one.post(
            "/graphql", json={"query": query, "extensions": _apq(_sha(query))}, headers=auth
        )
    async with _gateway(settings, standin, **redis) as (other, _):
        answer = await other.post("/graphql", json={"extensions": _apq(_sha(query))}, headers=auth)
    assert answer.status_code == 200 and "errors" not in answer.json(), answer.text


async def test_with_persisted_queries_off_the_link_is_told_to_stop_hashing(
    settings: Settings, standin: StandIn, user_token: str
) -> None:
    async with _gateway(settings, standin, graphql={"persisted_queries": "off"}) as (client, _):
        answer = await client.post(
            "/graphql",
            json={"extensions": _apq("ab" * 32)},
            headers={"Authorization": f"Bearer {user_token}"},
        )
    assert answer.status_code == 200
    assert answer.json()["errors"][0] == {
        "message": "PersistedQueryNotSupported",
        "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"},
    }


# ------------------------------------------------------------------ trusted documents


@pytest.fixture
def manifests(tmp_path: Path) -> dict[str, Path]:
    """The example operations as an Apollo manifest and as GraphQL Code Generator's JSON,
    written by the CLI command."""
    paths = {"apollo": tmp_path / "apollo.json", "codegen": tmp_path / "codegen.json"}
    for kind, path in paths.items():
        assert main(["persisted-manifest", "--format", kind, "--out", str(path)]) == 0
    return paths


def test_the_manifest_command_lists_every_example_operation(manifests: dict[str, Path]) -> None:
    apollo = json.loads(manifests["apollo"].read_text())
    assert apollo["format"] == "apollo-persisted-query-manifest" and apollo["version"] == 1
    names = {operation["name"] for operation in apollo["operations"]}
    assert {"Dashboard", "Product", "Alerts"} <= names
    assert len(apollo["operations"]) == len(list(EXAMPLES.glob("*.graphql")))
    for operation in apollo["operations"]:
        assert operation["id"] == _sha(operation["body"])
        assert operation["type"] in ("query", "mutation", "subscription")
    # As Apollo Client sends it: __typename below the root, so its cache matches fragments.
    product = next(o["body"] for o in apollo["operations"] if o["name"] == "Product")
    assert product.startswith("query Product(") and product.count("__typename") == 1
    assert product.rstrip().endswith("__typename\n  }\n}")
    codegen = json.loads(manifests["codegen"].read_text())
    assert codegen == {o["id"]: o["body"] for o in apollo["operations"]}
    assert load_manifest(manifests["codegen"]) == load_manifest(manifests["apollo"]) == codegen


@pytest.mark.parametrize("kind", ["apollo", "codegen"])
async def test_trusted_documents_run_only_what_the_manifest_lists(
    settings: Settings,
    standin: StandIn,
    user_token: str,
    manifests: dict[str, Path],
    kind: str,
) -> None:
    listed = next(
        o for o in manifest_from_operations(EXAMPLES)["operations"] if o["name"] == "Product"
    )
    variables = {"sku": standin.state.catalogue.products()[0].sku}
    auth = {"Authorization": f"Bearer {user_token}"}
    trusted = {
        "graphql": {"persisted_queries": "trusted", "trusted_documents": str(manifests[kind])}
    }
    async with _gateway(settings, standin, **trusted) as (client, _):
        by_hash = await client.post(
            "/graphql",
            json={"extensions": _apq(listed["id"]), "variables": variables},
            headers=auth,
        )
        by_document_id = await client.post(
            "/graphql",
            json={"documentId": f"sha256:{listed['id']}", "variables": variables},
            headers=auth,
        )
        by_text = await client.post(
            "/graphql", json={"query": listed["body"], "variables": variables}, headers=auth
        )
        other = await client.post(
            "/graphql", json={"query": "{ alerts(limit: 1) { id } }"}, headers=auth
        )
        unknown = await client.post("/graphql", json={"extensions": _apq("f" * 64)}, headers=auth)
        registering = await client.post(
            "/graphql",
            json={"query": "{ __typename }", "extensions": _apq(_sha("{ __typename }"))},
            headers=auth,
        )
    for answer in (by_hash, by_document_id, by_text):
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["product"]["sku"] == variables["sku"]
    for refused in (other, registering):
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["extensions"] == {
            "code": "FORBIDDEN",
            "reason": "PERSISTED_QUERY_NOT_IN_LIST",
        }
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_trusted_documents_hold_on_the_websocket_too(
    settings: Settings, standin: StandIn, user_token: str, manifests: dict[str, Path]
) -> None:
    trusted = {
        "graphql": {"persisted_queries": "trusted", "trusted_documents": str(manifests["apollo"])}
    }
    runtime = await Runtime.start(settings.replace(**trusted), standin=standin)
    try:
        async with (
            serving(create_app(runtime=runtime)) as url,
            GraphQLWebSocket.connect(url.replace("http", "ws") + "/graphql", user_token) as ws,
        ):
            await ws.subscribe("1", "subscription { alerts { id } }")
            refused = await ws.message()
    finally:
        await runtime.close()
    assert refused["type"] == "error" and refused["id"] == "1"
    assert refused["payload"][0]["extensions"]["reason"] == "PERSISTED_QUERY_NOT_IN_LIST"


def test_trusted_mode_needs_readable_manifests(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as missing:
        Settings.from_env({"SALESFLOW_PERSISTED_QUERIES": "trusted"})
    assert "SALESFLOW_TRUSTED_DOCUMENTS" in str(missing.value)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "apollo-persisted-query-manifest", "version": 2}')
    with pytest.raises(SettingsError) as unreadable:
        Settings.from_env(
            {"SALESFLOW_PERSISTED_QUERIES": "trusted", "SALESFLOW_TRUSTED_DOCUMENTS": str(bad)}
        )
    assert "bad.json" in str(unreadable.value)
    with pytest.raises(SettingsError):
        Settings.from_env({"SALESFLOW_PERSISTED_QUERIES": "sometimes"})
