"""Time buckets: UTC hours and days, a range's buckets, and local days summed from hours."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class Granularity(StrEnum):
    HOUR = "hour"
    DAY = "day"


def floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def floor_day(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def floor(at: datetime, granularity: Granularity) -> datetime:
    return floor_hour(at) if granularity is Granularity.HOUR else floor_day(at)


def step(granularity: Granularity) -> timedelta:
    return HOUR if granularity is Granularity.HOUR else DAY


def buckets(start: datetime, end: datetime, granularity: Granularity) -> Iterator[datetime]:
    """Every bucket that overlaps [start, end), oldest first (none when it is empty)."""
    if start >= end:
        return
    at = floor(start, granularity)
    while at < end:
        yield at
        at += step(granularity)


def whole_hour_offsets(zone: ZoneInfo, start: datetime, end: datetime) -> bool:
    """Does `zone` keep a whole-hour UTC offset over [start, end]? Local days are summed
    from UTC hours, which is exact only then."""
    at = floor_hour(start)
    while at <= end + DAY:
        offset = at.astimezone(zone).utcoffset()
        if offset is None or offset % HOUR:
            return False
        at += HOUR * 6
    return True


def local_day(hour: datetime, zone: ZoneInfo) -> date:
    """The local date a UTC hour falls in."""
    return hour.astimezone(zone).date()


def local_day_start(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant a local day starts (its first existing local time)."""
    naive = datetime(day.year, day.month, day.day)
    for minutes in range(0, 24 * 60, 30):
        candidate = (naive + timedelta(minutes=minutes)).replace(tzinfo=zone)
        # A time in a gap does not round-trip; the first that does is the day's start.
        back = candidate.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if back == candidate.replace(tzinfo=None):
            return candidate.astimezone(UTC)
    raise ValueError(f"{day} has no local time in {zone}")  # pragma: no cover


def local_days(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """The UTC starts of the local days that overlap [start, end), oldest first."""
    day = start.astimezone(zone).date()
    days: list[datetime] = []
    while (at := local_day_start(day, zone)) < end:
        days.append(at)
        day += timedelta(days=1)
    return days
