"""Every operation in ``examples/operations`` runs against the stand-in, so the examples never rot.

Files are found by glob: a new ``*.graphql`` there is checked without touching
this module. Each one must hold exactly one named operation (fragments allowed)
under a ``#`` header naming its ``Role:`` and ``Variables:``, validate against
the schema (the code's and the checked-in ``schema.graphql`` codegen reads),
and run on a gateway served on a real socket without errors, answering every
top-level field it asks for:

- queries as ``GET /graphql``, mutations as JSON ``POST``, uploads as GraphQL
  multipart requests (with ``Apollo-Require-Preflight``) carrying a real .xlsx;
- subscriptions over a real WebSocket (graphql-transport-ws, token in
  ``connection_init``): ``alerts`` must deliver an alert raised by the
  runAnomalyCheck example, ``reportJob`` must follow a job to COMPLETED;
- a ``report``/``reportJob`` id comes from running the generateReport example.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import pytest
import spreadsheets
from alerts_support import GraphQLWebSocket
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLSchema,
    ListTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    TypeNode,
    VariableNode,
    build_schema,
    parse,
    validate,
)
from support import serving, wait_until

from salesflow_graphql.app import create_app
from salesflow_graphql.config import Settings
from salesflow_graphql.graphql.schema import create_schema
from salesflow_graphql.runtime import Runtime
from salesflow_graphql.standin import StandIn

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = ROOT / "examples" / "operations"
EXAMPLES = sorted(OPERATIONS.glob("*.graphql"))
PREFLIGHT = {"Apollo-Require-Preflight": "true"}
SEVERITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]

#: What the examples must show at least (issue 8): (operation type, top-level field).
REQUIRED = {
    ("query", "salesAnalytics"),
    ("query", "stockAnalytics"),
    ("query", "forecast"),
    ("query", "product"),
    ("query", "report"),
    ("mutation", "importExcel"),
    ("mutation", "generateReport"),
    ("mutation", "runAnomalyCheck"),
    ("subscription", "alerts"),
}


@dataclass(frozen=True)
class Example:
    path: Path

    @cached_property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @cached_property
    def document(self) -> DocumentNode:
        return parse(self.text)

    @cached_property
    def operations(self) -> list[OperationDefinitionNode]:
        return [d for d in self.document.definitions if isinstance(d, OperationDefinitionNode)]

    @property
    def operation(self) -> OperationDefinitionNode:
        assert len(self.operations) == 1, f"{self.path.name}: one operation per file"
        return self.operations[0]

    @property
    def kind(self) -> str:
        return self.operation.operation.value

    @property
    def name(self) -> str:
        assert self.operation.name is not None, f"{self.path.name}: name the operation"
        return self.operation.name.value

    @property
    def header(self) -> list[str]:
        """The leading ``#`` comment lines, without the ``#``."""
        lines = []
        for line in self.text.splitlines():
            if not line.startswith("#"):
                break
            lines.append(line[1:].strip())
        return lines

    @property
    def role(self) -> str:
        roles = [m[1] for line in self.header if (m := re.match(r"Role:\s+(USER|ADMIN)\b", line))]
        assert len(roles) == 1, f"{self.path.name}: the header needs one 'Role: USER|ADMIN' line"
        return roles[0]

    @property
    def variables_file(self) -> Path:
        return self.path.with_suffix(".variables.json")

    @property
    def variables(self) -> dict[str, Any]:
        if not self.variables_file.exists():
            return {}
        return json.loads(self.variables_file.read_text(encoding="utf-8"))

    def variable_types(self) -> dict[str, TypeNode]:
        return {v.variable.name.value: v.type for v in self.operation.variable_definitions or ()}

    def uploads(self) -> list[str]:
        return [name for name, t in self.variable_types().items() if _named(t) == "Upload"]

    def root_fields(self) -> dict[str, FieldNode]:
        """Top-level fields by response key (alias or name), fragment spreads included."""
        fragments = {
            d.name.value: d
            for d in self.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        found: dict[str, FieldNode] = {}

        def collect(selection_set: Any) -> None:
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    found[(selection.alias or selection.name).value] = selection
                elif hasattr(selection, "type_condition") and hasattr(selection, "selection_set"):
                    collect(selection.selection_set)  # inline fragment
                else:
                    collect(fragments[selection.name.value].selection_set)

        collect(self.operation.selection_set)
        return found

    def argument_variable(self, field: str, argument: str) -> str | None:
        """The variable passed as ``argument`` of top-level ``field``, if any."""
        for node in self.root_fields().values():
            if node.name.value != field:
                continue
            for arg in node.arguments:
                if arg.name.value == argument and isinstance(arg.value, VariableNode):
                    return arg.value.name.value
        return None


def _named(type_node: TypeNode) -> str:
    while isinstance(type_node, NonNullTypeNode | ListTypeNode):
        type_node = type_node.type
    return type_node.name.value  # type: ignore[attr-defined]


def _examples() -> list[Any]:
    return [pytest.param(Example(path), id=path.stem) for path in EXAMPLES]


def _with_field(kind: str, field: str) -> Example:
    """The example of ``kind`` whose top-level field is ``field`` (used to prepare others)."""
    matches = [
        e
        for e in map(Example, EXAMPLES)
        if e.kind == kind and field in {n.name.value for n in e.root_fields().values()}
    ]
    assert matches, f"no {kind} example with {field} to run first"
    return matches[0]


# --- the files themselves ------------------------------------------------------------------


def test_the_examples_cover_the_contract() -> None:
    assert EXAMPLES, f"no examples in {OPERATIONS}"
    shown = {
        (e.kind, node.name.value)
        for e in map(Example, EXAMPLES)
        for node in e.root_fields().values()
    }
    assert REQUIRED <= shown, f"missing examples for {sorted(REQUIRED - shown)}"
    names = [Example(p).name for p in EXAMPLES]
    assert len(names) == len(set(names)), "operation names must be unique (codegen needs it)"
    orphans = [
        p.name
        for p in OPERATIONS.glob("*.variables.json")
        if not p.with_name(p.name.removesuffix(".variables.json") + ".graphql").exists()
    ]
    assert not orphans, f"variables files without an operation: {orphans}"
    assert _with_field("subscription", "alerts").argument_variable("alerts", "after"), (
        "the alerts subscription example shows `after`"
    )
    commit = [
        e
        for e in map(Example, EXAMPLES)
        if e.kind == "mutation" and e.argument_variable("importExcel", "idempotencyKey")
    ]
    assert commit, "an importExcel example with an idempotencyKey"


@pytest.mark.parametrize("example", _examples())
def test_one_named_operation_per_file(example: Example) -> None:
    kinds = [o.operation.value for o in example.operations]
    assert len(kinds) == 1, f"{example.path.name} holds {len(kinds)} operations ({kinds})"
    assert example.name
    assert example.root_fields(), f"{example.path.name} selects nothing"


@pytest.fixture(scope="module")
def schemas() -> dict[str, GraphQLSchema]:
    return {
        "code": build_schema(create_schema().as_str()),
        "schema.graphql": build_schema((ROOT / "schema.graphql").read_text(encoding="utf-8")),
    }


@pytest.mark.parametrize("example", _examples())
def test_every_operation_validates_against_the_schema(
    example: Example, schemas: dict[str, GraphQLSchema]
) -> None:
    for source, schema in schemas.items():
        errors = validate(schema, example.document)
        assert not errors, f"{example.path.name} against {source}: {[e.message for e in errors]}"


@pytest.mark.parametrize("example", _examples())
def test_the_header_says_who_may_run_it_and_the_variables_match(example: Example) -> None:
    assert example.header and example.header[0], f"{example.path.name}: start with a # header"
    assert example.role in ("USER", "ADMIN")
    declared = example.variable_types()
    named = [line for line in example.header if line.startswith("Variables:")]
    assert len(named) == 1, f"{example.path.name}: the header needs one 'Variables:' line"
    if not declared:
        assert named[0] == "Variables: none"
        assert not example.variables_file.exists()
        return
    assert named[0] == f"Variables: {example.variables_file.name}"
    assert example.variables_file.exists(), f"{example.variables_file.name} is missing"
    given = example.variables
    assert set(given) <= set(declared), f"undeclared variables {set(given) - set(declared)}"
    for definition in example.operation.variable_definitions or ():
        name = definition.variable.name.value
        assert (
            name in given
            or definition.default_value is not None
            or not isinstance(definition.type, NonNullTypeNode)
        ), f"{example.variables_file.name} lacks the required ${name}"
        assert re.search(rf"^#\s+{name}\s", example.text, re.M), (
            f"{example.path.name}: explain ${name} in the header"
        )
    for name in example.uploads():
        assert given.get(name, None) is None, f"${name} is an Upload: null in the JSON"


# --- running them --------------------------------------------------------------------------


@dataclass
class Live:
    runtime: Runtime
    standin: StandIn
    client: httpx.AsyncClient
    url: str
    tokens: dict[str, str]
    #: One file per kind: a retry sends the same bytes (openpyxl stamps the time in each file).
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    def spreadsheet(self, kind: str) -> bytes:
        """A small, valid .xlsx for ``kind``, as a user would upload it."""
        if kind not in self.files:
            self.files[kind] = self._spreadsheet(kind)
        return self.files[kind]

    def _spreadsheet(self, kind: str) -> bytes:
        if kind == "SALES":
            products = self.standin.state.catalogue.products()
            stocked = [p for p in products if p.stock_quantity >= 5][:2]
            return spreadsheets.xlsx(
                [["Order", "SKU", "Qty"], *[["EX-1", p.sku, 1] for p in stocked]], sheet="Sales"
            )
        return spreadsheets.xlsx(
            [
                ["SKU", "Product Name", "Price", "Qty in stock", "Reorder Level"],
                ["EX-00001", "Example Desk Lamp", 24.9, 12, 3],
                ["EX-00002", "Example Notebook A5", "4.50", 40, 10],
            ],
            sheet="Products",
        )

    async def variables(self, example: Example) -> dict[str, Any]:
        """The example's variables, with what only a running gateway knows filled in."""
        variables = example.variables
        for field in ("report", "reportJob"):
            if name := example.argument_variable(field, "id"):
                job = await self.run(_with_field("mutation", "generateReport"))
                variables[name] = job["generateReport"]["id"]
        return variables

    async def run(self, example: Example) -> dict[str, Any]:
        """Execute a query or mutation example over HTTP; its ``data`` once free of errors."""
        variables = await self.variables(example)
        headers = {"Authorization": f"Bearer {self.tokens[example.role]}"}
        uploads = example.uploads()
        if uploads:
            operations = {
                "query": example.text,
                "operationName": example.name,
                "variables": {**variables, **dict.fromkeys(uploads)},
            }
            files = {
                str(i): (
                    f"{name}.xlsx",
                    self.spreadsheet(str(variables.get("kind", "PRODUCTS"))),
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                )
                for i, name in enumerate(uploads)
            }
            response = await self.client.post(
                "/graphql",
                data={
                    "operations": json.dumps(operations),
                    "map": json.dumps({str(i): [f"variables.{n}"] for i, n in enumerate(uploads)}),
                },
                files=files,
                headers={**headers, **PREFLIGHT},
            )
        elif example.kind == "query":
            response = await self.client.get(
                "/graphql",
                params={
                    "query": example.text,
                    "operationName": example.name,
                    "variables": json.dumps(variables),
                },
                headers=headers,
            )
        else:
            response = await self.client.post(
                "/graphql",
                json={"query": example.text, "operationName": example.name, "variables": variables},
                headers=headers,
            )
        assert response.status_code == 200, f"{example.path.name}: {response.text}"
        answer = response.json()
        assert "errors" not in answer, f"{example.path.name}: {answer['errors']}"
        return _answered(example, answer)


def _answered(example: Example, answer: dict[str, Any]) -> dict[str, Any]:
    data = answer.get("data")
    assert data is not None, f"{example.path.name}: no data in {answer}"
    assert set(data) == set(example.root_fields()), f"{example.path.name}: {sorted(data)}"
    empty = [key for key, value in data.items() if value is None]
    assert not empty, f"{example.path.name}: null {empty} (do its example variables still fit?)"
    return data


@pytest.fixture
def settings(base_settings: Settings, tmp_path: Path) -> Settings:
    # Report files and import error workbooks go to a temporary directory;
    # anomaly checks scan the demo shop's 60 days of planted anomalies.
    return base_settings.replace(
        java={"backoff_s": 0.0}, exports_dir=str(tmp_path), alerts={"scan_days": 60}
    )


@pytest.fixture
async def live(
    runtime: Runtime, standin: StandIn, user_token: str, admin_token: str
) -> AsyncIterator[Live]:
    async with serving(create_app(runtime=runtime)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=110) as client:
            yield Live(runtime, standin, client, url, {"USER": user_token, "ADMIN": admin_token})


@pytest.mark.parametrize("example", _examples())
async def test_every_example_runs_against_the_stand_in(live: Live, example: Example) -> None:
    if example.kind == "subscription":
        await _subscribe(live, example)
        return
    data = await live.run(example)
    if "importExcel" in data:  # the example file is a clean one: nothing to report
        result = data["importExcel"]
        expected = "VALID" if result.get("dryRun", True) else "COMMITTED"
        assert result.get("status", expected) == expected, result


async def _subscribe(live: Live, example: Example) -> None:
    fields = {node.name.value for node in example.root_fields().values()}
    assert len(fields) == 1, "a subscription has exactly one top-level field"
    variables = await live.variables(example)
    async with GraphQLWebSocket.connect(live.ws_url, live.tokens[example.role]) as ws:
        await ws.subscribe("1", example.text, variables)
        if fields == {"alerts"}:
            await _alerts_after_a_check(live, ws, example)
        elif fields == {"reportJob"}:
            await _report_job_to_the_end(ws, example)
        else:
            pytest.fail(f"{example.path.name}: teach tests/test_examples.py what makes it emit")


async def _alerts_after_a_check(live: Live, ws: GraphQLWebSocket, example: Example) -> None:
    """Every alert the runAnomalyCheck example raises at or above minSeverity arrives, in order."""
    await wait_until(lambda: live.runtime.alerts.bus.subscribers == 1, what="the subscription")
    check = (await live.run(_with_field("mutation", "runAnomalyCheck")))["runAnomalyCheck"]
    given = example.argument_variable("alerts", "minSeverity")
    floor = SEVERITIES.index((await live.variables(example)).get(given or "", "LOW"))
    expected = [a["id"] for a in check["alerts"] if SEVERITIES.index(a["severity"]) >= floor]
    assert expected, "the check raised no alert the example subscribes to"
    received = []
    for _ in expected:
        message = await ws.message(timeout=30)
        assert message["type"] == "next" and message["id"] == "1", message
        assert "errors" not in message["payload"], message
        received.append(_answered(example, message["payload"])["alerts"]["id"])
    assert received == expected
    assert await ws.quiet(0.2) == []


async def _report_job_to_the_end(ws: GraphQLWebSocket, example: Example) -> None:
    statuses = []
    while (message := await ws.message(timeout=100))["type"] != "complete":
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        statuses.append(_answered(example, message["payload"])["reportJob"].get("status"))
    assert statuses and statuses[-1] in ("COMPLETED", None), statuses


async def test_the_import_commit_example_is_safe_to_retry(live: Live) -> None:
    """Sent twice with its idempotencyKey (a retry after a timeout), it writes once."""
    (commit,) = [
        e
        for e in map(Example, EXAMPLES)
        if e.kind == "mutation" and e.argument_variable("importExcel", "idempotencyKey")
    ]
    first = (await live.run(commit))["importExcel"]
    products = len(live.standin.state.catalogue.products())
    again = (await live.run(commit))["importExcel"]
    assert len(live.standin.state.catalogue.products()) == products
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["importId"] == first["importId"] and again["created"] == first["created"] > 0
