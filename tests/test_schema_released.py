"""schema.graphql against the released schema: no change may break the client team's code.

A breaking change fails unless the release had declared the element ``@deprecated``;
dangerous changes (a new enum value, a changed default) are reported as warnings.
``make release-schema`` (``salesflow-graphql check-schema --release``) moves the snapshot.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from salesflow_graphql.cli import main
from salesflow_graphql.graphql.compatibility import compare_files, compare_schemas

ROOT = Path(__file__).resolve().parents[1]

RELEASED = """
type Query {
  product(sku: String!): Product
  products(first: Int, after: String @deprecated(reason: "pages are gone")): [Product!]!
  alerts(limit: Int! = 50): [Product!]!
}
type Product {
  id: ID!
  name: String!
  legacyCode: String @deprecated(reason: "use sku")
  price: Float!
}
enum Severity { LOW HIGH OLD @deprecated(reason: "no longer raised") }
input Filter { sku: String }
"""


def test_the_current_schema_breaks_nothing_the_release_promised() -> None:
    changes = compare_files(ROOT)
    for change in changes.dangerous:
        warnings.warn(f"schema.graphql vs schema.released.graphql: {change}", stacklevel=1)
    print(changes.report())
    assert not changes.breaking, (
        "schema.graphql breaks clients of schema.released.graphql; deprecate first, remove in a "
        "later release:\n" + changes.report()
    )


def test_an_unannounced_removal_or_type_change_is_breaking() -> None:
    current = RELEASED.replace("  name: String!\n", "").replace("price: Float!", "price: Float")
    changes = compare_schemas(RELEASED, current)
    assert len(changes.breaking) == 2
    assert any("Product.name" in c for c in changes.breaking)
    assert any("Product.price" in c for c in changes.breaking)


def test_removing_what_the_release_deprecated_is_not_breaking() -> None:
    current = (
        RELEASED.replace('  legacyCode: String @deprecated(reason: "use sku")\n', "")
        .replace(' OLD @deprecated(reason: "no longer raised")', "")
        .replace(', after: String @deprecated(reason: "pages are gone")', "")
    )
    changes = compare_schemas(RELEASED, current)
    assert changes.breaking == []
    assert len(changes.retired) == 3
    assert {c.split(" ")[0] for c in changes.retired} == {
        "Product.legacyCode",
        "Severity.OLD",
        "Query.products(after:)",
    }


def test_a_required_argument_or_input_field_added_is_breaking() -> None:
    current = RELEASED.replace("product(sku: String!)", "product(sku: String!, shop: ID!)")
    current = current.replace(
        "input Filter { sku: String }", "input Filter { sku: String shop: ID! }"
    )
    assert len(compare_schemas(RELEASED, current).breaking) == 2


def test_a_new_enum_value_or_default_is_dangerous_only() -> None:
    current = RELEASED.replace("enum Severity { LOW HIGH", "enum Severity { LOW MEDIUM HIGH")
    current = current.replace("limit: Int! = 50", "limit: Int! = 20")
    changes = compare_schemas(RELEASED, current)
    assert changes.breaking == []
    assert len(changes.dangerous) == 2


def test_additions_are_neither_breaking_nor_dangerous() -> None:
    current = RELEASED.replace("  price: Float!\n", "  price: Float!\n  complete: Boolean!\n")
    current += "type Extra { id: ID! }\n"
    changes = compare_schemas(RELEASED, current)
    assert changes == type(changes)()


def test_the_release_step_refuses_a_breaking_schema_and_moves_the_snapshot_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "schema.released.graphql").write_text(RELEASED)
    (tmp_path / "schema.graphql").write_text(RELEASED.replace("  name: String!\n", ""))
    monkeypatch.chdir(tmp_path)
    assert main(["check-schema", "--release"]) == 1
    assert "Product.name" in capsys.readouterr().out
    assert (tmp_path / "schema.released.graphql").read_text() == RELEASED  # untouched

    added = RELEASED.replace("  price: Float!\n", "  price: Float!\n  sku: String\n")
    (tmp_path / "schema.graphql").write_text(added)
    assert main(["check-schema"]) == 0
    assert (tmp_path / "schema.released.graphql").read_text() == RELEASED  # a check only
    assert main(["check-schema", "--release"]) == 0
    assert (tmp_path / "schema.released.graphql").read_text() == added
