"""Time series read from rollups: every bucket of the range, zero where nothing happened;
local days summed from UTC hours; latency percentiles from merged histograms."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from chime_api.history.domain import latency
from chime_api.history.domain.buckets import Granularity, buckets, local_day_start, local_days


@dataclass(frozen=True)
class Bucket:
    """One rollup row as read (or the sum of several)."""

    received: int = 0
    received_by_kind: Mapping[str, int] = field(default_factory=dict)
    sent: int = 0
    failed: int = 0
    failed_by_reason: Mapping[str, int] = field(default_factory=dict)
    blocked: int = 0
    latency: Sequence[int] = field(default_factory=latency.empty)
    active_chats: int | None = 0
    active_users: int | None = 0


NOTHING = Bucket()  # a bucket where nothing happened (shared: nobody changes a Bucket)


@dataclass(frozen=True)
class Point:
    at: datetime
    counts: Bucket

    @property
    def latency_p50_ms(self) -> float | None:
        return latency.percentile(self.counts.latency, 0.5)

    @property
    def latency_p95_ms(self) -> float | None:
        return latency.percentile(self.counts.latency, 0.95)


def zero_filled(
    rows: Mapping[datetime, Bucket], start: datetime, end: datetime, granularity: Granularity
) -> list[Point]:
    """A point for every bucket overlapping [start, end)."""
    return [Point(at, rows.get(at, NOTHING)) for at in buckets(start, end, granularity)]


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
