"""Checks on a zip-based workbook (.xlsx, .xlsm, .ods) before any parser sees it.

A 300 KB file can inflate to gigabytes. Before parsing, the central directory
is checked (entry count, total declared size, inflate ratio per member, no
encryption); then every member is inflated once from its raw bytes, in 1 MiB
steps that are thrown away, with a hard cap on the bytes produced, and must
end exactly at its declared size with its declared CRC. So the parser only
ever inflates what was counted here: a member that lies about its size is
caught before it. XML parts are also refused if they carry a DTD (entity
expansion attacks); a real workbook never has one.

The one XML part read in Python, ``[Content_Types].xml``, goes through defusedxml.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from defusedxml import ElementTree as SafeElementTree

from .formats import SpreadsheetFormat
from .model import FileRefused

MiB = 1024 * 1024
#: Members smaller than this are not ratio-checked: tiny XML compresses very well.
RATIO_FLOOR_BYTES = 1 * MiB
INFLATE_STEP = 1 * MiB
_XML_SUFFIXES = (".xml", ".rels", ".vml")
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
        inflated = _inflate_with_cap(content, members, limits)
        names = {m.filename for m in members}
        fmt, macros = _identify(archive, names)
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


def _inflate_with_cap(content: bytes, members: list[zipfile.ZipInfo], limits: ArchiveLimits) -> int:
    """Inflate every member from its raw bytes, counting, and prove its size and CRC honest.

    zipfile alone is not enough: it stops at the declared size, so a member
    that declares 1 MiB (with the CRC of its first MiB) but inflates to 1 GiB
    would pass, and the parser, which reads to the end of the deflate stream,
    would not stop. Here the stream must end exactly at the declared size.
    """
    total = 0
    view = memoryview(content)
    for member in members:
        if member.is_dir():
            continue
        produced, crc = 0, 0
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
            if produced == len(chunk) and member.filename.lower().endswith(_XML_SUFFIXES):
                _refuse_dtd(chunk, member.filename)  # the first chunk: where a DTD would be
            crc = zlib.crc32(chunk, crc)
        if produced != member.file_size or crc != member.CRC:
            raise _damaged(member, "does not match its declared size and checksum")
    return total


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


def _refuse_dtd(head: bytes, name: str) -> None:
    # A DTD must come before the root element, so the first chunk is where it would be.
    lowered = head[:65536].lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise FileRefused(
            f"Part “{name[:60]}” declares a DTD, which spreadsheets never need "
            "(a known XML attack); the file was not opened."
        )


def _identify(archive: zipfile.ZipFile, names: set[str]) -> tuple[SpreadsheetFormat, bool]:
    if "mimetype" in names:
        mimetype = archive.read("mimetype")[:200].strip()
        if mimetype == b"application/vnd.oasis.opendocument.spreadsheet":
            macros = any(n.startswith("Basic/") for n in names)
            return SpreadsheetFormat.ODS, macros
        if mimetype.startswith(b"application/vnd.oasis.opendocument."):
            kind = mimetype.rsplit(b".", 1)[-1].decode("ascii", "replace")
            raise FileRefused(
                f"The file is an OpenDocument {kind}, not a spreadsheet; it was not opened."
            )
    if "[Content_Types].xml" in names:
        main = _main_content_type(archive.read("[Content_Types].xml"))
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
