"""How figures read in reports and e-mails: one convention for the PDF, the XLSX and the mail.

Money keeps its cents (``$12,345.67``) so a reader can tie a report to the
API's figure; axes use a compact form (``$12k``). Changes are signed percent
with one decimal (``+4.2%``); a change against nothing is "n/a".
"""

from __future__ import annotations

from datetime import date, datetime


def money(value: float, currency: str) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}{currency}{abs(value):,.2f}"


def money_compact(value: float, currency: str) -> str:
    """``$950``, ``$12.5k``, ``$1.2M``: for axis labels."""
    magnitude = abs(value)
    sign = "-" if value < 0 else ""
    if magnitude >= 1_000_000:
        text = f"{magnitude / 1_000_000:.1f}M"
    elif magnitude >= 10_000:
        text = f"{magnitude / 1000:.0f}k"
    elif magnitude >= 1000:
        text = f"{magnitude / 1000:.1f}k"
    else:
        text = f"{magnitude:.0f}"
    return f"{sign}{currency}{text.replace('.0k', 'k').replace('.0M', 'M')}"


def count(value: float) -> str:
    return f"{value:,.0f}"


def change(fraction: float | None) -> str:
    """A signed percent change, or "n/a" when there is nothing to compare with."""
    if fraction is None:
        return "n/a"
    return f"{fraction * 100:+.1f}%"


def share(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"


def ratio_change(current: float, previous: float) -> float | None:
    """current / previous - 1, or None when previous is 0 (as revenueChange in API.md)."""
    return None if previous == 0 else current / previous - 1


def day(value: date) -> str:
    """``3 May 2025``."""
    return f"{value.day} {value:%b %Y}"


def day_range(start: date, end: date) -> str:
    """``1 – 30 May 2025``, ``28 Apr – 4 May 2025`` or ``1 Dec 2024 – 31 Jan 2025``."""
    if start.year != end.year:
        return f"{day(start)} – {day(end)}"
    if start.month != end.month:
        return f"{start.day} {start:%b} – {day(end)}"
    if start.day != end.day:
        return f"{start.day} – {day(end)}"
    return day(end)


def moment(value: datetime) -> str:
    """``3 May 2025, 14:05 UTC+02:00``."""
    offset = value.strftime("%z")
    zone = "UTC" if offset in ("", "+0000") else f"UTC{offset[:3]}:{offset[3:]}"
    return f"{day(value.date())}, {value:%H:%M} {zone}"


def days_of_cover(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"
