"""Natural time phrases in the user's own zone: `in 10m`, `tomorrow 9:00`, `at 18:30`.

Pure: `now` and the zone are inputs. A local time that does not exist (the spring-forward
gap) moves forward by the gap; an ambiguous one (the autumn repeat) means its first
occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

HOW_TO = (
    "Write it like:\n"
    "/remind in 10m stretch\n"
    "/remind in 1h30m call back\n"
    "/remind at 18:30 take the pizza out\n"
    "/remind tomorrow 9:00 call mom"
)

_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
_AMOUNT = re.compile(r"(\d+)\s*([a-z]+)")
_RELATIVE = re.compile(r"^in\s+((?:\d+\s*[a-z]+\s*?)+)(?:\s+(.*))?$", re.IGNORECASE | re.DOTALL)
_CLOCK = r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?"
_AT = re.compile(rf"^(?:(today|tomorrow)\s+)?(?:at\s+)?{_CLOCK}(?:\s+(.*))?$", re.I | re.DOTALL)
_MAX_AHEAD = timedelta(days=366 * 5)


class PhraseError(ValueError):
    """The phrase could not be understood; the message says what was wrong."""


@dataclass(frozen=True)
class Reminder:
    due_at: datetime  # UTC
    phrase: str
    text: str


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PhraseError(f"I don't know the time zone {name!r}.") from None


def parse_reminder(args: str, now: datetime, time_zone: str) -> Reminder:
    text = args.strip()
    if not text:
        raise PhraseError("Tell me when and what.\n" + HOW_TO)
    relative = _RELATIVE.match(text)
    if relative:
        delta = _duration(relative.group(1))
        what = (relative.group(2) or "").strip()
        phrase = text[: len(text) - len(what)].strip() if what else text
        return _reminder(now + delta, phrase, what)
    at = _AT.match(text)
    if at:
        day, hour, minute, meridiem, what = at.groups()
        local_now = now.astimezone(zone(time_zone))
        clock = _clock(int(hour), int(minute or 0), meridiem)
        due = _local_to_utc(local_now.date(), clock, zone(time_zone))
        if day and day.lower() == "tomorrow":
            due = _local_to_utc(local_now.date() + timedelta(days=1), clock, zone(time_zone))
        elif due <= now:
            if day and day.lower() == "today":
                raise PhraseError(f"{clock:%H:%M} today has already passed.")
            due = _local_to_utc(local_now.date() + timedelta(days=1), clock, zone(time_zone))
        what = (what or "").strip()
        phrase = text[: len(text) - len(what)].strip() if what else text
        return _reminder(due, phrase, what)
    raise PhraseError(f"I couldn't understand when {text!r} is.\n" + HOW_TO)


def _reminder(due: datetime, phrase: str, what: str) -> Reminder:
    if not what:
        raise PhraseError(f"What should I remind you of {phrase}?\n" + HOW_TO)
    return Reminder(due_at=due.astimezone(UTC), phrase=phrase, text=what)


def _duration(spec: str) -> timedelta:
    seconds = 0
    for amount, unit in _AMOUNT.findall(spec.lower()):
        if unit not in _UNITS:
            raise PhraseError(f"{unit!r} is not a unit I know (use s, m, h, d or w).\n" + HOW_TO)
        seconds += int(amount) * _UNITS[unit]
    if seconds <= 0:
        raise PhraseError("The delay must be longer than zero.")
    delta = timedelta(seconds=seconds)
    if delta > _MAX_AHEAD:
        raise PhraseError("That is more than five years away.")
    return delta


def _clock(hour: int, minute: int, meridiem: str | None) -> time:
    if meridiem:
        if not 1 <= hour <= 12:
            raise PhraseError(f"{hour}{meridiem} is not a time.")
        hour = hour % 12 + (12 if meridiem.lower() == "pm" else 0)
    if hour > 23 or minute > 59:
        raise PhraseError(f"{hour}:{minute:02d} is not a time of day.")
    return time(hour, minute)


def _local_to_utc(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The first instant the wall clock in `tz` reads `day clock` (or the gap's end)."""
    naive = datetime.combine(day, clock)
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first
    # In the spring-forward gap the wall clock never reads `naive`: the next valid instant
    # is the transition itself, between the two readings of the offset.
    low = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = first
    after = high.astimezone(tz).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)
