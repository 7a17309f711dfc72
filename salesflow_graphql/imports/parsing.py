"""The steps of an import that touch the file's cells, run inside a sandbox process.

One uploaded file is opened (:mod:`.reading`), checked against Java's catalogue
(:mod:`.rules`) and, when rows have errors, rendered as the error workbook
(:mod:`.workbook`), all in the same child (:mod:`.sandbox`), which keeps the
sheet's cells between the steps. The gateway holds only what it answers with:
counts, the first errors, the rows a commit sends and the workbook's bytes. So
a large upload costs the child its memory, not the gateway, and a parser bug
costs one import.

Both sides of the conversation live here: :func:`handle` in the child and
:class:`SheetSession` in the gateway. Messages are msgspec structs in MessagePack,
decoded by type on each side (what a child sends can't run code in the gateway).

The cyclic garbage collector stays off in the child: a 100k-row sheet is some
700k cell values in 100k lists plus the objects its check creates, all alive
until the import ends, and the collector would rescan them again and again
(half the checking time). Nothing an import builds is cyclic; reference
counting frees it, and a collection runs when the child forgets a file.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import msgspec

from ..sor.records import ProductDto
from .headers import HeaderRow, looks_like
from .model import CellError, ColumnMatch, Field, FileRefused, ImportKind, SheetTable
from .reading import ReadLimits, read_table
from .rules import CatalogueView, ProductChange, SaleDraft, Validation, check_products, check_sales
from .sandbox import SandboxFailed
from .workbook import render_error_workbook

if TYPE_CHECKING:
    from .sandbox import Child

T = TypeVar("T")

#: Errors a check answers with in full; the count and the workbook cover the rest.
MAX_REPORTED_ERRORS = 1_000


# ------------------------------------------------------------------ messages
class Open(msgspec.Struct, tag=True):
    content: bytes
    filename: str
    kind: ImportKind
    limits: ReadLimits


class Check(msgspec.Struct, tag=True):
    products: list[ProductDto]
    #: A commit needs the products or sales to send; a dry run only their counts.
    keep_changes: bool
    #: The most the answer may weigh: the gateway holds what a commit sends.
    max_bytes: int


class Render(msgspec.Struct, tag=True):
    #: Errors found after the check (Java's refusals), merged with the check's own.
    more_errors: list[CellError]


class Forget(msgspec.Struct, tag=True):
    pass


class Refused(msgspec.Struct, tag=True):
    message: str


class Opened(msgspec.Struct, tag=True):
    sheet: str | None
    header_row: int
    columns: list[ColumnMatch]
    notices: list[str]
    missing: list[Field]
    #: With required columns missing: the header looks like the other kind's.
    looks_like_other: bool


class Checked(msgspec.Struct, tag=True):
    total_rows: int
    valid_rows: int
    invalid_rows: int
    notices: list[str]
    #: The first :data:`MAX_REPORTED_ERRORS`, in row order.
    errors: list[CellError]
    error_count: int
    #: Some error is on a data row (so there is a workbook to render).
    row_errors: bool
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    sales: int = 0
    sale_lines: int = 0
    products: list[ProductChange] = []
    drafts: list[SaleDraft] = []


class Rendered(msgspec.Struct, tag=True):
    workbook: bytes


Request = Open | Check | Render | Forget
Reply = Refused | Opened | Checked | Rendered
_requests = msgspec.msgpack.Decoder(Request)  # type: ignore[var-annotated]
_replies = msgspec.msgpack.Decoder(Reply)  # type: ignore[var-annotated]
_encoder = msgspec.msgpack.Encoder()


# ------------------------------------------------------------------ the child
@dataclass(slots=True)
class _File:
    kind: ImportKind
    table: SheetTable
    header: HeaderRow
    validation: Validation | None = None


_file: _File | None = None


def handle(payload: bytes) -> bytes:
    """One request in, one reply out (the sandbox handler)."""
    global _file
    request = _requests.decode(payload)
    reply: Reply
    if isinstance(request, Open):
        _forget()
        gc.disable()
        try:
            table, header = read_table(
                request.content, request.filename, request.kind, request.limits
            )
        except FileRefused as refused:
            reply = Refused(refused.message)
        else:
            _file = _File(request.kind, table, header)
            reply = _opened(_file)
    elif isinstance(request, Check):
        checked = _check(_current(), request)
        encoded = _encoder.encode(checked)
        if len(encoded) <= request.max_bytes:
            return encoded
        reply = Refused(
            f"The file's {checked.valid_rows:,} valid rows add up to {len(encoded) / 2**20:,.0f} "
            f"MiB of data, more than one import sends ({request.max_bytes / 2**20:,.0f} MiB). "
            "Split it into smaller files; nothing was written."
        )
    elif isinstance(request, Render):
        reply = _render(_current(), request.more_errors)
    else:
        _forget()
        return b""  # told, not asked: nobody waits for an answer
    return _encoder.encode(reply)


def _current() -> _File:
    if _file is None:
        raise RuntimeError("no file is open")
    return _file


def _forget() -> None:
    global _file
    if _file is not None:
        _file = None
        gc.collect()


def _opened(file: _File) -> Opened:
    table, header, kind = file.table, file.header, file.kind
    missing = header.missing(kind)
    other = ImportKind.SALES if kind is ImportKind.PRODUCTS else ImportKind.PRODUCTS
    return Opened(
        sheet=table.sheet,
        header_row=table.excel_row(header.index),
        columns=header.mapping(),
        notices=[*table.notices, *header.notices],
        missing=missing,
        looks_like_other=bool(missing) and looks_like(table.rows[: header.index + 1], other),
    )


def _check(file: _File, request: Check) -> Checked:
    catalogue = CatalogueView.of(request.products)
    check = check_products if file.kind is ImportKind.PRODUCTS else check_sales
    validation = file.validation = check(file.table, file.header, catalogue)
    header_row = file.table.excel_row(file.header.index)
    checked = Checked(
        total_rows=validation.total_rows,
        valid_rows=validation.valid_rows,
        invalid_rows=len(validation.invalid_rows),
        notices=validation.notices,
        errors=sorted(validation.errors, key=_row)[:MAX_REPORTED_ERRORS],
        error_count=len(validation.errors),
        row_errors=any(e.row > header_row for e in validation.errors),
    )
    if file.kind is ImportKind.PRODUCTS:
        checked.created = validation.count("create")
        checked.updated = validation.count("update")
        checked.unchanged = validation.count("unchanged")
    else:
        checked.sales = len(validation.sales)
        checked.sale_lines = sum(len(s.lines) for s in validation.sales)
    if request.keep_changes:
        checked.products, checked.drafts = validation.products, validation.sales
    return checked


def _render(file: _File, more_errors: list[CellError]) -> Rendered:
    own = file.validation.errors if file.validation is not None else []
    errors = sorted([*own, *more_errors], key=_row)
    return Rendered(render_error_workbook(file.table, file.header.index, errors))


def _row(error: CellError) -> int:
    return error.row


# ---------------------------------------------------------------- the gateway
class SheetSession:
    """The gateway's side: one file opened, checked and rendered in one sandbox child."""

    def __init__(self, child: Child) -> None:
        self.child = child

    async def open(
        self, content: bytes, filename: str, kind: ImportKind, limits: ReadLimits
    ) -> Opened:
        """The sheet and its header; :class:`FileRefused` with the reason otherwise."""
        reply = await self._ask(Open(content, filename, kind, limits))
        if isinstance(reply, Refused):
            raise FileRefused(reply.message)
        return _expect(reply, Opened)

    async def check(
        self, products: list[ProductDto], *, keep_changes: bool, max_bytes: int
    ) -> Checked:
        """Every row checked; :class:`FileRefused` if what a commit sends would weigh more
        than ``max_bytes``."""
        reply = await self._ask(Check(products, keep_changes, max_bytes))
        if isinstance(reply, Refused):
            raise FileRefused(reply.message)
        return _expect(reply, Checked)

    async def render(self, more_errors: list[CellError]) -> bytes:
        """The error workbook of the open file (``.xlsx`` bytes)."""
        return _expect(await self._ask(Render(more_errors)), Rendered).workbook

    def forget(self) -> None:
        """Let the child drop the file's cells once the caller has its answer."""
        self.child.tell(_encoder.encode(Forget()))

    async def _ask(self, request: Request) -> Reply:
        reply = await self.child.call(_encoder.encode(request))
        try:
            return _replies.decode(reply)
        except msgspec.DecodeError:
            await self.child.kill()
            raise SandboxFailed("the sandbox child answered with garbage") from None


def _expect(reply: Reply, kind: type[T]) -> T:
    if not isinstance(reply, kind):
        raise SandboxFailed(f"the sandbox child answered {type(reply).__name__}")
    return reply
