"""What a report is: its kind, format and range, the figures it shows, and the file it becomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from ..analytics.periods import DateRange
from ..schedules import ReportFormat, ReportKind

if TYPE_CHECKING:
    from ..analytics.sales import SalesAnalytics, SalesKpis
    from ..analytics.stock import StockAnalytics


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """One report to make: validated at the edge, stored with the job as JSON."""

    kind: ReportKind
    format: ReportFormat
    range: DateRange
    email_to: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        """``salesflow-<kind>-<start>-<end>.<ext>``: built from validated values only."""
        return (
            f"salesflow-{self.kind.value.lower()}-{self.range.start.isoformat()}-"
            f"{self.range.end.isoformat()}.{self.format.extension}"
        )

    def to_params(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "format": self.format.value,
            "start": self.range.start.isoformat(),
            "end": self.range.end.isoformat(),
            "emailTo": list(self.email_to),
        }

    @classmethod
    def from_params(cls, params: dict[str, object]) -> ReportRequest:
        email_to = params.get("emailTo") or []
        assert isinstance(email_to, list)
        return cls(
            kind=ReportKind(params["kind"]),
            format=ReportFormat(params["format"]),
            range=DateRange(
                date.fromisoformat(str(params["start"])), date.fromisoformat(str(params["end"]))
            ),
            email_to=tuple(str(a) for a in email_to),
        )


@dataclass(frozen=True, slots=True)
class StockSection:
    """Stock figures and the parameters that define them."""

    analytics: StockAnalytics
    as_of: datetime
    lookback_days: int
    lead_time_days: int


@dataclass(frozen=True, slots=True)
class ForecastBand:
    """The 14-day total forecast with its interval, after recent history."""

    metric: str  # "REVENUE" or "UNITS"
    model: str
    interval_level: float
    history: tuple[tuple[date, float], ...]
    points: tuple[tuple[date, float, float, float], ...]  # (day, value, lower, upper)


@dataclass(frozen=True, slots=True)
class ReportContent:
    """Every figure one report shows; the renderers only lay it out."""

    kind: ReportKind
    range: DateRange
    generated_at: datetime
    currency: str
    sales: SalesAnalytics | None = None
    previous_kpis: SalesKpis | None = None  # KPIs of the previous range, for the deltas
    stock: StockSection | None = None
    forecast: ForecastBand | None = None
    #: Why a section is missing when it could have been there (shown in the report).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RenderedReport:
    """A finished file."""

    filename: str
    mime_type: str
    content: bytes
    summary: ReportContent
