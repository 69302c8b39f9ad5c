"""Recurring phrases as the contract's specs: `/every <spec> <text>` and `/ping <n> <window>`.

`daily 9:00`, `weekdays 8:30`, `mon,wed 19:00`, `1st of the month 9:00` and a quoted 5-field
cron become cron specs; `every 2 weeks on sat 10:00`, `every 3 days 9:00` and `last day of
the month 18:00` become RFC 5545 rules. Every spec is checked by `chime_schedules` (the
scheduler's own rules) before it is asked for, so a bad one is answered at once. Pure:
`now` and the zone are inputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time

from chime_contracts.events.schedules import CronSpec, PingsSpec, RRuleSpec
from chime_ingest.domain.time_phrases import (
    CLOCK,
    N_,
    WEEKDAYS,
    PhraseError,
    clock_of,
    zone,
)
from chime_schedules import SpecError, timetable

EVERY_HOW_TO = N_(
    "Write it like:\n"
    "/every day 9:00 drink water\n"
    "/every weekday 8:30 standup\n"
    "/every mon,wed 19:00 gym\n"
    "/every 2 weeks on sat 10:00 clean up\n"
    "/every 1st of the month 9:00 pay rent\n"
    '/every "30 8 * * 1-5" standup (a 5-field cron)'
)
PING_HOW_TO = N_(
    "Write it like /ping 3 09:00-18:00 drink water: 3 random times a day between 09:00 and 18:00."
)

_CRON_DAY = ("1", "2", "3", "4", "5", "6", "0")  # cron counts from Sunday = 0
_RRULE_DAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_QUOTED = re.compile(r'^["\'“”«](?P<cron>[^"\'“”»]+)["\'“”»]\s*(?P<text>.*)$', re.DOTALL)
_TIME = re.compile(r"^(?P<at>at\s+)?" + CLOCK + r"(?=\s|$)\s*(?P<text>.*)$", re.I | re.DOTALL)
_DAYS = (
    r"(?P<days>(?:" + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + r")"
    r"(?:\s*(?:,|and|&)\s*(?:" + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + r"))*)"
)
_PATTERNS = {
    "daily": re.compile(r"^(?:day|daily|days)\b", re.I),
    "weekdays": re.compile(r"^(?:weekdays?|workdays?|working days?)\b", re.I),
    "weekends": re.compile(r"^weekends?\b", re.I),
    "hourly": re.compile(r"^(?:hour|hourly)\b", re.I),
    "weeks": re.compile(r"^(?P<n>\d+)\s+weeks?\s+on\s+" + _DAYS + r"(?![a-z])", re.I),
    "days_apart": re.compile(r"^(?P<n>\d+)\s+days?\b", re.I),
    "days": re.compile(r"^(?:on\s+)?" + _DAYS + r"(?![a-z])", re.I),
    "monthday": re.compile(
        r"^(?:monthly\s+on\s+)?(?:the\s+)?(?P<nth>\d{1,2})(?:st|nd|rd|th)"
        r"(?:\s+(?:of\s+)?(?:the|every)\s+month)?(?![a-z])",
        re.I,
    ),
    "lastday": re.compile(r"^(?:the\s+)?last\s+day\s+of\s+(?:the|every)\s+month\b", re.I),
}


@dataclass(frozen=True)
class Recurrence:
    spec: CronSpec | RRuleSpec
    phrase: str
    text: str
    starts_on: date | None = None


def parse_every(args: str, now: datetime, time_zone: str) -> Recurrence:
    try:
        return _every(args.strip(), now, time_zone)
    except PhraseError as error:
        raise error.hinted(EVERY_HOW_TO) from None


def _every(text: str, now: datetime, time_zone: str) -> Recurrence:
    if not text:
        raise PhraseError(N_("Tell me how often and what."), EVERY_HOW_TO)
    quoted = _QUOTED.match(text)
    if quoted:
        expression = " ".join(quoted.group("cron").split())
        if len(expression.split()) != 5 or not _schedulable(expression, time_zone):
            raise PhraseError(
                N_("{cron} is not a 5-field cron (minute hour day month weekday)."),
                EVERY_HOW_TO,
                cron=repr(expression),
            )
        return _with_text(CronSpec(expression=expression), text, quoted.group("text"))
    rest = text[6:].lstrip() if text.lower().startswith("every ") else text
    for name, pattern in _PATTERNS.items():
        found = pattern.match(rest)
        if found is None:
            continue
        after = rest[found.end() :].strip()
        if name == "hourly":
            return _with_text(CronSpec(expression="0 * * * *"), text, after)
        clock, what = _clock(after)
        if name == "monthday":
            nth = int(found.group("nth"))
            if not 1 <= nth <= 31:
                raise PhraseError(N_("A month has no day {day}."), EVERY_HOW_TO, day=nth)
            return _with_text(_cron(clock, str(nth), "*"), text, what)
        if name == "lastday":
            rule = f"FREQ=MONTHLY;BYMONTHDAY=-1;{_at(clock)}"
            return _rrule(rule, text, what, now, time_zone)
        if name in ("weeks", "days_apart"):
            every = int(found.group("n"))
            if not 1 <= every <= 52:
                raise PhraseError(N_("Say every 1 to 52 weeks or days."), EVERY_HOW_TO)
            if name == "days_apart":
                return _rrule(
                    f"FREQ=DAILY;INTERVAL={every};{_at(clock)}", text, what, now, time_zone
                )
            days = ",".join(_RRULE_DAY[d] for d in _weekdays(found.group("days")))
            rule = f"FREQ=WEEKLY;INTERVAL={every};BYDAY={days};{_at(clock)}"
            return _rrule(rule, text, what, now, time_zone)
        days = {
            "daily": "*",
            "weekdays": "1-5",
            "weekends": "6,0",
        }.get(name) or ",".join(_CRON_DAY[d] for d in _weekdays(found.group("days")))
        return _with_text(_cron(clock, "*", days), text, what)
    raise PhraseError(
        N_("I couldn't understand how often {phrase} is."), EVERY_HOW_TO, phrase=repr(text)
    )


@dataclass(frozen=True)
class Pings:
    spec: PingsSpec
    phrase: str
    text: str


_PING = re.compile(
    r"^(?P<n>\d+)\s+(?P<start>\d{1,2}:\d{2})\s*[-\u2013\u2014]\s*(?P<end>\d{1,2}:\d{2})(?:\s+(?P<text>.*))?$",
    re.DOTALL,
)


def parse_ping(args: str) -> Pings:
    try:
        return _ping(args)
    except PhraseError as error:
        raise error.hinted(PING_HOW_TO) from None


def _ping(args: str) -> Pings:
    found = _PING.match(args.strip())
    if found is None:
        raise PhraseError(N_("I couldn't understand that."), PING_HOW_TO)
    per_day = int(found.group("n"))
    if not 1 <= per_day <= 100:
        raise PhraseError(N_("Ask for 1 to 100 pings a day."), PING_HOW_TO)
    start, end = (_hhmm(found.group(part)) for part in ("start", "end"))
    if end <= start:
        raise PhraseError(
            N_("The window must end after it starts ({start} is not before {end})."),
            PING_HOW_TO,
            start=f"{start:%H:%M}",
            end=f"{end:%H:%M}",
        )
    what = (found.group("text") or "").strip()
    phrase = args.strip()[: len(args.strip()) - len(what)].strip()
    if not what:
        raise PhraseError(N_("What should I ping you about?"), PING_HOW_TO)
    spec = PingsSpec(per_day=per_day, window_start=start, window_end=end)
    return Pings(spec=spec, phrase=phrase, text=what)


def _hhmm(text: str) -> time:
    hour, minute = text.split(":")
    return clock_of(int(hour), int(minute), None)


def _clock(text: str) -> tuple[time, str]:
    found = _TIME.match(text)
    if found is None or not (found.group("minute") or found.group("meridiem") or found.group("at")):
        raise PhraseError(N_("At what time?"), EVERY_HOW_TO)
    clock = clock_of(
        int(found.group("hour")), int(found.group("minute") or 0), found.group("meridiem")
    )
    return clock, found.group("text").strip()


def _weekdays(listed: str) -> list[int]:
    names = re.split(r"\s*(?:,|and|&)\s*", listed.strip().lower())
    return sorted({WEEKDAYS[n] for n in names if n})


def _cron(clock: time, day_of_month: str, day_of_week: str) -> CronSpec:
    return CronSpec(expression=f"{clock.minute} {clock.hour} {day_of_month} * {day_of_week}")


def _at(clock: time) -> str:
    return f"BYHOUR={clock.hour};BYMINUTE={clock.minute};BYSECOND=0"


def _schedulable(expression: str, time_zone: str) -> bool:
    try:
        timetable(CronSpec(expression=expression), time_zone)
    except (SpecError, ValueError):
        return False
    return True


def _rrule(rule: str, text: str, what: str, now: datetime, time_zone: str) -> Recurrence:
    """Starts on the local day of its first occurrence, so INTERVAL counts from there (its
    DTSTART is that day's midnight, as the scheduler reads a rule without one)."""
    spec = RRuleSpec(rrule=rule)
    first = timetable(spec, time_zone, anchor=now).next_after(now)
    recurrence = _with_text(spec, text, what)
    starts_on = first.astimezone(zone(time_zone)).date() if first else None
    return Recurrence(recurrence.spec, recurrence.phrase, recurrence.text, starts_on=starts_on)


def _with_text(spec: CronSpec | RRuleSpec, text: str, what: str) -> Recurrence:
    what = what.strip()
    phrase = text[: len(text) - len(what)].strip() if what else text
    if not what:
        raise PhraseError(N_("What should I send you {phrase}?"), EVERY_HOW_TO, phrase=phrase)
    return Recurrence(spec=spec, phrase=phrase, text=what)
