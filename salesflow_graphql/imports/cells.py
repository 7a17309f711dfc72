"""Turning what a cell holds into the value a field needs, the forgiving way.

Spreadsheets hold numbers as text (“1,299.00”, “$12.50”, “ 7 ”), SKUs as
numbers (10023.0), dates as serial numbers (45000) or as text. These functions
accept all of that and raise :class:`CellProblem` with a plain-language reason
for anything else. Money is kept as :class:`~decimal.Decimal`, never float.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from .model import ErrorCode

#: Excel's day 0 (its 1900 system counts a 29 February 1900 that never was, so day 1..59 are off by one).
EXCEL_EPOCH = date(1899, 12, 30)
EXCEL_MAX_SERIAL = 2_958_465  # 9999-12-31

_BLANKS = re.compile(r"[\s\u00a0\u2007\u202f\u2009'’]+")
_CURRENCY = re.compile(
    r"^(?:[$€£¥₹]|US\$|[A-Z]{3}(?=[\d.,(+-]))|(?:[$€£¥₹]|(?<=[\d.)])[A-Z]{3})$", re.IGNORECASE
)
_PLAIN_NUMBER = re.compile(r"^\s*[+-]?\d+(\.\d+)?\s*$")
_THOUSANDS_COMMA = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_THOUSANDS_DOT = re.compile(r"^[+-]?\d{1,3}(\.\d{3}){2,}(,\d*)?$|^[+-]?\d{1,3}(\.\d{3})+,\d*$")
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})$")


class CellProblem(Exception):
    """A cell that cannot be read as the field needs it."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def text_of(value: Any) -> str:
    """The cell as the text a user would type: SKU 10023.0 is “10023”; blank is ``""``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != time() else value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def number_of(value: Any) -> Decimal:
    """A number from a numeric cell or from text such as “1,299.00”, “$12.50”, “(3.5)”, “12,50”."""
    if isinstance(value, bool):
        raise CellProblem(ErrorCode.NOT_A_NUMBER, "is TRUE/FALSE, not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CellProblem(ErrorCode.NOT_A_NUMBER, "is not a finite number")
        return Decimal(repr(value))
    if not isinstance(value, str):
        raise CellProblem(ErrorCode.NOT_A_NUMBER, "is a date or time, not a number")
    if _PLAIN_NUMBER.match(value):  # the common case, and 10x cheaper than the general one
        return Decimal(value)
    text = _BLANKS.sub("", value)
    negative = text.startswith("(") and text.endswith(")")
    if negative:
        text = text[1:-1]
    text = _CURRENCY.sub("", text)
    text = _CURRENCY.sub("", text)  # a code and a symbol (“USD $5”)
    text = _separators(text)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise CellProblem(ErrorCode.NOT_A_NUMBER, "is not a number") from None
    if not number.is_finite():
        raise CellProblem(ErrorCode.NOT_A_NUMBER, "is not a finite number")
    return -number if negative else number


def _separators(text: str) -> str:
    """Thousands separators out, decimal comma to a point."""
    if "," in text and "." in text:
        if _THOUSANDS_DOT.match(text) or text.rfind(",") > text.rfind("."):
            return text.replace(".", "").replace(",", ".")  # 1.299,50
        return text.replace(",", "")  # 1,299.50
    if "," in text:
        if _THOUSANDS_COMMA.match(text):
            return text.replace(",", "")  # 1,299
        if text.count(",") == 1:
            return text.replace(",", ".")  # 12,50
        return text
    if text.count(".") > 1 and _THOUSANDS_DOT.match(text):
        return text.replace(".", "")  # 1.299.000
    return text


#: Digits of the largest whole number read (any count or id fits well within it).
WHOLE_NUMBER_MAX_DIGITS = 30


def whole_number_of(value: Any) -> int:
    """A whole number: 7, 7.0, “ 7 ”, “1,000”; 7.5 is refused, not rounded."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    number = number_of(value)
    if number.adjusted() >= WHOLE_NUMBER_MAX_DIGITS:
        # int() of a number written as "1e2000000" would take minutes: refused before it.
        raise CellProblem(ErrorCode.TOO_LARGE, "is too large")
    if number != number.to_integral_value():
        raise CellProblem(ErrorCode.NOT_A_WHOLE_NUMBER, "is not a whole number")
    return int(number)


def date_of(value: Any) -> date:
    """A calendar date from a date cell, an Excel serial number or ISO text (YYYY-MM-DD).

    Day/month/year text (31/12/2024, 12.31.2024) is accepted when it is a
    possible date either way round; the day-first reading is returned.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_serial(float(value))
    if isinstance(value, str):
        text = value.strip()
        try:
            return datetime.fromisoformat(text).date()
        except ValueError:
            pass
        try:
            return _from_serial(float(text))
        except (ValueError, CellProblem):
            pass
        match = _DAY_MONTH_YEAR.match(text)
        if match:
            first, second, year = (int(g) for g in match.groups())
            year += 2000 if year < 100 else 0
            for day, month in ((first, second), (second, first)):
                try:
                    return date(year, month, day)
                except ValueError:
                    continue
    raise CellProblem(
        ErrorCode.INVALID_DATE, "is not a date (use a date cell or YYYY-MM-DD, e.g. 2024-03-31)"
    )


def _from_serial(serial: float) -> date:
    if not 1 <= serial <= EXCEL_MAX_SERIAL:
        raise CellProblem(ErrorCode.INVALID_DATE, "is not a date Excel can show")
    days = int(serial)
    if days < 61:  # before Excel's phantom 29 February 1900
        days += 1
    return EXCEL_EPOCH + timedelta(days=days)
