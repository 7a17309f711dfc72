"""Reading spreadsheets: every format, the header wherever it is, and every bad file refused."""

from __future__ import annotations

import io
import resource
import time
import zipfile
from datetime import date

import pytest
import spreadsheets as files

from salesflow_graphql.imports.archive import ArchiveLimits
from salesflow_graphql.imports.headers import find_header, normalize
from salesflow_graphql.imports.model import Field, FileRefused, ImportKind
from salesflow_graphql.imports.reading import ReadLimits, decode_text, read_table

LIMITS = ReadLimits(
    max_rows=200_000,
    archive=ArchiveLimits(
        max_entries=2_000, max_uncompressed_bytes=256 * 1024 * 1024, max_ratio=200
    ),
)

TITLED = [
    ["Acme Supplies: price list, March"],
    [],
    ["Product Code", "Product Name", "Unit Price ($)", "Qty in stock", "Reorder Level"],
    ["A-1", "Widget", "1,299.00", " 7 ", 5],
    ["A-2", "Gadget", 12.5, 3, None],
]


def read(content: bytes, name: str, kind: ImportKind = ImportKind.PRODUCTS):
    return read_table(content, name, kind, LIMITS)


def refusal(content: bytes, name: str, kind: ImportKind = ImportKind.PRODUCTS) -> str:
    with pytest.raises(FileRefused) as refused:
        read(content, name, kind)
    return refused.value.message


# ------------------------------------------------------------------ formats
@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("list.xlsx", files.xlsx),
        ("list.xls", files.xls),
        ("list.ods", files.ods),
        ("list.csv", files.csv_bytes),
    ],
)
def test_every_format_finds_the_header_on_row_3_under_a_title(name, build) -> None:
    table, header = read(build(TITLED), name)
    assert table.excel_row(header.index) == 3
    assert [c.field for c in header.columns] == [
        Field.SKU,
        Field.NAME,
        Field.PRICE,
        Field.STOCK,
        Field.THRESHOLD,
    ]
    first = table.rows[header.index + 1]
    assert first[:3] == ["A-1", "Widget", "1,299.00"]
    assert table.format == name.rsplit(".", 1)[1]


def test_xls_and_ods_keep_numbers_and_dates_typed() -> None:
    rows = [["SKU", "Name", "Price", "Date"], ["A-1", "Widget", 12.5, date(2024, 3, 5)]]
    for build, name in ((files.xlsx, "a.xlsx"), (files.xls, "a.xls"), (files.ods, "a.ods")):
        table, _ = read(build(rows), name)
        assert table.rows[1] == ["A-1", "Widget", 12.5, date(2024, 3, 5)], name


@pytest.mark.parametrize(
    ("encoding", "bom", "delimiter"),
    [("utf-8", False, ","), ("utf-8", True, ";"), ("cp1252", False, ";"), ("utf-16", False, "\t")],
)
def test_csv_encodings_and_delimiters(encoding: str, bom: bool, delimiter: str) -> None:
    rows = [["SKU", "Name", "Price"], ["C-1", "Café crème, 1L", "2,50"]]
    content = files.csv_bytes(rows, encoding=encoding, bom=bom, delimiter=delimiter)
    table, header = read(content, "export.csv")
    assert table.rows[1] == ["C-1", "Café crème, 1L", "2,50"]
    assert header.index == 0


def test_decoding_prefers_utf8_and_falls_back_to_cp1252() -> None:
    assert decode_text("Crème".encode()) == "Crème"
    assert decode_text(b"\xef\xbb\xbfCr\xc3\xa8me") == "Crème"
    assert decode_text("Crème €5".encode("cp1252")) == "Crème €5"


def test_excel_sep_line_is_honoured_and_not_a_row() -> None:
    content = b"sep=;\r\nSKU;Name;Price\r\nA;B;1\r\n"
    table, header = read(content, "x.csv")
    assert table.rows == [["SKU", "Name", "Price"], ["A", "B", "1"]]
    assert table.excel_row(header.index) == 1


def test_sheet_named_like_the_kind_wins_over_the_first_sheet() -> None:
    content = files.xlsx(
        [["SKU", "Name", "Price"], ["X", "Y", 1]],
        sheet="Products",
        others={"Sales": [["Order ID", "SKU", "Qty"], ["O-1", "X", 2]]},
    )
    table, header = read(content, "both.xlsx", ImportKind.SALES)
    assert table.sheet == "Sales"
    assert header.column_of(Field.QUANTITY) is not None


def test_first_sheet_with_a_header_is_used_when_none_is_named() -> None:
    content = files.xlsx(
        [["Read me first"], ["This workbook holds our price list."]],
        sheet="About",
        others={"Prices": [["SKU", "Name", "Price"], ["X", "Y", 1]]},
    )
    table, _ = read(content, "list.xlsx")
    assert table.sheet == "Prices"


# ------------------------------------------------------------------ headers
@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("SKU", Field.SKU),
        ("Product ID", Field.SKU),
        ("product-code", Field.SKU),
        ("Item Code", Field.SKU),
        ("Ref", Field.SKU),
        ("Article", Field.SKU),
        ("Name", Field.NAME),
        ("Product", Field.NAME),
        ("PRODUCT NAME", Field.NAME),
        ("Price", Field.PRICE),
        ("Unit Price", Field.PRICE),
        ("Selling_Price", Field.PRICE),
        ("Stock", Field.STOCK),
        ("Stock Quantity", Field.STOCK),
        ("Qty in stock", Field.STOCK),
        ("On hand", Field.STOCK),
        ("Low Stock Threshold", Field.THRESHOLD),
        ("Reorder Level", Field.THRESHOLD),
        ("Min. Stock", Field.THRESHOLD),
        ("Category", Field.CATEGORY),
        ("Cost", Field.COST),
        ("Unit Cost (EUR)", Field.COST),
    ],
)
def test_product_header_synonyms(header: str, field: Field) -> None:
    found = find_header(
        [[header, "Name" if field is not Field.NAME else "SKU"]], ImportKind.PRODUCTS
    )
    assert found is not None
    assert found.columns[0].field is field


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Quantity", Field.QUANTITY),
        ("Qty", Field.QUANTITY),
        ("Units", Field.QUANTITY),
        ("Order ID", Field.ORDER_ID),
        ("Invoice", Field.ORDER_ID),
        ("Order No", Field.ORDER_ID),
        ("Receipt", Field.ORDER_ID),
        ("Date", Field.DATE),
        ("Order Date", Field.DATE),
        ("Sale Date", Field.DATE),
        ("Product ID", Field.SKU),
        ("Product Name", Field.NAME),
    ],
)
def test_sales_header_synonyms(header: str, field: Field) -> None:
    other = "SKU" if field is not Field.SKU else "Qty"
    found = find_header([[header, other]], ImportKind.SALES)
    assert found is not None
    assert found.columns[0].field is field


def test_normalisation_ignores_case_accents_spacing_punctuation_and_units() -> None:
    assert normalize("  Unit-Price ($) ") == "unitprice"
    assert normalize("Référence") == "reference"
    assert normalize("QTY_in stock") == "qtyinstock"


def test_every_header_is_reported_and_unknown_ones_map_to_null() -> None:
    header = find_header([["SKU", "Name", "Price", "Supplier", ""]], ImportKind.PRODUCTS)
    assert header is not None
    assert [(c.header, c.field) for c in header.columns] == [
        ("SKU", Field.SKU),
        ("Name", Field.NAME),
        ("Price", Field.PRICE),
        ("Supplier", None),
    ]


def test_a_second_column_for_the_same_field_is_ignored_with_a_notice() -> None:
    header = find_header([["Product ID", "SKU", "Name", "Price"]], ImportKind.PRODUCTS)
    assert header is not None
    assert header.columns[1].field is Field.SKU  # the exact name beats the synonym
    assert header.columns[0].field is None
    assert any("Product ID" in n for n in header.notices)


def test_title_rows_that_mention_a_field_do_not_win_over_the_header() -> None:
    rows = [["Price"], ["Generated 2024-03-05"], ["SKU", "Name", "Price", "Stock"]]
    header = find_header(rows, ImportKind.PRODUCTS)
    assert header is not None and header.index == 2


# ---------------------------------------------------------------- bad files
def test_a_300_kb_zip_bomb_is_refused_fast_without_inflating_it() -> None:
    bomb = files.zip_bomb()
    assert len(bomb) < 400 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    message = refusal(bomb, "prices.xlsx")
    assert time.perf_counter() - started < 1.0
    assert "inflate" in message and "not opened" in message
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100


def test_a_zip_bomb_that_lies_about_its_size_is_caught_while_inflating() -> None:
    bomb = files.lying_zip_bomb()
    member = zipfile.ZipFile(io.BytesIO(bomb)).getinfo("xl/worksheets/sheet1.xml")
    assert member.file_size == 4096  # what the directory claims
    started = time.perf_counter()
    message = refusal(bomb, "prices.xlsx")
    assert time.perf_counter() - started < 1.0
    assert "more than it declares" in message


def test_the_hard_cap_counts_every_inflated_byte() -> None:
    content = files.xlsx(files.products_rows(3000))
    tight = ReadLimits(
        max_rows=200_000,
        archive=ArchiveLimits(max_entries=100, max_uncompressed_bytes=50_000, max_ratio=200),
    )
    with pytest.raises(FileRefused, match="inflate"):
        read_table(content, "big.xlsx", ImportKind.PRODUCTS, tight)


def test_an_archive_with_too_many_parts_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(2_001):
            archive.writestr(f"x/{i}.xml", b"<a/>")
    assert "parts" in refusal(buffer.getvalue(), "many.xlsx")


def test_an_exe_renamed_xlsx_is_refused_by_its_bytes() -> None:
    message = refusal(files.windows_program(), "prices.xlsx")
    assert "Windows program" in message


@pytest.mark.parametrize(
    ("content", "name", "words"),
    [
        (b"%PDF-1.7\n...", "prices.xlsx", "PDF"),
        (b"", "prices.csv", "empty"),
        (
            b"<html><body><table><tr><td>SKU</td></tr></table></body></html>",
            "export.xls",
            "web page",
        ),
        (b"SKU,Name\nA,B\n", "prices.xlsx", "plain text"),
        (b"anything", "prices.numbers", ".numbers"),
    ],
)
def test_disguised_or_unsupported_files_are_refused_with_a_reason(
    content: bytes, name: str, words: str
) -> None:
    assert words in refusal(content, name)


def test_an_ods_named_xlsx_is_refused() -> None:
    assert "OpenDocument" in refusal(files.ods(TITLED), "prices.xlsx")


def test_a_word_document_is_not_a_workbook() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        archive.writestr("word/document.xml", "<w:document/>")
    assert "Word document" in refusal(buffer.getvalue(), "prices.xlsx")


def test_xml_with_a_dtd_is_refused_before_any_parser_sees_it() -> None:
    source = zipfile.ZipFile(io.BytesIO(files.xlsx(TITLED)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/workbook.xml":
                body = data.split(b"?>", 1)[-1]  # after the XML declaration, if any
                data = (
                    b'<?xml version="1.0"?>'
                    b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>' + body
                )
            archive.writestr(item, data)
    assert "DTD" in refusal(buffer.getvalue(), "laughs.xlsx")


def test_an_empty_workbook_is_refused() -> None:
    assert "empty" in refusal(files.xlsx([]), "empty.xlsx")


def test_a_sheet_without_any_known_header_is_refused() -> None:
    message = refusal(files.xlsx([["Hello", "World"], [1, 2]]), "notes.xlsx")
    assert "No header row" in message and "SKU" in message


def test_a_macro_workbook_is_read_and_its_macro_never_run() -> None:
    content = files.xlsm_with_macro(TITLED)
    assert "xl/vbaProject.bin" in zipfile.ZipFile(io.BytesIO(content)).namelist()
    table, header = read(content, "prices.xlsm")
    assert table.format == "xlsm"
    assert table.rows[header.index + 1][0] == "A-1"
    assert any("macros" in n and "never run" in n for n in table.notices)


def test_the_row_limit_is_checked_before_cells_are_converted() -> None:
    tight = ReadLimits(max_rows=100, archive=LIMITS.archive)
    with pytest.raises(FileRefused, match="at most 100"):
        read_table(files.xlsx(files.products_rows(101)), "big.xlsx", ImportKind.PRODUCTS, tight)
    table, _ = read_table(
        files.xlsx(files.products_rows(100)), "ok.xlsx", ImportKind.PRODUCTS, tight
    )
    assert len(table.rows) == 101
    with pytest.raises(FileRefused, match="at most 100"):
        read_table(files.csv_bytes(files.products_rows(200)), "big.csv", ImportKind.PRODUCTS, tight)
