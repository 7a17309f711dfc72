"""Scheduled reports as the settings parse them: ``SALESFLOW_REPORT_SCHEDULES``, a JSON
list, one object per report. A leaf beneath ``config``, so the report kinds and formats
are defined here (``reports.model`` uses them).

Example (every Monday at 07:00, last week's FULL PDF; the 1st of each month at
06:30, the previous 30 days as XLSX)::

    [{"cron": "0 7 * * 1", "kind": "FULL", "format": "PDF",
      "recipients": ["owner@shop.example"], "days": 7},
     {"cron": "30 6 1 * *", "kind": "SALES", "format": "XLSX",
      "recipients": ["books@shop.example"], "days": 30}]

- ``cron`` (required): five fields, in the business time zone (``SALESFLOW_TIMEZONE``);
- ``recipients`` (required): one or more e-mail addresses;
- ``kind`` (FULL), ``format`` (PDF), ``days`` (7): optional. The range is the
  ``days`` complete days before the run (ending yesterday), so a Monday run
  covers Monday to Sunday of the week before.

Each entry becomes a periodic job that submits an ordinary report job (so it
has a status, a stored file and retries) with the recipients as ``emailTo``,
under the scheduler's identity (visible to ADMIN).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import orjson

from .addresses import valid_address
from .cron import Schedule


class ReportKind(StrEnum):
    """SALES: sales sections only; STOCK: stock sections only; FULL: both and the forecast."""

    SALES = "SALES"
    STOCK = "STOCK"
    FULL = "FULL"

    @property
    def has_sales(self) -> bool:
        return self is not ReportKind.STOCK

    @property
    def has_stock(self) -> bool:
        return self is not ReportKind.SALES

    @property
    def heading(self) -> str:
        return {
            ReportKind.SALES: "Sales Report",
            ReportKind.STOCK: "Stock Report",
            ReportKind.FULL: "Sales & Stock Report",
        }[self]


class ReportFormat(StrEnum):
    PDF = "PDF"
    XLSX = "XLSX"

    @property
    def extension(self) -> str:
        return self.value.lower()

    @property
    def mime_type(self) -> str:
        if self is ReportFormat.PDF:
            return "application/pdf"
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


_KEYS = {"cron", "kind", "format", "recipients", "days"}
E = TypeVar("E", ReportKind, ReportFormat)


@dataclass(frozen=True, slots=True)
class ScheduledReport:
    """One entry of ``SALESFLOW_REPORT_SCHEDULES``."""

    index: int
    schedule: Schedule
    kind: ReportKind
    format: ReportFormat
    recipients: tuple[str, ...]
    days: int

    @property
    def name(self) -> str:
        return f"reports.schedule.{self.index}"


def parse_report_schedules(raw: str, *, max_days: int = 1095) -> tuple[ScheduledReport, ...]:
    """Parse and check the setting; ``ValueError`` names the entry and field that is wrong."""
    if not raw.strip():
        return ()
    try:
        entries = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(entries, list):
        raise ValueError("expected a JSON list of objects")
    return tuple(_entry(i, entry, max_days) for i, entry in enumerate(entries))


def _entry(index: int, entry: object, max_days: int) -> ScheduledReport:
    where = f"entry {index}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if not isinstance(entry.get("cron"), str):
        raise ValueError(f'{where}: "cron" is required, e.g. "0 7 * * 1"')
    try:
        schedule = Schedule.cron(entry["cron"])
    except ValueError as exc:
        raise ValueError(f"{where}: cron {entry['cron']!r}: {exc}") from None
    kind = _choice(entry.get("kind", "FULL"), ReportKind, f"{where}: kind")
    report_format = _choice(entry.get("format", "PDF"), ReportFormat, f"{where}: format")
    recipients = entry.get("recipients")
    if (
        not isinstance(recipients, list)
        or not recipients
        or not all(isinstance(r, str) for r in recipients)
    ):
        raise ValueError(f'{where}: "recipients" must be a non-empty list of e-mail addresses')
    bad = [r for r in recipients if not valid_address(r.strip())]
    if bad:
        raise ValueError(f"{where}: not an e-mail address: {', '.join(map(repr, bad))}")
    days = entry.get("days", 7)
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= max_days:
        raise ValueError(f'{where}: "days" must be a whole number from 1 to {max_days}')
    return ScheduledReport(
        index=index,
        schedule=schedule,
        kind=kind,
        format=report_format,
        recipients=tuple(dict.fromkeys(r.strip() for r in recipients)),
        days=days,
    )


def _choice(value: object, enum: type[E], where: str) -> E:
    try:
        return enum(str(value).upper())
    except ValueError:
        raise ValueError(f"{where} {value!r}: one of {', '.join(m.value for m in enum)}") from None
