"""Time series read from rollups: every bucket of the range, zero where nothing happened;
local days summed from UTC hours; latency percentiles from merged histograms."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import accumulate, repeat
from operator import add
from types import MappingProxyType
from typing import NamedTuple
from zoneinfo import ZoneInfo

from chime_api.history.domain import latency
from chime_api.history.domain.buckets import Granularity, floor, local_day_start, local_days, step

_NO_COUNTS: Mapping[str, int] = MappingProxyType({})
_NO_LATENCY: Sequence[int] = tuple(latency.empty())


class Bucket(NamedTuple):
    """One rollup row as read (or the sum of several). A tuple, immutable with immutable
    defaults: a 30-day hourly series builds 720 of them per read, and a frozen dataclass
    cost several times as much to build."""

    received: int = 0
    received_by_kind: Mapping[str, int] = _NO_COUNTS
    sent: int = 0
    failed: int = 0
    failed_by_reason: Mapping[str, int] = _NO_COUNTS
    blocked: int = 0
    latency: Sequence[int] = _NO_LATENCY
    active_chats: int | None = 0
    active_users: int | None = 0


NOTHING = Bucket()  # a bucket where nothing happened


class Point(NamedTuple):
    at: datetime
    counts: Bucket

    @property
    def latency_p50_ms(self) -> float | None:
        return self.latency_p50_p95_ms()[0]

    @property
    def latency_p95_ms(self) -> float | None:
        return self.latency_p50_p95_ms()[1]

    def latency_p50_p95_ms(self) -> tuple[float | None, float | None]:
        """Both percentiles in one pass (what a series shows for every point)."""
        if self.counts is NOTHING:  # most points of a chat's series: no histogram to read
            return None, None
        return latency.p50_p95(self.counts.latency)


def zero_filled(
    rows: Mapping[datetime, Bucket], start: datetime, end: datetime, granularity: Granularity
) -> list[Point]:
    """A point for every bucket overlapping [start, end).

    Each row is put in its slot by arithmetic (a bucket start's offset from the first, in
    steps); looking every bucket up in `rows` hashed 720 aware datetimes for a 30-day hourly
    series, the largest part of its cost in Python."""
    if start >= end:
        return []
    first, size = floor(start, granularity), step(granularity)
    counts = [NOTHING] * -((first - end) // size)  # ceil((end - first) / size)
    for at, bucket in rows.items():
        i, off = divmod(at - first, size)
        if not off and 0 <= i < len(counts):
            counts[i] = bucket
    starts = accumulate(repeat(size, len(counts) - 1), add, initial=first)  # first, +1 step, ...
    return list(map(Point._make, zip(starts, counts, strict=True)))


def summed(parts: Iterable[Bucket]) -> Bucket:
    """Several buckets as one; distinct counts (active chats, users) do not add up: None."""
    kinds: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    parts = list(parts)
    for p in parts:
        kinds.update(p.received_by_kind)
        reasons.update(p.failed_by_reason)
    return Bucket(
        received=sum(p.received for p in parts),
        received_by_kind=dict(kinds),
        sent=sum(p.sent for p in parts),
        failed=sum(p.failed for p in parts),
        failed_by_reason=dict(reasons),
        blocked=sum(p.blocked for p in parts),
        latency=latency.merge(p.latency for p in parts),
        active_chats=None,
        active_users=None,
    )


def local_daily(
    hours: Mapping[datetime, Bucket], start: datetime, end: datetime, zone: ZoneInfo
) -> list[Point]:
    """Days of `zone` overlapping [start, end), each the sum of the UTC hours in it (23 or
    25 on a DST change)."""
    starts = local_days(start, end, zone)
    points = []
    for i, day in enumerate(starts):
        day_end = starts[i + 1] if i + 1 < len(starts) else _next_day(day, zone)
        points.append(Point(day, summed(b for at, b in hours.items() if day <= at < day_end)))
    return points


def _next_day(day: datetime, zone: ZoneInfo) -> datetime:
    return local_day_start(day.astimezone(zone).date() + timedelta(days=1), zone)
