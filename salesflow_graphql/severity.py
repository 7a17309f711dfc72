"""How urgent an alert is: a leaf the settings (the e-mail digest's threshold) and alerts share."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """How urgent, LOW < MEDIUM < HIGH < CRITICAL (API.md ``Severity``)."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @classmethod
    def of_rank(cls, rank: int) -> Severity:
        return _SEVERITIES[max(0, min(len(_SEVERITIES) - 1, rank))]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_SEVERITIES = (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
_SEVERITY_RANK = {s: i for i, s in enumerate(_SEVERITIES)}
