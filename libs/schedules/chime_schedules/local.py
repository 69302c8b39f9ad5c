"""Wall times of a zone and the instants they mean, as RFC 5545 §3.3.5 reads them."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chime_schedules.errors import SpecError


@lru_cache(maxsize=1024)
def zone_of(name: str) -> ZoneInfo:
    """The IANA zone called `name`; SpecError when there is none. (ZoneInfo keeps only a
    few zones strongly cached; a scheduler reads hundreds, each parsed once here.)"""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SpecError(f"unknown time zone {name!r}: use an IANA name like Europe/Kyiv") from None


def local_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a naive wall time of `zone` stands for (RFC 5545 §3.3.5).

    A wall time that does not exist (clocks spring forward over it) is read with the UTC
    offset from before the gap, so it moves forward by the gap: 02:30 on the night clocks
    go from 02:00 to 03:00 is 03:30. A wall time that happens twice (clocks fall back) is
    its first instance. PEP 495's `fold=0` means exactly both, so this is one line; the
    tests hold it to the RFC.
    """
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def wall_time(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall time of `zone` at `instant` (an aware datetime)."""
    return instant.astimezone(zone).replace(tzinfo=None)
