"""How far each sheet reaches, read from its XML as it inflates, before any parser runs.

python-calamine, like most readers, turns a sheet into a dense grid from its
first to its last cell. A header row plus one cell at ``XFD1048576`` is a grid
of 17 billion cells (the Rust allocator aborts the whole process); one cell at
``SF150000`` is 75 million (3 GB). Neither is big on disk, so the zip limits
never see them. Here every worksheet part is measured as it streams by: the
cell references, the declared ``<dimension>`` and, in .ods, the repeated rows
and columns that expand into grids. A sheet whose rows × columns (counted from
A1) pass the cap is refused with its name and extent.

The common case is made cheap: a .xlsx written by Excel, LibreOffice or
openpyxl starts every cell with ``<c r="A1"``, so one regular expression per
chunk finds only the cells that are *not* of that form within the bounds known
so far. Only those chunks (new columns, rows past a power of ten, unusual
markup) are read cell by cell, following calamine's own rules (cells without
``r`` take the next column; ``</row>`` moves to the next row). Memory is one
chunk plus a few bytes carried over; the grid is never built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .model import FileRefused
from .workbook import column_index, column_letters

#: The longest start tag of a cell or row (they have a handful of short attributes).
MAX_TAG_BYTES = 64 * 1024

# A start or end tag with its attributes, up to the first ``>``. Linear on any input (no
# nested quantifiers); a ``>`` inside an attribute value, which no writer puts in a cell or
# row tag, would end the tag early: the sandbox's memory limit is there for such crafts.
_ATTRS = rb"([^>]*)>"
_XLSX_TAG = re.compile(rb"<(/?)(?:[A-Za-z_][\w.\-]*:)?(c|row|dimension)(?=[\s/>])" + _ATTRS)
_ODS_TAG = re.compile(
    rb"<(/?)(table:table-row|table:table-cell|table:covered-table-cell|table:table)(?=[\s/>])"
    + _ATTRS
)
#: Elements calamine reads under any namespace prefix (it matches local names).
_PREFIXED = re.compile(rb":(?:c|row|dimension)[\s/>]")
_DIMENSION = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?dimension[\s/]" + _ATTRS)
_CANONICAL_REF = re.compile(rb'<c r="([A-Za-z]+)([0-9]+)"')
_CELL_START = re.compile(rb"<c[\s/>]")
_REF = re.compile(rb"([A-Za-z]*)([0-9]*)")


def _attribute(name: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"(?:^|\s)" + re.escape(name) + rb"\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")


_R = _attribute(b"r")
_REF_ATTR = _attribute(b"ref")
_ROWS_REPEATED = _attribute(b"table:number-rows-repeated")
_COLUMNS_REPEATED = _attribute(b"table:number-columns-repeated")
_TABLE_NAME = _attribute(b"table:name")
_ODS_VALUE = re.compile(rb"(?:^|\s)(?:office:value-type|table:formula)\s*=")
_ROW_END = b"</table:table-row>"
_ROW_START = re.compile(rb"<table:table-row(?=[\s/>])([^>]*)>")
_COLUMN_REPEATS = re.compile(rb"table:number-columns-repeated\s*=\s*[\"'](\d+)")


@dataclass(frozen=True, slots=True)
class Extent:
    """How far a sheet reaches from A1: its last row and column (1-based)."""

    rows: int
    columns: int

    @property
    def cells(self) -> int:
        return self.rows * self.columns

    def grow(self, rows: int, columns: int) -> Extent:
        return Extent(max(self.rows, rows), max(self.columns, columns))

    @property
    def corner(self) -> str:
        """The farthest cell, as Excel names it (``cell XFD1048576``)."""
        if self.columns > 18_278:  # past ZZZ no sheet program has a name for it
            return f"row {self.rows:,}, column {self.columns:,}"
        return f"cell {column_letters(self.columns - 1)}{self.rows}"


class SheetTooLarge(Exception):
    """A sheet reaches past the cap (raised as soon as the stream shows it)."""

    def __init__(self, extent: Extent, *, declared: bool = False, sheet: str | None = None) -> None:
        super().__init__(extent)
        self.extent = extent
        self.declared = declared  # the sheet's own dimension says so, not its cells
        self.sheet = sheet


def too_large(sheet: str, error: SheetTooLarge, max_cells: int) -> FileRefused:
    """The refusal a user reads: which sheet, how far it reaches, and the cap."""
    extent = error.extent
    how = "is marked as reaching" if error.declared else "reaches"
    return FileRefused(
        f"Sheet “{sheet[:60]}” {how} {extent.corner}: {extent.rows:,} rows × "
        f"{extent.columns:,} columns = {extent.cells:,} cells, and one import reads at most "
        f"{max_cells:,} cells per sheet. Clear the cells far outside your data (in Excel, "
        "Ctrl+End jumps to the last one), save and upload it again; nothing was read."
    )


def _complete(buffer: bytes, tags: re.Pattern[bytes]) -> tuple[bytes, bytes]:
    """``buffer`` up to its unfinished last tag, and that tag (carried to the next chunk).

    A tag we measure (a cell, a row) longer than :data:`MAX_TAG_BYTES` is refused:
    no spreadsheet program writes one, and carrying it would cost unbounded memory.
    """
    cut = buffer.rfind(b"<")
    if cut == -1 or buffer.find(b">", cut) != -1:
        return buffer, b""
    carry = buffer[cut:]
    if len(carry) > MAX_TAG_BYTES:
        if tags.match(carry + b">") is not None:
            raise FileRefused(
                f"A sheet of the file has a cell or row tag longer than {MAX_TAG_BYTES // 1024} "
                "KiB, which no spreadsheet program writes; the file was not opened."
            )
        carry = b""  # some other long construct: nothing in it is measured
    return buffer[:cut], carry


def _value(match: re.Match[bytes] | None) -> bytes | None:
    if match is None:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2)


def _cell_position(ref: bytes) -> tuple[int, int] | None:
    """``(row, column)``, 1-based, of a reference such as ``B7``; None if it has no row."""
    match = _REF.fullmatch(ref)
    if match is None or not match.group(2):
        return None  # calamine refuses such a file; nothing to measure
    letters, digits = match.groups()
    column = column_index(letters.decode("ascii").upper()) + 1 if letters else 0
    return int(digits), column


# ---------------------------------------------------------------------- .xlsx
def _rows_at_most(rows: int) -> str:
    """A row number (1 to 7 digits, then the closing quote) no greater than ``rows``.

    ``rows`` is of the form ``ab99…9`` (see :func:`_rounded_up`), so three branches
    do, the likeliest first: rows come in order, so most share ``a`` and ``b``.
    """
    digits = str(rows)
    if len(digits) == 1:
        return f'[0-{digits}]"'
    head, second, tail = digits[0], digits[1], len(digits) - 2
    branches = [f'{head}[0-{second}][0-9]{{{tail}}}"']
    if head > "0":
        branches.append(f'[0-{chr(ord(head) - 1)}][0-9]{{{tail + 1}}}"')
    branches.append(f'[0-9]{{1,{len(digits) - 1}}}+"')
    return "(?:" + "|".join(branches) + ")"


def _columns_at_most(columns: int) -> str:
    """Column letters, in either case, naming a column no farther than ``columns`` (1-based)."""
    last = column_letters(columns - 1)

    def either(low: str, high: str) -> str:
        return f"[{low}-{high}{low.lower()}-{high.lower()}]"

    branches = [f"{either('A', 'Z')}{{1,{len(last) - 1}}}"] if len(last) > 1 else []
    for i, letter in enumerate(last):
        if letter > "A":
            same = "".join(either(c, c) for c in last[:i])
            rest = f"{either('A', 'Z')}{{{len(last) - i - 1}}}" if i < len(last) - 1 else ""
            branches.append(f"{same}{either('A', chr(ord(letter) - 1))}{rest}")
    branches.append("".join(either(c, c) for c in last))
    return "(?:" + "|".join(reversed(branches)) + ")"


def _rounded_up(row: int) -> int:
    """``row`` with all but its first two digits made 9 (at most 10 % more): few patterns."""
    digits = str(row)
    return int(digits[:2] + "9" * (len(digits) - 2)) if len(digits) > 2 else 99


@lru_cache(maxsize=8)
def _gate(columns: int, rows: int) -> re.Pattern[bytes]:
    """A cell start that is *not* ``<c r="`` + a column ≤ ``columns`` + a row ≤ ``rows``."""
    allowed = _columns_at_most(columns) + _rows_at_most(rows)
    return re.compile(rb'<c(?=[\s/>])(?! r="' + allowed.encode() + rb")")


class SheetXmlScanner:
    """Measures one worksheet part as it streams; raises :class:`SheetTooLarge` past the cap."""

    def __init__(self, max_cells: int) -> None:
        self.max_cells = max_cells
        self.extent = Extent(0, 0)
        self._carry = b""
        self._tags = False  # reading cell by cell for the rest of the part
        self._data_started = False  # past <sheetData>: a later <dimension> is not read
        # calamine's position for cells without r: the row index and next column (0-based)
        self._row, self._column = 0, 0
        self._row_known = True

    def feed(self, data: bytes) -> None:
        buffer, self._carry = _complete(self._carry + data, _XLSX_TAG)
        if self._tags:
            self._read_tags(buffer)
            return
        if not self._data_started:
            self._read_dimension(buffer)
            self._data_started = b"sheetData" in buffer
        if _PREFIXED.search(buffer) is None and self._quick(buffer):
            self._follow_rows(buffer)
            return
        # Unusual markup (cells without r, prefixes): cell by cell from here on.
        self._tags = True
        self._read_tags(buffer)

    def close(self) -> Extent:
        """The sheet's extent once its part has ended (an unfinished last tag is read as is)."""
        self.feed(b"")
        if self._carry:
            self._tags = True
            self._read_tags(self._carry + b">")
        return self.extent

    # ------------------------------------------------------------ fast path
    def _quick(self, buffer: bytes) -> bool:
        """Measure the chunk in one or two passes; False when it must be read cell by cell.

        Rows come in order in every writer's files, so the last cell of the chunk
        has its farthest row; one search proves that no cell lies beyond that row
        or beyond the columns known so far.
        """
        last = _CANONICAL_REF.match(buffer, max(buffer.rfind(b'<c r="'), 0))
        if last is None:
            return _CELL_START.search(buffer) is None  # no cells, or none of the usual form
        row = int(last.group(2))
        bound = _rounded_up(row)
        columns = max(self.extent.columns, 1)
        if bound * columns <= self.max_cells and _gate(columns, bound).search(buffer) is None:
            self._reach(row, columns)  # every cell lies within; in-order rows end at ``row``
            return True
        refs = _CANONICAL_REF.findall(buffer)
        if len(refs) != len(_CELL_START.findall(buffer)):
            return False
        letters = {c.upper() for c, _ in refs}
        farthest = max(column_index(c.decode("ascii")) for c in letters) + 1
        self._reach(max(map(int, {r for _, r in refs})), farthest)
        return True

    def _follow_rows(self, buffer: bytes) -> None:
        """Keep the row index where calamine would have it, from the last row tag of the chunk."""
        last = buffer.rfind(b"<row")
        if last == -1 or buffer[last + 4 : last + 5] not in (b" ", b">", b"/", b"\t", b"\n", b"\r"):
            if b"</row>" in buffer:
                self._row_known = False  # a row ended whose start we did not read
            return
        match = _XLSX_TAG.match(buffer, last)
        number = _value(_R.search(match.group(3))) if match else None
        position = _cell_position(number) if number else None
        if match is None or position is None:
            self._row_known = False
            return
        ended = match.group(3).endswith(b"/") or buffer.find(b"</row>", match.end()) != -1
        self._row, self._column, self._row_known = position[0] - 1 + ended, 0, True

    # ---------------------------------------------------------- cell by cell
    def _read_tags(self, buffer: bytes) -> None:
        for match in _XLSX_TAG.finditer(buffer):
            closing, name, attrs = match.group(1), match.group(2), match.group(3)
            empty = attrs.endswith(b"/")
            if name == b"dimension":
                if not closing:
                    self._declared(_value(_REF_ATTR.search(attrs)))
            elif name == b"row":
                if not closing:
                    number = _value(_R.search(attrs))
                    position = _cell_position(number) if number else None
                    if position is not None:
                        self._row, self._row_known = position[0] - 1, True
                    self._column = 0
                if closing or empty:
                    self._row += 1
                    self._column = 0
            elif not closing:
                self._cell(_value(_R.search(attrs)))

    def _cell(self, ref: bytes | None) -> None:
        position = _cell_position(ref) if ref else None
        if position is not None and position[1] > 0:
            row, column = position
            self._row_known = True  # calamine takes the row from the cell itself
            self._row = row - 1
        else:
            if not self._row_known:  # can't tell which row: count it as far as allowed
                self._row = self.max_cells // max(self.extent.columns, 1)
                self._row_known = True
            row, column = self._row + 1, self._column + 1
        self._column = column  # the next cell without r comes right after this one
        self._reach(row, column)

    # ------------------------------------------------------------- dimension
    def _read_dimension(self, buffer: bytes) -> None:
        match = _DIMENSION.search(buffer)
        if match is not None:
            self._declared(_value(_REF_ATTR.search(b" " + match.group(1))))

    def _declared(self, ref: bytes | None) -> None:
        corner = _cell_position(ref.rsplit(b":", 1)[-1]) if ref else None
        if corner is not None:
            extent = self.extent.grow(*corner)
            if extent.cells > self.max_cells:
                raise SheetTooLarge(extent, declared=True)

    def _reach(self, rows: int, columns: int) -> None:
        extent = self.extent.grow(rows, columns)
        if extent.cells > self.max_cells:
            raise SheetTooLarge(extent)
        self.extent = extent


# ----------------------------------------------------------------------- .ods
class OdsContentScanner:
    """Measures every table of an .ods ``content.xml`` as it streams, repeats expanded.

    As in calamine, a row or cell repeated n times counts n times once it holds a
    value; empty ones count only when something filled follows them.
    """

    def __init__(self, max_cells: int) -> None:
        self.max_cells = max_cells
        self.tables: dict[str, Extent] = {}
        self._carry = b""
        self._table = ""
        self._rows = 0  # expanded rows before the current one
        self._row_repeats = 1
        self._columns = 0  # expanded cells so far in the current row
        self._reach = 0  # end of the last filled cell of the current row
        self._extent = Extent(0, 0)

    def feed(self, data: bytes) -> None:
        buffer, self._carry = _complete(self._carry + data, _ODS_TAG)
        rows = buffer.split(_ROW_END)
        if len(rows) < 3:
            self._read_tags(buffer)
            return
        # The first and last pieces belong to rows cut by the chunk; those in between are
        # whole rows, measured a row at a time when their markup is the usual one.
        self._read_tags(rows[0] + _ROW_END)
        for row in rows[1:-1]:
            if not self._whole_row(row):
                self._read_tags(row + _ROW_END)
        self._read_tags(rows[-1])

    def _whole_row(self, row: bytes) -> bool:
        """Measure a row from a few searches; False when it needs reading tag by tag.

        A 100k-row sheet has 100k of these: plain byte searches, no call per cell.
        """
        start = _ROW_START.search(row)
        if start is None:
            return False
        attrs, begin = start.group(1), start.end()
        if (
            attrs[-1:] == b"/"
            or row.find(b"<table:table", 0, start.start()) != -1
            or row.find(b"<table:table-row", begin) != -1
        ):
            return False
        repeats = _count(_ROWS_REPEATED.search(attrs)) if b"repeated" in attrs else 1
        reach = 0
        if b"office:value-type" in row or b"table:formula" in row or b"</table:" in row:
            # Every cell up to the last counts, but the usual trailing run of empty ones.
            end = max(row.rfind(b"<table:table-cell"), row.rfind(b"<table:covered-table-cell"))
            tail = row[end:]
            if not (b"office:value-type" in tail or b"table:formula" in tail or b"</" in tail):
                row = row[begin:end]
            else:
                row = row[begin:]
            reach = row.count(b"<table:table-cell") + row.count(b"<table:covered-table-cell")
            if b"repeated" in row:
                reach += sum(int(r) - 1 for r in _COLUMN_REPEATS.findall(row))
        self._row_repeats, self._reach = repeats, reach
        self._end_row()
        return True

    def _read_tags(self, buffer: bytes) -> None:
        # One pass of cheap tests per tag: a 100k-row sheet has about a million of them.
        for closing, name, attrs in _ODS_TAG.findall(buffer):
            if name[-4:] == b"cell":
                if not closing:
                    if b"repeated" in attrs:
                        self._columns += _count(_COLUMNS_REPEATED.search(attrs))
                    else:
                        self._columns += 1
                    if attrs[-1:] != b"/" or _ODS_VALUE.search(attrs):
                        self._reach = self._columns
            elif name == b"table:table-row":
                if not closing:
                    self._row_repeats = (
                        _count(_ROWS_REPEATED.search(attrs)) if b"repeated" in attrs else 1
                    )
                    self._columns = self._reach = 0
                if closing or attrs[-1:] == b"/":
                    self._end_row()
            elif not closing:
                self._start_table(attrs)
            else:
                self._end_table()

    def close(self) -> dict[str, Extent]:
        """Every table's extent, by name."""
        if self._carry:
            self.feed(b">")
        if self._table:
            self._end_table()
        return self.tables

    def _start_table(self, attrs: bytes) -> None:
        if self._table:
            self._end_table()
        name = _value(_TABLE_NAME.search(attrs)) or b"Sheet"
        self._table = name.decode("utf-8", "replace") or "Sheet"
        self._rows, self._extent = 0, Extent(0, 0)

    def _end_row(self) -> None:
        self._rows += self._row_repeats
        if self._reach:
            extent = self._extent
            if self._reach > extent.columns or self._rows > extent.rows:
                extent = Extent(self._rows, max(extent.columns, self._reach))
                if extent.cells > self.max_cells:
                    raise SheetTooLarge(extent, sheet=self._table)
                self._extent = extent

    def _end_table(self) -> None:
        self.tables[self._table] = self._extent
        self._table = ""


def _count(match: re.Match[bytes] | None) -> int:
    value = _value(match)
    return int(value) if value and value.isdigit() else 1
