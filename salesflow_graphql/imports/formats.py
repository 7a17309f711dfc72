"""Which spreadsheet format a file really is: its name's extension against its first bytes.

Users pick the wrong file all the time, and a file's name is just a claim. The
first bytes decide: a zip archive (.xlsx, .xlsm, .ods, told apart by
:mod:`.archive` from their members), an OLE2 compound file (.xls), or text
(.csv). Anything else, or a mismatch between name and bytes, is refused with a
message that says what the file looks like instead.
"""

from __future__ import annotations

import codecs
from enum import StrEnum
from pathlib import PurePath

from .model import FileRefused

SUPPORTED = ".xlsx, .xlsm, .xls, .ods or .csv"

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a first member, or an empty archive
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: The UTF-16 name of the stream an encrypted (password-protected) OOXML file lives in.
ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")

#: Well-known magic numbers of things people upload by mistake.
_IMPOSTORS: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows program (.exe or .dll)"),
    (b"\x7fELF", "a Linux program"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"Rar!", "a RAR archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"{\\rtf", "an RTF document"),
)


class SpreadsheetFormat(StrEnum):
    XLSX = "xlsx"
    XLSM = "xlsm"
    XLS = "xls"
    ODS = "ods"
    CSV = "csv"

    @property
    def label(self) -> str:
        return {
            "xlsx": "Excel workbook (.xlsx)",
            "xlsm": "macro-enabled Excel workbook (.xlsm)",
            "xls": "Excel 97-2003 workbook (.xls)",
            "ods": "OpenDocument spreadsheet (.ods)",
            "csv": "CSV text file",
        }[self.value]


class Container(StrEnum):
    """What the first bytes say, before looking inside."""

    ZIP = "zip"
    OLE = "ole"
    TEXT = "text"


def extension_of(filename: str) -> str:
    """The lower-case extension without the dot (``""`` when there is none)."""
    return PurePath(filename or "").suffix.lower().lstrip(".")


def check_extension(filename: str) -> str:
    """The extension, or :class:`FileRefused` when it is not one import reads."""
    extension = extension_of(filename)
    if extension and extension not in {f.value for f in SpreadsheetFormat}:
        raise FileRefused(
            f"“{_short(filename)}” is a .{extension} file; import reads {SUPPORTED} files."
        )
    return extension


def sniff(content: bytes, filename: str) -> Container:
    """The container the bytes are, or :class:`FileRefused` naming what they really are."""
    extension = check_extension(filename)
    named = f"“{_short(filename)}”"
    if not content:
        raise FileRefused(f"{named} is empty (0 bytes).")
    for magic, what in _IMPOSTORS:
        if content.startswith(magic):
            raise FileRefused(
                f"{named} is really {what}, not a spreadsheet; it was not opened. "
                f"Choose the {SUPPORTED} file you meant to upload."
            )
    if content.startswith(ZIP_MAGIC):
        if extension in ("xls", "csv"):
            raise FileRefused(
                f"{named} is named .{extension} but is a zip-based workbook (.xlsx or .ods). "
                "Save it again with the right extension, or re-export it from your spreadsheet program."
            )
        return Container.ZIP
    if content.startswith(OLE_MAGIC):
        if extension in ("xlsx", "xlsm") and ENCRYPTED_PACKAGE in content[: 1 << 20]:
            raise FileRefused(
                f"{named} is password-protected (encrypted). Remove the password in Excel "
                "(File > Info > Protect Workbook) and upload it again."
            )
        if extension not in ("xls", ""):
            raise FileRefused(
                f"{named} is named .{extension} but is an old-style Office file (like .xls). "
                "Open it in Excel and save it as .xlsx, then upload that."
            )
        return Container.OLE
    if _looks_like_text(content):
        head = content[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if head.startswith((b"<!doctype html", b"<html", b"<table")):
            raise FileRefused(
                f"{named} is a web page (HTML) saved with a spreadsheet name, which some systems "
                "export. Open it in Excel and save it as .xlsx or .csv, then upload that."
            )
        if head.startswith(b"<?xml"):
            raise FileRefused(
                f"{named} is an XML file (perhaps an “XML Spreadsheet 2003”). "
                "Save it as .xlsx or .csv and upload that."
            )
        if extension not in ("csv", ""):
            raise FileRefused(
                f"{named} is named .{extension} but contains plain text, not a workbook. "
                "If it is a CSV export, name it .csv."
            )
        return Container.TEXT
    raise FileRefused(
        f"{named} is not a spreadsheet this service can read (unknown binary content). "
        f"Upload a {SUPPORTED} file."
    )


def _looks_like_text(content: bytes) -> bool:
    head = content[:8192]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    return b"\x00" not in head


def _short(filename: str) -> str:
    name = PurePath(filename or "upload").name or "upload"
    return name if len(name) <= 80 else name[:77] + "..."
