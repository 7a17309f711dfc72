"""Real spreadsheet files for the import tests, built in memory by the libraries users' tools use.

.xlsx with openpyxl, .xls with xlwt (Excel 97-2003, BIFF8), .ods with odfpy,
.csv with the csv module; plus the bad files: a macro-enabled workbook, zip
bombs (honest and lying about their size), a program renamed .xlsx.
"""

from __future__ import annotations

import csv
import functools
import io
import struct
import zipfile
import zlib
from collections.abc import Sequence
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
