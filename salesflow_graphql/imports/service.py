"""``ExcelImportService.process_excel_upload``: a spreadsheet in, products or sales into Java.

The steps, each in its own module:

1. read (:mod:`.reading`): format, archive limits, sheet, header row; a
   refused file is ``REJECTED`` with the reason and costs Java nothing;
2. check (:mod:`.rules`) every row against Java's catalogue;
3. on a commit, write the valid rows (:mod:`.commit`) and account for each
   one Java refused;
4. when any row has errors, store the error workbook (:mod:`.workbook`) and
   answer with a signed, expiring link to it.

CPU work (parsing, checking, rendering) runs in worker threads, at most
``import_max_concurrent`` imports at a time per process, so big uploads neither
block the event loop nor multiply memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
import uuid
from dataclasses import dataclass

from ..auth import Principal
from ..cache import Cache
from ..config import Settings
from ..errors import NotFound
from ..signing import LinkSigner
from ..sor.source import SystemOfRecord
from ..storage import FileStore
from .archive import ArchiveLimits
from .commit import BulkProducts, CommitReport, write_products, write_sales
from .gcpause import without_collector
from .headers import HeaderRow, looks_like, missing_column_message
from .idempotency import Claim, IdempotencyStore, check_key
from .model import (
    CellError,
    ErrorCode,
    Field,
    FileRefused,
    ImportKind,
    ImportOutcome,
    ImportStatus,
    SheetTable,
)
from .reading import ReadLimits, read_table
from .rules import CatalogueView, Validation, check_products, check_sales
from .workbook import render_error_workbook

log = logging.getLogger(__name__)

#: Errors listed in the answer; the error workbook always has all of them.
MAX_REPORTED_ERRORS = 1_000
ERROR_WORKBOOKS = "imports"
PURGE_EVERY_S = 3600.0
_IMPORT_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(slots=True)
class _Progress:
    """How far an import got, for the idempotency record if it is interrupted."""

    import_id: str
    writing: bool = False
    claim: Claim | None = None  # the idempotency key's, if the import has one


def _interrupted(progress: _Progress, kind: ImportKind) -> ImportOutcome:
    return ImportOutcome(
        progress.import_id,
        kind,
        ImportStatus.FAILED,
        dry_run=False,
        message=(
            "The import was interrupted while writing to SalesFlow; some rows may have been "
            "saved. Check in SalesFlow, then import what is missing with a new idempotencyKey."
        ),
    )


@dataclass(frozen=True, slots=True)
class Upload:
    """The uploaded file as the service needs it."""

    content: bytes
    filename: str


class ExcelImportService:
    """Imports PRODUCTS and SALES spreadsheets into Java (API.md ``importExcel``)."""

    def __init__(
        self,
        settings: Settings,
        source: SystemOfRecord,
        cache: Cache,
        files: FileStore,
        signer: LinkSigner,
    ) -> None:
        self.settings = settings
        self.source = source
        self.cache = cache
        self.files = files
        self.signer = signer
        self.bulk_products = BulkProducts()
        self.idempotency = IdempotencyStore(cache, settings.import_idempotency_ttl_s)
        self._cpu = asyncio.Semaphore(settings.import_max_concurrent)
        self._purged_at = 0.0
        self.limits = ReadLimits(
            max_rows=settings.import_max_rows,
            archive=ArchiveLimits(
                max_entries=settings.import_zip_max_entries,
                max_uncompressed_bytes=settings.import_zip_max_uncompressed_bytes,
                max_ratio=settings.import_zip_max_ratio,
            ),
        )

    # ------------------------------------------------------------------ API
    async def process_excel_upload(
        self,
        upload: Upload,
        *,
        kind: ImportKind,
        principal: Principal,
        dry_run: bool = True,
        idempotency_key: str | None = None,
    ) -> ImportOutcome:
        """Check (dry run) or import ``upload``; never raises for a bad file, only reports it.

        With an ``idempotency_key`` a commit runs at most once per (kind, key,
        caller); later calls get the first outcome back with ``replayed`` set.
        Dry runs write nothing and ignore the key.
        """
        progress = _Progress(uuid.uuid4().hex)
        if dry_run or idempotency_key is None:
            return await self._import(upload, kind, principal, dry_run, progress)
        key = self.idempotency.key(kind, check_key(idempotency_key), principal.subject)
        digest = hashlib.sha256(upload.content).hexdigest()
        claim = await self.idempotency.claim(key, digest)
        if isinstance(claim, ImportOutcome):
            log.info("import %s replayed for idempotency key", claim.import_id)
            return claim
        progress.claim = claim
        try:
            outcome = await self._import(upload, kind, principal, dry_run, progress)
        except BaseException:
            await claim.end()
            if claim.lost:  # another request owns the key now: leave its record alone
                raise
            if not progress.writing:
                await self.idempotency.release(key)  # nothing sent: a retry may run
            else:  # some rows may be in Java: a retry with this key must not send them again
                await self.idempotency.remember(key, digest, _interrupted(progress, kind))
            raise
        await claim.end()
        if outcome.status in (ImportStatus.REJECTED, ImportStatus.INVALID):
            await self.idempotency.release(key)  # nothing was written: the key may be reused
        else:
            await self.idempotency.remember(key, digest, outcome)
        return outcome

    def error_report_url(self, outcome: ImportOutcome) -> str | None:
        """A freshly signed link to the outcome's error workbook, if it has one."""
        if not outcome.has_error_report:
            return None
        return self.signer.sign(f"/imports/{outcome.import_id}/errors.xlsx")

    async def error_workbook(self, import_id: str, exp: str | None, sig: str | None) -> bytes:
        """The stored workbook behind a signed link; :class:`LinkRejected` or :class:`NotFound`."""
        if not _IMPORT_ID.match(import_id):
            raise NotFound("No such import.")
        self.signer.verify(f"/imports/{import_id}/errors.xlsx", exp, sig)
        relative = f"{ERROR_WORKBOOKS}/{import_id}.xlsx"
        try:
            return await asyncio.to_thread(self.files.read, relative)
        except FileNotFoundError:
            raise NotFound("This error report no longer exists; run the import again.") from None

    # ------------------------------------------------------------ machinery
    async def _import(
        self,
        upload: Upload,
        kind: ImportKind,
        principal: Principal,
        dry_run: bool,
        progress: _Progress,
    ) -> ImportOutcome:
        started = time.perf_counter()
        outcome = ImportOutcome(progress.import_id, kind, ImportStatus.REJECTED, dry_run)
        limit = self.settings.import_max_upload_bytes
        if len(upload.content) > limit:
            outcome.message = (
                f"The file is {len(upload.content) / 2**20:,.1f} MiB; the limit is "
                f"{limit / 2**20:,.1f} MiB. Split it into smaller files."
            )
            return outcome
        try:
            async with self._cpu:
                table, header = await asyncio.to_thread(
                    without_collector(read_table),
                    upload.content,
                    upload.filename,
                    kind,
                    self.limits,
                )
        except FileRefused as refused:
            outcome.message = refused.message
            log.info("import %s rejected: %s", outcome.import_id, refused.message)
            return outcome
        outcome.sheet = table.sheet
        outcome.header_row = table.excel_row(header.index)
        outcome.columns = header.mapping()
        outcome.notices = [*table.notices, *header.notices]
        missing = header.missing(kind)
        if missing:
            return self._missing_columns(outcome, table, header, missing)

        token = principal.token
        # A commit checks stock and names as they are now, not as cached a minute ago.
        catalogue = CatalogueView.of(
            (await self.source.catalogue(token, fresh=not dry_run)).products
        )
        check = check_products if kind is ImportKind.PRODUCTS else check_sales
        async with self._cpu:
            validation = await asyncio.to_thread(without_collector(check), table, header, catalogue)
        outcome.notices.extend(validation.notices)
        outcome.total_rows = validation.total_rows
        outcome.valid_rows = validation.valid_rows
        outcome.invalid_rows = len(validation.invalid_rows)
        if validation.total_rows == 0:
            outcome.status = ImportStatus.INVALID
            outcome.message = "The sheet has a header row but no data rows below it."
            self._set_errors(
                outcome,
                [
                    CellError(
                        outcome.header_row, None, None, ErrorCode.NO_DATA_ROWS, outcome.message
                    )
                ],
            )
            return outcome

        report = CommitReport()
        if dry_run:
            self._plan(outcome, validation)
        elif validation.valid_rows:
            if progress.claim is not None:  # first: what the key answers if this process dies
                await progress.claim.writing(_interrupted(progress, kind))
            progress.writing = True
            try:
                report = await self._write(validation, token)
            finally:  # even a write that failed halfway may have changed Java's data
                await self.source.invalidate()  # every replica's next answer sees the write
            self._settle(outcome, validation, report)
        else:
            outcome.status = ImportStatus.INVALID
            outcome.message = f"{_every(validation.total_rows)} errors; nothing was written."
        errors = sorted([*validation.errors, *report.errors], key=lambda e: e.row)
        self._set_errors(outcome, errors)
        if any(e.row > outcome.header_row for e in errors):
            await self._store_workbook(outcome, table, header, errors)
        log.info(
            "import %s %s %s: %d rows, %d invalid, %d failed in %.2fs",
            outcome.import_id,
            kind.value,
            outcome.status.value,
            outcome.total_rows,
            outcome.invalid_rows,
            outcome.failed,
            time.perf_counter() - started,
        )
        return outcome

    def _missing_columns(
        self, outcome: ImportOutcome, table: SheetTable, header: HeaderRow, missing: list[Field]
    ) -> ImportOutcome:
        kind = outcome.kind
        outcome.status = ImportStatus.INVALID
        assert outcome.header_row is not None
        errors = [
            CellError(
                outcome.header_row,
                None,
                None,
                ErrorCode.MISSING_COLUMN,
                missing_column_message(field, kind),
            )
            for field in missing
        ]
        self._set_errors(outcome, errors)
        other = ImportKind.SALES if kind is ImportKind.PRODUCTS else ImportKind.PRODUCTS
        hint = ""
        if looks_like(table.rows[: header.index + 1], other):
            hint = f" The file looks like {other.value.lower()}: did you mean kind {other.value}?"
        found = ", ".join(f"“{c.header}”" for c in header.columns) or "none"
        outcome.message = (
            f"Required column(s) missing on header row {outcome.header_row}; "
            f"nothing was checked further. Columns found: {found}.{hint}"
        )
        return outcome

    def _plan(self, outcome: ImportOutcome, validation: Validation) -> None:
        """A dry run: the counts say what a commit would do."""
        outcome.status = ImportStatus.VALID if not validation.invalid_rows else ImportStatus.INVALID
        if outcome.kind is ImportKind.PRODUCTS:
            outcome.created = validation.count("create")
            outcome.updated = validation.count("update")
            outcome.unchanged = validation.count("unchanged")
            would = (
                f"would create {outcome.created:,}, update {outcome.updated:,} "
                f"and leave {outcome.unchanged:,} unchanged"
            )
        else:
            outcome.created = sum(len(s.lines) for s in validation.sales)
            outcome.sales_created = len(validation.sales)
            would = (
                f"would record {_count(outcome.sales_created, 'sale')} from "
                f"{_count(outcome.created, 'row')}"
            )
        if validation.invalid_rows:
            outcome.message = (
                f"Dry run, nothing written: {outcome.invalid_rows:,} of "
                f"{_count(outcome.total_rows, 'row')} {_has(outcome.invalid_rows)} errors. "
                f"A commit {would}, skipping the rows with errors."
            )
        else:
            outcome.message = (
                f"Dry run, nothing written: {_every(outcome.total_rows, valid=True)}. "
                f"A commit {would}."
            )

    async def _write(self, validation: Validation, token: str | None) -> CommitReport:
        settings = self.settings
        if validation.kind is ImportKind.PRODUCTS:
            return await write_products(
                self.source.client,
                token,
                validation.products,
                chunk_size=settings.import_bulk_chunk_size,
                concurrency=settings.import_write_concurrency,
                bulk=self.bulk_products,
            )
        return await write_sales(
            self.source.client, token, validation.sales, settings.import_bulk_chunk_size
        )

    def _settle(self, outcome: ImportOutcome, validation: Validation, report: CommitReport) -> None:
        """A commit: what Java took, and the status that follows."""
        outcome.created, outcome.updated = report.created, report.updated
        outcome.sales_created = report.sales_created
        outcome.failed = len(report.failed_rows)
        if outcome.kind is ImportKind.PRODUCTS:
            outcome.unchanged = validation.count("unchanged")
        succeeded = validation.valid_rows - outcome.failed
        if outcome.failed == 0 and not validation.invalid_rows:
            outcome.status = ImportStatus.COMMITTED
        elif succeeded > 0:
            outcome.status = ImportStatus.PARTIAL
        else:
            outcome.status = ImportStatus.FAILED
        if outcome.kind is ImportKind.PRODUCTS:
            done = (
                f"created {outcome.created:,}, updated {outcome.updated:,}, "
                f"{outcome.unchanged:,} already up to date"
            )
        else:
            done = (
                f"recorded {_count(outcome.sales_created, 'sale')} from "
                f"{_count(outcome.created, 'row')}"
            )
        problems = []
        if validation.invalid_rows:
            problems.append(f"{_count(outcome.invalid_rows, 'row')} with errors skipped")
        if outcome.failed:
            problems.append(f"{_count(outcome.failed, 'valid row')} not taken by SalesFlow")
        outcome.message = f"{'Imported' if succeeded else 'Nothing imported'}: {done}." + (
            f" {'; '.join(problems).capitalize()} (see errors)." if problems else ""
        )

    def _set_errors(self, outcome: ImportOutcome, errors: list[CellError]) -> None:
        outcome.error_count = len(errors)
        outcome.errors = errors[:MAX_REPORTED_ERRORS]
        if len(errors) > MAX_REPORTED_ERRORS:
            outcome.notices.append(
                f"The first {MAX_REPORTED_ERRORS:,} of {len(errors):,} errors are listed; "
                "the error workbook has every one."
            )

    async def _store_workbook(
        self, outcome: ImportOutcome, table: SheetTable, header: HeaderRow, errors: list[CellError]
    ) -> None:
        relative = f"{ERROR_WORKBOOKS}/{outcome.import_id}.xlsx"
        async with self._cpu:
            content = await asyncio.to_thread(
                without_collector(render_error_workbook), table, header.index, errors
            )
        await asyncio.to_thread(self.files.write, relative, content)
        outcome.has_error_report = True
        await self._purge_old_workbooks()

    async def _purge_old_workbooks(self) -> None:
        now = time.monotonic()
        if now - self._purged_at < PURGE_EVERY_S:
            return
        self._purged_at = now
        keep_s = max(self.settings.link_ttl_s, self.settings.import_idempotency_ttl_s)
        removed = await asyncio.to_thread(self.files.purge, ERROR_WORKBOOKS, keep_s)
        if removed:
            log.info("purged %d old error workbooks", removed)


def _count(n: int, noun: str) -> str:
    """``"1 row"``, ``"3 rows"``."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _every(n: int, *, valid: bool = False) -> str:
    if valid:
        return "the only row is valid" if n == 1 else f"all {n:,} rows are valid"
    return "The only row has" if n == 1 else f"All {n:,} rows have"


def _has(n: int) -> str:
    return "has" if n == 1 else "have"
