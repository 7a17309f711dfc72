"""Real spreadsheet files for the import tests, built in memory by the libraries users' tools use.

.xlsx with openpyxl, .xls with xlwt (Excel 97-2003, BIFF8), .ods with odfpy,
.csv with the csv module; plus the bad files: a macro-enabled workbook, zip
bombs (honest and lying about their size), a program renamed .xlsx, and the
hostile grids (:data:`HOSTILE`): tiny files whose sheets reach far enough to
make a dense reader allocate gigabytes.
"""

from __future__ import annotations

import csv
import functools
import io
import random
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import openpyxl

Rows = Sequence[Sequence[Any]]


def xlsx(rows: Rows, *, sheet: str = "Sheet1", others: dict[str, Rows] | None = None) -> bytes:
    """An .xlsx whose first sheet is ``sheet`` with ``rows``; ``others`` are added after it."""
    workbook = openpyxl.Workbook()
    first = workbook.active
    assert first is not None
    first.title = sheet
    for row in rows:
        first.append(list(row))
    for name, more in (others or {}).items():
        extra = workbook.create_sheet(name)
        for row in more:
            extra.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xls(rows: Rows, *, sheet: str = "Sheet1") -> bytes:
    """An Excel 97-2003 workbook (BIFF8), as old ERP exports still produce."""
    import xlwt

    book = xlwt.Workbook()
    target = book.add_sheet(sheet)
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, date):
                target.write(r, c, value, date_style)
            else:
                target.write(r, c, value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def ods(rows: Rows, *, sheet: str = "Sheet1") -> bytes:
    """An OpenDocument spreadsheet, as LibreOffice writes it."""
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    table = Table(name=sheet)
    for row in rows:
        table_row = TableRow()
        for value in row:
            if value is None or value == "":
                cell = TableCell()
            elif isinstance(value, bool):
                cell = TableCell(valuetype="boolean", booleanvalue=str(value).lower())
            elif isinstance(value, int | float):
                cell = TableCell(valuetype="float", value=value)
                cell.addElement(P(text=str(value)))
            elif isinstance(value, date):
                cell = TableCell(valuetype="date", datevalue=value.isoformat())
                cell.addElement(P(text=value.isoformat()))
            else:
                cell = TableCell(valuetype="string")
                cell.addElement(P(text=str(value)))
            table_row.addElement(cell)
        table.addElement(table_row)
    document.spreadsheet.addElement(table)
    buffer = io.BytesIO()
    document.write(buffer)
    return buffer.getvalue()


def csv_bytes(
    rows: Rows, *, encoding: str = "utf-8", delimiter: str = ",", bom: bool = False
) -> bytes:
    """A CSV export; ``utf-8`` with ``bom`` is Excel's “CSV UTF-8”, ``cp1252`` its plain “CSV”."""
    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    data = text.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def xlsm_with_macro(rows: Rows) -> bytes:
    """A macro-enabled workbook with an auto-run VBA project (never to be executed)."""
    source = zipfile.ZipFile(io.BytesIO(xlsx(rows)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(
                    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
                ).replace(
                    b"<Default ",
                    b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
                    b"<Default ",
                    1,
                )
            if item.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdVba" Type="http://schemas.microsoft.com/office/2006/'
                    b'relationships/vbaProject" Target="vbaProject.bin"/></Relationships>',
                )
            target.writestr(item, data)
        # Not a real VBA project, but what matters is that nobody ever looks inside.
        target.writestr(
            "xl/vbaProject.bin",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
            + b'Attribute VB_Name = "Module1"\nSub Auto_Open()\n  Shell "calc.exe"\nEnd Sub\n',
        )
    return out.getvalue()


def _sheet_xml_chunks(rows: int) -> bytes:
    row = b'<row><c t="inlineStr"><is><t>' + b"A" * 200 + b"</t></is></c></row>"
    return row * rows


@functools.cache
def zip_bomb(inflated_bytes: int = 300 * 1024 * 1024) -> bytes:
    """A ~300 KB .xlsx whose one cell inflates to ``inflated_bytes`` (declared honestly)."""
    head = (
        b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
        b'spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>'
    )
    run = b"A" * (1024 * 1024)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        _skeleton(archive)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(head)
            for _ in range(inflated_bytes // len(run)):
                sheet.write(run)
            sheet.write(b"</t></is></c></row></sheetData></worksheet>")
    return out.getvalue()


@functools.cache
def lying_zip_bomb(inflated_bytes: int = 32 * 1024 * 1024, declared: int = 4096) -> bytes:
    """A zip bomb whose directory claims the sheet inflates to ``declared`` bytes, with the CRC
    of its first ``declared`` bytes, so a reader that trusts the directory is fooled."""
    payload = _sheet_xml_chunks(inflated_bytes // 220 + 1)[:inflated_bytes]
    name = "xl/worksheets/sheet1.xml"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        _skeleton(archive)
        archive.writestr(name, payload)
    data = bytearray(out.getvalue())
    fake_crc = zlib.crc32(payload[:declared])
    member = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(name)
    # Local header: CRC at +14, uncompressed size at +22.
    struct.pack_into("<I", data, member.header_offset + 14, fake_crc)
    struct.pack_into("<I", data, member.header_offset + 22, declared)
    # Central directory entry: CRC at +16, uncompressed size at +24, name at +46.
    entry = data.index(b"PK\x01\x02")
    while data[entry + 46 : entry + 46 + len(name)] != name.encode():
        entry = data.index(b"PK\x01\x02", entry + 4)
    struct.pack_into("<I", data, entry + 16, fake_crc)
    struct.pack_into("<I", data, entry + 24, declared)
    return bytes(data)


def _skeleton(archive: zipfile.ZipFile) -> None:
    archive.writestr(
        "[Content_Types].xml",
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>",
    )
    archive.writestr(
        "_rels/.rels",
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>",
    )
    archive.writestr(
        "xl/workbook.xml",
        '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Products" sheetId="1" r:id="rId1"/></sheets></workbook>',
    )
    archive.writestr(
        "xl/_rels/workbook.xml.rels",
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        "</Relationships>",
    )


def windows_program() -> bytes:
    """The first bytes of a PE executable (``MZ`` header, DOS stub), as a renamed .exe has."""
    stub = b"This program cannot be run in DOS mode.\r\r\n$"
    return b"MZ" + b"\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 50 + stub * 20


def products_rows(count: int, *, start: int = 0) -> list[list[Any]]:
    """A supplier product list: header plus ``count`` new products."""
    rows: list[list[Any]] = [["SKU", "Name", "Price", "Stock", "Low Stock Threshold", "Category"]]
    for i in range(start, start + count):
        rows.append(
            [
                f"NEW-{i:06d}",
                f"Imported Product {i}",
                round(1 + (i % 500) * 0.37, 2),
                i % 300,
                5 + i % 10,
                f"Category {i % 12}",
            ]
        )
    return rows


def today_iso() -> str:
    return datetime.now().date().isoformat()


# ------------------------------------------------------------------ hostile grids
SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
HEADER = ["SKU", "Name", "Price"]


def far_cell_xlsx(ref: str, *, dimension: str | None = None) -> bytes:
    """A header row and one more cell at ``ref``, as openpyxl writes it: its ``<dimension>``
    says ``A1:<ref>`` (or ``dimension``, when given, lies). ``XFD1048576`` makes 4.9 KB."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Products"
    sheet.append(HEADER)
    sheet[ref] = "stray"
    buffer = io.BytesIO()
    workbook.save(buffer)
    content = buffer.getvalue()
    if dimension is None:
        return content
    return _rewrite_part(
        content,
        "xl/worksheets/sheet1.xml",
        lambda xml: re.sub(
            rb'<dimension ref="[^"]*"', f'<dimension ref="{dimension}"'.encode(), xml
        ),
    )


def raw_xlsx(sheet_data: str, *, head: str = "", prefix: str = "") -> bytes:
    """An .xlsx whose sheet “Products” is exactly ``sheet_data`` (inside ``<sheetData>``),
    with ``head`` before it (a ``<dimension>``...); ``prefix`` names the main namespace."""
    ns = f'xmlns{":" + prefix if prefix else ""}="{SHEET_NS}"'
    tag = f"{prefix}:" if prefix else ""
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><{tag}worksheet {ns}>{head}'
        f"<{tag}sheetData>{sheet_data}</{tag}sheetData></{tag}worksheet>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        _skeleton(archive)
        archive.writestr("xl/worksheets/sheet1.xml", xml)
    return out.getvalue()


def header_xml(prefix: str = "") -> str:
    tag = f"{prefix}:" if prefix else ""
    cells = "".join(
        f'<{tag}c r="{chr(65 + i)}1" t="inlineStr"><{tag}is><{tag}t>{h}</{tag}t></{tag}is></{tag}c>'
        for i, h in enumerate(HEADER)
    )
    return f'<{tag}row r="1">{cells}</{tag}row>'


def cells_without_refs(columns: int, last_row: int) -> bytes:
    """A header row, a row of ``columns`` cells that carry no ``r`` (each takes the next
    column), then one more such cell on row ``last_row``."""
    wide = "<row>" + "<c><v>1</v></c>" * columns + "</row>"
    return raw_xlsx(header_xml() + wide + f'<row r="{last_row}"><c><v>1</v></c></row>')


def prefixed_far_cell() -> bytes:
    """The main namespace under a prefix (``x:c``), which readers match by local name."""
    far = '<x:row r="150000"><x:c r="SF150000"><x:v>1</x:v></x:c></x:row>'
    return raw_xlsx(header_xml("x") + far, prefix="x")


def shared_strings_claim(count: int = 10**12) -> bytes:
    """A valid sheet whose shared-string table says it holds ``count`` strings (a reader
    reserves room for them up front)."""
    content = xlsx([HEADER, ["A-1", "Lamp", 2]])
    return _rewrite_part(
        content,
        "xl/sharedStrings.xml",
        lambda xml: re.sub(rb'uniqueCount="\d+"', f'uniqueCount="{count}"'.encode(), xml),
        create=(
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<sst xmlns="{SHEET_NS}" count="1" uniqueCount="{count}"><si><t>x</t></si></sst>'
        ),
    )


def shared_string_bomb(cells: int = 40_000, length: int = 32_000) -> bytes:
    """``cells`` cells (well within the cell cap) that all show one ``length``-character shared
    string: a few hundred KB on disk, but a reader copies the string into every cell
    (1.3 GB by default). Only the sandbox's memory limit stops it."""
    text = random.Random(3).randbytes(length // 2).hex()
    rows = "".join(
        f'<row r="{n}"><c r="A{n}" t="s"><v>0</v></c></row>' for n in range(2, cells + 2)
    )
    content = raw_xlsx(header_xml() + rows)
    return _rewrite_part(
        content,
        "xl/sharedStrings.xml",
        lambda xml: xml,
        create=(
            f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{SHEET_NS}" count="{cells}" '
            f'uniqueCount="1"><si><t>{text}</t></si></sst>'
        ),
    )


def dtd_after_comment(comment_bytes: int = 70 * 1024) -> bytes:
    """A sheet part whose DOCTYPE comes after a long comment (past any first-chunk check)."""
    return _rewrite_part(
        xlsx([HEADER, ["A-1", "Lamp", 2]]),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(
            b"<worksheet",
            b"<!--"
            + b"x" * comment_bytes
            + b'--><!DOCTYPE worksheet [<!ENTITY e "boom">]><worksheet',
            1,
        ),
    )


def ods_repeated(rows: int = 1_048_575, columns: int = 16_384) -> bytes:
    """A header row, then one filled cell repeated ``columns`` times in a row repeated
    ``rows`` times: two lines of XML for a grid of ``rows × columns`` cells."""
    content = ods([HEADER, ["A-1", "Lamp", 2]])
    repeated = (
        f'<table:table-row table:number-rows-repeated="{rows}">'
        f'<table:table-cell table:number-columns-repeated="{columns}" office:value-type="float" '
        'office:value="1"><text:p>1</text:p></table:table-cell></table:table-row>'
    )
    return _rewrite_part(
        content,
        "content.xml",
        lambda xml: xml.replace(b"</table:table>", repeated.encode() + b"</table:table>", 1),
    )


def xls_far_cell(row: int = 65_535, column: int = 255) -> bytes:
    """An .xls with a header row and one cell at (``row``, ``column``), 0-based."""
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("Products")
    for c, name in enumerate(HEADER):
        sheet.write(0, c, name)
    sheet.write(row, column, "stray")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def xls_huge_dimensions() -> bytes:
    """A small .xls whose DIMENSIONS record declares 4 billion rows × 255 columns (a reader
    reserves memory for all of them before reading one cell)."""
    data = bytearray(xls([HEADER, ["A-1", "Lamp", 2]], sheet="Products"))
    at = data.index(b"\x00\x02\x0e\x00")  # DIMENSIONS, 14 bytes: u32 rows, u16 columns
    struct.pack_into("<IIHH", data, at + 4, 0, 0xFFFFFFF0, 0, 0xFF)
    return bytes(data)


def _rewrite_part(
    content: bytes, name: str, change: Callable[[bytes], bytes], *, create: str | None = None
) -> bytes:
    """``content`` with part ``name`` changed (or added as ``create``), the rest as it was."""
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        names = source.namelist()
        for item in source.infolist():
            data = source.read(item.filename)
            target.writestr(item, change(data) if item.filename == name else data)
        if name not in names and create is not None:
            target.writestr(name, create)
    return out.getvalue()


def large_xlsx(target_bytes: int, *, rows: int = 150_000) -> bytes:
    """A real-looking product list of ``rows`` rows and about ``target_bytes`` (give or take
    10 %), written directly as XML for speed; each row has a long free-text description
    (random, so that it compresses like real text, not like a bomb)."""
    per_row = max(8, target_bytes // rows - 60)  # bytes of description that survive deflate
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        _skeleton(archive)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            head = (
                f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{SHEET_NS}"><sheetData>'
            )
            header = '<row r="1">' + "".join(
                f'<c r="{c}1" t="inlineStr"><is><t>{h}</t></is></c>'
                for c, h in zip("ABCD", ["SKU", "Name", "Price", "Description"], strict=True)
            )
            sheet.write((head + header + "</row>").encode())
            for start in range(2, rows + 2, 5000):
                batch = [
                    f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>L-{n:07d}</t></is></c>'
                    f'<c r="B{n}" t="inlineStr"><is><t>Product {n}</t></is></c>'
                    f'<c r="C{n}"><v>{n % 9000 / 100 + 1}</v></c>'
                    f'<c r="D{n}" t="inlineStr"><is><t>{random.randbytes(per_row).hex()}</t></is></c></row>'
                    for n in range(start, min(start + 5000, rows + 2))
                ]
                sheet.write("".join(batch).encode())
            sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


#: The hostile files of issue 12, by name: each must be refused (or read) without the
#: gateway allocating what its grid would need.
HOSTILE: dict[str, Callable[[], bytes]] = {
    "xlsx, one cell at XFD1048576 (4.9 KB)": lambda: far_cell_xlsx("XFD1048576"),
    "xlsx, one cell at SF150000": lambda: far_cell_xlsx("SF150000"),
    "xlsx, <dimension> says A1:C2, a cell at SF150000": lambda: far_cell_xlsx(
        "SF150000", dimension="A1:C2"
    ),
    "xlsx, cells under a namespace prefix": prefixed_far_cell,
    "xlsx, 20,000 cells without references, then row 300": lambda: cells_without_refs(20_000, 300),
    "xlsx, shared strings claim 10^12 entries": shared_strings_claim,
    "ods, a filled cell repeated 16,384 × 1,048,575": ods_repeated,
    "xls, one cell at IV65536": xls_far_cell,
    "xls, DIMENSIONS of 4 billion rows": xls_huge_dimensions,
}
