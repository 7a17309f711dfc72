"""Spreadsheet imports: products and sales sheets into the Java service.

``ExcelImportService.process_excel_upload`` is the entry point (see
:mod:`.service`); the other modules are its steps: :mod:`.formats` and
:mod:`.archive` (is this file safe and what is it), :mod:`.reading` (cells of
the right sheet), :mod:`.headers` (which column is what), :mod:`.cells` and
:mod:`.rules` (is each row right), :mod:`.commit` (write into Java),
:mod:`.workbook` (the error workbook) and :mod:`.idempotency`.
"""

from .model import CellError, ColumnMatch, Field, ImportKind, ImportOutcome, ImportStatus
from .service import ExcelImportService, Upload

__all__ = [
    "CellError",
    "ColumnMatch",
    "ExcelImportService",
    "Field",
    "ImportKind",
    "ImportOutcome",
    "ImportStatus",
    "Upload",
]
