"""Checks on a zip-based workbook (.xlsx, .xlsm, .ods) before any parser sees it.

A 300 KB file can inflate to gigabytes. Before parsing, the central directory
is checked (entry count, total declared size, inflate ratio per member, no
encryption); then every member is inflated once from its raw bytes, in 1 MiB
steps that are thrown away, with a hard cap on the bytes produced, and must
end exactly at its declared size with its declared CRC. So the parser only
ever inflates what was counted here: a member that lies about its size is
caught before it.

While they stream by, XML parts are also read for what a parser must never
meet: a DTD anywhere in the part (entity expansion attacks; a real workbook
never has one), a text encoding other than UTF-8 or an ASCII superset (where
these byte-level checks could not see), a shared-string table that asks for
more entries than it could hold, and sheets whose extent passes the cell cap
(:mod:`.extent`).

The small XML parts read in Python (``[Content_Types].xml``, the workbook's
sheet list) go through defusedxml.
"""

from __future__ import annotations

import io
import posixpath
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from defusedxml import ElementTree as SafeElementTree

from .extent import OdsContentScanner, SheetTooLarge, SheetXmlScanner, too_large
from .formats import SpreadsheetFormat
from .model import FileRefused

MiB = 1024 * 1024
#: Members smaller than this are not ratio-checked: tiny XML compresses very well.
RATIO_FLOOR_BYTES = 1 * MiB
INFLATE_STEP = 1 * MiB
_XML_SUFFIXES = (".xml", ".rels", ".vml")
#: Small parts read whole in Python; larger ones are not what a workbook has.
_SMALL_PART_BYTES = 4 * MiB
_DTD = re.compile(rb"<!(?i:doctype|entity)")
_DTD_OVERLAP = len(b"<!doctype") - 1
_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)")
_ASCII_SUPERSETS = re.compile(
    r"(?i)utf-?8|(?:us-)?ascii|iso[-_]?8859-\d+|latin-?1|(?:windows|cp)-?125\d"
)
_SST = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?sst\b[^>]*?\suniqueCount\s*=\s*[\"'](\d+)")
#: The shortest shared string, ``<si/>``: a table can't hold more entries than this allows.
_MIN_SST_ENTRY = 5
#: A zip local file header; the last two fields are the name and extra-field lengths.
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")

_MAIN_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": "xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": "xlsx",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": "xlsm",
    "application/vnd.ms-excel.template.macroEnabled.main+xml": "xlsm",
    "application/vnd.ms-excel.sheet.binary.macroEnabled.main": "xlsb",
}
_OTHER_OFFICE = {
    "word/": "a Word document",
    "ppt/": "a PowerPoint presentation",
    "visio/": "a Visio drawing",
}


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_entries: int
    max_uncompressed_bytes: int
    max_ratio: float
    #: Rows × columns (from A1) a sheet may reach (:mod:`.extent`).
    max_sheet_cells: int = 5_000_000


@dataclass(frozen=True, slots=True)
class ArchiveFacts:
    """What is inside: the real format and whether it carries macros (never run)."""

    format: SpreadsheetFormat
    has_macros: bool
    uncompressed_bytes: int


def inspect_archive(content: bytes, limits: ArchiveLimits) -> ArchiveFacts:
    """Check ``content`` against ``limits`` and identify it, or raise :class:`FileRefused`."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise FileRefused(
            "The file is a damaged zip archive; open it in Excel, save it again and retry."
        ) from None
    with archive:
        members = archive.infolist()
        _check_directory(members, limits)
        names = {m.filename for m in members}
        fmt, macros = _identify(archive, names)
        sheets = _sheet_names(archive, names) if fmt is not SpreadsheetFormat.ODS else {}
        inflated = _inflate_with_cap(content, members, limits, fmt, sheets)
    return ArchiveFacts(format=fmt, has_macros=macros, uncompressed_bytes=inflated)


def _check_directory(members: list[zipfile.ZipInfo], limits: ArchiveLimits) -> None:
    if len(members) > limits.max_entries:
        raise FileRefused(
            f"The archive has {len(members):,} parts; a workbook has far fewer "
            f"(the limit is {limits.max_entries:,}). It was not opened."
        )
    declared = sum(m.file_size for m in members)
    if declared > limits.max_uncompressed_bytes:
        raise FileRefused(
            f"The file would inflate to {declared / MiB:,.0f} MiB, over the limit of "
            f"{limits.max_uncompressed_bytes / MiB:,.0f} MiB. It was not opened "
            "(split it into smaller files)."
        )
    for member in members:
        if member.flag_bits & 0x1:
            raise FileRefused("The workbook is encrypted; remove its password and upload it again.")
        if member.file_size > RATIO_FLOOR_BYTES:
            ratio = member.file_size / max(member.compress_size, 1)
            if ratio > limits.max_ratio:
                raise FileRefused(
                    f"Part “{member.filename[:60]}” inflates {ratio:,.0f} times, which no real "
                    f"workbook does (the limit is {limits.max_ratio:,.0f}); the file looks like "
                    "a zip bomb and was not opened."
                )


def _inflate_with_cap(
    content: bytes,
    members: list[zipfile.ZipInfo],
    limits: ArchiveLimits,
    fmt: SpreadsheetFormat,
    sheets: dict[str, str],
) -> int:
    """Inflate every member from its raw bytes, counting, and prove its size and CRC honest.

    zipfile alone is not enough: it stops at the declared size, so a member
    that declares 1 MiB (with the CRC of its first MiB) but inflates to 1 GiB
    would pass, and the parser, which reads to the end of the deflate stream,
    would not stop. Here the stream must end exactly at the declared size.
    Each XML part is read by :class:`_XmlPart` on the way.
    """
    total = 0
    view = memoryview(content)
    for member in members:
        if member.is_dir():
            continue
        produced, crc = 0, 0
        xml = _XmlPart.of(member, fmt, limits.max_sheet_cells)
        for chunk in _member_chunks(view, member):
            produced += len(chunk)
            total += len(chunk)
            if total > limits.max_uncompressed_bytes:
                raise FileRefused(
                    "The file inflates past its limit of "
                    f"{limits.max_uncompressed_bytes / MiB:,.0f} MiB; it was not opened."
                )
            if produced > member.file_size:
                raise _damaged(member, "inflates to more than it declares")
            if xml is not None:
                xml.feed(chunk, sheets)
            crc = zlib.crc32(chunk, crc)
        if produced != member.file_size or crc != member.CRC:
            raise _damaged(member, "does not match its declared size and checksum")
        if xml is not None:
            xml.close(sheets)
    return total


class _Scanner(Protocol):
    def feed(self, data: bytes) -> None: ...


class _XmlPart:
    """One XML part as it streams: DTD, encoding, shared strings and sheet extents."""

    def __init__(self, member: zipfile.ZipInfo, measure: _Scanner | None, max_cells: int) -> None:
        self.member = member
        self.name = member.filename
        self.measure = measure
        self.max_cells = max_cells
        self._tail = b""
        self._first = True

    @classmethod
    def of(cls, member: zipfile.ZipInfo, fmt: SpreadsheetFormat, max_cells: int) -> _XmlPart | None:
        name = member.filename
        if not name.lower().endswith(_XML_SUFFIXES):
            return None
        measure: _Scanner | None = None
        if fmt is SpreadsheetFormat.ODS:
            if name == "content.xml":
                measure = OdsContentScanner(max_cells)
        elif name.lower().endswith(".xml"):
            # Every part, not only the sheets the workbook lists: a part it lists under
            # an odd name must not escape, and parts without cells cost one search.
            measure = SheetXmlScanner(max_cells)
        return cls(member, measure, max_cells)

    def feed(self, chunk: bytes, sheets: dict[str, str]) -> None:
        if self._first:
            self._first = False
            self._check_head(chunk)
        if _DTD.search(chunk) or _DTD.search(self._tail + chunk[:_DTD_OVERLAP]):
            raise FileRefused(
                f"Part “{self.name[:60]}” declares a DTD, which spreadsheets never need "
                "(a known XML attack); the file was not opened."
            )
        self._tail = chunk[-_DTD_OVERLAP:]
        if self.measure is not None:
            try:
                self.measure.feed(chunk)
            except SheetTooLarge as error:
                raise self._too_large(error, sheets) from None

    def close(self, sheets: dict[str, str]) -> None:
        if self.measure is None:
            return
        try:
            self.measure.close()  # type: ignore[attr-defined]
        except SheetTooLarge as error:
            raise self._too_large(error, sheets) from None

    def _too_large(self, error: SheetTooLarge, sheets: dict[str, str]) -> FileRefused:
        sheet = error.sheet or sheets.get(self.name) or self.name
        return too_large(sheet, error, self.max_cells)

    def _check_head(self, head: bytes) -> None:
        """Only UTF-8 or an ASCII superset: the byte-level checks above must see the markup."""
        declared = _ENCODING.match(head)
        encoding = declared.group(1).decode("ascii", "replace") if declared else "utf-8"
        if (
            b"\x00" in head[:4]
            or head.startswith((b"\xff\xfe", b"\xfe\xff"))
            or not (_ASCII_SUPERSETS.fullmatch(encoding))
        ):
            raise FileRefused(
                f"Part “{self.name[:60]}” is not written in UTF-8 (it says {encoding[:20]!r} or "
                "starts like UTF-16), which no spreadsheet program does; the file was not opened."
            )
        if self.name.lower().endswith("sharedstrings.xml"):
            entries = _SST.search(head)
            if entries and int(entries.group(1)) > self.member.file_size // _MIN_SST_ENTRY + 1:
                raise _damaged(self.member, "claims more shared strings than it can hold")


def _member_chunks(view: memoryview, member: zipfile.ZipInfo) -> Iterator[bytes]:
    """The inflated bytes of ``member``, 1 MiB at a time, straight from its raw data."""
    start = member.header_offset
    header = bytes(view[start : start + _LOCAL_HEADER.size])
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise _damaged(member, "has no valid header")
    name_length, extra_length = _LOCAL_HEADER.unpack(header)[-2:]
    begin = start + _LOCAL_HEADER.size + name_length + extra_length
    raw = view[begin : begin + member.compress_size]
    if len(raw) != member.compress_size:
        raise _damaged(member, "is cut short")
    if member.compress_type == zipfile.ZIP_STORED:
        for offset in range(0, len(raw), INFLATE_STEP):
            yield bytes(raw[offset : offset + INFLATE_STEP])
        return
    if member.compress_type != zipfile.ZIP_DEFLATED:
        raise FileRefused(
            "The file uses a zip compression method spreadsheets do not use; it was not opened."
        )
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        for offset in range(0, len(raw), INFLATE_STEP):
            pending = bytes(raw[offset : offset + INFLATE_STEP])
            while pending:
                chunk = inflater.decompress(pending, INFLATE_STEP)
                pending = inflater.unconsumed_tail
                if chunk:
                    yield chunk
                if inflater.eof:
                    break
            if inflater.eof:
                break
        while not inflater.eof and (chunk := inflater.decompress(b"", INFLATE_STEP)):
            yield chunk
    except zlib.error:
        raise _damaged(member, "is not valid compressed data") from None
    if not inflater.eof or inflater.unused_data:
        raise _damaged(member, "does not end where it should")


def _damaged(member: zipfile.ZipInfo, problem: str) -> FileRefused:
    return FileRefused(
        f"Part “{member.filename[:60]}” of the file {problem}: the file is damaged or "
        "crafted, and was not opened."
    )


def _identify(archive: zipfile.ZipFile, names: set[str]) -> tuple[SpreadsheetFormat, bool]:
    if "mimetype" in names:
        mimetype = _small_part(archive, "mimetype")[:200].strip()
        if mimetype == b"application/vnd.oasis.opendocument.spreadsheet":
            macros = any(n.startswith("Basic/") for n in names)
            return SpreadsheetFormat.ODS, macros
        if mimetype.startswith(b"application/vnd.oasis.opendocument."):
            kind = mimetype.rsplit(b".", 1)[-1].decode("ascii", "replace")
            raise FileRefused(
                f"The file is an OpenDocument {kind}, not a spreadsheet; it was not opened."
            )
    if "[Content_Types].xml" in names:
        main = _main_content_type(_small_part(archive, "[Content_Types].xml"))
        if main == "xlsb":
            raise FileRefused(
                "The file is an Excel binary workbook (.xlsb); save it as .xlsx and upload that."
            )
        if main in ("xlsx", "xlsm"):
            macros = main == "xlsm" or "xl/vbaProject.bin" in names
            return (SpreadsheetFormat.XLSM if macros else SpreadsheetFormat.XLSX), macros
        for prefix, what in _OTHER_OFFICE.items():
            if any(n.startswith(prefix) for n in names):
                raise FileRefused(f"The file is {what}, not a spreadsheet; it was not opened.")
    raise FileRefused(
        "The file is a zip archive but not a workbook (.xlsx, .xlsm or .ods); it was not opened."
    )


def _sheet_names(archive: zipfile.ZipFile, names: set[str]) -> dict[str, str]:
    """Each worksheet part's name as the workbook shows it (for messages; {} if unreadable)."""
    try:
        workbook = SafeElementTree.fromstring(_small_part(archive, "xl/workbook.xml"))
        rels = SafeElementTree.fromstring(_small_part(archive, "xl/_rels/workbook.xml.rels"))
    except (
        Exception
    ):  # a damaged or absent part: the parser will say so, or the part's path will do
        return {}
    targets = {
        r.get("Id"): r.get("Target", "") for r in rels if r.tag.rsplit("}", 1)[-1] == "Relationship"
    }
    found: dict[str, str] = {}
    for sheet in workbook.iter():
        if sheet.tag.rsplit("}", 1)[-1] != "sheet":
            continue
        rel = next((v for k, v in sheet.attrib.items() if k.rsplit("}", 1)[-1] == "id"), None)
        target = targets.get(rel) or ""
        path = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
        found[posixpath.normpath(path)] = sheet.get("name") or path
    return found


def _small_part(archive: zipfile.ZipFile, name: str) -> bytes:
    if archive.getinfo(name).file_size > _SMALL_PART_BYTES:
        raise FileRefused(f"Part “{name}” is far larger than a workbook's; it was not opened.")
    return archive.read(name)


def _main_content_type(xml: bytes) -> str | None:
    try:
        root = SafeElementTree.fromstring(xml)
    except Exception:  # defusedxml refusals and plain syntax errors alike
        raise FileRefused(
            "The workbook's table of contents is damaged or unsafe; it was not opened."
        ) from None
    for element in root:
        if element.tag.rsplit("}", 1)[-1] == "Override":
            kind = _MAIN_TYPES.get(element.get("ContentType", ""))
            if kind is not None:
                return kind
    return None
