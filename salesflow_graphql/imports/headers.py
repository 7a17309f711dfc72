"""Finding the header row and matching its headers to fields.

Supplier sheets often start with a title, a date and a blank line; the header
row is the row among the first :data:`HEADER_SCAN_ROWS` that names the most
known fields. Headers are compared without case, accents, spacing,
punctuation or bracketed units (“Unit Price ($)” is “unitprice”), and through
synonyms. When two columns name the same field, the more specific synonym wins
(then the leftmost) and the other is ignored, with a notice.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .cells import text_of
from .model import ColumnMatch, Field, ImportKind

HEADER_SCAN_ROWS = 30

#: Synonyms per kind and field, already normalised, most specific first.
SYNONYMS: dict[ImportKind, dict[Field, tuple[str, ...]]] = {
    ImportKind.PRODUCTS: {
        Field.SKU: (
            "sku",
            "productid",
            "productcode",
            "itemcode",
            "ref",
            "reference",
            "article",
            "articleno",
            "articlenumber",
            "itemno",
            "itemnumber",
            "partnumber",
            "partno",
            "code",
            "productsku",
            "itemsku",
        ),
        Field.NAME: ("name", "productname", "product", "itemname", "item", "title"),
        Field.PRICE: (
            "price",
            "unitprice",
            "sellingprice",
            "saleprice",
            "retailprice",
            "listprice",
            "priceperunit",
        ),
        Field.STOCK: (
            "stock",
            "stockquantity",
            "qtyinstock",
            "onhand",
            "quantityonhand",
            "stocklevel",
            "stockqty",
            "instock",
            "inventory",
            "quantity",
            "qty",
        ),
        Field.THRESHOLD: (
            "lowstockthreshold",
            "reorderlevel",
            "minstock",
            "reorderpoint",
            "minimumstock",
            "lowstock",
            "minqty",
            "threshold",
        ),
        Field.CATEGORY: ("category", "productcategory", "department"),
        Field.COST: ("cost", "unitcost", "costprice", "purchaseprice", "buyprice"),
        Field.DESCRIPTION: ("description", "productdescription", "details"),
        Field.IMAGE_URL: ("imageurl", "image", "imagelink", "picture", "photo"),
    },
    ImportKind.SALES: {
        Field.SKU: (
            "sku",
            "productid",
            "productcode",
            "itemcode",
            "ref",
            "reference",
            "article",
            "articleno",
            "articlenumber",
            "itemno",
            "itemnumber",
            "partnumber",
            "productsku",
        ),
        Field.NAME: ("productname", "product", "name", "itemname", "item"),
        Field.QUANTITY: ("quantity", "qty", "units", "unitssold", "quantitysold", "qtysold"),
        Field.ORDER_ID: (
            "orderid",
            "invoice",
            "orderno",
            "receipt",
            "ordernumber",
            "invoiceno",
            "invoicenumber",
            "invoiceid",
            "receiptno",
            "receiptnumber",
            "order",
            "transactionid",
            "saleid",
        ),
        Field.DATE: (
            "date",
            "orderdate",
            "saledate",
            "invoicedate",
            "transactiondate",
            "salesdate",
        ),
    },
}

#: Columns a kind cannot do without.
REQUIRED: dict[ImportKind, tuple[Field, ...]] = {
    ImportKind.PRODUCTS: (Field.SKU, Field.NAME, Field.PRICE),
    ImportKind.SALES: (Field.QUANTITY,),
}

#: Headers recognised as meaningful but not used for a kind (with why, for a notice).
NOT_SENT: dict[ImportKind, dict[str, str]] = {
    ImportKind.SALES: {
        name: "prices come from SalesFlow's catalogue at the moment of import"
        for name in ("price", "unitprice", "sellingprice", "saleprice", "sales", "amount", "total")
    },
    ImportKind.PRODUCTS: {},
}

_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def normalize(header: str) -> str:
    """``“Unit Price ($)”`` → ``"unitprice"``: no case, accents, units, spaces or punctuation."""
    decomposed = unicodedata.normalize("NFKD", header)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_ALNUM.sub("", _BRACKETS.sub("", plain.casefold()))


def _lookup(kind: ImportKind) -> dict[str, tuple[Field, int]]:
    table: dict[str, tuple[Field, int]] = {}
    for field, names in SYNONYMS[kind].items():
        for rank, name in enumerate(names):
            table.setdefault(name, (field, rank))
    return table


_LOOKUP = {kind: _lookup(kind) for kind in ImportKind}


@dataclass(frozen=True, slots=True)
class Column:
    """A header cell: its position in the row, its text as written, and its field."""

    index: int
    header: str
    field: Field | None


@dataclass(frozen=True, slots=True)
class HeaderRow:
    """The header row found in a sheet (``index`` counts rows of the table, from 0)."""

    index: int
    columns: tuple[Column, ...]
    notices: tuple[str, ...] = ()

    def column_of(self, field: Field) -> Column | None:
        for column in self.columns:
            if column.field is field:
                return column
        return None

    @property
    def fields(self) -> set[Field]:
        return {c.field for c in self.columns if c.field is not None}

    def missing(self, kind: ImportKind) -> list[Field]:
        """Required fields with no column; SALES needs a product reference too."""
        found = self.fields
        missing = [f for f in REQUIRED[kind] if f not in found]
        if kind is ImportKind.SALES and not found & {Field.SKU, Field.NAME}:
            missing.insert(0, Field.SKU)
        return missing

    def mapping(self) -> list[ColumnMatch]:
        return [ColumnMatch(c.header, c.field) for c in self.columns]


def score_row(cells: Sequence[Any], kind: ImportKind) -> int:
    """How many distinct fields of ``kind`` the row's text cells name."""
    lookup = _LOOKUP[kind]
    found = set()
    for value in cells:
        if isinstance(value, str) and value:
            hit = lookup.get(normalize(value))
            if hit is not None:
                found.add(hit[0])
    return len(found)


def find_header(rows: Sequence[Sequence[Any]], kind: ImportKind) -> HeaderRow | None:
    """The header row among the first rows of a sheet, or ``None`` when no row names a field.

    A row naming at least two fields is preferred; the best-scoring one wins,
    the earliest on ties. A row naming one field is taken only when no row names
    two (the missing columns are then reported as such).
    """
    best_index, best_score = -1, 0
    for index, cells in enumerate(rows[:HEADER_SCAN_ROWS]):
        score = score_row(cells, kind)
        if score > best_score:
            best_index, best_score = index, score
    if best_score == 0:
        return None
    return match_columns(best_index, rows[best_index], kind)


def match_columns(index: int, cells: Sequence[Any], kind: ImportKind) -> HeaderRow:
    lookup = _LOOKUP[kind]
    chosen: dict[Field, tuple[int, int]] = {}  # field -> (rank, position)
    texts: list[tuple[int, str, tuple[Field, int] | None]] = []
    for position, value in enumerate(cells):
        header = text_of(value)
        if not header:
            continue
        hit = lookup.get(normalize(header))
        texts.append((position, header, hit))
        if hit is not None:
            field, rank = hit
            if field not in chosen or rank < chosen[field][0]:
                chosen[field] = (rank, position)
    columns = []
    notices = []
    for position, header, hit in texts:
        field = hit[0] if hit is not None else None
        if field is not None and chosen[field][1] != position:
            winner = next(h for p, h, _ in texts if p == chosen[field][1])
            notices.append(
                f"Column “{header}” also looks like {field.value}; “{winner}” was used instead."
            )
            field = None
        columns.append(Column(position, header, field))
    ignored = NOT_SENT[kind]
    for column in columns:
        reason = ignored.get(normalize(column.header)) if column.field is None else None
        if reason:
            notices.append(f"Column “{column.header}” is not imported: {reason}.")
    return HeaderRow(index, tuple(columns), tuple(notices))


def looks_like(rows: Sequence[Sequence[Any]], kind: ImportKind) -> bool:
    """True when some early row has every column ``kind`` requires (to suggest the other kind)."""
    header = find_header(rows, kind)
    return header is not None and not header.missing(kind)


#: What users may call each field, for messages about missing columns.
EXAMPLES: dict[Field, str] = {
    Field.SKU: "SKU, Product ID, Product Code, Item Code, Ref or Article",
    Field.NAME: "Name, Product or Product Name",
    Field.PRICE: "Price, Unit Price or Selling Price",
    Field.STOCK: "Stock, Stock Quantity, Qty in stock or On hand",
    Field.THRESHOLD: "Low Stock Threshold, Reorder Level or Min Stock",
    Field.QUANTITY: "Quantity, Qty or Units",
    Field.ORDER_ID: "Order ID, Invoice, Order No or Receipt",
    Field.DATE: "Date, Order Date or Sale Date",
}


def missing_column_message(field: Field, kind: ImportKind) -> str:
    if kind is ImportKind.SALES and field is Field.SKU:
        return (
            "No product column: add one named SKU, Product ID, Product Code or Product Name "
            "(a product is found by SKU, then numeric id, then exact name)."
        )
    return f"No “{field_label(field)}” column: add one named {EXAMPLES.get(field, field_label(field))}."


def field_label(field: Field) -> str:
    """A header users would recognise, for messages."""
    return {
        Field.SKU: "SKU",
        Field.NAME: "Name",
        Field.PRICE: "Price",
        Field.STOCK: "Stock",
        Field.THRESHOLD: "Low Stock Threshold",
        Field.CATEGORY: "Category",
        Field.COST: "Cost",
        Field.DESCRIPTION: "Description",
        Field.IMAGE_URL: "Image URL",
        Field.QUANTITY: "Quantity",
        Field.ORDER_ID: "Order ID",
        Field.DATE: "Date",
    }[field]
