"""The business rules of an import: each data row checked, each error pinned to its cell.

Pure functions over a :class:`SheetTable`, its :class:`HeaderRow` and Java's
catalogue; nothing here talks to Java. The result says which rows are valid,
what a commit would send (products to create or update, sales to record) and
every :class:`CellError`.

PRODUCTS upsert by sku. A column that is absent, or a blank cell in an
optional column, keeps what Java has for an existing product (a PUT overwrites
everything, so the current value is sent back) and takes the default for a new
one (stock 0, threshold 10). A row equal to what Java has is ``unchanged``.

SALES resolve their product by sku, then numeric id, then exact name. Rows
sharing an order id are one sale, imported whole or not at all. Stock is
checked in file order, as Java would refuse a whole bulk transaction for one
short item.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, NamedTuple

from ..sor.records import ProductDto
from .cells import CellProblem, date_of, is_blank, number_of, text_of, whole_number_of
from .headers import Column, HeaderRow
from .model import CellError, ErrorCode, Field, ImportKind, SheetTable

SKU_MAX = 50
NAME_MAX = 100
DEFAULT_THRESHOLD = 10
INT_MAX = 2**31 - 1
#: NUMERIC(10,2) in Java's database.
PRICE_MAX = Decimal("99999999.99")
CENT = Decimal("0.01")
VALUE_SHOWN_MAX = 200

Action = Literal["create", "update", "unchanged"]


@dataclass(frozen=True, slots=True)
class CatalogueView:
    """Java's products, looked up the three ways a sheet may name them."""

    by_sku: dict[str, ProductDto]
    by_id: dict[int, ProductDto]
    by_name: dict[str, ProductDto]

    @classmethod
    def of(cls, products: Iterable[ProductDto]) -> CatalogueView:
        products = list(products)
        return cls(
            by_sku={p.sku: p for p in products},
            by_id={p.id: p for p in products if p.id is not None},
            by_name={p.name: p for p in products},
        )


@dataclass(frozen=True, slots=True)
class ProductChange:
    """A valid PRODUCTS row and what a commit does with it (fields as they will be sent)."""

    row: int
    sku: str
    action: Action
    name: str
    price: Decimal
    stock_quantity: int
    low_stock_threshold: int
    description: str | None
    image_url: str | None
    product_id: int | None = None

    @property
    def payload(self) -> dict[str, Any]:
        """The ``ProductDto`` body for Java: the full product, as a PUT overwrites every field.

        Built on demand, so a 100k-row dry run does not hold 100k dicts.
        """
        body: dict[str, Any] = {
            "sku": self.sku,
            "name": self.name,
            "price": float(self.price),
            "stockQuantity": self.stock_quantity,
            "lowStockThreshold": self.low_stock_threshold,
            "description": self.description,
            "imageUrl": self.image_url,
        }
        if self.product_id is not None:
            body["id"] = self.product_id
        return body


@dataclass(frozen=True, slots=True)
class SaleLine:
    row: int
    product_id: int
    sku: str
    quantity: int


@dataclass(slots=True)
class SaleDraft:
    """One sale to record: the rows sharing an order id (or one row without one)."""

    order_id: str | None
    lines: list[SaleLine] = field(default_factory=list)

    @property
    def rows(self) -> list[int]:
        return [line.row for line in self.lines]

    def payload(self) -> dict[str, Any]:
        return {"items": [{"productId": x.product_id, "quantity": x.quantity} for x in self.lines]}


@dataclass(slots=True)
class Validation:
    """The verdict on every data row."""

    kind: ImportKind
    total_rows: int = 0
    errors: list[CellError] = field(default_factory=list)
    invalid_rows: set[int] = field(default_factory=set)
    notices: list[str] = field(default_factory=list)
    products: list[ProductChange] = field(default_factory=list)
    sales: list[SaleDraft] = field(default_factory=list)

    @property
    def valid_rows(self) -> int:
        return self.total_rows - len(self.invalid_rows)

    def add(self, error: CellError) -> None:
        self.errors.append(error)
        self.invalid_rows.add(error.row)

    def count(self, action: Action) -> int:
        return sum(1 for change in self.products if change.action == action)


# ---------------------------------------------------------------- reading rows
@dataclass(slots=True)
class _Row:
    """A data row being checked: its Excel number, its cells, and its errors so far."""

    number: int
    cells: Sequence[Any]
    errors: list[CellError] = field(default_factory=list)

    def cell(self, column: Column | None) -> Any:
        if column is None or column.index >= len(self.cells):
            return None
        return self.cells[column.index]

    def fail(self, column: Column | None, value: Any, code: ErrorCode, message: str) -> None:
        shown = text_of(value) if not is_blank(value) else None
        if shown is not None and len(shown) > VALUE_SHOWN_MAX:
            shown = shown[: VALUE_SHOWN_MAX - 3] + "..."
        self.errors.append(
            CellError(
                row=self.number,
                column=column.header if column else None,
                value=shown,
                code=code,
                message=message,
                position=column.index if column else None,
            )
        )


def _data_rows(table: SheetTable, header: HeaderRow) -> Iterator[_Row]:
    rows, first = table.rows, table.first_row + 1
    for index in range(header.index + 1, len(rows)):
        cells = rows[index]
        for value in cells:  # a plain loop: this runs for every cell of the sheet
            if value != "" and value is not None and (type(value) is not str or value.strip()):
                yield _Row(first + index, cells)
                break


def _label(column: Column) -> str:
    return f"“{column.header}”"


def _blank(row: _Row, column: Column | None, *, required: bool) -> None:
    """A blank cell: an error when its column is required, otherwise simply no value."""
    if required:
        assert column is not None
        row.fail(column, None, ErrorCode.REQUIRED, f"{_label(column)} is required.")


def _text(row: _Row, column: Column | None, *, limit: int, required: bool) -> str | None:
    value = row.cell(column)
    text = text_of(value)
    if not text:
        _blank(row, column, required=required)
        return None
    assert column is not None
    if len(text) > limit:
        row.fail(
            column,
            value,
            ErrorCode.TOO_LONG,
            f"{_label(column)} has {len(text)} characters; at most {limit} are allowed.",
        )
        return None
    return text


def _count(row: _Row, column: Column | None, *, minimum: int, required: bool = False) -> int | None:
    value = row.cell(column)
    if is_blank(value):
        _blank(row, column, required=required)
        return None
    assert column is not None
    try:
        number = whole_number_of(value)
    except CellProblem as problem:
        row.fail(column, value, problem.code, f"{_label(column)} {problem.message}.")
        return None
    if number < minimum:
        row.fail(column, value, ErrorCode.TOO_SMALL, f"{_label(column)} must be {minimum} or more.")
        return None
    if number > INT_MAX:
        row.fail(column, value, ErrorCode.TOO_LARGE, f"{_label(column)} is too large.")
        return None
    return number


def _money(row: _Row, column: Column | None, *, required: bool) -> Decimal | None:
    value = row.cell(column)
    if is_blank(value):
        _blank(row, column, required=required)
        return None
    assert column is not None
    try:
        amount = number_of(value)
    except CellProblem as problem:
        row.fail(column, value, problem.code, f"{_label(column)} {problem.message}.")
        return None
    if amount < 0:
        row.fail(column, value, ErrorCode.TOO_SMALL, f"{_label(column)} must be 0 or more.")
        return None
    # Checked before rounding to cents: quantize() cannot round a number as large as 1e308.
    if amount >= PRICE_MAX + CENT / 2:
        row.fail(column, value, ErrorCode.TOO_LARGE, f"{_label(column)} is above {PRICE_MAX:,}.")
        return None
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


# ------------------------------------------------------------------- products
def check_products(table: SheetTable, header: HeaderRow, catalogue: CatalogueView) -> Validation:
    """Check every PRODUCTS row; valid ones become creates, updates or unchanged."""
    result = Validation(ImportKind.PRODUCTS)
    col = {f: header.column_of(f) for f in Field}
    parsed: list[tuple[_Row, _ProductCells]] = []
    for row in _data_rows(table, header):
        result.total_rows += 1
        values = _ProductCells(
            sku=_text(row, col[Field.SKU], limit=SKU_MAX, required=True),
            name=_text(row, col[Field.NAME], limit=NAME_MAX, required=True),
            price=_money(row, col[Field.PRICE], required=True),
            stock=_count(row, col[Field.STOCK], minimum=0),
            threshold=_count(row, col[Field.THRESHOLD], minimum=1),
            description=_text(row, col[Field.DESCRIPTION], limit=10_000, required=False),
            image_url=_text(row, col[Field.IMAGE_URL], limit=2_000, required=False),
        )
        _money(row, col[Field.COST], required=False)  # checked, though Java cannot store it
        parsed.append((row, values))

    _flag_duplicates(parsed, "sku", col[Field.SKU], ErrorCode.DUPLICATE_SKU, "SKU")
    _flag_duplicates(parsed, "name", col[Field.NAME], ErrorCode.DUPLICATE_NAME, "name")
    skus_in_file = {v.sku for r, v in parsed if not r.errors and v.sku}
    for row, values in parsed:
        owner = catalogue.by_name.get(values.name or "")
        if (
            not row.errors
            and owner is not None
            and owner.sku != values.sku
            and owner.sku not in skus_in_file  # a row of this file renames the owner
        ):
            row.fail(
                col[Field.NAME],
                values.name,
                ErrorCode.NAME_TAKEN,
                f"The name is already used by product {owner.sku} in SalesFlow; "
                "product names must be unique.",
            )
        for error in row.errors:
            result.add(error)
        if not row.errors:
            result.products.append(_change(row.number, values, catalogue.by_sku))
    result.errors.sort(key=_cell_order)

    if col[Field.CATEGORY] is not None or col[Field.COST] is not None:
        named = " and ".join(
            _label(c) for c in (col[Field.CATEGORY], col[Field.COST]) if c is not None
        )
        result.notices.append(
            f"{named} were checked but not written: the SalesFlow service has no way to "
            "store category or cost from an import (they belong to its inventory records)."
        )
    return result


class _ProductCells(NamedTuple):
    """One PRODUCTS row's values after coercion (``None``: blank, absent or invalid)."""

    sku: str | None
    name: str | None
    price: Decimal | None
    stock: int | None
    threshold: int | None
    description: str | None
    image_url: str | None


def _flag_duplicates(
    parsed: list[tuple[_Row, _ProductCells]],
    key: str,
    column: Column | None,
    code: ErrorCode,
    noun: str,
) -> None:
    counts = Counter(getattr(values, key) for _, values in parsed)
    repeated = {value for value, count in counts.items() if count > 1 and value}
    if not repeated:
        return
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row, values in parsed:
        if getattr(values, key) in repeated:
            rows_of[getattr(values, key)].append(row.number)
    for row, values in parsed:
        value = getattr(values, key)
        if value in repeated:
            others = ", ".join(str(n) for n in rows_of[value] if n != row.number)
            row.fail(
                column,
                value,
                code,
                f"The {noun} “{value}” also appears on row {others}; "
                f"each {noun} may appear once per file.",
            )


def _change(row: int, values: _ProductCells, by_sku: dict[str, ProductDto]) -> ProductChange:
    """What to send for a valid row; blanks keep Java's values (existing) or the defaults (new)."""
    assert values.sku is not None and values.name is not None and values.price is not None
    existing = by_sku.get(values.sku)
    if existing is None:
        return ProductChange(
            row,
            values.sku,
            "create",
            values.name,
            values.price,
            values.stock if values.stock is not None else 0,
            values.threshold if values.threshold is not None else DEFAULT_THRESHOLD,
            values.description,
            values.image_url,
        )
    change = ProductChange(
        row,
        values.sku,
        "update",
        values.name,
        values.price,
        values.stock if values.stock is not None else existing.stock_quantity,
        values.threshold if values.threshold is not None else existing.low_stock_threshold,
        values.description if values.description is not None else existing.description,
        values.image_url if values.image_url is not None else existing.image_url,
        existing.id,
    )
    same = (
        existing.name == change.name
        and _cents(existing.price) == change.price
        and existing.stock_quantity == change.stock_quantity
        and existing.low_stock_threshold == change.low_stock_threshold
        and existing.description == change.description
        and existing.image_url == change.image_url
    )
    return dataclasses.replace(change, action="unchanged") if same else change


def _cell_order(error: CellError) -> tuple[int, int]:
    return error.row, error.position if error.position is not None else -1


def _cents(amount: float) -> Decimal:
    return Decimal(repr(amount)).quantize(CENT, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------- sales
def check_sales(table: SheetTable, header: HeaderRow, catalogue: CatalogueView) -> Validation:
    """Check every SALES row, group rows into sales, and check stock in file order."""
    result = Validation(ImportKind.SALES)
    sku_col, name_col = header.column_of(Field.SKU), header.column_of(Field.NAME)
    quantity_col = header.column_of(Field.QUANTITY)
    order_col, date_col = header.column_of(Field.ORDER_ID), header.column_of(Field.DATE)
    drafts: dict[str, SaleDraft] = {}
    row_errors: dict[int, list[CellError]] = {}
    order_of_row: dict[int, str] = {}
    rows_by_number: dict[int, _Row] = {}
    saw_dates = False
    for row in _data_rows(table, header):
        result.total_rows += 1
        rows_by_number[row.number] = row
        product = _resolve(row, sku_col, name_col, catalogue)
        quantity = _count(row, quantity_col, minimum=1, required=True)
        order_id = text_of(row.cell(order_col)) or None
        when = row.cell(date_col)
        if not is_blank(when):
            saw_dates = True
            try:
                date_of(when)
            except CellProblem as problem:
                row.fail(date_col, when, problem.code, f"{_label(date_col)} {problem.message}.")
        key = f"order:{order_id}" if order_id is not None else f"row:{row.number}"
        order_of_row[row.number] = key
        draft = drafts.setdefault(key, SaleDraft(order_id))
        if row.errors:
            row_errors[row.number] = row.errors
        else:
            assert product is not None and product.id is not None and quantity is not None
            draft.lines.append(SaleLine(row.number, product.id, product.sku, quantity))

    # A sale is imported whole or not at all: one bad row sinks its order.
    bad_orders = {order_of_row[n] for n in row_errors}
    for number, row in rows_by_number.items():
        key = order_of_row[number]
        if key in bad_orders and number not in row_errors:
            first_bad = min(n for n in row_errors if order_of_row[n] == key)
            row.fail(
                order_col,
                drafts[key].order_id,
                ErrorCode.ORDER_HAS_ERRORS,
                f"Not imported: row {first_bad} of the same order has errors, "
                "and a sale is imported whole or not at all.",
            )
            row_errors[number] = row.errors
    ordered = sorted(
        (d for k, d in drafts.items() if k not in bad_orders and d.lines),
        key=lambda d: d.lines[0].row,
    )
    result.sales = _check_stock(ordered, catalogue, rows_by_number, quantity_col, order_col)
    for row in rows_by_number.values():
        for error in row.errors:
            result.add(error)
    result.errors.sort(key=_cell_order)
    if saw_dates and date_col is not None:
        result.notices.append(
            f"SalesFlow records every imported sale at the moment of import: the dates in "
            f"{_label(date_col)} were checked but cannot be sent (the Java service has no way "
            "to back-date a sale)."
        )
    return result


def _resolve(
    row: _Row, sku_col: Column | None, name_col: Column | None, catalogue: CatalogueView
) -> ProductDto | None:
    """By sku, then numeric id, then exact name; the sku column's value first."""
    reference = text_of(row.cell(sku_col))
    name = text_of(row.cell(name_col))
    if not reference and not name:
        row.fail(
            sku_col or name_col,
            None,
            ErrorCode.REQUIRED,
            "A product is required (its SKU, product id or exact name).",
        )
        return None
    if reference:
        found = catalogue.by_sku.get(reference)
        if found is None and reference.isdigit():
            found = catalogue.by_id.get(int(reference))
        if found is None:
            found = catalogue.by_name.get(reference)
        if found is not None:
            return found
    if name:
        found = catalogue.by_name.get(name)
        if found is not None:
            return found
    column = sku_col if reference else name_col
    row.fail(
        column,
        reference or name,
        ErrorCode.UNKNOWN_PRODUCT,
        f"No product in SalesFlow has the SKU, id or name “{reference or name}”.",
    )
    return None


def _check_stock(
    sales: list[SaleDraft],
    catalogue: CatalogueView,
    rows: dict[int, _Row],
    quantity_col: Column | None,
    order_col: Column | None,
) -> list[SaleDraft]:
    """Keep the sales Java's stock can cover, in file order; flag the others."""
    remaining = {pid: p.stock_quantity for pid, p in catalogue.by_id.items()}
    kept = []
    for sale in sales:
        needed: dict[int, int] = defaultdict(int)
        for line in sale.lines:
            needed[line.product_id] += line.quantity
        short = {pid for pid, qty in needed.items() if qty > remaining.get(pid, 0)}
        if not short:
            for pid, qty in needed.items():
                remaining[pid] -= qty
            kept.append(sale)
            continue
        for line in sale.lines:
            row = rows[line.row]
            if line.product_id in short:
                left = remaining.get(line.product_id, 0)
                row.fail(
                    quantity_col,
                    line.quantity,
                    ErrorCode.INSUFFICIENT_STOCK,
                    f"Only {left} of {line.sku} left in stock (after the earlier rows of this "
                    f"file); this sale needs {needed[line.product_id]}.",
                )
            else:
                row.fail(
                    order_col,
                    sale.order_id,
                    ErrorCode.ORDER_HAS_ERRORS,
                    "Not imported: another row of the same order lacks stock, "
                    "and a sale is imported whole or not at all.",
                )
    return kept
