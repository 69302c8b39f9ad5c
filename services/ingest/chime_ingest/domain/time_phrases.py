"""Natural time phrases in the user's own zone: `in 2 hours 15 minutes`, `tomorrow 9:00`,
`fri 18:30`, `next monday 9am`, `2026-12-01 18:00`.

Pure: `now` and the zone are inputs. Wall times follow RFC 5545 (§3.3.5): a time that does
not exist (the spring-forward gap) moves forward by the gap's length, so 02:30 on a night
that jumps from 02:00 to 03:00 is 03:30; a repeated time (the autumn fold) is its first
occurrence.

Errors are `PhraseError`s whose message is an English gettext msgid with `{named}` fields:
the reply translates it, then fills the fields in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chime_schedules import local_instant as wall_instant


def N_(message: str) -> str:
    """Marks a message for the catalog (`pybabel extract -k N_`); translated when replied."""
    return message


HOW_TO = N_(
    "Write it like:\n"
    "/remind in 10m stretch\n"
    "/remind in 2 hours 15 minutes call back\n"
    "/remind at 18:30 take the pizza out\n"
    "/remind tomorrow 9:00 call mom\n"
    "/remind fri 18:30 movie night\n"
    "/remind next monday 9am standup\n"
    "/remind 2026-12-01 18:00 pay rent"
)

_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
WEEKDAYS = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4,
    "sat": 5, "saturday": 5, "sun": 6, "sunday": 6,
}  # fmt: skip
_WEEKDAY = "|".join(sorted(WEEKDAYS, key=len, reverse=True))
_AMOUNT = re.compile(r"\s*(?:(?:and|,)\s*)?(\d+)\s*([a-z]+)(?![a-z])", re.IGNORECASE)
CLOCK = r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<meridiem>am|pm)?"
_AT = re.compile(
    r"^(?:(?P<day>today|tomorrow|(?P<next>next\s+)?(?P<weekday>" + _WEEKDAY + r")"
    r"|(?P<date>\d{4}-\d{1,2}-\d{1,2}))\s+)?(?P<at>at\s+)?" + CLOCK + r"(?=\s|$)\s*(?P<text>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_DAY_ONLY = re.compile(
    r"^(today|tomorrow|(?:next\s+)?(?:" + _WEEKDAY + r")|\d{4}-\d{1,2}-\d{1,2})(?=\s|$)",
    re.IGNORECASE,
)
MAX_AHEAD = timedelta(days=366 * 5)


class PhraseError(ValueError):
    """The phrase could not be understood; the message says what was wrong (a msgid)."""

    def __init__(self, message: str, hint: str | None = None, **fields: Any) -> None:
        said = message.format(**fields)
        super().__init__(f"{said}\n{hint}" if hint else said)
        self.message = message
        self.hint = hint
        self.fields = fields

    def hinted(self, hint: str) -> PhraseError:
        """The same error with an example of how to write it, unless it has one."""
        return self if self.hint else PhraseError(self.message, hint, **self.fields)


@dataclass(frozen=True)
class Reminder:
    due_at: datetime  # UTC
    phrase: str
    text: str


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PhraseError(N_("I don't know the time zone {zone}."), zone=repr(name)) from None


def parse_reminder(args: str, now: datetime, time_zone: str) -> Reminder:
    text = args.strip()
    if not text:
        raise PhraseError(N_("Tell me when and what."), HOW_TO)
    try:
        due, phrase, what = parse_when(text, now, time_zone)
    except PhraseError as error:
        raise error.hinted(HOW_TO) from None
    if not what:
        raise PhraseError(N_("What should I remind you of {phrase}?"), HOW_TO, phrase=phrase)
    return Reminder(due_at=due, phrase=phrase, text=what)


def parse_when(text: str, now: datetime, time_zone: str) -> tuple[datetime, str, str]:
    """The instant (UTC) a phrase at the start of `text` names, the phrase, and the rest."""
    tz = zone(time_zone)
    if text[:3].lower() == "in " or text.lower() == "in":
        delta, rest = split_duration(text[2:])
        return now + delta, text[: len(text) - len(rest)].strip(), rest
    at = _AT.match(text)
    if at is None:
        only_day = _DAY_ONLY.match(text)
        if only_day:
            raise PhraseError(N_("At what time {day}?"), HOW_TO, day=only_day.group(1))
        raise PhraseError(N_("I couldn't understand when {phrase} is."), HOW_TO, phrase=repr(text))
    what = at.group("text").strip()
    phrase = text[: len(text) - len(what)].strip() if what else text
    if not (at.group("minute") or at.group("meridiem") or at.group("at")):
        raise PhraseError(
            N_("Is {hour} a time? Write it as {hour}:00 or at {hour}."),
            HOW_TO,
            hour=at.group("hour"),
        )
    clock = clock_of(int(at.group("hour")), int(at.group("minute") or 0), at.group("meridiem"))
    today = now.astimezone(tz).date()
    day = (at.group("day") or "").lower()
    if at.group("date"):
        target = _date(at.group("date"))
        due = local_instant(target, clock, tz)
        if due <= now:
            raise PhraseError(N_("{when} has already passed."), when=f"{target} {clock:%H:%M}")
    elif at.group("weekday"):
        ahead = (WEEKDAYS[at.group("weekday").lower()] - today.weekday()) % 7
        if at.group("next") and ahead == 0:
            ahead = 7
        due = local_instant(today + timedelta(days=ahead), clock, tz)
        if due <= now:
            due = local_instant(today + timedelta(days=ahead + 7), clock, tz)
    elif day == "tomorrow":
        due = local_instant(today + timedelta(days=1), clock, tz)
    else:
        due = local_instant(today, clock, tz)
        if due <= now:
            if day == "today":
                raise PhraseError(N_("{when} today has already passed."), when=f"{clock:%H:%M}")
            due = local_instant(today + timedelta(days=1), clock, tz)
    if due - now > MAX_AHEAD:
        raise PhraseError(N_("That is more than five years away."))
    return due, phrase, what


def split_duration(spec: str) -> tuple[timedelta, str]:
    """`2 hours 15 minutes call back` → (2h15m, `call back`): amounts with known units."""
    seconds, position, first_unknown = 0, 0, None
    while match := _AMOUNT.match(spec, position):
        unit = match.group(2).lower()
        if unit not in _UNITS:
            first_unknown = unit
            break
        seconds += int(match.group(1)) * _UNITS[unit]
        position = match.end()
    if position == 0:
        if first_unknown is not None:
            raise PhraseError(
                N_("{unit} is not a unit I know (use s, m, h, d or w)."),
                HOW_TO,
                unit=repr(first_unknown),
            )
        raise PhraseError(N_("In how long? For example: in 10m, in 2 hours 15 minutes."))
    if seconds <= 0:
        raise PhraseError(N_("The delay must be longer than zero."))
    delta = timedelta(seconds=seconds)
    if delta > MAX_AHEAD:
        raise PhraseError(N_("That is more than five years away."))
    return delta, spec[position:].strip()


def parse_duration(spec: str) -> timedelta:
    """A whole phrase that is only a duration: `15m`, `1h`, `2 hours 30 minutes`."""
    delta, rest = split_duration(spec)
    if rest:
        raise PhraseError(N_("I couldn't understand {phrase} as a duration."), phrase=repr(spec))
    return delta


SNOOZE_HOW_TO = N_(
    "Write it like /snooze 30m, /snooze 2h or /snooze tomorrow 9:00, as a reply to the reminder."
)
DEFAULT_SNOOZE = timedelta(minutes=15)


def parse_snooze(args: str, now: datetime, time_zone: str) -> datetime:
    """Until when: a duration (`30m`), a time (`tomorrow 9:00`), or 15 minutes."""
    text = args.strip()
    if not text:
        return now + DEFAULT_SNOOZE
    try:
        return now + parse_duration(text)
    except PhraseError:
        pass
    try:
        until, _, rest = parse_when(text, now, time_zone)
    except PhraseError:
        rest = text
    if rest:
        raise PhraseError(
            N_("I couldn't understand {phrase} as a duration."), SNOOZE_HOW_TO, phrase=repr(text)
        )
    return until


def clock_of(hour: int, minute: int, meridiem: str | None) -> time:
    if meridiem:
        if not 1 <= hour <= 12 or minute > 59:
            raise PhraseError(N_("{time} is not a time."), time=f"{hour}:{minute:02d}{meridiem}")
        hour = hour % 12 + (12 if meridiem.lower() == "pm" else 0)
    if hour > 23 or minute > 59:
        raise PhraseError(N_("{time} is not a time of day."), time=f"{hour}:{minute:02d}")
    return time(hour, minute)


def _date(text: str) -> date:
    try:
        return date.fromisoformat("-".join(p.zfill(2) for p in text.split("-")))
    except ValueError:
        raise PhraseError(N_("{date} is not a date."), date=text) from None


def local_instant(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The instant (UTC) the wall clock in `tz` reads `day clock`, as RFC 5545 reads it (a
    time in the spring-forward gap is one gap later: 02:30 → 03:30; a repeated time is the
    first of the two), by the rule the scheduler fires by."""
    return wall_instant(datetime.combine(day, clock), tz)
