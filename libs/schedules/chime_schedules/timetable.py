"""A schedule's spec read in its zone: the instants it fires at.

`timetable(spec, time_zone, ...)` validates a spec (once, cron, rrule, pings) and returns a
`Timetable`; `next_after(instant)` is the one question the scheduler asks each time an
occurrence fires, `upcoming(after, count)` what a preview shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from chime_contracts.events.schedules import CronSpec, OnceSpec, PingsSpec, RRuleSpec
from chime_schedules.clocks import (
    END_OF_TIME,
    Clock,
    CronClock,
    InstantClock,
    OnceClock,
    PingsClock,
    RRuleClock,
)
from chime_schedules.errors import SpecError
from chime_schedules.local import local_instant, wall_time, zone_of

Spec = OnceSpec | CronSpec | RRuleSpec | PingsSpec

# The longest jump of a zone's clocks forward (Antarctica/Troll: two hours), with room.
LONGEST_GAP = timedelta(hours=3)


@dataclass(frozen=True)
class Timetable:
    """When a schedule fires: a clock of wall times, its zone, and its first and last days."""

    clock: Clock
    zone: ZoneInfo
    starts_on: date | None = None
    ends_on: date | None = None

    def next_after(self, instant: datetime) -> datetime | None:
        """The first occurrence strictly after `instant` (aware), in UTC; None when none is
        left (a once that passed, COUNT or UNTIL reached, past `ends_on`)."""
        if self.starts_on is not None:
            opens = local_instant(datetime.combine(self.starts_on, time()), self.zone)
            instant = max(instant, opens - timedelta(microseconds=1))
        try:
            found = self._first_after(instant)
        except OverflowError:
            return None
        if found is None or (self.ends_on and found.astimezone(self.zone).date() > self.ends_on):
            return None
        return found

    def upcoming(self, after: datetime, count: int) -> list[datetime]:
        """Up to `count` occurrences after `after`, as aware times of the schedule's zone."""
        found: list[datetime] = []
        while len(found) < count and (at := self.next_after(after)) is not None:
            found.append(at.astimezone(self.zone))
            after = at
        return found

    def _first_after(self, instant: datetime) -> datetime | None:
        if isinstance(self.clock, InstantClock):
            return self.clock.at.astimezone(UTC) if self.clock.at > instant else None
        local = wall_time(instant, self.zone)
        start = local
        # A wall time in a gap stands for a later instant than its face (02:30 is 03:30), so
        # when the clocks changed lately, walls a little before `local` may still be ahead.
        if self.zone.utcoffset(local) != self.zone.utcoffset(local - LONGEST_GAP):
            start = local - LONGEST_GAP
        best: datetime | None = None
        best_wall: datetime | None = None
        for wall in self.clock.walls_from(start):
            # Walls from the face of the best found on stand for instants at or after it.
            if best_wall is not None and wall >= best_wall:
                break
            at = local_instant(wall, self.zone)
            if at > instant and (best is None or at < best):
                best, best_wall = at, wall_time(at, self.zone)
        return best


def timetable(
    spec: Spec,
    time_zone: str,
    *,
    starts_on: date | None = None,
    ends_on: date | None = None,
    anchor: datetime | None = None,
) -> Timetable:
    """Validate `spec` in `time_zone` and return its timetable; SpecError says what is wrong.

    `anchor` (aware, default now) is the DTSTART of an RRULE given without one: local
    midnight of `starts_on`, else of the anchor's day, so `FREQ=DAILY;BYHOUR=9` fires at
    09:00:00. A once spec's naive time is a wall time of the zone; an aware one is kept.
    """
    # Many schedules share a spec ("0 9 * * 1-5" in one zone): each is parsed once. A once
    # or pings spec is each schedule's own (an instant, a seed) and cheap to read: not kept.
    if isinstance(spec, CronSpec):
        return _shared_cron(spec.expression, time_zone, starts_on, ends_on)
    if isinstance(spec, RRuleSpec) and spec.starts_at is not None:
        return _shared_rrule(
            (spec.rrule, spec.starts_at, tuple(spec.exdates), tuple(spec.rdates)),
            time_zone, starts_on, ends_on,
        )  # fmt: skip
    return _build(spec, time_zone, starts_on, ends_on, anchor)


@lru_cache(maxsize=65_536)
def _shared_cron(expression: str, time_zone: str, starts_on: date | None, ends_on: date | None
                 ) -> Timetable:  # fmt: skip
    zone = _zone(time_zone, starts_on, ends_on)
    return Timetable(CronClock(expression), zone, starts_on, ends_on)


@lru_cache(maxsize=65_536)
def _shared_rrule(
    parts: tuple[str, datetime, tuple[datetime, ...], tuple[datetime, ...]], time_zone: str,
    starts_on: date | None, ends_on: date | None,
) -> Timetable:  # fmt: skip
    """An RRULE spec with its DTSTART, by its parts (EXDATE and RDATE are lists: the spec
    itself is no key)."""
    rule, starts_at, exdates, rdates = parts
    zone = _zone(time_zone, starts_on, ends_on)
    clock = _rrule_clock(rule, starts_at, exdates, rdates, zone, starts_on, datetime.now(UTC))
    return Timetable(clock, zone, starts_on, ends_on)


def _zone(time_zone: str, starts_on: date | None, ends_on: date | None) -> ZoneInfo:
    if starts_on and ends_on and ends_on < starts_on:
        raise SpecError(f"the end date {ends_on} is before the start date {starts_on}")
    return zone_of(time_zone)


def _build(
    spec: Spec,
    time_zone: str,
    starts_on: date | None,
    ends_on: date | None,
    anchor: datetime | None,
) -> Timetable:
    zone = _zone(time_zone, starts_on, ends_on)
    clock: Clock
    if isinstance(spec, OnceSpec):
        clock = OnceClock(spec.at) if spec.at.tzinfo is None else InstantClock(spec.at)
    elif isinstance(spec, CronSpec):
        clock = CronClock(spec.expression)
    elif isinstance(spec, RRuleSpec):
        clock = _rrule_clock(
            spec.rrule, spec.starts_at, tuple(spec.exdates), tuple(spec.rdates), zone,
            starts_on, anchor or datetime.now(UTC),
        )  # fmt: skip
    else:
        clock = PingsClock(
            spec.per_day,
            spec.window_start,
            spec.window_end,
            timedelta(minutes=spec.min_spacing_minutes),
            spec.seed if spec.seed is not None else 0,
        )
    return Timetable(clock, zone, starts_on, ends_on)


def _rrule_clock(
    rule: str, starts_at: datetime | None, exdates: tuple[datetime, ...],
    rdates: tuple[datetime, ...], zone: ZoneInfo, starts_on: date | None, anchor: datetime,
) -> Clock:  # fmt: skip
    def local(at: datetime) -> datetime:
        return at if at.tzinfo is None else wall_time(at, zone)

    if starts_at is not None:
        dtstart = local(starts_at).replace(microsecond=0)
    else:
        dtstart = datetime.combine(starts_on or wall_time(anchor, zone).date(), time())
    if dtstart > END_OF_TIME:
        raise SpecError("DTSTART is past the end of the calendar")
    return RRuleClock.parse(
        rule,
        dtstart,
        zone,
        exdates=tuple(local(d) for d in exdates),
        rdates=tuple(local(d) for d in rdates),
    )
