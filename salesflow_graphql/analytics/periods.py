"""Calendar periods: inclusive date ranges, windows ending today, trend buckets.

All dates are the server's local calendar dates (docs/api.md, "Scalars and units").

Bucket convention (docs/api.md: every bucket of the range, zeros included, oldest first):
buckets are *calendar aligned*. A WEEK bucket starts on a Monday and a MONTH
bucket on the 1st, so the first bucket is the one containing ``range.start``
and its ``period`` is the calendar start of that bucket, which may precede
``range.start`` (e.g. the Monday on or before it). Only days inside the range
are ever counted, so the first and last buckets may be partial. Aligned labels
keep a chart's buckets identical whichever range a dashboard asks for;
:func:`bucket_spans` tells which days of each bucket were counted, so a chart
can label a bucket by its first counted day and mark the partial ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

import numpy as np

from salesflow_graphql.errors import BadUserInput

#: Longest range a client may ask for (ten years); keeps trend arrays bounded.
MAX_RANGE_DAYS = 3660

_EPOCH = date(1970, 1, 1)


class Granularity(StrEnum):
    """Trend bucket size: one calendar day, ISO week (Monday start), or month."""

    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


@dataclass(frozen=True, slots=True)
class DateRange:
    """An inclusive range of calendar dates, ``start <= end``."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"range end {self.end} is before its start {self.start}")

    @property
    def days(self) -> int:
        """Number of calendar days in the range, both ends included."""
        return (self.end - self.start).days + 1

    def previous(self) -> DateRange:
        """The range of the same number of days that ends the day before ``start``."""
        end = self.start - timedelta(days=1)
        return DateRange(end - timedelta(days=self.days - 1), end)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


def validated_range(
    start: date, end: date, *, max_days: int = MAX_RANGE_DAYS, comparisons: int = 1
) -> DateRange:
    """Build a :class:`DateRange` from client input, or raise ``BAD_USER_INPUT``.

    ``comparisons`` ranges of the same length before it must fit in the calendar
    too: its figures are compared with the previous range (reports also show that
    range's figures, compared in turn with the one before).
    """
    if end < start:
        raise BadUserInput(
            f"range end {end.isoformat()} is before its start {start.isoformat()}",
            field="range",
        )
    span = (end - start).days + 1
    if span > max_days:
        raise BadUserInput(f"range covers {span} days; at most {max_days} allowed", field="range")
    before = span * comparisons
    if (start - date.min).days < before:
        raise BadUserInput(
            f"range start {start.isoformat()} is too early: the {before} days before it, "
            f"which the figures are compared with, would begin before {date.min.isoformat()}",
            field="range",
        )
    return DateRange(start, end)


def window_ending(today: date, days: int) -> DateRange:
    """The window of ``days`` days that ends ``today`` and includes it."""
    if days < 1:
        raise BadUserInput(f"a window needs at least 1 day, got {days}", field="days")
    return DateRange(today - timedelta(days=days - 1), today)


def bucket_start(day: date, granularity: Granularity) -> date:
    """The calendar start of the bucket that contains ``day``."""
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    if granularity is Granularity.MONTH:
        return day.replace(day=1)
    return day


def bucket_starts(period: DateRange, granularity: Granularity) -> list[date]:
    """Every bucket start of ``period``, ascending; the first may precede ``period.start``."""
    return [_from_epoch_day(int(d)) for d in _bucket_layout(period, granularity)[0]]


def bucket_of_day(period: DateRange, granularity: Granularity) -> tuple[list[date], np.ndarray]:
    """Bucket starts plus, for each day offset ``0..days-1`` of ``period``, its bucket index.

    Lets callers map per-row day offsets to buckets with one array lookup.
    """
    starts, index = _bucket_layout(period, granularity)
    return [_from_epoch_day(int(d)) for d in starts], index


def epoch_day(day: date) -> int:
    """Days since 1970-01-01 (the integer form of ``datetime64[D]``)."""
    return (day - _EPOCH).days


def _from_epoch_day(value: int) -> date:
    return _EPOCH + timedelta(days=value)


def _bucket_layout(period: DateRange, granularity: Granularity) -> tuple[np.ndarray, np.ndarray]:
    days = np.arange(epoch_day(period.start), epoch_day(period.end) + 1, dtype=np.int64)
    if granularity is Granularity.WEEK:
        # 1970-01-01 was a Thursday: (d + 3) % 7 is the weekday with Monday = 0.
        day_bucket = days - (days + 3) % 7
    elif granularity is Granularity.MONTH:
        months = days.astype("datetime64[D]").astype("datetime64[M]")
        day_bucket = months.astype("datetime64[D]").astype(np.int64)
    else:
        day_bucket = days
    starts = np.unique(day_bucket)
    return starts, np.searchsorted(starts, day_bucket).astype(np.intp)


@dataclass(frozen=True, slots=True)
class BucketSpan:
    """The days of a trend bucket that lie in the range, and whether that is all of them."""

    start: date
    end: date
    complete: bool


def bucket_spans(period: DateRange, granularity: Granularity) -> list[BucketSpan]:
    """Per bucket of ``period``: its first and last day inside the range, and ``complete``.

    Only the first and the last WEEK or MONTH bucket can be partial (cut by the range's
    start or end); DAY buckets are always complete.
    """
    spans = []
    for start in bucket_starts(period, granularity):
        calendar_end = _bucket_end(start, granularity)
        first, last = max(start, period.start), min(calendar_end, period.end)
        spans.append(BucketSpan(first, last, first == start and last == calendar_end))
    return spans


def _bucket_end(start: date, granularity: Granularity) -> date:
    if granularity is Granularity.WEEK:
        return start + timedelta(days=6)
    if granularity is Granularity.MONTH:
        following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        return following - timedelta(days=1)
    return start
