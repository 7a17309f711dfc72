"""Fuzzing the running gateway with schemathesis (GraphQL mode): no INTERNAL error, no 5xx.

    uv run python bench/fuzz.py                 # 2,000+ cases (240 per operation)
    uv run python bench/fuzz.py --quick         # ~220 cases, under a minute (the test runs this)
    uv run python bench/fuzz.py --cases 5000 --seed 7 --json figures.json

The gateway runs as its own process on a real socket (``salesflow-graphql serve``,
embedded stand-in and demo shop) with the rate limit off, no scheduled anomaly
checks and its exports in a temporary folder. The query limits stay on:
``QUERY_TOO_COMPLEX`` is an expected answer, not a failure.

Schemathesis loads the schema by introspection and generates, per root field
(every query and mutation; subscriptions are WebSocket-only), positive and
negative (type-invalid) documents with hypothesis-graphql. Each case is sent
as a USER or ADMIN (both minted with the gateway's secret) in one of these forms:

- as generated: the arguments as literals (``case.call``);
- with part of the positive cases' values steered to where the code does
  something (ranges near today, sizes around their bounds, known skus,
  categories and report ids; see ``_steer``), so resolvers run and not only
  the argument checks;
- the arguments hoisted into JSON ``variables`` (another coercion path:
  ``parse_value`` instead of ``parse_literal``), sometimes with values only JSON
  can carry there (a string for an Int, an object for a Date, ...);
- the same over ``GET /graphql`` (queries; a mutation must be refused);
- ``importExcel`` as a GraphQL multipart upload with a generated file: CSV
  rows under known and unknown headers, random bytes, a small workbook, an
  empty file, names whose extension lies; and malformed multipart bodies.
  As literals, ``Upload`` gets strings, numbers and objects (what a JSON
  client could send); they must be refused as ``BAD_USER_INPUT``.
- ``importExcel`` with hostile spreadsheets (issue 12, ``hostile_spreadsheets``):
  tiny files whose sheets reach far (a cell at a random far reference, a lying
  ``<dimension>``, .ods repeats, .xls DIMENSIONS and cells), cells without
  references or under a namespace prefix, shared-string counts that lie, a DTD
  after a long comment, zip bombs. Each must be answered (``REJECTED`` or read),
  and the gateway must stay up.

Then hostile HTTP inputs (the "HTTP input classes" block): invalid UTF-8,
JSON nested thousands deep, bodies that are not JSON or not an object, batches,
parameters of the wrong type, documents over the size limit, operation-name
puzzles, subscriptions and mutations on the wrong transport, persisted-query
hashes and ids, odd content types, junk Authorization/Accept/X-Request-Id
headers, signed links with junk (non-ASCII included) signatures, render
parameters, undeclared routes and methods.

What counts as a failure (schemathesis's default checks would also flag every
expected GraphQL error, e.g. FORBIDDEN for a USER's ``importExcel``):

- an HTTP status >= 500, a transport error (reset, timeout) or a body that is not a
  GraphQL JSON object (refusals included: every one is a GraphQL error);
- an error whose ``extensions.code`` is ``INTERNAL``, missing, or not one of
  API.md's codes; a non-null field answered with null;
- in the gateway's log, an error logged as internal (``internal error in``, a
  job that ``failed unexpectedly``, a traceback);
- a report job (started by a fuzzed ``generateReport``) that FAILED with an internal error.

Prints one row per operation: cases, by form, HTTP statuses, how many were
answered without an error, the error codes seen, INTERNAL and 5xx counts, time
(the HTTP input classes are one more row); then the report jobs by final status; then
every failure, each with what to send to reproduce it. Exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import graphql
import httpx
import requests
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import schemathesis
from harness import ROOT, free_port, table
from schemathesis.generation import GenerationMode
from schemathesis.graphql import nodes

from salesflow_graphql.auth import Role, mint_access_token
from salesflow_graphql.config import Settings

NodeT = TypeVar("NodeT", bound=graphql.Node)

DEFAULT_CASES = 2000
QUICK_CASES = 220
#: The codes of API.md; anything else (or no code) is a failure.
KNOWN_CODES = frozenset(
    {
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "BAD_USER_INPUT",
        "NOT_FOUND",
        "UPSTREAM_UNAVAILABLE",
        "UPSTREAM_ERROR",
        "QUERY_TOO_COMPLEX",
        "RATE_LIMITED",
        "INTERNAL",
        "PERSISTED_QUERY_NOT_FOUND",
        "PERSISTED_QUERY_NOT_SUPPORTED",
    }
)
#: Lines of the gateway's log that mean something went wrong inside.
LOG_MARKERS = ("internal error in", "failed unexpectedly", "Traceback (most recent call last)")
#: A non-null field answered with null (graphql-core's wording).
NON_NULL_MARKER = "Cannot return null for non-nullable field"
REQUEST_TIMEOUT_S = 120.0


# ---------------------------------------------------------------- bookkeeping
@dataclass
class Failure:
    operation: str
    kind: str  # "INTERNAL", "5xx", "transport", "not GraphQL", "uncoded", "non-null", ...
    detail: str
    reproduce: str


@dataclass
class OpStats:
    cases: int = 0
    forms: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    ok: int = 0  # answered with data and no error
    messages: Counter[str] = field(default_factory=Counter)  # "<form> <code>: <message>"
    internal: int = 0
    server_errors: int = 0
    other_failures: int = 0
    seconds: float = 0.0


@dataclass
class Pool:
    """Values the steering draws from: what the demo shop and earlier answers hold."""

    skus: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    report_ids: list[str] = field(default_factory=list)


@dataclass
class Fuzz:
    url: str
    tokens: dict[str, str]
    session: requests.Session
    pool: Pool
    today: date
    stats: dict[str, OpStats] = field(default_factory=lambda: defaultdict(OpStats))
    failures: list[Failure] = field(default_factory=list)

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


# ---------------------------------------------------------------- custom scalars
def _register_scalars() -> None:
    """Strategies for the schema's custom input scalars (literals in the document)."""
    near = st.integers(min_value=-400, max_value=1200)
    valid_dates = st.one_of(
        st.dates().map(date.isoformat),  # anywhere in 0001..9999
        near.map(lambda d: (date.today() - timedelta(days=d)).isoformat()),
        st.sampled_from(["0001-01-01", "9999-12-31", "1970-01-01", "2024-02-29"]),
    )
    malformed = st.sampled_from(
        ["", "2025-02-30", "2025-13-01", "20250101", "2025-1-1", "yesterday", "2025-01-01T00:00"]
    )
    schemathesis.graphql.scalar(
        "Date",
        st.one_of(valid_dates, valid_dates, malformed, st.text(max_size=12)).map(nodes.String),
    )
    # What a JSON-only client can put where a multipart file belongs.
    schemathesis.graphql.scalar(
        "Upload",
        st.one_of(
            st.text(max_size=20).map(nodes.String),
            st.integers(min_value=-(2**31), max_value=2**31 - 1).map(nodes.Int),
            st.booleans().map(nodes.Boolean),
            st.just(graphql.ObjectValueNode(fields=())),
            st.just(graphql.ListValueNode(values=())),
        ),
    )


# ---------------------------------------------------------------- steering
#: Integer arguments and their valid range; steering draws inside it or on its edges.
INT_RANGES = {
    "top": (1, 100),
    "limit": (1, 500),
    "lookbackDays": (1, 365),
    "leadTimeDays": (0, 365),
    "horizonDays": (1, 90),
    "historyDays": (56, 1095),
}
#: Whether steering moves a given value (mostly yes).
STEER = st.integers(0, 9).map(lambda n: n < 9)


def _replace(node: NodeT, **changes: Any) -> NodeT:
    """A copy of an AST node with some fields replaced (nodes are immutable in graphql-core 3.3)."""
    return type(node)(**{**{key: getattr(node, key) for key in node.keys}, **changes})


def _map_arguments(
    document: graphql.DocumentNode,
    change: Callable[[graphql.FieldNode, graphql.ArgumentNode, int], graphql.ArgumentNode],
    root_only: bool = False,
) -> graphql.DocumentNode:
    """The document with every field argument passed through ``change(field, argument, depth)``."""

    def selections(node: graphql.SelectionSetNode | None, depth: int) -> Any:
        if node is None or (root_only and depth > 0):
            return node
        out = []
        for selection in node.selections:
            if isinstance(selection, graphql.FieldNode):
                selection = _replace(
                    selection,
                    arguments=tuple(change(selection, a, depth) for a in selection.arguments or ()),
                    selection_set=selections(selection.selection_set, depth + 1),
                )
            elif isinstance(selection, graphql.InlineFragmentNode):
                selection = _replace(
                    selection, selection_set=selections(selection.selection_set, depth + 1)
                )
            out.append(selection)
        return _replace(node, selections=tuple(out))

    definitions = []
    for definition in document.definitions:
        if isinstance(definition, graphql.OperationDefinitionNode):
            definition = _replace(definition, selection_set=selections(definition.selection_set, 0))
        definitions.append(definition)
    return _replace(document, definitions=tuple(definitions))


def _steer(
    document: graphql.DocumentNode, draw: Callable[[Any], Any], fuzz: Fuzz
) -> graphql.DocumentNode:
    """Move some literal argument values to where the resolvers do real work."""

    def value_for(name: str, node: graphql.ValueNode) -> graphql.ValueNode:
        if isinstance(node, graphql.ObjectValueNode):
            if name == "range" and draw(STEER):
                where = draw(st.sampled_from(["today", "today", "today", "first", "last"]))
                span = timedelta(
                    days=draw(st.integers(-3, 1100) if where == "today" else st.integers(0, 60))
                )
                if where == "first":  # the calendar's first days: no previous range
                    start = date.min + timedelta(days=draw(st.integers(0, 40)))
                    end = start + span
                elif where == "last":  # its last days: buckets and windows past the end
                    end = date.max - timedelta(days=draw(st.integers(0, 40)))
                    start = end - span
                else:
                    end = fuzz.today - timedelta(days=draw(st.integers(-40, 900)))
                    start = end - span
                dates = {"start": start.isoformat(), "end": end.isoformat()}
                return _replace(
                    node,
                    fields=tuple(
                        _replace(f, value=nodes.String(dates[f.name.value]))
                        if f.name.value in dates
                        else f
                        for f in node.fields
                    ),
                )
            return _replace(
                node,
                fields=tuple(
                    _replace(f, value=value_for(f.name.value, f.value)) for f in node.fields
                ),
            )
        if not draw(STEER):
            return node
        if name in INT_RANGES and isinstance(node, graphql.IntValueNode):
            low, high = INT_RANGES[name]
            edges = st.sampled_from([low - 1, low, high, high + 1])
            return nodes.Int(draw(st.integers(low, high) | st.integers(low, high) | edges))
        if name == "intervalLevel" and isinstance(
            node, graphql.FloatValueNode | graphql.IntValueNode
        ):
            return nodes.Float(draw(st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.99, 0.49, 1.0, 0.0])))
        if name in ("sku", "key") and isinstance(node, graphql.StringValueNode):
            choices = [*fuzz.pool.skus[:50], *fuzz.pool.categories, "TOTAL", "Uncategorized"]
            return nodes.String(draw(st.sampled_from(choices)))
        if name == "id" and fuzz.pool.report_ids:
            return nodes.String(draw(st.sampled_from(fuzz.pool.report_ids[-100:])))
        if name == "idempotencyKey" and isinstance(node, graphql.StringValueNode):
            return nodes.String(draw(st.uuids().map(str) | st.sampled_from(["k" * 8, "retry-1"])))
        if name == "emailTo" and isinstance(node, graphql.ListValueNode):
            emails = st.sampled_from(["owner@shop.example", "a.b+c@example.org", "x@y", "@nope"])
            return graphql.ListValueNode(
                values=tuple(nodes.String(e) for e in draw(st.lists(emails, max_size=3)))
            )
        return node

    return _map_arguments(
        document,
        lambda _, argument, __: _replace(
            argument, value=value_for(argument.name.value, argument.value)
        ),
    )


# ---------------------------------------------------------------- variables
#: Values only JSON variables can carry where the document declares a type.
JSON_ODDITIES = st.one_of(
    st.just("1"),
    st.just(1.5),
    st.just(2**40),
    st.just([]),
    st.just({}),
    st.just({"start": "2025-01-01"}),
    st.text(max_size=8),
)


def _hoist(
    document: graphql.DocumentNode,
    root: graphql.GraphQLObjectType,
    draw: Callable[[Any], Any],
    skip: frozenset[str] = frozenset(),
    oddities: bool = True,
) -> tuple[graphql.DocumentNode, dict[str, Any]]:
    """The root fields' literal arguments as ``$variables``: the document and their values."""
    variables: dict[str, Any] = {}
    declared: list[graphql.VariableDefinitionNode] = []

    def change(
        field_node: graphql.FieldNode, argument: graphql.ArgumentNode, depth: int
    ) -> graphql.ArgumentNode:
        field_def = root.fields.get(field_node.name.value)
        arg_def = field_def.args.get(argument.name.value) if field_def else None
        if depth > 0 or arg_def is None or argument.name.value in skip:
            return argument
        if isinstance(argument.value, graphql.VariableNode):
            return argument
        name = f"v{len(declared)}"
        value = graphql.value_from_ast_untyped(argument.value)
        if oddities and draw(st.integers(0, 6)) == 6:
            value = draw(JSON_ODDITIES)
        variables[name] = value
        variable = graphql.VariableNode(name=graphql.NameNode(value=name))
        declared.append(
            graphql.VariableDefinitionNode(
                variable=variable, type=graphql.parse_type(str(arg_def.type)), directives=()
            )
        )
        return _replace(argument, value=variable)

    document = _map_arguments(document, change, root_only=True)
    return _declare(document, declared), variables


def _declare(
    document: graphql.DocumentNode, declared: list[graphql.VariableDefinitionNode]
) -> graphql.DocumentNode:
    """The document with ``declared`` added to its (first) operation's variables."""
    if not declared:
        return document
    definitions = list(document.definitions)
    for index, definition in enumerate(definitions):
        if isinstance(definition, graphql.OperationDefinitionNode):
            definitions[index] = _replace(
                definition,
                variable_definitions=(*(definition.variable_definitions or ()), *declared),
            )
            break
    return _replace(document, definitions=tuple(definitions))


# ---------------------------------------------------------------- uploads
PRODUCT_HEADERS = ["SKU", "Name", "Price", "Stock", "Reorder Level", "Category", "Cost", "Notes"]
SALES_HEADERS = ["SKU", "Quantity", "Order ID", "Date", "Product", "Price"]
NOISE = st.one_of(
    st.text(max_size=12),
    st.integers(-10, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", "=1+1", '=HYPERLINK("x")', "1e309", "-0", "2025-01-31", "N/A", "12,5"]),
    st.sampled_from(
        ["1e30", "1.7976931348623157e308", "9" * 40, "1e-40", "99999999.995", "1e5000"]
    ),
)
EXTENSIONS = [".csv", ".xlsx", ".xlsm", ".xls", ".ods", ".txt", ".exe", "", ".CSV", ".xlsx.csv"]


def _column(header: str, skus: list[str], *, clean: bool) -> st.SearchStrategy[str]:
    """Cells for a column: ``clean`` ones a supplier would send, else plausible ones
    with edge values and, now and then, anything at all."""
    known = st.sampled_from(skus) if skus else st.nothing()
    new_sku = st.from_regex(r"FZ-[0-9]{1,5}", fullmatch=True)
    if clean:
        words = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=20)
        if header.startswith("sales "):  # a sale refers to a product of the catalogue
            header = header.removeprefix("sales ")
            if header in ("SKU", "Product"):
                return known
        return {
            "SKU": known | new_sku,
            "Name": words,
            "Product": known,
            "Price": st.decimals(1, 500, places=2).map(str),
            "Cost": st.decimals(1, 500, places=2).map(str),
            "Stock": st.integers(0, 10**4).map(str),
            "Quantity": st.integers(1, 3).map(str),
            "Reorder Level": st.integers(0, 50).map(str),
            "Order ID": st.integers(1, 20).map(lambda n: f"INV-{n}"),
            "Date": st.dates(date(2024, 1, 1), date(2025, 12, 31)).map(date.isoformat),
            "Category": st.sampled_from(["Books", "Toys", "Électronique"]),
        }.get(header, words)
    header = header.removeprefix("sales ")
    numbers = st.decimals(-5, 10**5, places=2, allow_nan=False).map(str)
    plausible = {
        "SKU": known | new_sku,
        "Name": st.text(min_size=1, max_size=40),
        "Product": known | st.text(max_size=20),
        "Price": numbers,
        "Cost": numbers,
        "Stock": st.integers(-3, 10**6).map(str),
        "Quantity": st.integers(-3, 500).map(str),
        "Reorder Level": st.integers(-3, 500).map(str),
        "Order ID": st.integers(1, 20).map(lambda n: f"INV-{n}"),
        "Date": st.dates().map(date.isoformat),
        "Category": st.sampled_from(["Books", "Toys", "", "Électronique"]),
    }.get(header, st.text(max_size=20))
    return st.one_of(plausible, plausible, plausible, NOISE)


@st.composite
def upload_files(
    draw: Callable[[Any], Any], skus: list[str], kind: str, sheet: str
) -> tuple[str, bytes]:
    """A file name and its bytes: ``kind`` csv, xlsx, bytes (anything), mislabelled or
    hostile; mostly with the headers of ``sheet`` (PRODUCTS or SALES, what the import expects)."""
    if kind == "hostile":
        return draw(hostile_spreadsheets())
    ours = PRODUCT_HEADERS if sheet == "PRODUCTS" else SALES_HEADERS
    known = ours if draw(st.integers(0, 4)) < 4 else [*PRODUCT_HEADERS, *SALES_HEADERS]
    headers = draw(
        st.permutations(known)
        | st.lists(st.sampled_from(known), min_size=1, max_size=len(known), unique=True)
        | st.lists(st.sampled_from(known) | st.text(max_size=8), max_size=8)
    )
    clean = draw(st.integers(0, 2)) < 2
    columns = [
        _column(h if sheet == "PRODUCTS" else f"sales {h}", skus, clean=clean) for h in headers
    ]
    # Clean rows name each product once (a repeated sku or name is an error of its own).
    unique = [
        i for i, h in enumerate(headers) if clean and sheet == "PRODUCTS" and h in ("SKU", "Name")
    ]
    rows = draw(
        st.lists(
            st.tuples(*columns).map(list),
            max_size=15,
            unique_by=tuple((lambda row, i=i: row[i]) for i in unique) or None,
        )
        | st.lists(st.lists(NOISE, max_size=len(headers) + 1), max_size=5)
    )
    if kind == "mislabelled":  # a workbook named .csv, a CSV named .xlsx, an empty file
        lie = draw(st.sampled_from(["xlsx-as-csv", "csv-as-xlsx", "empty"]))
        if lie == "empty":
            return "products" + draw(st.sampled_from(EXTENSIONS)), b""
        content = _xlsx(draw, headers, rows) if lie == "xlsx-as-csv" else _csv(draw, headers, rows)
        return "products" + (".csv" if lie == "xlsx-as-csv" else ".xlsx"), content
    if kind == "csv":
        content = _csv(draw, headers, rows)
        extension = draw(st.sampled_from([".csv", ".CSV", ".txt"]))
    elif kind == "xlsx":
        content = _xlsx(draw, headers, rows)
        if draw(st.integers(0, 5)) == 5 and len(content) > 10:  # sometimes damaged
            content = content[: draw(st.integers(1, len(content) - 1))]
        extension = draw(st.sampled_from([".xlsx", ".xlsm"]))
    else:
        content = draw(st.binary(max_size=300))
        if draw(st.booleans()):
            content = draw(st.sampled_from([b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"MZ"])) + content
        extension = draw(st.sampled_from(EXTENSIONS))
    stem = draw(
        st.sampled_from(["products", "sales", "../../etc/passwd", "ünïcode", "a" * 300, ""])
    )
    return stem + extension, content


def _csv(draw: Callable[[Any], Any], headers: list[str], rows: list[list[str]]) -> bytes:
    separator = draw(st.sampled_from([",", ";", "\t", "|"]))
    text = "\n".join(separator.join(row) for row in [headers, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    return text.encode(encoding, errors="replace")


def _xlsx(draw: Callable[[Any], Any], headers: list[str], rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = draw(st.sampled_from(["Products", "Sales", "Sheet1", "Données"]))
    for row in [headers, *rows]:
        sheet.append([_cell(value) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(value: str) -> Any:
    """Numbers as numbers in a workbook, the rest as text (never a formula)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    try:
        number = float(value)
    except ValueError:
        return ILLEGAL_CHARACTERS_RE.sub("", value).lstrip("=")
    return number if number == number and abs(number) < 1e300 else value


def _multipart(
    document: str, variables: dict[str, Any], file_variable: str, name: str, content: bytes
) -> dict[str, Any]:
    operations = {"query": document, "variables": {**variables, file_variable: None}}
    return {
        "data": {
            "operations": json.dumps(operations),
            "map": json.dumps({"0": [f"variables.{file_variable}"]}),
        },
        "files": {"0": (name, content, "application/octet-stream")},
    }


# ------------------------------------------------ hostile spreadsheets (issue 12)
def _spreadsheets() -> Any:
    """The tests' spreadsheet builders (tests/spreadsheets.py), hostile ones included."""
    sys.path.insert(0, str(ROOT / "tests"))
    import spreadsheets

    return spreadsheets


def _column_name(index: int) -> str:
    name = ""
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


@st.composite
def hostile_spreadsheets(draw: Callable[[Any], Any]) -> tuple[str, bytes]:
    """A small file built to make a dense reader allocate far more than it weighs, or to
    slip markup past the checks that run before the reader (see the module docstring)."""
    files = _spreadsheets()
    shape = draw(
        st.sampled_from(
            [
                "far cell",
                "lying dimension",
                "huge dimension",
                "ods repeats",
                "xls far cell",
                "xls dimensions",
                "no references",
                "prefixed",
                "shared strings",
                "dtd",
                "zip bomb",
                "lying zip bomb",
            ]
        )
    )
    row = draw(st.integers(1, 1_048_576))
    column = draw(st.integers(1, 16_384))
    ref = f"{_column_name(column)}{row}"
    if shape == "far cell":
        return "far.xlsx", files.far_cell_xlsx(ref)
    if shape == "lying dimension":
        small = f"A1:{_column_name(draw(st.integers(1, 5)))}{draw(st.integers(1, 9))}"
        return "lying.xlsx", files.far_cell_xlsx(ref, dimension=small)
    if shape == "huge dimension":
        return "dim.xlsx", files.raw_xlsx(files.header_xml(), head=f'<dimension ref="A1:{ref}"/>')
    if shape == "ods repeats":
        return "repeats.ods", files.ods_repeated(rows=row, columns=column)
    if shape == "xls far cell":
        return "far.xls", files.xls_far_cell(
            draw(st.integers(1, 65_535)), draw(st.integers(3, 255))
        )
    if shape == "xls dimensions":
        content = bytearray(files.xls_huge_dimensions())
        at = content.index(b"\x00\x02\x0e\x00") + 4
        values = draw(
            st.tuples(*(st.integers(0, 2**32 - 1),) * 2, *(st.integers(0, 2**16 - 1),) * 2)
        )
        struct.pack_into("<IIHH", content, at, *values)
        return "dims.xls", bytes(content)
    if shape == "no references":
        return "norefs.xlsx", files.cells_without_refs(column, row)
    if shape == "prefixed":
        return "prefixed.xlsx", files.prefixed_far_cell()
    if shape == "shared strings":
        return "sst.xlsx", files.shared_strings_claim(draw(st.integers(1, 10**15)))
    if shape == "dtd":
        return "dtd.xlsx", files.dtd_after_comment(draw(st.integers(0, 200_000)))
    if shape == "zip bomb":
        return "bomb.xlsx", files.zip_bomb()
    return "bomb.xlsx", files.lying_zip_bomb()


MALFORMED_MULTIPART = [
    {"data": {"operations": "{not json", "map": "{}"}},
    {"data": {"operations": json.dumps({"query": "mutation { runAnomalyCheck { notified } }"})}},
    {"data": {"operations": "[]", "map": "[]"}, "files": {"0": ("a.csv", b"a", "text/csv")}},
    {"data": {"operations": json.dumps({"query": "{ alerts { id } }"}), "map": '{"0": 5}'}},
    {
        "data": {
            "operations": json.dumps({"query": "{ alerts { id } }", "variables": None}),
            "map": json.dumps({"0": ["variables.nope.deeper"]}),
        },
        "files": {"0": ("a.csv", b"a", "text/csv")},
    },
    {
        "data": {
            "operations": json.dumps({"query": "{ alerts { id } }", "variables": {}}),
            "map": json.dumps({"1": ["variables.file"]}),
        },
        "files": {"0": ("a.csv", b"a", "text/csv")},
    },
]


# ---------------------------------------------------------------- judging
def _shape(error: dict[str, Any]) -> str:
    """An error's message with its particulars (quoted values, numbers) blanked, for grouping."""
    message = str(error.get("message", ""))
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message)
    return re.sub(r"\d+", "N", message)[:90]


def _judge(
    fuzz: Fuzz,
    label: str,
    form: str,
    response: requests.Response | None,
    error: str | None,
    reproduce: str,
) -> None:
    stats = fuzz.stats[label]
    stats.cases += 1

    def fail(kind: str, detail: str) -> None:
        fuzz.failures.append(Failure(label, kind, detail[:500], reproduce[:3000]))

    if response is None:
        stats.other_failures += 1
        stats.statuses[0] += 1
        fail("transport", error or "no response")
        return
    stats.statuses[response.status_code] += 1
    if response.status_code >= 500:
        stats.server_errors += 1
        fail("5xx", f"HTTP {response.status_code}: {response.text[:300]}")
        return
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not ({"data", "errors"} & payload.keys()):
        # Every refusal is a GraphQL error too (the edge's envelope), whatever its status.
        stats.other_failures += 1
        fail("not GraphQL", f"HTTP {response.status_code}: {response.text[:300]}")
        return
    if not payload.get("errors") and payload.get("data") is not None:
        stats.ok += 1
    for item in payload.get("errors") or ():
        extensions = item.get("extensions") if isinstance(item, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        stats.codes[str(code)] += 1
        shape = _shape(item) if isinstance(item, dict) else str(item)[:90]
        stats.messages[f"{form} {code}: {shape}"] += 1
        message = str(item.get("message", "")) if isinstance(item, dict) else str(item)
        if code == "INTERNAL":
            stats.internal += 1
            fail("INTERNAL", message)
        elif code not in KNOWN_CODES:
            stats.other_failures += 1
            fail("uncoded", f"code {code!r}: {message}")
        if NON_NULL_MARKER in message:
            stats.other_failures += 1
            fail("non-null", message)


def _send(
    fuzz: Fuzz, label: str, form: str, reproduce: str, send: Callable[[], requests.Response]
) -> requests.Response | None:
    fuzz.stats[label].forms[form] += 1
    try:
        response = send()
    except requests.RequestException as exc:
        _judge(fuzz, label, form, None, f"{type(exc).__name__}: {exc}", reproduce)
        return None
    _judge(fuzz, label, form, response, None, reproduce)
    return response


def _remember(fuzz: Fuzz, label: str, form: str, response: requests.Response | None) -> None:
    """Report ids from generateReport answers feed report(id) later; import outcomes are
    counted (they show the upload pipeline ran: VALID, INVALID, REJECTED, COMMITTED...)."""
    if response is None:
        return
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        data = response.json().get("data") or {}
        for value in data.values():
            if not isinstance(value, dict):
                continue
            if label == "Mutation.generateReport" and isinstance(value.get("id"), str):
                fuzz.pool.report_ids.append(value["id"])
            if label == "Mutation.importExcel" and isinstance(value.get("status"), str):
                why = f" ({_shape(value)})" if value["status"] == "REJECTED" else ""
                fuzz.stats[label].messages[f"{form} answered: {value['status']}{why}"] += 1


# ---------------------------------------------------------------- one operation
#: A field every answer of these operations selects.
SELECTED = {"Mutation.generateReport": ("id",), "Mutation.importExcel": ("status", "message")}
#: Relative case budgets (default 1): the anomaly check has no arguments to vary.
WEIGHTS = {"Mutation.runAnomalyCheck": 0.35}
#: In --quick, also fewer forecasts (each valid one trains a model).
QUICK_WEIGHTS = {"Query.forecast": 0.5, "Mutation.runAnomalyCheck": 0.25}
#: Operations run after all others, in this order.
ORDER_LAST = ["Mutation.generateReport", "Query.report"]
#: How each operation's cases are split between the forms (shares of its budget).
FORMS = {"negative": 0.2, "literal": 0.2, "steered": 0.25, "variables": 0.25, "get": 0.1}
UPLOAD_FORMS = {
    "negative": 0.05,
    "literal": 0.08,
    "variables": 0.08,
    "multipart-csv": 0.3,
    "multipart-xlsx": 0.25,
    "multipart-bytes": 0.1,
    "multipart-mislabelled": 0.07,
    "multipart-hostile": 0.1,
    "malformed": 0.07,
}


def fuzz_operation(fuzz: Fuzz, schema: Any, operation: Any, budget: int, base_seed: int) -> None:
    """``budget`` cases of one root field, split between the forms of :data:`FORMS`.

    Each form is its own hypothesis run, so the split is exact; the role
    alternates outside hypothesis (it changes no generated data).
    """
    label = operation.label
    definition = operation.definition
    root = schema.client_schema.get_type(definition.type_.name)
    is_upload = any(
        str(graphql.get_named_type(a.type)) == "Upload" for a in definition.raw.args.values()
    )
    forms = dict(UPLOAD_FORMS if is_upload else FORMS)
    if not definition.raw.args:  # nothing to make invalid, steer or hoist
        forms = {"literal": 1.0}
    roles = (
        ["ADMIN", "ADMIN", "ADMIN", "USER"]
        if label in ("Mutation.importExcel", "Mutation.runAnomalyCheck")
        else ["USER", "ADMIN"]
    )
    sent = [0]
    started = time.perf_counter()
    # Every form's count; a form whose generator runs dry (negative documents of an
    # argument that is one input object) hands what it did not send on to the next,
    # and the last one repeats (with other seeds) until the budget is spent.
    counts = {form: max(1, round(budget * share)) for form, share in forms.items()}
    last = list(forms)[-1]
    counts[last] = max(1, budget - sum(n for f, n in counts.items() if f != last))
    plan = [*forms, *[last] * 5]
    shortfall = 0
    for index, form in enumerate(plan):
        wanted = (counts[form] if index < len(forms) else 0) + shortfall
        if wanted <= 0:
            break
        before = fuzz.stats[label].cases
        strategy = operation.as_strategy(
            GenerationMode.NEGATIVE if form == "negative" else GenerationMode.POSITIVE
        )

        def make(form: str, strategy: Any) -> Callable[[st.DataObject], None]:
            def one_case(data: st.DataObject) -> None:
                draw = data.draw
                role = roles[sent[0] % len(roles)]
                sent[0] += 1
                headers = fuzz.headers(role)
                case = draw(strategy)
                if form == "negative":
                    _send(
                        fuzz,
                        label,
                        form,
                        f"[{role}] {case.body}",
                        lambda: case.call(
                            session=fuzz.session, headers=headers, timeout=REQUEST_TIMEOUT_S
                        ),
                    )
                    return
                document = graphql.parse(case.body)
                for name in SELECTED.get(label, ()):
                    document = _select(document, name)
                if form in ("steered", "variables", "get") or form.startswith("multipart"):
                    document = _steer(document, draw, fuzz)
                response: requests.Response | None
                if form in ("literal", "steered"):
                    query = graphql.print_ast(document)
                    case.body = query
                    response = _send(
                        fuzz,
                        label,
                        form,
                        f"[{role}] {query}",
                        lambda: case.call(
                            session=fuzz.session, headers=headers, timeout=REQUEST_TIMEOUT_S
                        ),
                    )
                elif form == "variables":
                    document, variables = _hoist(document, root, draw)
                    body = {"query": graphql.print_ast(document), "variables": variables}
                    response = _send(
                        fuzz,
                        label,
                        form,
                        f"[{role}] {json.dumps(body, default=str)}",
                        lambda: fuzz.session.post(
                            fuzz.url, json=body, headers=headers, timeout=REQUEST_TIMEOUT_S
                        ),
                    )
                elif form == "get":  # queries only over GET; a mutation must be refused
                    document, variables = _hoist(document, root, draw)
                    params = {
                        "query": graphql.print_ast(document),
                        "variables": json.dumps(variables, default=str),
                    }
                    response = _send(
                        fuzz,
                        label,
                        form,
                        f"[{role}] GET {params}",
                        lambda: fuzz.session.get(
                            fuzz.url, params=params, headers=headers, timeout=REQUEST_TIMEOUT_S
                        ),
                    )
                elif form.startswith("multipart"):
                    sheet = _argument(document, "kind") or "PRODUCTS"
                    document, variables = _hoist(
                        document, root, draw, skip=frozenset({"file"}), oddities=False
                    )
                    document = _bind_file(document, "file")
                    name, content = draw(
                        upload_files(fuzz.pool.skus, form.split("-")[1], str(sheet))
                    )
                    parts = _multipart(
                        graphql.print_ast(document), variables, "file", name, content
                    )
                    reproduce = (
                        f"[{role}] multipart operations={parts['data']['operations']} "
                        f"file={name!r} ({len(content)} bytes: {content[:120]!r})"
                    )
                    response = _send(
                        fuzz,
                        label,
                        form,
                        reproduce,
                        lambda: fuzz.session.post(
                            fuzz.url,
                            headers={**headers, "Apollo-Require-Preflight": "true"},
                            timeout=REQUEST_TIMEOUT_S,
                            **parts,
                        ),
                    )
                else:  # malformed multipart
                    parts = draw(st.sampled_from(MALFORMED_MULTIPART))
                    response = _send(
                        fuzz,
                        label,
                        form,
                        f"[{role}] malformed multipart {parts}",
                        lambda: fuzz.session.post(
                            fuzz.url,
                            headers={**headers, "Apollo-Require-Preflight": "true"},
                            timeout=REQUEST_TIMEOUT_S,
                            **parts,
                        ),
                    )
                _remember(fuzz, label, form, response)

            return one_case

        run = seed(base_seed + sum(map(ord, label)) + index)(
            settings(
                max_examples=wanted,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
                print_blob=False,
            )(given(data=st.data())(make(form, strategy)))
        )
        run()
        shortfall = wanted - (fuzz.stats[label].cases - before)
    fuzz.stats[label].seconds += time.perf_counter() - started


def _select(document: graphql.DocumentNode, name: str) -> graphql.DocumentNode:
    """Root fields also select ``name`` (report ids feed ``report(id)``; import statuses
    are counted)."""
    definitions = []
    for definition in document.definitions:
        if isinstance(definition, graphql.OperationDefinitionNode):
            selections = []
            for selection in definition.selection_set.selections:
                inner = getattr(selection, "selection_set", None)
                if isinstance(selection, graphql.FieldNode) and inner is not None:
                    names = {
                        s.name.value for s in inner.selections if isinstance(s, graphql.FieldNode)
                    }
                    if name not in names:
                        id_field = graphql.FieldNode(
                            name=graphql.NameNode(value=name), arguments=(), directives=()
                        )
                        selection = _replace(
                            selection,
                            selection_set=_replace(inner, selections=(*inner.selections, id_field)),
                        )
                selections.append(selection)
            definition = _replace(
                definition,
                selection_set=_replace(definition.selection_set, selections=tuple(selections)),
            )
        definitions.append(definition)
    return _replace(document, definitions=tuple(definitions))


def _argument(document: graphql.DocumentNode, name: str) -> Any:
    """The literal value of the root field's argument ``name`` (None when absent)."""
    for definition in document.definitions:
        if isinstance(definition, graphql.OperationDefinitionNode):
            for selection in definition.selection_set.selections:
                for argument in getattr(selection, "arguments", None) or ():
                    if argument.name.value == name:
                        return graphql.value_from_ast_untyped(argument.value)
    return None


def _bind_file(document: graphql.DocumentNode, variable: str) -> graphql.DocumentNode:
    """``importExcel(file: <literal>)`` becomes ``importExcel(file: $file)`` with ``$file: Upload!``."""
    node = graphql.VariableNode(name=graphql.NameNode(value=variable))
    found = []

    def change(_: graphql.FieldNode, argument: graphql.ArgumentNode, __: int) -> Any:
        if argument.name.value != "file":
            return argument
        found.append(argument)
        return _replace(argument, value=node)

    document = _map_arguments(document, change, root_only=True)
    if not found:
        return document
    definition = graphql.VariableDefinitionNode(
        variable=node, type=graphql.parse_type("Upload!"), directives=()
    )
    return _declare(document, [definition])


# ---------------------------------------------------------------- HTTP input classes
# Hostile HTTP inputs (issue 12): bodies, parameters, methods, headers and links
# that crashed, bloated or slipped past the gateway before its edge. Each must be
# answered with a GraphQL error with a known code: never INTERNAL, never a 5xx,
# never a body that is not GraphQL (what ``_judge`` checks). One hypothesis run
# draws the class and its particulars; figures go under HTTP_LABEL.
HTTP_LABEL = "HTTP inputs"
#: Cases of the HTTP classes (quick run / full run).
HTTP_CASES = {"quick": 60, "full": 600}
_TEXT = st.text(max_size=40)
_JUNK = st.one_of(
    st.text(max_size=30),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
_QUERY = "{ alerts(limit: 1) { id } }"


def _deep(draw: Callable[[Any], Any]) -> bytes:
    depth = draw(st.integers(min_value=1000, max_value=20000))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
    return opener * depth + b"1" + closer * depth


def _http_case(draw: Callable[[Any], Any], fuzz: Fuzz) -> tuple[str, str, str, dict[str, Any]]:
    """One hostile request: (class, method, path, requests keyword arguments)."""
    kind = draw(st.sampled_from(sorted(_HTTP_CLASSES)))
    method, path, kwargs = _HTTP_CLASSES[kind](draw, fuzz)
    return kind, method, path, kwargs


def _json_body(body: bytes, **headers: str) -> dict[str, Any]:
    return {"data": body, "headers": {"Content-Type": "application/json", **headers}}


def _invalid_utf8(draw: Callable[[Any], Any], fuzz: Fuzz) -> tuple[str, str, dict[str, Any]]:
    junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
    body = b'{"query": "{ __typename ' + junk + b' }", "variables": {}}'
    return "POST", "/graphql", _json_body(body)


def _deep_json(draw: Callable[[Any], Any], fuzz: Fuzz) -> tuple[str, str, dict[str, Any]]:
    where = draw(st.sampled_from(["variables", "extensions", "top", "operationName"]))
    deep = _deep(draw)
    if where == "top":
        return "POST", "/graphql", _json_body(deep)
    body = b'{"query": "' + _QUERY.encode() + b'", "' + where.encode() + b'": ' + deep + b"}"
    if draw(st.booleans()):  # the same over GET
        return "GET", "/graphql", {"params": {"query": _QUERY, where: deep.decode()}}
    return "POST", "/graphql", _json_body(body)


def _not_json(draw: Callable[[Any], Any], fuzz: Fuzz) -> tuple[str, str, dict[str, Any]]:
    body = draw(
        st.one_of(
            st.binary(max_size=200),
            st.text(max_size=200).map(str.encode),
            st.just(b'{"query": "{ alerts { id } }"'),  # truncated
            st.just(b""),
        )
    )
    return "POST", "/graphql", _json_body(body)


def _other_shapes(draw: Callable[[Any], Any], fuzz: Fuzz) -> tuple[str, str, dict[str, Any]]:
    batch = [{"query": _QUERY}] * draw(st.integers(min_value=0, max_value=3))
    wrong = {
        "query": draw(st.one_of(st.just(_QUERY), _JUNK)),
        "variables": draw(_JUNK),
        "operationName": draw(_JUNK),
        "extensions": draw(_JUNK),
        "documentId": draw(_JUNK),
    }
    wrong = {k: v for k, v in wrong.items() if draw(st.booleans())}
    payload = draw(st.sampled_from([batch, wrong, 7, "text", None, True]))
    return "POST", "/graphql", _json_body(json.dumps(payload).encode())


def _oversized_document(draw: Callable[[Any], Any], fuzz: Fuzz) -> tuple[str, str, dict[str, Any]]:
    size = draw(st.integers(min_value=60_000, max_value=1_000_000))
    filler = draw(st.sampled_from(["literal", "spaces", "comment"]))
    if filler == "literal":
        query = '{ product(sku: "' + "x" * size + '") { sku } }'
    elif filler == "spaces":
        query = "{" + " " * size + "alerts(limit: 1) { id } }"
    else:
        query = "#" + "c" * size + "\n" + _QUERY
    return "POST", "/graphql", {"json": {"query": query}}


def _operation_choice(draw: Callable[[Any], Any], fuzz: Fuzz) -> tuple[str, str, dict[str, Any]]:
    document = draw(
        st.sampled_from(
            [
                "query A { __typename } query B { alerts(limit: 1) { id } }",
                "query A { __typename } { __typename }",
                "query A { __typename } mutation B { runAnomalyCheck { found } }",
                "fragment F on Query { __typename }",
            ]
        )
    )
    name = draw(st.one_of(st.none(), st.sampled_from(["A", "B", "C", "", "null"]), _TEXT))
    body: dict[str, Any] = {"query": document}
    if name is not None:
        body["operationName"] = name
    return "POST", "/graphql", {"json": body}


def _wrong_transport(draw: Callable[[Any], Any], fuzz: Fuzz) -> tuple[str, str, dict[str, Any]]:
    document = draw(
        st.sampled_from(
            [
                "subscription { alerts { id } }",
                'subscription { reportJob(id: "x") { status } }',
                "mutation { runAnomalyCheck { found } }",
                "mutation { generateReport(input: {}) { id } }",
            ]
        )
    )
    if draw(st.booleans()):
        return "GET", "/graphql", {"params": {"query": document}}
    return "POST", "/graphql", {"json": {"query": document}}


def _persisted(draw: Callable[[Any], Any], fuzz: Fuzz) -> tuple[str, str, dict[str, Any]]:
    digest = draw(st.one_of(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), _TEXT))
    persisted = draw(
        st.sampled_from(
            [
                {"version": 1, "sha256Hash": digest},
                {"version": 2, "sha256Hash": digest},
                {"version": 1, "sha256Hash": 7},
                {"sha256Hash": digest},
                "not an object",
            ]
        )
    )
    body: dict[str, Any] = {"extensions": {"persistedQuery": persisted}}
    if draw(st.booleans()):
        body["query"] = draw(st.sampled_from([_QUERY, "{ __typename }", "{"]))
    if draw(st.booleans()):
        body = {"documentId": draw(st.one_of(_TEXT, st.just("sha256:" + "0" * 64)))}
    if draw(st.booleans()):
        params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        return "GET", "/graphql", {"params": params}
    return "POST", "/graphql", {"json": body}


def _content_type(draw: Callable[[Any], Any], fuzz: Fuzz) -> tuple[str, str, dict[str, Any]]:
    kind = draw(
        st.sampled_from(
            [
                "text/plain",
                "application/graphql",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                "application/json; charset=latin-1",
                "",
            ]
        )
    )
    headers = {"Content-Type": kind} if kind else {}
    if draw(st.booleans()):
        headers["Apollo-Require-Preflight"] = "true"
    body = draw(st.sampled_from([json.dumps({"query": _QUERY}).encode(), _QUERY.encode(), b""]))
    return "POST", "/graphql", {"data": body, "headers": headers}


#: Header values a client library will send (no CR, LF or NUL, no leading space).
_HEADER_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\x00", max_codepoint=0x2FFF), max_size=60
).map(lambda t: t.encode("utf-8").decode("latin-1").lstrip(" \t\x0b\x0c"))


def _headers(draw: Callable[[Any], Any], fuzz: Fuzz) -> tuple[str, str, dict[str, Any]]:
    token = draw(
        st.one_of(
            _HEADER_TEXT.map(lambda t: f"Bearer {t}"),
            st.just("Bearer " + "a" * 6000),
            st.just(fuzz.tokens["USER"]),  # without "Bearer"
            st.just("Basic dXNlcjpwYXNz"),
        )
    )
    headers = {
        "Authorization": token,
        "X-Request-Id": draw(_HEADER_TEXT),
        "Accept": draw(
            st.sampled_from(
                [
                    "application/graphql-response+json",
                    "application/graphql-response+json;q=abc, application/json;q=2",
                    "text/html",
                    "*/*;q=0",
                    "",
                ]
            )
        ),
    }
    return "POST", "/graphql", {"json": {"query": _QUERY}, "headers": headers, "_no_auth": True}


def _links(draw: Callable[[Any], Any], fuzz: Fuzz) -> tuple[str, str, dict[str, Any]]:
    identifier = draw(
        st.one_of(st.text(alphabet="0123456789abcdef", min_size=32, max_size=32), _TEXT)
    )
    sig = draw(st.one_of(st.text(max_size=70), st.text(alphabet="0123456789abcdef", max_size=64)))
    exp = draw(st.one_of(st.integers(min_value=-10, max_value=10**15).map(str), _TEXT))
    path = draw(
        st.sampled_from([f"/reports/{identifier}/download", f"/imports/{identifier}/errors.xlsx"])
    )
    return "GET", path, {"params": {"exp": exp, "sig": sig}, "_no_auth": True}


def _render(draw: Callable[[Any], Any], fuzz: Fuzz) -> tuple[str, str, dict[str, Any]]:
    params = {
        "kind": draw(st.sampled_from(["NOPE", "", "sales", "ＦＵＬＬ"])),
        "format": draw(st.sampled_from(["PDF", "DOCX", "", "xlsx"])),
        # never a valid range: a rendered file would be a (right) answer that is not GraphQL
        "start": draw(st.sampled_from(["2024-13-45", "0001-01-01", "yesterday"])),
        "end": draw(st.sampled_from(["9999-12-31", "2024-02-30", "x"])),
    }
    return "GET", "/reports/render", {"params": params}


def _undeclared(draw: Callable[[Any], Any], fuzz: Fuzz) -> tuple[str, str, dict[str, Any]]:
    path = "/" + draw(st.text(alphabet="abcdefghij/._-%20", max_size=30))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
    return method, path, {"headers": {"Apollo-Require-Preflight": "1"}}


_HTTP_CLASSES: dict[
    str, Callable[[Callable[[Any], Any], Fuzz], tuple[str, str, dict[str, Any]]]
] = {
    "invalid UTF-8": _invalid_utf8,
    "deep JSON": _deep_json,
    "not JSON": _not_json,
    "other JSON shapes": _other_shapes,
    "oversized document": _oversized_document,
    "operation choice": _operation_choice,
    "wrong transport": _wrong_transport,
    "persisted queries": _persisted,
    "content types": _content_type,
    "headers": _headers,
    "signed links": _links,
    "render parameters": _render,
    "undeclared routes": _undeclared,
}


def fuzz_http_inputs(fuzz: Fuzz, budget: int, base_seed: int) -> None:
    """``budget`` hostile HTTP requests, each judged like every other case."""
    base = fuzz.url.rsplit("/graphql", 1)[0]
    started = time.perf_counter()
    sent = [0]

    def one_case(data: st.DataObject) -> None:
        kind, method, path, kwargs = _http_case(data.draw, fuzz)
        role = ("USER", "ADMIN")[sent[0] % 2]
        sent[0] += 1
        headers = {} if kwargs.pop("_no_auth", False) else fuzz.headers(role)
        headers.update(kwargs.pop("headers", {}))
        reproduce = f"[{role}] {method} {path} {str(kwargs)[:1500]} headers={headers}"
        _send(
            fuzz,
            HTTP_LABEL,
            kind,
            reproduce,
            lambda: fuzz.session.request(
                method, base + path, headers=headers, timeout=REQUEST_TIMEOUT_S, **kwargs
            ),
        )

    seed(base_seed + 12)(
        settings(
            max_examples=budget,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )(given(data=st.data())(one_case))
    )()
    fuzz.stats[HTTP_LABEL].seconds += time.perf_counter() - started


# ---------------------------------------------------------------- the gateway
@contextlib.contextmanager
def gateway(env: dict[str, str], port: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``salesflow-graphql serve`` on ``port`` until /healthz answers; its log goes to ``log_path``."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "salesflow_graphql", "serve", "--port", str(port)],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"gateway exited: {log_path.read_text()[-2000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("gateway did not start")
                time.sleep(0.1)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _seed_pool(fuzz: Fuzz) -> None:
    query = "{ stockAnalytics { items { product { sku category } } } }"
    answer = fuzz.session.post(
        fuzz.url, json={"query": query}, headers=fuzz.headers("USER"), timeout=60
    )
    items = answer.json()["data"]["stockAnalytics"]["items"]
    fuzz.pool.skus = sorted({i["product"]["sku"] for i in items})
    fuzz.pool.categories = sorted(
        {i["product"]["category"] for i in items if i["product"]["category"]}
    )


def _report_jobs(fuzz: Fuzz, wait_s: float) -> Counter[str]:
    """Wait (a bounded time) for the fuzzed report jobs, then count them by status;
    a job FAILED with an internal error is a failure."""
    ids = list(dict.fromkeys(fuzz.pool.report_ids))
    query = "query($id: ID!) { report(id: $id) { status error } }"
    deadline = time.monotonic() + wait_s
    while True:
        results: dict[str, Any] = {}
        for job_id in ids:
            answer = fuzz.session.post(
                fuzz.url,
                json={"query": query, "variables": {"id": job_id}},
                headers=fuzz.headers("ADMIN"),
                timeout=60,
            ).json()
            results[job_id] = (answer.get("data") or {}).get("report")
        statuses = Counter(job["status"] if job else "MISSING" for job in results.values())
        if not (statuses["QUEUED"] or statuses["RUNNING"]) or time.monotonic() > deadline:
            break
        time.sleep(2)
    for job_id, job in results.items():
        if job and job["status"] == "FAILED" and "internal" in (job.get("error") or "").lower():
            fuzz.failures.append(
                Failure("Mutation.generateReport (job)", "INTERNAL", job["error"], f"job {job_id}")
            )
    return statuses


def _log_failures(fuzz: Fuzz, log_path: Path) -> int:
    lines = log_path.read_text(errors="replace").splitlines()
    found = 0
    for index, line in enumerate(lines):
        if any(marker in line for marker in LOG_MARKERS):
            found += 1
            if found <= 20:
                excerpt = "\n".join(lines[index : index + 25])
                fuzz.failures.append(Failure("(gateway log)", "logged", line, excerpt))
    return found


# ---------------------------------------------------------------- main
def run(cases: int, base_seed: int, quick: bool, json_path: Path | None = None) -> int:
    _register_scalars()
    port = free_port()
    exports = tempfile.mkdtemp(prefix="salesflow-fuzz-exports-")
    log_path = Path(tempfile.mkdtemp(prefix="salesflow-fuzz-")) / "gateway.log"
    env = {
        "SALESFLOW_RATE_LIMIT_PER_S": "0",
        "SALESFLOW_ALERT_CHECK_INTERVAL_MINUTES": "0",
        "SALESFLOW_EXPORTS_DIR": exports,
        "SALESFLOW_LOG_LEVEL": "WARNING",
        "SALESFLOW_GRAPHIQL": "false",
    }
    env.pop("SALESFLOW_JAVA_API_URL", None)
    settings_ = Settings.from_env({**os.environ, **env})
    tokens = {
        "USER": mint_access_token(
            settings_.auth.jwt_secret,
            Role.USER,
            subject="+15550000001",
            username="fuzz-user",
            ttl_s=86400,
        ),
        "ADMIN": mint_access_token(
            settings_.auth.jwt_secret,
            Role.ADMIN,
            subject="+15550000002",
            username="fuzz-admin",
            ttl_s=86400,
        ),
    }
    started = time.perf_counter()
    with gateway(env, port, log_path), requests.Session() as session:
        url = f"http://127.0.0.1:{port}/graphql"
        fuzz = Fuzz(url=url, tokens=tokens, session=session, pool=Pool(), today=settings_.today())
        _seed_pool(fuzz)
        schema = schemathesis.graphql.from_url(url, headers=fuzz.headers("ADMIN"))
        operations = [result.ok() for result in schema.get_all_operations()]
        # generateReport late (its jobs render in the background, slowing what follows)
        # and report(id) last, with the ids generateReport gave out.
        operations.sort(
            key=lambda op: (ORDER_LAST.index(op.label) if op.label in ORDER_LAST else -1, op.label)
        )
        table_ = {**WEIGHTS, **(QUICK_WEIGHTS if quick else {})}
        weights = {op.label: table_.get(op.label, 1.0) for op in operations}
        unit = cases / sum(weights.values())
        for operation in operations:
            budget = max(1, math.ceil(unit * weights[operation.label]))
            fuzz_operation(fuzz, schema, operation, budget, base_seed)
        fuzz_http_inputs(fuzz, HTTP_CASES["quick" if quick else "full"], base_seed)
        operations.append(SimpleNamespace(label=HTTP_LABEL))  # reported as one more row
        fuzz_seconds = time.perf_counter() - started
        job_statuses = _report_jobs(fuzz, wait_s=5 if quick else 180)
    shutil.rmtree(exports, ignore_errors=True)  # the reports the fuzz had made; the log stays
    logged = _log_failures(fuzz, log_path)
    total = time.perf_counter() - started
    _print(fuzz, operations, job_statuses, logged, fuzz_seconds, total, log_path)
    if json_path is not None:
        _write_json(json_path, fuzz, operations, job_statuses, logged, total)
    return 1 if fuzz.failures else 0


def _write_json(
    path: Path,
    fuzz: Fuzz,
    operations: list[Any],
    job_statuses: Counter[str],
    logged: int,
    seconds: float,
) -> None:
    """The figures for a machine (the test reads them)."""
    per_operation = {
        o.label: {
            "cases": fuzz.stats[o.label].cases,
            "forms": dict(fuzz.stats[o.label].forms),
            "statuses": {str(k): v for k, v in fuzz.stats[o.label].statuses.items()},
            "codes": dict(fuzz.stats[o.label].codes),
            "ok": fuzz.stats[o.label].ok,
            "messages": dict(fuzz.stats[o.label].messages.most_common(30)),
            "internal": fuzz.stats[o.label].internal,
            "server_errors": fuzz.stats[o.label].server_errors,
            "other_failures": fuzz.stats[o.label].other_failures,
        }
        for o in operations
    }
    summary = {
        "operations": per_operation,
        "cases": sum(v["cases"] for v in per_operation.values()),
        "internal": sum(v["internal"] for v in per_operation.values()),
        "server_errors": sum(v["server_errors"] for v in per_operation.values()),
        "failures": [vars(f) for f in fuzz.failures],
        "logged_internal": logged,
        "report_jobs": dict(job_statuses),
        "seconds": round(seconds, 1),
    }
    path.write_text(json.dumps(summary, indent=2, default=str))


def _print(
    fuzz: Fuzz,
    operations: list[Any],
    job_statuses: Counter[str],
    logged: int,
    fuzz_seconds: float,
    total: float,
    log_path: Path,
) -> None:
    rows = []
    totals = OpStats()
    for operation in operations:
        s = fuzz.stats[operation.label]
        rows.append(
            [
                operation.label,
                f"{s.cases:,}",
                ", ".join(
                    f"{k.replace('multipart-', 'upload ')} {v}" for k, v in sorted(s.forms.items())
                ),
                ", ".join(f"{k}: {v}" for k, v in sorted(s.statuses.items())),
                s.ok,
                ", ".join(f"{k} {v}" for k, v in s.codes.most_common()) or "-",
                s.internal,
                s.server_errors,
                s.other_failures,
                f"{s.seconds:.1f}",
            ]
        )
        totals.cases += s.cases
        totals.ok += s.ok
        totals.internal += s.internal
        totals.server_errors += s.server_errors
        totals.other_failures += s.other_failures
        totals.statuses.update(s.statuses)
    queries = sum(fuzz.stats[o.label].cases for o in operations if o.label.startswith("Query."))
    mutations = sum(
        fuzz.stats[o.label].cases for o in operations if o.label.startswith("Mutation.")
    )
    rows.append(
        [
            "total",
            f"{totals.cases:,}",
            f"queries {queries}, mutations {mutations}, other {totals.cases - queries - mutations}",
            ", ".join(f"{k}: {v}" for k, v in sorted(totals.statuses.items())),
            totals.ok,
            "",
            totals.internal,
            totals.server_errors,
            totals.other_failures,
            f"{fuzz_seconds:.1f}",
        ]
    )
    table(
        "Fuzzing /graphql (schemathesis, GraphQL mode) — over a real socket",
        [
            "operation",
            "cases",
            "forms",
            "HTTP status",
            "answered",
            "error codes",
            "INTERNAL",
            "5xx",
            "other failures",
            "seconds",
        ],
        rows,
    )
    table(
        "Report jobs started by the fuzz",
        ["status", "jobs"],
        [[k, v] for k, v in sorted(job_statuses.items())] or [["(none)", 0]],
    )
    print(
        f"\n- cases: {totals.cases:,} ({queries:,} queries, {mutations:,} mutations, "
        f"{totals.cases - queries - mutations:,} hostile HTTP inputs) in {total:.1f} s"
    )
    print(
        f"- INTERNAL: {totals.internal}, 5xx: {totals.server_errors}, other failures: "
        f"{totals.other_failures}, internal errors in the gateway log: {logged}"
    )
    print(f"- gateway log: {log_path}")
    if fuzz.failures:
        print(f"\n## Failures ({len(fuzz.failures)})")
        seen: Counter[tuple[str, str, str]] = Counter()
        for failure in fuzz.failures:
            key = (failure.operation, failure.kind, failure.detail[:120])
            seen[key] += 1
            if seen[key] <= 2:
                print(
                    f"\n- {failure.operation} [{failure.kind}] {failure.detail}\n  reproduce: {failure.reproduce}"
                )
        print("\nFAILED")
    else:
        print("- result: no INTERNAL, no 5xx, no other failure")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"about {QUICK_CASES} cases")
    parser.add_argument("--cases", type=int, help=f"total cases (default {DEFAULT_CASES})")
    parser.add_argument("--seed", type=int, default=20250101, help="hypothesis seed")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    cases = args.cases or (QUICK_CASES if args.quick else DEFAULT_CASES)
    return run(cases, args.seed, args.quick, args.json)


if __name__ == "__main__":
    sys.exit(main())
