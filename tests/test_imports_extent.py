"""Each sheet's extent, measured in its XML (or .xls records) before any parser runs.

The hostile files are refused with the sheet's name, how far it reaches and the cap;
legitimate ones are measured exactly as python-calamine later reads them, whatever
the markup (references or not, prefixes, repeats, chunk boundaries).
"""

from __future__ import annotations

import dataclasses
import io
import re
import struct

import pytest
import python_calamine as calamine
import spreadsheets as files

from salesflow_graphql.imports.archive import ArchiveLimits
from salesflow_graphql.imports.biff import check_xls
from salesflow_graphql.imports.extent import (
    Extent,
    OdsContentScanner,
    SheetTooLarge,
    SheetXmlScanner,
)
from salesflow_graphql.imports.model import FileRefused, ImportKind
from salesflow_graphql.imports.reading import ReadLimits, read_table

CAP = 5_000_000
LIMITS = ReadLimits(
    max_rows=200_000,
    archive=ArchiveLimits(
        max_entries=2_000,
        max_uncompressed_bytes=256 * 1024 * 1024,
        max_ratio=200,
        max_sheet_cells=CAP,
    ),
)


def refusal(content: bytes, name: str, limits: ReadLimits = LIMITS) -> str:
    with pytest.raises(FileRefused) as refused:
        read_table(content, name, ImportKind.PRODUCTS, limits)
    return refused.value.message


def _name(case: str) -> str:
    return "list." + (
        "ods" if case.startswith("ods") else "xls" if case.startswith("xls,") else "xlsx"
    )


# ------------------------------------------------------------------ refused
GRIDS = {case: build for case, build in files.HOSTILE.items() if "shared strings" not in case}


@pytest.mark.parametrize("case", list(GRIDS))
def test_a_sheet_reaching_past_the_cap_is_refused_with_its_name_extent_and_the_cap(
    case: str,
) -> None:
    message = refusal(GRIDS[case](), _name(case))
    match = re.search(
        r"Sheet “(.+?)” .*?(\d[\d,]*) rows × (\d[\d,]*) columns = ([\d,]+) cells", message
    )
    assert match, message
    sheet, rows, columns, cells = match.groups()
    assert sheet in ("Products", "Sheet1")
    assert int(rows.replace(",", "")) * int(columns.replace(",", "")) == int(cells.replace(",", ""))
    assert int(cells.replace(",", "")) > CAP
    assert f"at most {CAP:,} cells per sheet" in message


def test_the_issue_file_names_its_far_cell() -> None:
    content = files.far_cell_xlsx("XFD1048576")
    assert len(content) < 5_000  # the 4.9 KB file of issue 12
    message = refusal(content, "prices.xlsx")
    assert "cell XFD1048576: 1,048,576 rows × 16,384 columns" in message


def test_a_dimension_that_lies_small_is_caught_by_the_cells() -> None:
    message = refusal(files.far_cell_xlsx("SF150000", dimension="A1:C2"), "prices.xlsx")
    assert "reaches cell SF150000: 150,000 rows × 500 columns = 75,000,000 cells" in message


def test_a_dimension_that_claims_too_much_is_refused_as_marked() -> None:
    content = files.raw_xlsx(files.header_xml(), head='<dimension ref="A1:XFD1048576"/>')
    assert "is marked as reaching cell XFD1048576" in refusal(content, "prices.xlsx")


def test_a_shared_string_table_that_claims_more_than_it_holds_is_refused() -> None:
    assert "claims more shared strings" in refusal(files.shared_strings_claim(), "prices.xlsx")


def test_the_cap_is_the_setting() -> None:
    content = files.far_cell_xlsx("F10")  # 60 cells
    small = dataclasses.replace(
        LIMITS, archive=dataclasses.replace(LIMITS.archive, max_sheet_cells=59)
    )
    assert "at most 59 cells" in refusal(content, "prices.xlsx", small)
    table, _ = read_table(content, "prices.xlsx", ImportKind.PRODUCTS, LIMITS)
    assert len(table.rows) == 10


def test_a_csv_past_the_cap_is_refused_while_it_is_read() -> None:
    wide = ("SKU,Name,Price\n" + ",".join(["x"] * 60_000) + "\n").encode() * 100
    small = dataclasses.replace(
        LIMITS, archive=dataclasses.replace(LIMITS.archive, max_sheet_cells=1_000_000)
    )
    assert "more than 1,000,000 cells" in refusal(wide, "list.csv", small)


# ------------------------------------------------------------- measured right
def _calamine_extent(content: bytes) -> Extent:
    with calamine.CalamineWorkbook.from_filelike(io.BytesIO(content)) as workbook:
        sheet = workbook.get_sheet_by_index(0)
        end = sheet.end
        assert end is not None
        return Extent(end[0] + 1, end[1] + 1)


def _sheet_xml(content: bytes) -> bytes:
    import zipfile

    return zipfile.ZipFile(io.BytesIO(content)).read("xl/worksheets/sheet1.xml")


def _measure(xml: bytes, step: int, *, cell_by_cell: bool = False) -> Extent:
    scanner = SheetXmlScanner(CAP)
    scanner._tags = cell_by_cell  # the slow path, for comparison
    for start in range(0, len(xml), step):
        scanner.feed(xml[start : start + step])
    return scanner.close()


@pytest.mark.parametrize(
    "content",
    [
        files.xlsx(files.products_rows(12_000)),  # openpyxl: several 1 MiB chunks
        files.raw_xlsx(files.header_xml() + '<row r="7"><c r="Z7"><v>1</v></c></row>'),
        files.cells_without_refs(300, 40),
        files.raw_xlsx(
            files.header_xml("x") + '<x:row r="9"><x:c r="K9"><x:v>1</x:v></x:c></x:row>',
            prefix="x",
        ),
        files.raw_xlsx(  # attributes in another order, single quotes
            files.header_xml() + "<row r='12'><c t='n' r='AB12'><v>3</v></c></row>"
        ),
    ],
    ids=["openpyxl 12k rows", "sparse", "no references", "prefixed", "odd markup"],
)
def test_the_extent_is_what_calamine_reads_in_any_chunking(content: bytes) -> None:
    expected = _calamine_extent(content)
    xml = _sheet_xml(content)
    assert _measure(xml, 1 << 20) == expected
    assert _measure(xml, 4093) == expected  # tags cut anywhere
    assert _measure(xml, 1 << 20, cell_by_cell=True) == expected


def test_a_far_row_hidden_among_ordered_rows_is_not_missed() -> None:
    rows = "".join(
        f'<row r="{n}"><c r="A{n}"><v>1</v></c><c r="F{n}"><v>2</v></c></row>'
        for n in range(2, 40_000)
    )
    far = '<row r="900000"><c r="B900000"><v>1</v></c></row>'
    middle = len(rows) // 2
    cut = rows.index("<row", middle)
    xml = files.raw_xlsx(files.header_xml() + rows[:cut] + far + rows[cut:])
    assert "reaches cell F900000" in refusal(xml, "prices.xlsx")


def test_ods_repeats_count_only_when_something_filled_follows() -> None:
    content = b"".join(
        [
            b'<table:table table:name="Products">',
            b'<table:table-row><table:table-cell office:value-type="string"><text:p>SKU</text:p>'
            b'</table:table-cell><table:table-cell table:number-columns-repeated="1020"/></table:table-row>',
            b'<table:table-row table:number-rows-repeated="3"><table:table-cell '
            b'table:number-columns-repeated="2" office:value-type="float" office:value="1"/>'
            b"</table:table-row>",
            b'<table:table-row table:number-rows-repeated="1048570"><table:table-cell '
            b'table:number-columns-repeated="1024"/></table:table-row>',
            b"</table:table>",
        ]
    )
    for step in (7, len(content)):  # tag by tag, and whole rows at a time
        scanner = OdsContentScanner(CAP)
        for start in range(0, len(content), step):
            scanner.feed(content[start : start + step])
        assert scanner.close() == {"Products": Extent(4, 2)}


def test_ods_of_odfpy_is_measured_like_calamine() -> None:
    import zipfile

    content = files.ods(files.products_rows(200))
    scanner = OdsContentScanner(CAP)
    scanner.feed(zipfile.ZipFile(io.BytesIO(content)).read("content.xml"))
    assert scanner.close() == {"Sheet1": _calamine_extent(content)} == {"Sheet1": Extent(201, 6)}


# ----------------------------------------------------------------------- .xls
def test_an_xls_within_the_cap_is_read() -> None:
    table, _ = read_table(
        files.xls(files.products_rows(500)), "list.xls", ImportKind.PRODUCTS, LIMITS
    )
    assert len(table.rows) == 501


def test_an_xls_with_a_looping_sector_chain_is_refused_as_damaged() -> None:
    data = bytearray(files.xls(files.products_rows(5)))
    first_fat = struct.unpack_from("<I", data, 76)[0]
    fat_at = (first_fat + 1) * 512
    directory = struct.unpack_from("<I", data, 48)[0]
    struct.pack_into("<I", data, fat_at + 4 * directory, directory)  # the directory loops
    with pytest.raises(FileRefused, match="damaged"):
        check_xls(bytes(data), CAP)


def test_xls_sheets_are_named_in_the_refusal() -> None:
    with pytest.raises(SheetTooLarge) as error:
        check_xls(files.xls_far_cell(), CAP)
    assert error.value.sheet == "Products"


# ------------------------------------------------------------------------ DTD
def test_a_dtd_after_a_70_kb_comment_is_refused() -> None:
    assert "declares a DTD" in refusal(files.dtd_after_comment(70 * 1024), "prices.xlsx")


def test_a_dtd_megabytes_into_a_part_is_refused() -> None:
    filler = "".join(f'<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>' for n in range(2, 80_000))
    content = files.raw_xlsx(files.header_xml() + filler + '<!DOCTYPE x [<!ENTITY e "x">]>')
    assert len(_sheet_xml(content)) > 2 << 20
    assert "declares a DTD" in refusal(content, "prices.xlsx")


def test_an_xml_part_in_utf16_is_refused() -> None:
    xml = '<?xml version="1.0" encoding="UTF-16"?><worksheet/>'.encode("utf-16")
    content = files._rewrite_part(
        files.xlsx(files.products_rows(1)), "xl/worksheets/sheet1.xml", lambda _: xml
    )
    assert "not written in UTF-8" in refusal(content, "prices.xlsx")
