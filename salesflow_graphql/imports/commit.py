"""Writing valid rows into Java, and accounting for every row that did not make it.

Java's writes are not idempotent and are never retried blindly. What happens
on each kind of answer:

- 2xx: written.
- 400, 404, 409 or 422 on a batch: some item in it is refused (Java rolls back
  the whole batch), so the batch is bisected until the refused items are alone;
  each is reported with Java's reason and every other item is written.
- 401 or 403: the caller may not write; nothing more is sent.
- 500, any other status, a timeout or a broken connection: Java's outcome is
  unknown. A 500 is what Java answers for transient trouble of its own (a pool
  timeout, lazy loading under load), possibly after part of the work, so it is
  never taken for a refusal of the rows: bisecting would send rows again that
  may be saved already. Those items are reported as ``OUTCOME_UNKNOWN`` and
  nothing more is sent (``NOT_ATTEMPTED``), so a struggling Java is not
  hammered and the user can check before retrying.

PRODUCTS use ``POST /products/bulk`` when Java has it (detected once, by
trying it: 404 or 405 means no), else ``POST /products`` and
``PUT /products/by-sku/{sku}`` with bounded concurrency (updates first, so a
name freed by a rename can be taken by a new product). SALES go to
``/sales/bulk`` in chunks, in file order, because stock runs down in that order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import quote

from ..errors import UpstreamUnavailable
from ..sor.client import JavaAnswer, JavaClient
from .model import CellError, ErrorCode
from .rules import ProductChange, SaleDraft

log = logging.getLogger(__name__)

T = TypeVar("T")

BISECT_STATUS = frozenset({400, 404, 409, 422})
STOP_STATUS = frozenset({401, 403})
REASON_MAX = 300


@dataclass
class CommitReport:
    """What the writes did: counts, and one error per row that was not written."""

    created: int = 0
    updated: int = 0
    sales_created: int = 0
    failed_rows: set[int] = field(default_factory=set)
    errors: list[CellError] = field(default_factory=list)

    def fail(self, rows: Sequence[int], code: ErrorCode, message: str) -> None:
        for row in rows:
            if row not in self.failed_rows:
                self.failed_rows.add(row)
                self.errors.append(CellError(row, None, None, code, message))


class _Stop(Exception):
    """Stop sending: Java refused the caller, or its outcome became unknown."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BulkProducts:
    """Whether Java serves ``POST /products/bulk``, found out once per process."""

    def __init__(self) -> None:
        self.available: bool | None = None
        self.lock = asyncio.Lock()


# ----------------------------------------------------------------- bisection
class _Batches(Generic[T]):
    """Send items in chunks; bisect a refused chunk down to the items Java refuses.

    Every item ends up written, refused (with Java's reason) or, once Java
    stops answering usefully, failed as unknown / not attempted.
    """

    def __init__(
        self,
        send: Callable[[list[T]], Awaitable[JavaAnswer]],
        on_written: Callable[[list[T]], None],
        on_refused: Callable[[T, str], None],
        report: CommitReport,
        rows_of: Callable[[T], list[int]],
    ) -> None:
        self.send = send
        self.on_written = on_written
        self.on_refused = on_refused
        self.report = report
        self.rows_of = rows_of
        self.calls = 0
        self._settled: set[int] = set()

    async def run(
        self, items: list[T], chunk_size: int, *, first_answer: JavaAnswer | None = None
    ) -> None:
        """Send every item; ``first_answer`` is Java's answer to the first chunk, if sent already."""
        in_flight: list[T] = []
        try:
            for start in range(0, len(items), chunk_size):
                in_flight = items[start : start + chunk_size]
                await self._bisect(in_flight, first_answer if start == 0 else None)
        except _Stop as stop:
            self.stop(items, in_flight, stop)

    def stop(self, items: list[T], in_flight: list[T], stop: _Stop) -> None:
        """Account for every unsettled item after Java stopped answering usefully."""
        unsure = {id(item) for item in in_flight}
        for item in items:
            if id(item) in self._settled:
                continue
            if id(item) in unsure:
                self.report.fail(self.rows_of(item), stop.code, stop.message)
            else:
                self.report.fail(
                    self.rows_of(item),
                    ErrorCode.NOT_ATTEMPTED,
                    "Not sent: SalesFlow stopped answering earlier in this import. "
                    "Import these rows again once it is back.",
                )

    async def _bisect(self, items: list[T], answer: JavaAnswer | None = None) -> None:
        if answer is None:
            answer = await _sent(self.send, items)
            self.calls += 1
        if answer.ok:
            self._settled.update(id(item) for item in items)
            self.on_written(items)
            return
        _raise_if_final(answer)
        if len(items) == 1:
            self._settled.add(id(items[0]))
            self.on_refused(items[0], java_reason(answer))
            return
        middle = len(items) // 2
        await self._bisect(items[:middle])
        await self._bisect(items[middle:])


async def _sent(send: Callable[[list[T]], Awaitable[JavaAnswer]], items: list[T]) -> JavaAnswer:
    try:
        return await send(items)
    except UpstreamUnavailable as exc:
        raise _Stop(
            ErrorCode.OUTCOME_UNKNOWN,
            f"SalesFlow did not answer ({exc.message}); these rows may or may not have been "
            "saved. Check in SalesFlow before importing them again.",
        ) from exc


def _raise_if_final(answer: JavaAnswer) -> None:
    if answer.status in STOP_STATUS:
        raise _Stop(
            ErrorCode.REFUSED_BY_JAVA,
            f"SalesFlow refused to save anything for this user: {java_reason(answer)}",
        )
    if answer.status not in BISECT_STATUS:
        raise _Stop(
            ErrorCode.OUTCOME_UNKNOWN,
            f"SalesFlow answered HTTP {answer.status}; these rows may or may not have been "
            "saved. Check in SalesFlow before importing them again.",
        )


def java_reason(answer: JavaAnswer) -> str:
    """Java's own words for a refusal, made readable."""
    error = answer.error()
    if error is None:
        return f"HTTP {answer.status} without an explanation"
    reason = error.message or error.code or f"HTTP {answer.status}"
    if error.details and error.code != "INSUFFICIENT_STOCK":  # its message says it all
        details = "; ".join(
            f"{key.split('.', 1)[-1] if key.startswith('[') else key}: {value}"
            for key, value in error.details.items()
        )
        reason = f"{reason} ({details})"
    return reason if len(reason) <= REASON_MAX else reason[: REASON_MAX - 3] + "..."


def _rows(rows: Sequence[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:10])
    return shown + (", ..." if len(rows) > 10 else "")


# -------------------------------------------------------------------- sales
async def write_sales(
    client: JavaClient, token: str | None, sales: list[SaleDraft], chunk_size: int
) -> CommitReport:
    """Record ``sales`` with ``POST /sales/bulk``, chunk by chunk, bisecting refusals."""
    report = CommitReport()

    async def send(chunk: list[SaleDraft]) -> JavaAnswer:
        return await client.send(
            "POST",
            "/sales/bulk",
            token=token,
            resource="sales_bulk",
            json=[sale.payload() for sale in chunk],
        )

    def written(chunk: list[SaleDraft]) -> None:
        report.sales_created += len(chunk)
        report.created += sum(len(sale.lines) for sale in chunk)

    def refused(sale: SaleDraft, reason: str) -> None:
        what = "this sale" if len(sale.lines) == 1 else f"this sale (rows {_rows(sale.rows)})"
        report.fail(sale.rows, ErrorCode.REFUSED_BY_JAVA, f"SalesFlow refused {what}: {reason}")

    batches = _Batches(send, written, refused, report, lambda sale: sale.rows)
    await batches.run(sales, chunk_size)
    log.info(
        "sales import: %d sales written, %d rows failed, %d calls to /sales/bulk",
        report.sales_created,
        len(report.failed_rows),
        batches.calls,
    )
    return report


# ----------------------------------------------------------------- products
async def write_products(
    client: JavaClient,
    token: str | None,
    changes: list[ProductChange],
    *,
    chunk_size: int,
    concurrency: int,
    bulk: BulkProducts,
) -> CommitReport:
    """Create or update ``changes`` (``unchanged`` ones are never sent)."""
    report = CommitReport()
    pending = [c for c in changes if c.action != "unchanged"]
    if not pending:
        return report

    def written(chunk: list[ProductChange]) -> None:
        for change in chunk:
            if change.action == "create":
                report.created += 1
            else:
                report.updated += 1

    def refused(change: ProductChange, reason: str) -> None:
        report.fail(
            [change.row], ErrorCode.REFUSED_BY_JAVA, f"SalesFlow refused this product: {reason}"
        )

    async def send_bulk(chunk: list[ProductChange]) -> JavaAnswer:
        return await client.send(
            "POST",
            "/products/bulk",
            token=token,
            resource="products_bulk",
            json=[c.payload for c in chunk],
        )

    batches = _Batches(send_bulk, written, refused, report, lambda change: [change.row])
    first_answer = None
    if bulk.available is None:
        async with bulk.lock:  # concurrent imports find out once
            if bulk.available is None:
                try:
                    first_answer = await _sent(send_bulk, pending[:chunk_size])
                except _Stop as stop:
                    batches.stop(pending, pending[:chunk_size], stop)
                    return report
                bulk.available = first_answer.status not in (404, 405)
                log.info("java POST /products/bulk available: %s", bulk.available)
                if not bulk.available:
                    first_answer = None
    if bulk.available:
        await batches.run(pending, chunk_size, first_answer=first_answer)
        return report
    await _write_one_by_one(client, token, pending, concurrency, report, written, refused)
    return report


async def _write_one_by_one(
    client: JavaClient,
    token: str | None,
    changes: list[ProductChange],
    concurrency: int,
    report: CommitReport,
    written: Callable[[list[ProductChange]], None],
    refused: Callable[[ProductChange, str], None],
) -> None:
    """``PUT`` updates, then ``POST`` creates, ``concurrency`` at a time, until Java stops."""
    slots = asyncio.Semaphore(concurrency)
    stopped: list[_Stop] = []
    settled: set[int] = set()

    async def send_one(items: list[ProductChange]) -> JavaAnswer:
        (change,) = items
        if change.action == "create":
            path, method = "/products", "POST"
        else:
            path, method = f"/products/by-sku/{quote(change.sku, safe='')}", "PUT"
        return await client.send(
            method, path, token=token, resource="products_write", json=change.payload
        )

    async def write(change: ProductChange) -> None:
        async with slots:
            if stopped:
                return
            try:
                answer = await _sent(send_one, [change])
                if not answer.ok:
                    _raise_if_final(answer)
            except _Stop as stop:
                stopped.append(stop)
                settled.add(id(change))
                report.fail([change.row], stop.code, stop.message)
                return
            settled.add(id(change))
            if answer.ok:
                written([change])
            else:
                refused(change, java_reason(answer))

    updates = [c for c in changes if c.action == "update"]
    creates = [c for c in changes if c.action == "create"]
    for group in (updates, creates):
        if not stopped:
            await asyncio.gather(*(write(change) for change in group))
    if stopped:
        for change in changes:
            if id(change) not in settled:
                report.fail(
                    [change.row],
                    ErrorCode.NOT_ATTEMPTED,
                    "Not sent: SalesFlow stopped answering earlier in this import. "
                    "Import these rows again once it is back.",
                )
