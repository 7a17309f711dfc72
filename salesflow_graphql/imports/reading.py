"""Reading the sheet to import: the right format, the right sheet, bounded in every way.

- .xlsx, .xlsm, .xls and .ods go through python-calamine (Rust; it parses
  cells and never evaluates formulas or runs macros); .csv through the csv
  module with UTF-8 (with or without BOM), UTF-16 (with BOM) or cp1252 decoding.
- The name's extension is checked against the bytes (:mod:`.formats`), zip
  archives against their limits (:mod:`.archive`) and every sheet's extent
  against the cell cap (:mod:`.extent`, :mod:`.biff` for .xls), before any
  parser runs.
- The sheet is the one named “Products” / “Sales” when there is one, else the
  first visible sheet with a header row (:mod:`.headers`).
- Row limits are checked from the sheet's dimensions, before its cells become
  Python objects.

Everything here is CPU work on untrusted bytes: it runs in a sandboxed process
(:mod:`.parsing`).
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from typing import Any

import python_calamine as calamine

from .archive import ArchiveLimits, inspect_archive
from .biff import check_xls
from .extent import SheetTooLarge, too_large
from .formats import Container, SpreadsheetFormat, extension_of, sniff
from .headers import HEADER_SCAN_ROWS, REQUIRED, HeaderRow, field_label, find_header
from .model import FileRefused, ImportKind, SheetTable

#: The sheet preferred for each kind, whatever its position (compared without case).
PREFERRED_SHEET = {ImportKind.PRODUCTS: "products", ImportKind.SALES: "sales"}
CSV_DELIMITERS = ",;\t|"
CSV_SAMPLE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ReadLimits:
    max_rows: int
    archive: ArchiveLimits

    @property
    def max_cells(self) -> int:
        """Rows × columns one sheet may reach (a CSV: cells in all)."""
        return self.archive.max_sheet_cells


def read_table(
    content: bytes, filename: str, kind: ImportKind, limits: ReadLimits
) -> tuple[SheetTable, HeaderRow]:
    """The sheet to import and its header row, or :class:`FileRefused` with the reason."""
    container = sniff(content, filename)
    notices: list[str] = []
    if container is Container.TEXT:
        table = _read_csv(content, limits.max_rows, limits.max_cells)
        header = find_header(table.rows, kind)
        if header is None:
            raise FileRefused(_no_header_message("in the file", kind))
        _check_row_count(len(table.rows) - header.index - 1, limits.max_rows)
        return table, header
    if container is Container.ZIP:
        facts = inspect_archive(content, limits.archive)
        fmt = facts.format
        _check_named_like(filename, fmt)
        if facts.has_macros:
            notices.append("The workbook contains macros; they were ignored and never run.")
    else:
        fmt = SpreadsheetFormat.XLS
        try:
            check_xls(content, limits.max_cells)
        except SheetTooLarge as error:
            raise too_large(error.sheet or "Sheet1", error, limits.max_cells) from None
    return _read_workbook(content, fmt, kind, limits.max_rows, notices)


def _check_named_like(filename: str, fmt: SpreadsheetFormat) -> None:
    extension = extension_of(filename)
    family = {"xlsx": "ooxml", "xlsm": "ooxml", "ods": "ods"}
    if extension and family.get(extension) != family.get(fmt.value):
        raise FileRefused(
            f"The file is named .{extension} but is an {fmt.label}. "
            "Save it again with the right extension and upload that."
        )


# ------------------------------------------------------------------ workbooks
def _read_workbook(
    content: bytes,
    fmt: SpreadsheetFormat,
    kind: ImportKind,
    max_rows: int,
    notices: list[str],
) -> tuple[SheetTable, HeaderRow]:
    try:
        workbook = calamine.CalamineWorkbook.from_filelike(io.BytesIO(content))
    except calamine.PasswordError:
        raise FileRefused(
            "The workbook is password-protected; remove the password and upload it again."
        ) from None
    except Exception:  # calamine raises several types for damaged or disguised files
        raise FileRefused(
            f"The file could not be read as an {fmt.label}: it is damaged or is not really "
            "that kind of file. Open it in your spreadsheet program, save it again and retry."
        ) from None
    with workbook:
        sheet, header = _choose_sheet(workbook, fmt, kind)
        start = sheet.start or (0, 0)
        _check_row_count(sheet.height - header.index - 1, max_rows)
        try:
            rows = sheet.to_python()
        except Exception:
            raise FileRefused(
                f"Sheet “{sheet.name}” could not be read: the file is damaged."
            ) from None
    return (
        SheetTable(rows, start[0], start[1], sheet.name, fmt.value, notices),
        header,
    )


def _choose_sheet(
    workbook: calamine.CalamineWorkbook, fmt: SpreadsheetFormat, kind: ImportKind
) -> tuple[calamine.CalamineSheet, HeaderRow]:
    metadata = list(workbook.sheets_metadata)
    preferred = [m for m in metadata if m.name.strip().casefold() == PREFERRED_SHEET[kind]]
    if preferred:
        sheet = _sheet(workbook, preferred[0].name)
        header = find_header(_head(sheet), kind)
        if header is None:
            raise FileRefused(_no_header_message(f"in sheet “{sheet.name}”", kind))
        return sheet, header

    def visible_first(m: calamine.SheetMetadata) -> int:
        return 0 if m.visible == calamine.SheetVisibleEnum.Visible else 1

    worksheets = [m for m in metadata if m.typ == calamine.SheetTypeEnum.WorkSheet]
    any_cells = False
    for meta in sorted(worksheets, key=visible_first):
        sheet = _sheet(workbook, meta.name)
        if sheet.height == 0:
            continue
        any_cells = True
        header = find_header(_head(sheet), kind)
        if header is not None:
            return sheet, header
    if not any_cells:
        raise FileRefused("The workbook is empty: no sheet has any filled-in cell.")
    raise FileRefused(_no_header_message("in any sheet", kind))


def _sheet(workbook: calamine.CalamineWorkbook, name: str) -> calamine.CalamineSheet:
    try:
        return workbook.get_sheet_by_name(name)
    except Exception:
        raise FileRefused(f"Sheet “{name}” could not be read: the file is damaged.") from None


def _head(sheet: calamine.CalamineSheet) -> list[list[Any]]:
    try:
        return sheet.to_python(nrows=HEADER_SCAN_ROWS)
    except Exception:
        raise FileRefused(f"Sheet “{sheet.name}” could not be read: the file is damaged.") from None


def _no_header_message(where: str, kind: ImportKind) -> str:
    examples = {
        ImportKind.PRODUCTS: "SKU, Name, Price, Stock",
        ImportKind.SALES: "SKU (or Product ID / Product Name), Quantity, Order ID, Date",
    }[kind]
    return (
        f"No header row found {where} (the first {HEADER_SCAN_ROWS} rows were searched). "
        f"A {kind.value.lower()} sheet needs column names such as {examples}; "
        f"{_required_list(kind)} are required."
    )


def _required_list(kind: ImportKind) -> str:
    labels = [field_label(f) for f in REQUIRED[kind]]
    if kind is ImportKind.SALES:
        labels.insert(0, "a product column")
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _check_row_count(rows: int, max_rows: int) -> None:
    if rows > max_rows:
        raise FileRefused(
            f"The sheet has {rows:,} rows below its header; one import takes at most "
            f"{max_rows:,}. Split it into smaller files."
        )


# ------------------------------------------------------------------------ csv
def decode_text(content: bytes) -> str:
    """UTF-8 (BOM or not), UTF-16 with a BOM, else cp1252 (what Excel on Windows writes)."""
    if content.startswith(codecs.BOM_UTF8):
        content = content[len(codecs.BOM_UTF8) :]
    elif content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return content.decode("utf-16")
        except UnicodeDecodeError:
            raise FileRefused("The CSV file says it is UTF-16 but is not.") from None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; they cannot be shown anyway.
        return content.decode("cp1252", errors="replace")


def _read_csv(content: bytes, max_rows: int, max_cells: int) -> SheetTable:
    text = decode_text(content)
    if "\x00" in text:
        raise FileRefused("The file contains binary data, not CSV text.")
    lines = io.StringIO(text, newline="")
    first = lines.readline()
    delimiter: str | None = None
    if first.strip().lower().startswith("sep=") and len(first.strip()) == 5:
        delimiter = first.strip()[4]  # Excel's “sep=;” line, which Excel itself hides
    else:
        lines.seek(0)
    if delimiter is None:
        delimiter = _sniff_delimiter(text[:CSV_SAMPLE_BYTES])
    rows: list[list[Any]] = []
    limit = max_rows + HEADER_SCAN_ROWS + 1
    cells = 0
    try:
        for record in csv.reader(lines, delimiter=delimiter):
            rows.append(record)
            cells += len(record)
            if len(rows) > limit:
                raise FileRefused(
                    f"The file has more than {max_rows:,} rows; one import takes at most "
                    f"{max_rows:,}. Split it into smaller files."
                )
            if cells > max_cells:
                raise FileRefused(
                    f"The file has more than {max_cells:,} cells; one import reads at most "
                    f"{max_cells:,}. Split it into smaller files."
                )
    except csv.Error as exc:
        raise FileRefused(
            f"The CSV file could not be read near record {len(rows) + 1}: {exc}."
        ) from None
    if not any(any(cell.strip() for cell in row) for row in rows):
        raise FileRefused("The file is empty: it has no filled-in cell.")
    return SheetTable(rows, 0, 0, None, SpreadsheetFormat.CSV.value, [])


def _sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        return ","
