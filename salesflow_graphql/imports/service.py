"""``ExcelImportService.process_excel_upload``: a spreadsheet in, products or sales into Java.

The steps, each in its own module:

1. read (:mod:`.reading`): format, archive limits, sheet extents, sheet,
   header row; a refused file is ``REJECTED`` with the reason and costs Java
   nothing;
2. check (:mod:`.rules`) every row against Java's catalogue;
3. on a commit, write the valid rows (:mod:`.commit`) and account for each
   one Java refused;
4. when any row has errors, store the error workbook (:mod:`.workbook`) and
   answer with a signed, expiring link to it.

Steps 1, 2 and the workbook of step 4 touch the file's cells: they run in a
sandbox process (:mod:`.sandbox`, :mod:`.parsing`) with a memory limit, leased
for the whole import, at most ``import_max_concurrent`` imports at a time per
gateway. The gateway never holds the cells, and a reader that crashes on a
file ends that import as ``REJECTED`` (the file could not be read; nothing was
written), never the gateway.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
import uuid
from dataclasses import dataclass

from ..adapters.cache import Cache
from ..adapters.signing import LinkSigner
from ..adapters.storage import FileStore
from ..auth import Principal
from ..config import Settings
from ..errors import NotFound
from ..sor.source import SystemOfRecord
from .archive import ArchiveLimits
from .commit import BulkProducts, CommitReport, write_products, write_sales
from .headers import missing_column_message
from .idempotency import Claim, IdempotencyStore, check_key
from .model import CellError, ErrorCode, FileRefused, ImportKind, ImportOutcome, ImportStatus
from .parsing import MAX_REPORTED_ERRORS, Checked, Opened, SheetSession
from .reading import ReadLimits
from .sandbox import Sandbox, SandboxFailed

log = logging.getLogger(__name__)

ERROR_WORKBOOKS = "imports"
#: The most a commit's rows may weigh on their way from the sandbox (MessagePack): about
#: 200k products. The gateway holds them while it writes; a bigger file is split.
MAX_CHANGES_BYTES = 64 * 2**20
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
        self.idempotency = IdempotencyStore(cache, settings.imports.idempotency_ttl_s)
        self._purged_at = 0.0
        self._warming: asyncio.Task[None] | None = None
        self.limits = ReadLimits(
            max_rows=settings.imports.max_rows,
            archive=ArchiveLimits(
                max_entries=settings.imports.zip_max_entries,
                max_uncompressed_bytes=settings.imports.zip_max_uncompressed_bytes,
                max_ratio=settings.imports.zip_max_ratio,
                max_sheet_cells=settings.imports.max_sheet_cells,
            ),
        )
        self.sandbox = Sandbox(
            "salesflow_graphql.imports.parsing",
            workers=settings.imports.max_concurrent,
            memory_bytes=settings.imports.sandbox_memory_bytes,
            timeout_s=settings.imports.sandbox_timeout_s,
            # the largest answer: a commit's rows, or the error workbook of a file at the limit
            max_reply_bytes=MAX_CHANGES_BYTES + 2 * settings.imports.max_upload_bytes,
        )

    def warm_up(self) -> None:
        """Start the sandbox processes now (they take a moment), not on the first import."""
        task = asyncio.get_running_loop().create_task(self.sandbox.start())
        task.add_done_callback(_log_warm_up)
        self._warming = task

    async def close(self) -> None:
        """Stop the sandbox processes (an import still running fails)."""
        await self.sandbox.close()
        if self._warming is not None:
            await asyncio.gather(self._warming, return_exceptions=True)

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
                await claim.release()  # nothing sent: a retry may run
            else:  # some rows may be in Java: a retry with this key must not send them again
                await claim.finish(_interrupted(progress, kind))
            raise
        await claim.end()
        if outcome.status in (ImportStatus.REJECTED, ImportStatus.INVALID):
            await claim.release()  # nothing was written: the key may be reused
        else:
            await claim.finish(outcome)
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
        limit = self.settings.imports.max_upload_bytes
        if len(upload.content) > limit:
            outcome.message = (
                f"The file is {len(upload.content) / 2**20:,.1f} MiB; the limit is "
                f"{limit / 2**20:,.1f} MiB. Split it into smaller files."
            )
            return outcome
        async with self.sandbox.lease() as child:
            session = SheetSession(child)
            try:
                await self._run(session, upload, principal, dry_run, progress, outcome)
            finally:
                session.forget()
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

    async def _run(
        self,
        session: SheetSession,
        upload: Upload,
        principal: Principal,
        dry_run: bool,
        progress: _Progress,
        outcome: ImportOutcome,
    ) -> None:
        kind = outcome.kind
        try:
            opened = await session.open(upload.content, upload.filename, kind, self.limits)
        except FileRefused as refused:
            outcome.message = refused.message
            log.info("import %s rejected: %s", outcome.import_id, refused.message)
            return
        except SandboxFailed as failure:
            self._unreadable(outcome, failure)
            return
        outcome.sheet = opened.sheet
        outcome.header_row = opened.header_row
        outcome.columns = opened.columns
        outcome.notices = list(opened.notices)
        if opened.missing:
            self._missing_columns(outcome, opened)
            return

        token = principal.token
        # A commit checks stock and names as they are now, not as cached a minute ago.
        catalogue = list((await self.source.catalogue(token, fresh=not dry_run)).products)
        try:
            checked = await session.check(
                catalogue, keep_changes=not dry_run, max_bytes=MAX_CHANGES_BYTES
            )
        except FileRefused as refused:
            outcome.message = refused.message
            return
        except SandboxFailed as failure:
            self._unreadable(outcome, failure)
            return
        outcome.notices.extend(checked.notices)
        outcome.total_rows = checked.total_rows
        outcome.valid_rows = checked.valid_rows
        outcome.invalid_rows = checked.invalid_rows
        if checked.total_rows == 0:
            outcome.status = ImportStatus.INVALID
            outcome.message = "The sheet has a header row but no data rows below it."
            error = CellError(
                opened.header_row, None, None, ErrorCode.NO_DATA_ROWS, outcome.message
            )
            self._set_errors(outcome, [error], 1)
            return

        report = CommitReport()
        if dry_run:
            self._plan(outcome, checked)
        elif checked.valid_rows:
            if progress.claim is not None:  # first: what the key answers if this process dies
                await progress.claim.writing(_interrupted(progress, kind))
            progress.writing = True
            try:
                report = await self._write(kind, checked, token)
            finally:  # even a write that failed halfway may have changed Java's data
                await self.source.invalidate()  # every replica's next answer sees the write
            self._settle(outcome, checked, report)
        else:
            outcome.status = ImportStatus.INVALID
            outcome.message = f"{_every(checked.total_rows)} errors; nothing was written."
        # Both lists are in row order, so their first errors are the first of all.
        errors = sorted([*checked.errors, *report.errors], key=lambda e: e.row)
        self._set_errors(outcome, errors, checked.error_count + len(report.errors))
        if checked.row_errors or any(e.row > opened.header_row for e in report.errors):
            await self._store_workbook(outcome, session, report.errors)

    def _unreadable(self, outcome: ImportOutcome, failure: SandboxFailed) -> None:
        """The reader failed on the file (crash, memory limit, deadline): ``REJECTED``.

        ``REJECTED`` because nothing was read or written and the same file would fail
        again: it is the file that could not be taken, as for any other refusal.
        """
        settings = self.settings
        if failure.timed_out:
            why = f"reading it took longer than {settings.imports.sandbox_timeout_s:g} s"
        elif failure.out_of_memory:
            memory = settings.imports.sandbox_memory_bytes / 2**20
            why = f"reading it needed more than the {memory:,.0f} MiB an import may use"
        else:
            why = "the spreadsheet reader stopped on it"
        outcome.status = ImportStatus.REJECTED
        outcome.message = (
            f"The file could not be read: {why}. Nothing was imported. Save it again from your "
            "spreadsheet program as .xlsx (or split it into smaller files) and retry."
        )
        log.warning("import %s: file unreadable: %s", outcome.import_id, failure.reason)

    def _missing_columns(self, outcome: ImportOutcome, opened: Opened) -> None:
        kind = outcome.kind
        outcome.status = ImportStatus.INVALID
        errors = [
            CellError(
                opened.header_row,
                None,
                None,
                ErrorCode.MISSING_COLUMN,
                missing_column_message(field, kind),
            )
            for field in opened.missing
        ]
        self._set_errors(outcome, errors, len(errors))
        other = ImportKind.SALES if kind is ImportKind.PRODUCTS else ImportKind.PRODUCTS
        hint = ""
        if opened.looks_like_other:
            hint = f" The file looks like {other.value.lower()}: did you mean kind {other.value}?"
        found = ", ".join(f"“{c.header}”" for c in opened.columns) or "none"
        outcome.message = (
            f"Required column(s) missing on header row {opened.header_row}; "
            f"nothing was checked further. Columns found: {found}.{hint}"
        )

    def _plan(self, outcome: ImportOutcome, checked: Checked) -> None:
        """A dry run: the counts say what a commit would do."""
        outcome.status = ImportStatus.VALID if not checked.invalid_rows else ImportStatus.INVALID
        if outcome.kind is ImportKind.PRODUCTS:
            outcome.created = checked.created
            outcome.updated = checked.updated
            outcome.unchanged = checked.unchanged
            would = (
                f"would create {outcome.created:,}, update {outcome.updated:,} "
                f"and leave {outcome.unchanged:,} unchanged"
            )
        else:
            outcome.created = checked.sale_lines
            outcome.sales_created = checked.sales
            would = (
                f"would record {_count(outcome.sales_created, 'sale')} from "
                f"{_count(outcome.created, 'row')}"
            )
        if checked.invalid_rows:
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

    async def _write(self, kind: ImportKind, checked: Checked, token: str | None) -> CommitReport:
        settings = self.settings
        if kind is ImportKind.PRODUCTS:
            return await write_products(
                self.source.client,
                token,
                checked.products,
                chunk_size=settings.imports.bulk_chunk_size,
                concurrency=settings.imports.write_concurrency,
                bulk=self.bulk_products,
            )
        return await write_sales(
            self.source.client, token, checked.drafts, settings.imports.bulk_chunk_size
        )

    def _settle(self, outcome: ImportOutcome, checked: Checked, report: CommitReport) -> None:
        """A commit: what Java took, and the status that follows."""
        outcome.created, outcome.updated = report.created, report.updated
        outcome.sales_created = report.sales_created
        outcome.failed = len(report.failed_rows)
        if outcome.kind is ImportKind.PRODUCTS:
            outcome.unchanged = checked.unchanged
        succeeded = checked.valid_rows - outcome.failed
        if outcome.failed == 0 and not checked.invalid_rows:
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
        if checked.invalid_rows:
            problems.append(f"{_count(outcome.invalid_rows, 'row')} with errors skipped")
        if outcome.failed:
            problems.append(f"{_count(outcome.failed, 'valid row')} not taken by SalesFlow")
        outcome.message = f"{'Imported' if succeeded else 'Nothing imported'}: {done}." + (
            f" {'; '.join(problems).capitalize()} (see errors)." if problems else ""
        )

    def _set_errors(self, outcome: ImportOutcome, errors: list[CellError], count: int) -> None:
        """``errors``: the first ones in row order (at least the listed ones); ``count``: all."""
        outcome.error_count = count
        outcome.errors = errors[:MAX_REPORTED_ERRORS]
        if count > MAX_REPORTED_ERRORS:
            outcome.notices.append(
                f"The first {MAX_REPORTED_ERRORS:,} of {count:,} errors are listed; "
                "the error workbook has every one."
            )

    async def _store_workbook(
        self, outcome: ImportOutcome, session: SheetSession, more_errors: list[CellError]
    ) -> None:
        relative = f"{ERROR_WORKBOOKS}/{outcome.import_id}.xlsx"
        try:
            content = await session.render(more_errors)
        except SandboxFailed as failure:  # the answer stands; only the workbook is missing
            log.warning("import %s: no error workbook: %s", outcome.import_id, failure.reason)
            outcome.notices.append(
                "The error workbook could not be produced; the errors are listed above."
            )
            return
        await asyncio.to_thread(self.files.write, relative, content)
        outcome.has_error_report = True
        await self._purge_old_workbooks()

    async def _purge_old_workbooks(self) -> None:
        now = time.monotonic()
        if now - self._purged_at < PURGE_EVERY_S:
            return
        self._purged_at = now
        keep_s = max(self.settings.auth.link_ttl_s, self.settings.imports.idempotency_ttl_s)
        removed = await asyncio.to_thread(self.files.purge, ERROR_WORKBOOKS, keep_s)
        if removed:
            log.info("purged %d old error workbooks", removed)


def _log_warm_up(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("import sandbox did not start: %s", task.exception())


def _count(n: int, noun: str) -> str:
    """``"1 row"``, ``"3 rows"``."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _every(n: int, *, valid: bool = False) -> str:
    if valid:
        return "the only row is valid" if n == 1 else f"all {n:,} rows are valid"
    return "The only row has" if n == 1 else f"All {n:,} rows have"


def _has(n: int) -> str:
    return "has" if n == 1 else "have"
