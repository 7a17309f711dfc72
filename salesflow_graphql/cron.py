"""When a periodic job runs: a five-field cron expression, or "every N seconds/minutes/hours".

One :class:`Schedule` serves both run modes: it becomes the keyword options of
``arq.cron`` in a worker, and the embedded scheduler asks it for the next run
with the very same function arq uses (``arq.cron.next_cron``), so a schedule
fires at the same wall-clock times whichever mode runs it.

Cron fields: ``minute hour day-of-month month day-of-week`` with ``*``, numbers,
ranges ``a-b``, lists ``a,b`` and steps ``*/n`` / ``a-b/n``; day-of-week 0 or 7
is Sunday (names ``sun``..``sat`` work too). When both day fields are
restricted, both must match (arq's rule; classic cron would accept either).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from arq.cron import next_cron

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 7))
_DAY_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


@dataclass(frozen=True, slots=True)
class Schedule:
    """Sets of allowed values per calendar field; ``None`` means any value."""

    text: str
    second: frozenset[int] | None = frozenset({0})
    minute: frozenset[int] | None = None
    hour: frozenset[int] | None = None
    day: frozenset[int] | None = None
    month: frozenset[int] | None = None
    weekday: frozenset[int] | None = None  # Python's numbering: Monday = 0

    @classmethod
    def cron(cls, expression: str) -> Schedule:
        """Parse a five-field cron expression; raise ``ValueError`` saying what is wrong."""
        parts = expression.split()
        if len(parts) != 5:
            raise ValueError(
                f"a cron expression has 5 fields (minute hour day month weekday), got {len(parts)}"
            )
        sets: dict[str, frozenset[int] | None] = {}
        for (name, low, high), part in zip(_FIELDS, parts, strict=True):
            sets[name] = _field(name, part.lower(), low, high)
        weekday = sets.pop("weekday")
        if weekday is not None:  # cron: 0/7 = Sunday; Python: Monday = 0
            weekday = frozenset((d - 1) % 7 for d in weekday)
        return cls(text=" ".join(parts), weekday=weekday, **sets)

    @classmethod
    def every(cls, *, seconds: int = 0, minutes: int = 0, hours: int = 0) -> Schedule:
        """Every N units, aligned to the clock (minutes=15 runs at :00, :15, :30, :45).

        The step must divide its unit (seconds and minutes: 60, hours: 24), so the
        interval is the same across the turn of each minute, hour or day.
        """
        given = [(n, unit) for n, unit in ((seconds, "s"), (minutes, "m"), (hours, "h")) if n]
        if len(given) != 1:
            raise ValueError("give exactly one of seconds, minutes or hours")
        step, unit = given[0]
        span = 24 if unit == "h" else 60
        if not 1 <= step <= span or span % step:
            raise ValueError(f"every {step}{unit}: the step must divide {span}")
        values = frozenset(range(0, span, step))
        text = f"every {step}{unit}"
        if unit == "s":
            return cls(text=text, second=values)
        if unit == "m":
            return cls(text=text, minute=values)
        return cls(text=text, hour=values, minute=frozenset({0}))

    def arq_options(self) -> dict[str, Any]:
        """Keyword arguments for ``arq.cron``."""
        return {
            name: set(values)
            for name in ("month", "day", "weekday", "hour", "minute", "second")
            if (values := getattr(self, name)) is not None
        }

    def next_after(self, moment: datetime) -> datetime:
        """The first matching time after ``moment`` (same time zone as ``moment``)."""
        options = self.arq_options()
        options.setdefault("second", 0)
        return next_cron(moment, microsecond=0, **options)

    def __str__(self) -> str:
        return self.text


def _field(name: str, part: str, low: int, high: int) -> frozenset[int] | None:
    if part == "*":
        return None
    names = _DAY_NAMES if name == "weekday" else _MONTH_NAMES if name == "month" else {}
    values: set[int] = set()
    for item in part.split(","):
        span, _, step_text = item.partition("/")
        step = _number(step_text, name, names={}) if step_text else 1
        if step < 1:
            raise ValueError(f"{name}: step must be at least 1 in {item!r}")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, _, b = span.partition("-")
            first, last = _number(a, name, names), _number(b, name, names)
        else:
            first = _number(span, name, names)
            last = high if step_text else first
        if not low <= first <= last <= high:
            raise ValueError(f"{name}: {item!r} is outside {low}-{high} or reversed")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(text: str, name: str, names: dict[str, int]) -> int:
    if text in names:
        return names[text]
    if not text.isdigit():
        raise ValueError(f"{name}: {text!r} is not a number")
    return int(text)
