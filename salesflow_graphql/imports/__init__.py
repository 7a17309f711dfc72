"""Spreadsheet imports: products and sales sheets into the Java service.

``ExcelImportService.process_excel_upload`` is the entry point (see
:mod:`.service`); the other modules are its steps: :mod:`.formats` and
:mod:`.archive` (is this file safe and what is it), :mod:`.reading` (cells of
the right sheet), :mod:`.headers` (which column is what), :mod:`.cells` and
:mod:`.rules` (is each row right), :mod:`.commit` (write into Java),
:mod:`.workbook` (the error workbook) and :mod:`.idempotency`. Reading, checking
and rendering run in sandboxed processes (:mod:`.sandbox`, :mod:`.parsing`).
"""

from typing import TYPE_CHECKING, Any

from .model import CellError, ColumnMatch, Field, ImportKind, ImportOutcome, ImportStatus

if TYPE_CHECKING:
    from .service import ExcelImportService, Upload


def __getattr__(name: str) -> Any:
    # The service (and the cache, Java client and pandas behind it) loads on first use, so
    # that the sandbox processes, which import this package to parse, start light.
    if name in ("ExcelImportService", "Upload"):
        from . import service

        return getattr(service, name)
    raise AttributeError(name)


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
