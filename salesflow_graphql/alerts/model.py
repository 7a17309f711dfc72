"""What an alert is: its kind, severity, subject, the numbers behind it, and its bus id.

A :class:`Finding` is what the pure detection returns; once the dedup ledger
lets it through it becomes an :class:`Alert` (``detected_at`` set) and the bus
gives it its ordered ``id``. Alerts travel between replicas as JSON
(:meth:`Alert.to_json` / :meth:`Alert.from_json`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

import msgspec

from ..severity import Severity


class AlertKind(StrEnum):
    """What happened (API.md ``AlertKind``)."""

    SALES_SPIKE = "SALES_SPIKE"
    SALES_DROP = "SALES_DROP"
    STOCKOUT = "STOCKOUT"
    STOCKOUT_RISK = "STOCKOUT_RISK"


class SubjectLevel(StrEnum):
    """Whether an alert is about the whole shop, one category or one product."""

    TOTAL = "TOTAL"
    CATEGORY = "CATEGORY"
    PRODUCT = "PRODUCT"


#: The subject of shop-wide alerts (API.md: "sku, category, or TOTAL").
TOTAL_SUBJECT = "TOTAL"

#: Bus ids are Redis stream ids: milliseconds, a dash, a sequence number.
_ALERT_ID = re.compile(r"(\d{1,20})-(\d{1,20})")


#: Each part of a stream id is an unsigned 64-bit number.
_MAX_ID_PART = 2**64 - 1


def parse_alert_id(value: str) -> tuple[int, int]:
    """``"1718000000000-3"`` → ``(1718000000000, 3)``; ``ValueError`` for anything else."""
    match = _ALERT_ID.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not an alert id (like 1718000000000-0)")
    parts = int(match.group(1)), int(match.group(2))
    if max(parts) > _MAX_ID_PART:  # what a Redis stream id can hold
        raise ValueError(f"{value!r} is out of range for an alert id (like 1718000000000-0)")
    return parts


class ProductSnapshot(msgspec.Struct, frozen=True, rename="camel"):
    """The product an alert is about, as the catalogue had it when the alert was raised."""

    id: int
    sku: str
    name: str
    price: float
    stock_quantity: int
    low_stock_threshold: int


class Alert(msgspec.Struct, frozen=True, rename="camel"):
    """A raised alert. ``id`` is empty until the bus has published it."""

    kind: AlertKind
    severity: Severity
    level: SubjectLevel
    subject: str
    metric: str
    observed: float
    expected: float
    score: float
    date: date | None
    detected_at: datetime
    message: str
    revenue_at_stake: float = 0.0
    product: ProductSnapshot | None = None
    id: str = ""

    @property
    def dedup_key(self) -> str:
        """(kind, subject, date): an alert with the same key is never raised twice."""
        return f"{self.kind}|{self.subject}|{self.date.isoformat() if self.date else '-'}"

    @property
    def cooldown_key(self) -> str:
        """A subject's alerts of one kind share a cooldown."""
        return f"{self.kind}|{self.subject}"

    @property
    def order_key(self) -> tuple[int, int]:
        return parse_alert_id(self.id)

    def with_id(self, alert_id: str) -> Alert:
        return msgspec.structs.replace(self, id=alert_id)

    def to_json(self) -> bytes:
        return _encoder.encode(self)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Alert:
        return _decoder.decode(raw)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Alert)


@dataclass(frozen=True, slots=True)
class AnomalyRun:
    """What one check did: series examined, alerts newly raised, alerts e-mailed.

    ``found`` counts everything detection saw, including alerts raised by earlier
    checks; ``suppressed`` those muted by the cooldown.
    """

    checked_series: int
    alerts: list[Alert]
    notified: int
    found: int = 0
    suppressed: int = 0
    started_at: datetime | None = None
    duration_s: float = 0.0
