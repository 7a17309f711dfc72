"""``importExcel``: types and the thin resolver (API.md, "Mutations")."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.file_uploads import Upload
from strawberry.types import Info

from ..errors import BadUserInput
from ..imports import model
from ..imports.service import Upload as UploadedFile
from .permissions import IsAdmin

ImportKind = strawberry.enum(
    model.ImportKind,
    description="What a spreadsheet holds: PRODUCTS (upserted by sku) or SALES (recorded now).",
)
ImportStatus = strawberry.enum(
    model.ImportStatus,
    description=(
        "How an import ended: VALID (dry run, every row valid), INVALID (errors; nothing "
        "written on a commit), COMMITTED (every row written or up to date), PARTIAL (some "
        "rows written, the others reported), FAILED (valid rows existed, Java took none), "
        "REJECTED (the file itself was refused; see message)."
    ),
)


@strawberry.type(description="A header of the file and the field it was matched to.")
class ColumnMapping:
    header: str = strawberry.field(description="The header as written in the file.")
    field: str | None = strawberry.field(
        description="The field it feeds (sku, name, price, stockQuantity, ...); null: ignored."
    )


@strawberry.type(
    name="ImportError",
    description="A problem with one row (usually one cell), in words the user can act on.",
)
class ImportRowError:
    row: int = strawberry.field(
        description="The row number Excel shows (the header's own row counts)."
    )
    column: str | None = strawberry.field(
        description="The header of the cell's column as written; null when not about one cell."
    )
    value: str | None = strawberry.field(description="The cell's value as text; null when blank.")
    code: str = strawberry.field(
        description=(
            "Stable code: MISSING_COLUMN, NO_DATA_ROWS, REQUIRED, TOO_LONG, NOT_A_NUMBER, "
            "NOT_A_WHOLE_NUMBER, TOO_SMALL, TOO_LARGE, INVALID_DATE, DUPLICATE_SKU, "
            "DUPLICATE_NAME, NAME_TAKEN, UNKNOWN_PRODUCT, INSUFFICIENT_STOCK, ORDER_HAS_ERRORS, "
            "REFUSED_BY_JAVA, OUTCOME_UNKNOWN, NOT_ATTEMPTED."
        )
    )
    message: str = strawberry.field(description="What is wrong, in plain language.")


@strawberry.type(description="The outcome of importExcel: counts, column mapping and errors.")
class ImportResult:
    import_id: strawberry.ID = strawberry.field(description="Id of this import (for support).")
    kind: ImportKind = strawberry.field(description="What the file was imported as.")
    status: ImportStatus = strawberry.field(description="How the import ended.")
    dry_run: bool = strawberry.field(description="True when nothing was meant to be written.")
    total_rows: int = strawberry.field(
        description="Data rows below the header (blank rows skipped)."
    )
    valid_rows: int = strawberry.field(description="Rows that passed every check.")
    invalid_rows: int = strawberry.field(description="Rows with at least one error.")
    created: int = strawberry.field(
        description=(
            "PRODUCTS: products created; SALES: rows recorded as sale lines. In a dry run, "
            "what a commit would do."
        )
    )
    updated: int = strawberry.field(
        description="PRODUCTS: products updated (a dry run: would be). Always 0 for SALES."
    )
    unchanged: int = strawberry.field(
        description="PRODUCTS: rows identical to what SalesFlow has (never sent)."
    )
    failed: int = strawberry.field(
        description="Valid rows SalesFlow did not take on a commit (each is in errors)."
    )
    sales_created: int = strawberry.field(
        description="SALES: sales recorded (rows sharing an order id are one sale); a dry run: would be."
    )
    columns: list[ColumnMapping] = strawberry.field(
        description="Every header of the header row, in order, with the field it feeds."
    )
    errors: list[ImportRowError] = strawberry.field(
        description="Problems by row, at most 1,000 (errorCount has the total)."
    )
    error_count: int = strawberry.field(description="How many errors there are in total.")
    error_report_url: str | None = strawberry.field(
        description=(
            "Absolute, signed, expiring link to a copy of the sheet with the invalid cells in red, a "
            "comment on each and an Errors column; works without a bearer token. Null when "
            "no row has errors."
        )
    )
    message: str | None = strawberry.field(
        description="Why a REJECTED file was refused; otherwise a one-line summary."
    )
    notices: list[str] = strawberry.field(
        description="Things worth knowing that are not errors (macros ignored, dates not sent, ...)."
    )
    sheet: str | None = strawberry.field(description="The sheet read (null for CSV).")
    header_row: int | None = strawberry.field(
        description="The row number of the header row, as Excel shows it."
    )
    replayed: bool = strawberry.field(
        description=(
            "True when this is the stored result of an earlier call with the same "
            "idempotencyKey: nothing was written again."
        )
    )

    @classmethod
    def of(cls, outcome: model.ImportOutcome, error_report_url: str | None) -> ImportResult:
        return cls(
            import_id=strawberry.ID(outcome.import_id),
            kind=outcome.kind,
            status=outcome.status,
            dry_run=outcome.dry_run,
            total_rows=outcome.total_rows,
            valid_rows=outcome.valid_rows,
            invalid_rows=outcome.invalid_rows,
            created=outcome.created,
            updated=outcome.updated,
            unchanged=outcome.unchanged,
            failed=outcome.failed,
            sales_created=outcome.sales_created,
            columns=[
                ColumnMapping(header=c.header, field=c.field.value if c.field is not None else None)
                for c in outcome.columns
            ],
            errors=[
                ImportRowError(
                    row=e.row, column=e.column, value=e.value, code=e.code.value, message=e.message
                )
                for e in outcome.errors
            ],
            error_count=outcome.error_count,
            error_report_url=error_report_url,
            message=outcome.message,
            notices=list(outcome.notices),
            sheet=outcome.sheet,
            header_row=outcome.header_row,
            replayed=outcome.replayed,
        )


async def _read_upload(file: Any, limit: int) -> UploadedFile:
    """The uploaded bytes (one more than ``limit`` at most, so the service can say it is too big)."""
    if not hasattr(file, "read"):
        raise BadUserInput(
            "file must be sent as a multipart upload (GraphQL multipart request spec)."
        )
    try:
        content = await file.read(limit + 1)
    finally:
        await file.close()
    return UploadedFile(content=content, filename=getattr(file, "filename", None) or "")


@strawberry.type
class ImportMutation:
    @strawberry.mutation(
        description=(
            "Check (dryRun, the default) or import a spreadsheet of products or sales "
            "(.xlsx, .xlsm, .xls, .ods, .csv). Dry runs write nothing. A commit writes only "
            "valid rows; with an idempotencyKey it runs at most once and later calls get "
            "its first result. ADMIN only."
        ),
        permission_classes=[IsAdmin],
    )
    async def import_excel(
        self,
        info: Info,
        file: Annotated[
            Upload, strawberry.argument(description="The spreadsheet (multipart upload).")
        ],
        kind: Annotated[
            ImportKind, strawberry.argument(description="What the file holds.")
        ] = model.ImportKind.PRODUCTS,
        dry_run: Annotated[
            bool, strawberry.argument(description="Validate only, write nothing (default).")
        ] = True,
        idempotency_key: Annotated[
            str | None,
            strawberry.argument(
                description=(
                    "Client-chosen key (e.g. a UUID) making a commit safe to retry: the same "
                    "key, caller and kind never write twice (kept 24 h). Ignored by dry runs."
                )
            ),
        ] = strawberry.UNSET,
    ) -> ImportResult:
        runtime = info.context.runtime
        upload = await _read_upload(file, runtime.settings.imports.max_upload_bytes)
        outcome = await runtime.imports.process_excel_upload(
            upload,
            kind=kind,
            principal=info.context.principal,
            dry_run=dry_run,
            idempotency_key=idempotency_key if isinstance(idempotency_key, str) else None,
        )
        link = runtime.imports.error_report_url(outcome)
        return ImportResult.of(outcome, info.context.absolute_url(link) if link else None)
