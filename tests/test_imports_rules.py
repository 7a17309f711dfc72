"""Coercion and every business rule of an import, on plain tables (no server)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from salesflow_graphql.imports.cells import (
    CellProblem,
    date_of,
    number_of,
    text_of,
    whole_number_of,
)
from salesflow_graphql.imports.headers import find_header
from salesflow_graphql.imports.model import ErrorCode, ImportKind, SheetTable
from salesflow_graphql.imports.rules import (
    CatalogueView,
    Validation,
    check_products,
    check_sales,
)
from salesflow_graphql.sor.records import ProductDto

CATALOGUE = CatalogueView.of(
    [
        ProductDto(1, "Oak Desk", "FUR-BO-10001798", 199.0, 5, "Solid oak", None, 3),
        ProductDto(2, "Desk Lamp", "LAMP-1", 24.99, 10, None, "https://img/lamp.jpg", 10),
        ProductDto(3, "Blue Pen", "PEN-1", 1.5, 0, None, None, 10),
    ]
)


def products(*rows: list[Any], header: list[str] | None = None) -> Validation:
    return _check(ImportKind.PRODUCTS, header or ["SKU", "Name", "Price", "Stock"], rows)


def sales(*rows: list[Any], header: list[str] | None = None) -> Validation:
    return _check(ImportKind.SALES, header or ["Order ID", "SKU", "Quantity"], rows)


def _check(kind: ImportKind, header_cells: list[str], rows: tuple[list[Any], ...]) -> Validation:
    table = SheetTable([list(header_cells), *map(list, rows)])
    header = find_header(table.rows, kind)
    assert header is not None and not header.missing(kind)
    check = check_products if kind is ImportKind.PRODUCTS else check_sales
    return check(table, header, CATALOGUE)


def codes(result: Validation) -> list[tuple[int, str | None, str]]:
    return [(e.row, e.column, e.code.value) for e in result.errors]


# ------------------------------------------------------------------ coercion
@pytest.mark.parametrize(
    ("cell", "number"),
    [
        ("1,299.00", "1299.00"),
        ("$12.50", "12.50"),
        (" 7 ", "7"),
        ("€ 1 299,00", "1299.00"),
        ("12,50", "12.50"),
        ("1.299,50", "1299.50"),
        ("USD 5", "5"),
        ("(3.50)", "-3.50"),
        (12.5, "12.5"),
        (7, "7"),
    ],
)
def test_numbers_written_as_text_are_understood(cell: Any, number: str) -> None:
    assert number_of(cell) == Decimal(number)


@pytest.mark.parametrize("cell", ["abc", "12,5,3", True, "NaN", date(2024, 1, 1)])
def test_things_that_are_not_numbers_are_refused(cell: Any) -> None:
    with pytest.raises(CellProblem) as problem:
        number_of(cell)
    assert problem.value.code is ErrorCode.NOT_A_NUMBER


def test_whole_numbers_accept_7_point_0_but_not_7_point_5() -> None:
    assert whole_number_of(7.0) == 7
    assert whole_number_of(" 1,000 ") == 1000
    with pytest.raises(CellProblem) as problem:
        whole_number_of(7.5)
    assert problem.value.code is ErrorCode.NOT_A_WHOLE_NUMBER


@pytest.mark.parametrize(
    ("cell", "day"),
    [
        (45000, date(2023, 3, 15)),  # Excel serial
        ("45000", date(2023, 3, 15)),
        (1, date(1900, 1, 1)),
        (61, date(1900, 3, 1)),  # after Excel's phantom 29 February 1900
        ("2024-03-05", date(2024, 3, 5)),
        ("2024-03-05T10:30:00", date(2024, 3, 5)),
        (datetime(2024, 3, 5, 10, 30), date(2024, 3, 5)),
        ("31/12/2024", date(2024, 12, 31)),
    ],
)
def test_dates_from_serials_iso_text_and_date_cells(cell: Any, day: date) -> None:
    assert date_of(cell) == day


def test_sku_typed_as_a_number_reads_as_text() -> None:
    assert text_of(10023.0) == "10023"
    assert text_of("  A-1 ") == "A-1"
    assert text_of(None) == ""


# ------------------------------------------------------------------ products
def test_valid_products_become_creates_updates_and_unchanged() -> None:
    result = products(
        ["NEW-1", "Brand New", "12.50", 4],
        ["LAMP-1", "Desk Lamp", 24.99, 10],  # identical to Java's
        ["PEN-1", "Blue Pen", "1.75", ""],  # new price; blank stock keeps Java's 0
    )
    assert result.errors == []
    by_sku = {c.sku: c for c in result.products}
    assert by_sku["NEW-1"].action == "create"
    assert by_sku["NEW-1"].payload == {
        "sku": "NEW-1",
        "name": "Brand New",
        "price": 12.5,
        "stockQuantity": 4,
        "lowStockThreshold": 10,  # the default
        "description": None,
        "imageUrl": None,
    }
    assert by_sku["LAMP-1"].action == "unchanged"
    assert by_sku["PEN-1"].action == "update"
    assert by_sku["PEN-1"].payload["stockQuantity"] == 0
    assert by_sku["PEN-1"].payload["price"] == 1.75


def test_columns_absent_from_the_file_keep_what_java_has() -> None:
    result = products(["FUR-BO-10001798", "Oak Desk", 199], header=["SKU", "Name", "Price"])
    (change,) = result.products
    assert change.action == "unchanged"
    assert change.payload["description"] == "Solid oak"
    assert change.payload["lowStockThreshold"] == 3


@pytest.mark.parametrize(
    ("row", "column", "code"),
    [
        (["", "Name", 1, 1], "SKU", "REQUIRED"),
        (["S" * 51, "Name", 1, 1], "SKU", "TOO_LONG"),
        (["A", "", 1, 1], "Name", "REQUIRED"),
        (["A", "N" * 101, 1, 1], "Name", "TOO_LONG"),
        (["A", "Name", "", 1], "Price", "REQUIRED"),
        (["A", "Name", "cheap", 1], "Price", "NOT_A_NUMBER"),
        (["A", "Name", -0.01, 1], "Price", "TOO_SMALL"),
        (["A", "Name", 100_000_000, 1], "Price", "TOO_LARGE"),
        (["A", "Name", 1, -1], "Stock", "TOO_SMALL"),
        (["A", "Name", 1, 2.5], "Stock", "NOT_A_WHOLE_NUMBER"),
        (["A", "Name", 1, "lots"], "Stock", "NOT_A_NUMBER"),
        (["A", "Name", 1, 2**31], "Stock", "TOO_LARGE"),
        (["A", "Oak Desk", 1, 1], "Name", "NAME_TAKEN"),
    ],
)
def test_each_product_rule_pins_its_error_to_the_cell(
    row: list[Any], column: str, code: str
) -> None:
    result = products(row)
    assert codes(result) == [(2, column, code)]
    assert result.products == [] and result.invalid_rows == {2}
    assert result.errors[0].message  # plain language, never empty


def test_threshold_must_be_at_least_one_and_defaults_to_ten() -> None:
    header = ["SKU", "Name", "Price", "Reorder Level"]
    assert codes(products(["A", "N", 1, 0], header=header)) == [(2, "Reorder Level", "TOO_SMALL")]
    (change,) = products(["A", "N", 1, ""], header=header).products
    assert change.payload["lowStockThreshold"] == 10


def test_sku_and_name_must_be_unique_in_the_file() -> None:
    result = products(
        ["A", "One", 1, 1],
        ["B", "Two", 1, 1],
        ["A", "Three", 1, 1],
        ["C", "Two", 1, 1],
    )
    assert codes(result) == [
        (2, "SKU", "DUPLICATE_SKU"),
        (3, "Name", "DUPLICATE_NAME"),
        (4, "SKU", "DUPLICATE_SKU"),
        (5, "Name", "DUPLICATE_NAME"),
    ]
    assert "row 4" in result.errors[0].message
    assert result.valid_rows == 0


def test_a_name_moving_between_two_products_of_the_file_is_allowed() -> None:
    result = products(
        ["LAMP-1", "Oak Desk", 24.99, 10],  # takes the desk's name...
        ["FUR-BO-10001798", "Old Oak Desk", 199, 5],  # ...which the desk gives up
    )
    assert result.errors == []


def test_blank_rows_are_skipped_and_counted_nowhere() -> None:
    result = products(["A", "N", 1, 1], ["", None, "  ", ""], ["B", "M", 2, 2])
    assert result.total_rows == 2 and result.valid_rows == 2


def test_category_and_cost_are_checked_but_announced_as_not_written() -> None:
    result = products(
        ["A", "N", 1, 1, "Office", "-2"],
        header=["SKU", "Name", "Price", "Stock", "Category", "Cost"],
    )
    assert codes(result) == [(2, "Cost", "TOO_SMALL")]
    assert any("not written" in n for n in result.notices)


# --------------------------------------------------------------------- sales
def test_a_superstore_product_id_is_a_sku_and_rows_sharing_an_order_are_one_sale() -> None:
    result = sales(
        ["CA-2016-1", "FUR-BO-10001798", 2],
        ["CA-2016-1", "LAMP-1", 1],
        ["CA-2016-2", "LAMP-1", 3],
        header=["Order ID", "Product ID", "Quantity"],
    )
    assert result.errors == []
    assert [s.order_id for s in result.sales] == ["CA-2016-1", "CA-2016-2"]
    assert result.sales[0].payload() == {
        "items": [{"productId": 1, "quantity": 2}, {"productId": 2, "quantity": 1}]
    }


def test_products_resolve_by_sku_then_numeric_id_then_exact_name() -> None:
    result = sales(
        ["", "LAMP-1", 1],
        ["", "2", 1],
        ["", "Desk Lamp", 1],
        ["", "desk lamp", 1],
    )
    assert [line.product_id for s in result.sales for line in s.lines] == [2, 2, 2]
    assert codes(result) == [(5, "SKU", "UNKNOWN_PRODUCT")]


def test_a_product_name_column_works_without_a_sku_column() -> None:
    result = sales(["Desk Lamp", 2], header=["Product Name", "Qty"])
    assert result.errors == [] and result.sales[0].lines[0].product_id == 2


@pytest.mark.parametrize(
    ("quantity", "code"), [("", "REQUIRED"), (0, "TOO_SMALL"), (1.5, "NOT_A_WHOLE_NUMBER")]
)
def test_quantity_is_a_whole_number_of_at_least_one(quantity: Any, code: str) -> None:
    assert codes(sales(["", "LAMP-1", quantity])) == [(2, "Quantity", code)]


def test_one_bad_row_sinks_its_whole_order_and_only_that_order() -> None:
    result = sales(
        ["O-1", "LAMP-1", 1],
        ["O-1", "NOPE", 1],
        ["O-2", "LAMP-1", 1],
    )
    assert codes(result) == [
        (2, "Order ID", "ORDER_HAS_ERRORS"),
        (3, "SKU", "UNKNOWN_PRODUCT"),
    ]
    assert [s.order_id for s in result.sales] == ["O-2"]
    assert result.valid_rows == 1


def test_stock_is_checked_in_file_order_like_java_would() -> None:
    result = sales(
        ["O-1", "FUR-BO-10001798", 3],
        ["O-2", "FUR-BO-10001798", 3],  # only 2 left after O-1
        ["O-2", "LAMP-1", 1],
        ["O-3", "PEN-1", 1],  # none in stock
        ["O-4", "FUR-BO-10001798", 2],
    )
    assert codes(result) == [
        (3, "Quantity", "INSUFFICIENT_STOCK"),
        (4, "Order ID", "ORDER_HAS_ERRORS"),
        (5, "Quantity", "INSUFFICIENT_STOCK"),
    ]
    assert "Only 2 of FUR-BO-10001798" in result.errors[0].message
    assert [s.order_id for s in result.sales] == ["O-1", "O-4"]


def test_dates_are_checked_and_the_result_says_java_dates_sales_at_import() -> None:
    result = sales(
        ["O-1", "LAMP-1", 1, "2024-03-05"],
        ["O-2", "LAMP-1", 1, 45000],
        ["O-3", "LAMP-1", 1, "yesterday"],
        header=["Order ID", "SKU", "Qty", "Order Date"],
    )
    assert codes(result) == [(4, "Order Date", "INVALID_DATE")]
    assert any("moment of import" in n for n in result.notices)
    without_dates = sales(["O-1", "LAMP-1", 1])
    assert without_dates.notices == []
