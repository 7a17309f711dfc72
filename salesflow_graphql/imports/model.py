"""The vocabulary of an import: kinds, statuses, fields, cell errors and the outcome.

Plain values, no I/O: every other module of the package speaks in these, and the
GraphQL layer maps :class:`ImportOutcome` onto ``ImportResult`` one to one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ImportKind(StrEnum):
    """What the spreadsheet holds."""

    PRODUCTS = "PRODUCTS"
    SALES = "SALES"


class ImportStatus(StrEnum):
    """How an import ended (API.md)."""

    VALID = "VALID"  # dry run, every row valid
    INVALID = "INVALID"  # errors found; on a commit, nothing was written
    COMMITTED = "COMMITTED"  # every row written (or already up to date)
    PARTIAL = "PARTIAL"  # some rows written, the others reported
    FAILED = "FAILED"  # valid rows existed but Java took none of them
    REJECTED = "REJECTED"  # the file itself was refused before reading any row


class Field(StrEnum):
    """The business fields a column can map to; the values are what ``ColumnMapping.field`` shows."""

    SKU = "sku"
    NAME = "name"
    PRICE = "price"
    STOCK = "stockQuantity"
    THRESHOLD = "lowStockThreshold"
    CATEGORY = "category"
    COST = "cost"
    DESCRIPTION = "description"
    IMAGE_URL = "imageUrl"
    QUANTITY = "quantity"
    ORDER_ID = "orderId"
    DATE = "date"


class ErrorCode(StrEnum):
    """``ImportError.code``: stable, for programs; the message is for people."""

    MISSING_COLUMN = "MISSING_COLUMN"
    NO_DATA_ROWS = "NO_DATA_ROWS"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    NOT_A_NUMBER = "NOT_A_NUMBER"
    NOT_A_WHOLE_NUMBER = "NOT_A_WHOLE_NUMBER"
    TOO_SMALL = "TOO_SMALL"
    TOO_LARGE = "TOO_LARGE"
    INVALID_DATE = "INVALID_DATE"
    DUPLICATE_SKU = "DUPLICATE_SKU"
    DUPLICATE_NAME = "DUPLICATE_NAME"
    NAME_TAKEN = "NAME_TAKEN"
    UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    ORDER_HAS_ERRORS = "ORDER_HAS_ERRORS"
    #: Java refused the write; the message carries Java's reason.
    REFUSED_BY_JAVA = "REFUSED_BY_JAVA"
    #: Java did not answer: the row may or may not have been saved.
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
    #: Not sent because Java had become unavailable earlier in the import.
    NOT_ATTEMPTED = "NOT_ATTEMPTED"


@dataclass(frozen=True, slots=True)
class CellError:
    """One problem, pinned to the cell the user has to fix.

    ``row`` is the row number Excel shows; ``column`` the header as written in
    the file (``None`` when the problem is not one cell's, e.g. a missing column).
    """

    row: int
    column: str | None
    value: str | None
    code: ErrorCode
    message: str
    #: Position of the cell in the table row (for the error workbook); not shown to clients.
    position: int | None = None


@dataclass(frozen=True, slots=True)
class ColumnMatch:
    """A header of the file and the field it was matched to (``None``: ignored)."""

    header: str
    field: Field | None


class FileRefused(Exception):
    """The file cannot be imported at all; ``message`` tells the user why, in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class ImportOutcome:
    """Everything an ``importExcel`` call answers (``ImportResult`` in API.md)."""

    import_id: str
    kind: ImportKind
    status: ImportStatus
    dry_run: bool
    total_rows: int = 0
    valid_rows: int = 0
    invalid_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    sales_created: int = 0
    columns: list[ColumnMatch] = field(default_factory=list)
    errors: list[CellError] = field(default_factory=list)
    error_count: int = 0
    error_report_url: str | None = None
    message: str | None = None
    notices: list[str] = field(default_factory=list)
    sheet: str | None = None
    header_row: int | None = None
    #: An error workbook was stored under ``imports/<import_id>.xlsx``.
    has_error_report: bool = False
    #: This is the stored first result of an idempotency key, not a new import.
    replayed: bool = False


@dataclass(slots=True)
class SheetTable:
    """The cells of the sheet being imported, exactly as read.

    ``rows[i][j]`` is the cell at sheet row ``first_row + i`` and column
    ``first_col + j`` (both 0-based), so Excel shows it on row ``first_row + i + 1``.
    Rows may be ragged (CSV); a missing cell is blank.
    """

    rows: list[list[Any]]
    first_row: int = 0
    first_col: int = 0
    sheet: str | None = None
    format: str = ""
    notices: list[str] = field(default_factory=list)

    def excel_row(self, index: int) -> int:
        return self.first_row + index + 1
