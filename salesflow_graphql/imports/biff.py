"""How far each sheet of an .xls reaches, read from its records before any parser runs.

An .xls is a compound file (a little FAT file system) whose ``Workbook`` stream
is a sequence of BIFF records. python-calamine reserves memory for the extent a
sheet's DIMENSIONS record declares, then builds a dense grid up to its farthest
cell, so a 10 KB file can ask for terabytes. Here the compound file is read
with every chain checked (no loops, nothing out of the file), then each sheet
walked record by record as calamine walks it: DIMENSIONS, ROW records and every
record that holds a cell. A sheet past the cap raises :class:`SheetTooLarge`.
"""

from __future__ import annotations

import struct
from array import array

from .extent import Extent, SheetTooLarge
from .model import FileRefused

_FREE, _END_OF_CHAIN = 0xFFFFFFFF, 0xFFFFFFFE
_LAST_SECTOR = 0xFFFFFFFA  # ids above are markers, not sectors
#: Names calamine looks for, in its order.
_STREAMS = ("Workbook", "Book", "WORKBOOK", "BOOK")
_MINI_CUTOFF = 4096  # calamine's (the format's usual) cut-off for the mini stream
_BOF, _EOF, _BOUNDSHEET, _DIMENSIONS, _ROW = 0x0809, 0x000A, 0x0085, 0x0200, 0x0208
_MULRK = 0x00BD
#: Records whose data starts with the row and column of one cell calamine keeps.
_CELLS = frozenset({0x0203, 0x0204, 0x00D6, 0x0205, 0x027E, 0x00FD, 0x0006})
_U16 = struct.Struct("<H")
_U16X2 = struct.Struct("<HH")
_U16X3 = struct.Struct("<HHH")
_U32 = struct.Struct("<I")
_WRAP = 1 << 32


def _damaged(what: str) -> FileRefused:
    return FileRefused(
        f"The .xls file's {what} is damaged or crafted; it was not opened. Open it in your "
        "spreadsheet program, save it as .xlsx and upload that."
    )


def check_xls(content: bytes, max_cells: int) -> None:
    """Refuse a damaged compound file, or raise :class:`SheetTooLarge` for a sheet past the cap."""
    stream = _workbook_stream(content)
    sheets = _boundsheets(stream)
    walked = 0
    for position, name in sheets:
        walked += _measure(stream, position, name, max_cells)
        if walked > 2 * len(stream) + 65536:  # sheets that overlap: each walked again and again
            raise _damaged("sheet index")


# ------------------------------------------------------------- compound file
def _workbook_stream(content: bytes) -> bytes:
    if len(content) < 512:
        raise _damaged("header")
    shift = _U16.unpack_from(content, 30)[0]
    if shift not in (9, 12):
        raise _damaged("header")
    size = 1 << shift
    sectors = (len(content) - size) // size  # the header takes the first sector's place

    def sector(sid: int) -> bytes:
        if sid >= sectors:
            raise _damaged("sector table")
        return content[(sid + 1) * size : (sid + 2) * size]

    def chain(start: int, table: array[int], limit: int, read: object = sector) -> bytes:
        parts: list[bytes] = []
        seen: set[int] = set()
        sid, total = start, 0
        while sid != _END_OF_CHAIN and total < limit:
            if sid in seen or sid >= len(table):
                raise _damaged("sector chain")
            seen.add(sid)
            part = read(sid)  # type: ignore[operator]
            parts.append(part)
            total += len(part)
            sid = table[sid]
        return b"".join(parts)[:limit]

    fat_ids = [i for i in _u32s(content[76:512]) if i <= _LAST_SECTOR]
    difat, seen = _U32.unpack_from(content, 68)[0], set()
    while difat <= _LAST_SECTOR:
        if difat in seen:
            raise _damaged("sector table")
        seen.add(difat)
        entries = _u32s(sector(difat))
        fat_ids.extend(i for i in entries[:-1] if i <= _LAST_SECTOR)
        difat = entries[-1]
    fat = _u32s(b"".join(sector(i) for i in fat_ids))
    directory = chain(_U32.unpack_from(content, 48)[0], fat, len(content))
    entries = [directory[i : i + 128] for i in range(0, len(directory) - 127, 128)]
    if not entries:
        raise _damaged("directory")
    by_name = {_entry_name(e): e for e in reversed(entries)}  # the first of a name wins
    entry = next((by_name[n] for n in _STREAMS if n in by_name), None)
    if entry is None:
        raise FileRefused("The .xls file has no workbook inside; it was not opened.")
    start = _U32.unpack_from(entry, 116)[0]
    length = (
        _U32.unpack_from(entry, 120)[0] if shift == 9 else struct.unpack_from("<Q", entry, 120)[0]
    )
    if length > len(content):
        raise _damaged("directory")  # a stream larger than the file holding it
    if length >= _MINI_CUTOFF:
        return chain(start, fat, length)
    root = entries[0]
    mini = chain(_U32.unpack_from(root, 116)[0], fat, _U32.unpack_from(root, 120)[0])
    mini_fat = _u32s(chain(_U32.unpack_from(content, 60)[0], fat, len(content)))

    def mini_sector(sid: int) -> bytes:
        if (sid + 1) * 64 > len(mini):
            raise _damaged("mini stream")
        return mini[sid * 64 : (sid + 1) * 64]

    return chain(start, mini_fat, length, mini_sector)


def _u32s(data: bytes) -> array[int]:
    values = array("I")
    values.frombytes(data[: len(data) - len(data) % 4])
    return values


def _entry_name(entry: bytes) -> str:
    name = entry[:64].decode("utf-16-le", "replace")
    return name.split("\x00", 1)[0]


# ---------------------------------------------------------------- BIFF records
def _records(stream: bytes, start: int):  # type: ignore[no-untyped-def]
    """``(type, data offset, data length)`` from ``start`` to the end of the stream."""
    position, end = start, len(stream)
    while position + 4 <= end:
        kind, length = _U16X2.unpack_from(stream, position)
        position += 4
        if position + length > end:
            return
        yield kind, position, length
        position += length


def _boundsheets(stream: bytes) -> list[tuple[int, str]]:
    """The sheets of the workbook globals: where each starts, and its name."""
    sheets: list[tuple[int, str]] = []
    biff8 = True
    for kind, at, length in _records(stream, 0):
        if kind == _BOF and length >= 2:
            biff8 = _U16.unpack_from(stream, at)[0] == 0x0600
        elif kind == _BOUNDSHEET and length >= 7:
            data = stream[at : at + length]
            count = data[6]
            if biff8 and length >= 8:
                wide = data[7] & 1
                raw = data[8 : 8 + count * (2 if wide else 1)]
                name = raw.decode("utf-16-le" if wide else "latin-1", "replace")
            else:
                name = data[7 : 7 + count].decode("latin-1", "replace")
            sheets.append((_U32.unpack_from(data, 0)[0], name.replace("\x00", "") or "Sheet"))
        elif kind == _EOF:
            break
    unique: dict[int, str] = {}
    for position, name in sheets:  # two entries pointing at one sheet: walk it once
        if position < len(stream):
            unique.setdefault(position, name)
    return list(unique.items())


def _measure(stream: bytes, position: int, name: str, max_cells: int) -> int:
    """Walk one sheet as calamine does; the bytes walked. Raises :class:`SheetTooLarge`.

    A tight loop: a 65,536-row sheet has hundreds of thousands of records.
    """
    rows = columns = 0
    depth, started = 0, False
    pair, end, at = _U16X2.unpack_from, len(stream), position
    while at + 4 <= end:
        kind, length = pair(stream, at)
        data, at = at + 4, at + 4 + length
        if at > end:
            break
        if kind in _CELLS and not depth and length >= 4:
            row, column = pair(stream, data)
            if row < rows and column < columns:
                continue
            rows, columns = max(rows, row + 1), max(columns, column + 1)
        elif depth:  # an embedded chart or the like: calamine skips it
            depth += kind == _BOF
            depth -= kind == _EOF
            continue
        elif kind == _BOF:
            depth, started = (1, started) if started else (0, True)
            continue
        elif kind == _EOF:
            break
        elif kind == _MULRK and length >= 6:  # a run of numbers: row, first and last column
            row, first = pair(stream, data)
            last = _U16.unpack_from(stream, data + length - 2)[0]
            rows, columns = max(rows, row + 1), max(columns, first + 1, last + 1)
        elif kind == _ROW and length >= 6:  # a row: its number, first column, one past its last
            row, _, past = _U16X3.unpack_from(stream, data)
            if past:
                rows, columns = max(rows, row + 1), max(columns, past)
        elif kind == _DIMENSIONS and length in (10, 14):
            declared = _dimensions(stream[data : data + length])
            if declared.cells > max_cells:
                raise SheetTooLarge(declared, declared=True, sheet=name)
            continue
        else:
            continue
        if rows * columns > max_cells:
            raise SheetTooLarge(Extent(rows, columns), sheet=name)
    return at - position


def _dimensions(data: bytes) -> Extent:
    """What calamine reserves for a DIMENSIONS record, with its unsigned arithmetic."""
    if len(data) == 10:
        first_row, last_row, first_col, last_col = struct.unpack_from("<HHHH", data)
    else:
        first_row, last_row, first_col, last_col = struct.unpack_from("<IIHH", data)
    if first_col > 0xFF or last_col < first_col:
        first_col = 0
    if last_row < 1 or last_col < 1:
        return Extent(1, 1)
    rows = (last_row - 1 - first_row) % _WRAP + 1
    columns = (last_col - 1 - first_col) % _WRAP + 1
    return Extent(rows, columns)
