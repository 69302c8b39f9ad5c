"""Wall clocks: each kind of spec as the naive wall times it fires at, in order.

A clock knows nothing of zones: it yields the wall times of its rule, non-decreasing, from
a given wall time on. `Timetable` maps them to instants by RFC 5545's rules. Working in
wall time is what makes "09:00 every weekday" stay at 09:00 across DST, and is how both
dateutil and cronsim iterate naive datetimes.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError
from dateutil.rrule import (
    DAILY,
    HOURLY,
    MINUTELY,
    MONTHLY,
    SECONDLY,
    WEEKLY,
    YEARLY,
    rrule,
    rruleset,
    rrulestr,
)

from chime_schedules.errors import SpecError

# The last wall time any clock yields: past it datetime (and the zone maths) overflow.
END_OF_TIME = datetime(9999, 12, 30, 23, 59)


class Clock(Protocol):
    def walls_from(self, start: datetime) -> Iterator[datetime]:
        """Naive wall times at or after `start`, non-decreasing; finite or not."""
        ...


@dataclass(frozen=True)
class InstantClock:
    """One aware instant, kept as given (it may be the second pass of a repeated hour)."""

    at: datetime

    def walls_from(self, start: datetime) -> Iterator[datetime]:  # pragma: no cover
        raise NotImplementedError("Timetable reads an instant clock directly")


@dataclass(frozen=True)
class OnceClock:
    at: datetime

    def walls_from(self, start: datetime) -> Iterator[datetime]:
        if self.at >= start:
            yield self.at


@lru_cache(maxsize=4096)
def parsed_cron(expression: str) -> CronSim:
    """The expression parsed (and so validated) once per process: schedules share lines."""
    if len(expression.split()) != 5:
        raise SpecError(f"cron needs 5 fields (minute hour day month weekday), got {expression!r}")
    try:
        return CronSim(expression, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise SpecError(f"bad cron expression {expression!r}: {exc}") from None


@dataclass(frozen=True)
class CronClock:
    """A 5-field cron expression (cronsim: Vixie cron's day-of-month OR day-of-week rule).

    cronsim parses the expression (once per process) and decides which days match
    (`match_day`: its day-of-month, day-of-week, `L`, `W` and `#` rules); the walls of a
    matching day are its hours times its minutes, in order. That is cronsim's own iteration
    (the least wall time after the last that every field allows, giving up after 50 years
    without one) without walking hour by hour; `plain_walls_from` is cronsim iterating, and
    the tests hold the two equal.
    """

    expression: str

    def __post_init__(self) -> None:
        parsed_cron(self.expression)

    def walls_from(self, start: datetime) -> Iterator[datetime]:
        sim = parsed_cron(self.expression)
        # Walls are whole minutes: the first one at or after `start`.
        first = start.replace(second=0, microsecond=0)
        if first < start:
            if first >= END_OF_TIME:
                return
            first += timedelta(minutes=1)
        day, hour, minute = first.date(), first.hour, first.minute
        # cronsim gives up 50 years after the second it starts from without a find.
        last_year = (start + timedelta(microseconds=999_999)).year + 50
        try:
            yield from self._walls(sim, day, hour, minute, last_year)
        except OverflowError:  # the calendar's last days
            return

    @staticmethod
    def _walls(sim: CronSim, day: date, hour: int, minute: int, last_year: int
               ) -> Iterator[datetime]:  # fmt: skip
        hours, minutes = sorted(sim.hours), sorted(sim.minutes)
        months, match_day = sim.months, sim.match_day
        one_day = timedelta(days=1)
        while day.year <= last_year:
            if day.month not in months:
                day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
                hour = minute = 0
                continue
            if match_day(day):
                for h in hours:
                    if h < hour:
                        continue
                    for m in minutes:
                        if h == hour and m < minute:
                            continue
                        wall = datetime(day.year, day.month, day.day, h, m)
                        if wall > END_OF_TIME:
                            return
                        yield wall
                        last_year = wall.year + 50
            if day >= END_OF_TIME.date():
                return
            day += one_day
            hour = minute = 0

    def plain_walls_from(self, start: datetime) -> Iterator[datetime]:
        """The same walls by cronsim's own iteration (the reference for the tests)."""
        # cronsim yields times strictly after its start.
        iterator = CronSim(self.expression, start - timedelta(microseconds=1))
        while True:
            try:
                wall = next(iterator)
            except (StopIteration, CronSimError, OverflowError, ValueError):
                return
            if wall > END_OF_TIME:
                return
            yield wall


_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)
# dateutil derives a rule's missing BY parts from DTSTART; moving DTSTART by whole periods
# of these frequencies keeps them, so a rule without COUNT may start near the query instead
# of walking every occurrence since DTSTART (a minutely rule a year old is 500k of them).
_FREQUENCIES = {
    "SECONDLY": SECONDLY, "MINUTELY": MINUTELY, "HOURLY": HOURLY, "DAILY": DAILY, "WEEKLY": WEEKLY,
    "MONTHLY": MONTHLY, "YEARLY": YEARLY,
}  # fmt: skip
_REBASE_STEP = {
    WEEKLY: timedelta(weeks=1),
    DAILY: timedelta(days=1),
    HOURLY: timedelta(hours=1),
    MINUTELY: timedelta(minutes=1),
}


# FREQ (dateutil's constants) at which a rule's other parts do not depend on its DTSTART:
# dateutil keeps BYHOUR, BYMINUTE and BYSECOND filtered by DTSTART's phase at the frequency
# of their own unit, so only daily and slower rules are rebuilt from another's parts.
_DTSTART_FREE = (YEARLY, MONTHLY, WEEKLY, DAILY)


def _rule(body: str, dtstart: datetime, text: str) -> rrule:
    """`rrulestr(body, dtstart=dtstart)`, the text parsed once per process: a rule parsed
    before is rebuilt from its parts with this DTSTART (dateutil's `replace`, the same
    construction as parsing: BY parts as written, those left out derived from DTSTART)."""
    # Only a bare rule: a text with lines or properties of its own is parsed as it is.
    if ":" in body or "\n" in body or _frequency(body) not in _DTSTART_FREE:
        return plain_rule(body, dtstart, text)
    template = _PARSED.get(body)
    if template is None:
        rule = plain_rule(body, dtstart, text)  # a refused text is not kept: parsed again
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
        _PARSED[body] = rule
        return rule
    try:
        return template.replace(dtstart=dtstart)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise SpecError(f"bad RRULE {text!r}: {exc}") from None


# Rules parsed (by their text), each the first parse of its text: any DTSTART rebuilds it.
_PARSED: dict[str, rrule] = {}
_PARSED_LIMIT = 16_384


def plain_rule(body: str, dtstart: datetime, text: str) -> rrule:
    """The rule parsed from its text with this DTSTART (the reference for `_rule`)."""
    try:
        rule = rrulestr(body, dtstart=dtstart)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise SpecError(f"bad RRULE {text!r}: {exc}") from None
    if not isinstance(rule, rrule):
        raise SpecError(f"give one RRULE, not a set: {text!r}")
    return rule


def _frequency(body: str) -> int | None:
    parts = dict(p.upper().split("=", 1) for p in body.split(";") if "=" in p)
    return _FREQUENCIES.get(parts.get("FREQ", "").strip())


@dataclass(frozen=True)
class RRuleClock:
    """An RFC 5545 RRULE from DTSTART (dateutil), with EXDATE and RDATE wall times."""

    rule: rrule
    dtstart: datetime
    exdates: tuple[datetime, ...] = ()
    rdates: tuple[datetime, ...] = ()
    step: timedelta | None = None

    @classmethod
    def parse(
        cls,
        text: str,
        dtstart: datetime,
        zone: ZoneInfo,
        exdates: tuple[datetime, ...] = (),
        rdates: tuple[datetime, ...] = (),
    ) -> RRuleClock:
        body = text.strip()
        if body.upper().startswith("RRULE:"):
            body = body[6:]
        # An UNTIL in UTC (the RFC's form with a zoned DTSTART) becomes the zone's wall time.
        body = _UNTIL_UTC.sub(
            lambda m: (
                "UNTIL="
                + datetime.strptime(m.group(1), "%Y%m%dT%H%M%S")
                .replace(tzinfo=UTC)
                .astimezone(zone)
                .strftime("%Y%m%dT%H%M%S")
            ),
            body,
        )
        rule = _rule(body, dtstart, text)
        parts = dict(p.upper().split("=", 1) for p in body.split(";") if "=" in p)
        freq = _FREQUENCIES.get(parts.get("FREQ", ""))
        if freq == SECONDLY:
            raise SpecError("FREQ=SECONDLY is too often for a message: at most MINUTELY")
        step = None
        if "COUNT" not in parts and freq in _REBASE_STEP:
            step = _REBASE_STEP[freq] * int(parts.get("INTERVAL", "1"))
        return cls(rule, dtstart, exdates, rdates, step)

    def _rule_near(self, start: datetime) -> rrule:
        if self.step is None or start <= self.dtstart + self.step:
            return self.rule
        periods = (start - self.dtstart) // self.step - 1
        return self.rule.replace(dtstart=self.dtstart + self.step * periods)

    def walls_from(self, start: datetime) -> Iterator[datetime]:
        rule = self._rule_near(start)
        if self.exdates or self.rdates:
            rules = rruleset()
            rules.rrule(rule)
            for wall in self.rdates:
                rules.rdate(wall)
            for wall in self.exdates:
                rules.exdate(wall)
            walls = rules.xafter(start, inc=True)
        else:
            walls = rule.xafter(start, inc=True)
        for wall in walls:
            if wall > END_OF_TIME:
                return
            yield wall


@dataclass(frozen=True)
class PingsClock:
    """`per_day` random wall times a day inside a window, at least `spacing` apart.

    Each day's draw depends only on the seed and the date, so it is reproducible and the
    same on every replica. The times are uniform over every arrangement that keeps the
    spacing: n sorted uniform points in the window less (n-1) spacings, the i-th moved on
    by i spacings. A window whose end is not after its start runs past midnight.
    """

    per_day: int
    window_start: time
    window_end: time
    spacing: timedelta
    seed: int

    def __post_init__(self) -> None:
        if self.window_seconds - (self.per_day - 1) * self.spacing.total_seconds() <= 0:
            raise SpecError(
                f"{self.per_day} pings {int(self.spacing.total_seconds() // 60)} minutes apart"
                f" do not fit in {self.window_start:%H:%M}-{self.window_end:%H:%M}"
            )

    @property
    def window_seconds(self) -> int:
        def seconds(t: time) -> int:
            return t.hour * 3600 + t.minute * 60 + t.second

        length = (seconds(self.window_end) - seconds(self.window_start)) % 86400
        return length or 86400

    def day(self, day: date) -> list[datetime]:
        """The wall times of `day`'s window (which may end the next day)."""
        rng = random.Random(f"{self.seed}:{day.isoformat()}")
        spacing = int(self.spacing.total_seconds())
        free = self.window_seconds - (self.per_day - 1) * spacing
        points = sorted(int(rng.random() * free) for _ in range(self.per_day))
        opens = datetime.combine(day, self.window_start)
        return [opens + timedelta(seconds=p + i * spacing) for i, p in enumerate(points)]

    def walls_from(self, start: datetime) -> Iterator[datetime]:
        day = start.date() - timedelta(days=1)  # yesterday's window may run past midnight
        # A window that closes by `start` has no wall left: it is not drawn (its walls
        # are before its close, so skipping it changes nothing but the cost).
        length = timedelta(seconds=self.window_seconds)
        while day < END_OF_TIME.date():
            if datetime.combine(day, self.window_start) + length > start:
                for wall in self.day(day):
                    if wall >= start:
                        yield wall
            day += timedelta(days=1)
