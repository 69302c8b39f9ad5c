"""The shortcuts of the library give what the plain computation gives, on generated input.

- A cron line's walls from its parsed fields (days by cronsim's `match_day`, then hours
  times minutes) equal cronsim iterating, including its `L`, `W` and `#` days.
- An RRULE text parsed once and rebuilt for another DTSTART equals it parsed with that
  DTSTART, occurrences and refusals alike.
- Pings skip the windows that closed before the start: their walls equal every day drawn.
- A timetable taken from the shared ones answers as one built afresh.
"""

from contextlib import suppress
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chime_contracts.events.schedules import CronSpec, RRuleSpec
from chime_schedules import SpecError, timetable
from chime_schedules.clocks import (
    END_OF_TIME,
    CronClock,
    PingsClock,
    _rule,
    plain_rule,
)
from chime_schedules.timetable import _build

pytestmark = pytest.mark.unit


def cron_field(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.integers(low, high).map(str)
    step = st.tuples(st.sampled_from(["*", f"{low}-{high}"]), st.integers(2, 9)).map(
        lambda t: f"{t[0]}/{t[1]}"
    )
    span = st.lists(st.integers(low, high), min_size=2, max_size=2, unique=True).map(
        lambda t: f"{min(t)}-{max(t)}"
    )
    many = st.lists(st.integers(low, high), min_size=2, max_size=4, unique=True).map(
        lambda xs: ",".join(map(str, sorted(xs)))
    )
    return st.one_of(st.just("*"), value, step, span, many)


days_of_month = st.one_of(cron_field(1, 31), st.sampled_from(["L", "LW", "15W", "1,L", "29"]))
days_of_week = st.one_of(cron_field(0, 7), st.sampled_from(["MON#5", "FRI#2", "5L", "SUN"]))
crons = st.tuples(
    cron_field(0, 59), cron_field(0, 23), days_of_month, cron_field(1, 12), days_of_week
).map(" ".join)
walls = st.datetimes(datetime(1990, 1, 1), datetime(2090, 1, 1))


@settings(max_examples=400, deadline=None)
@given(expression=crons, start=walls)
def test_cron_walls_from_fields_equal_cronsim_iterating(expression, start):
    try:
        clock = CronClock(expression)
    except SpecError:
        return
    assert list(islice(clock.walls_from(start), 30)) == list(
        islice(clock.plain_walls_from(start), 30)
    )


@pytest.mark.parametrize(
    ("expression", "start"),
    [
        ("59 23 31 12 *", datetime(9999, 12, 29)),  # the calendar's end
        ("0 0 29 2 1", datetime(2099, 3, 1)),  # the 29th of February or a Monday
        ("0 0 * 2 MON#5", datetime(2024, 3, 1)),  # years apart
        ("0 0 29 2 *", datetime(2096, 3, 1, 0, 0, 1)),  # no leap day in 2100
        ("*/7 * * * *", datetime(2026, 3, 29, 0, 59, 59, 999_999)),
    ],
)
def test_cron_walls_at_the_edges_equal_cronsim_iterating(expression, start):
    clock = CronClock(expression)
    ours = list(islice(clock.walls_from(start), 10))
    assert ours == list(islice(clock.plain_walls_from(start), 10))
    assert all(w <= END_OF_TIME for w in ours)


by_parts = st.sampled_from([
    "", "BYDAY=MO,WE,FR", "BYDAY=SA,SU", "BYDAY=1MO,-1FR", "BYMONTHDAY=1,15,-1",
    "BYMONTH=2;BYMONTHDAY=29", "BYYEARDAY=1,100,-1", "BYWEEKNO=20;BYDAY=MO", "BYHOUR=2,9",
    "BYHOUR=1;BYMINUTE=30", "BYMINUTE=0,30", "BYMONTH=3,10;BYDAY=-1SU;BYHOUR=2;BYMINUTE=30",
    "BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "BYMONTHDAY=31", "BYEASTER=0",
])  # fmt: skip
ends = st.sampled_from(["", "", "COUNT=5", "UNTIL=20300101T000000", "UNTIL=20280615"])
rules = st.builds(
    lambda freq, interval, by, end, wkst: ";".join(
        p for p in (f"FREQ={freq}", f"INTERVAL={interval}", by, end, wkst) if p
    ),
    st.sampled_from(["MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"]),
    st.integers(1, 5),
    by_parts,
    ends,
    st.sampled_from(["", "WKST=SU"]),
)
dtstarts = st.datetimes(datetime(1999, 1, 1), datetime(2031, 1, 1)).map(
    lambda d: d.replace(microsecond=0)
)


@settings(max_examples=300, deadline=None)
@given(rule=rules, first=dtstarts, dtstart=dtstarts)
def test_an_rrule_rebuilt_for_a_dtstart_equals_it_parsed_with_that_dtstart(rule, first, dtstart):
    with suppress(SpecError):
        _rule(rule, first, rule)  # what was parsed before, with another DTSTART
    refused: list[str] = []
    try:
        plain = plain_rule(rule, dtstart, rule)
    except SpecError as exc:
        refused.append(str(exc))
    if refused:
        with pytest.raises(SpecError) as ours:
            _rule(rule, dtstart, rule)
        assert [str(ours.value)] == refused
        return
    fast = _rule(rule, dtstart, rule)
    assert list(islice(fast, 40)) == list(islice(plain, 40))


@settings(max_examples=200, deadline=None)
@given(
    per_day=st.integers(1, 6),
    opens=st.integers(0, 23),
    hours=st.integers(1, 24),
    seed=st.integers(0, 2**32),
    start=st.datetimes(datetime(2000, 1, 1), datetime(2090, 1, 1)),
)
def test_pings_skip_only_windows_without_a_wall_left(per_day, opens, hours, seed, start):
    clock = PingsClock(per_day, time(opens), time((opens + hours) % 24), timedelta(0), seed)
    day = start.date() - timedelta(days=1)
    plain = [w for d in range(4) for w in clock.day(day + timedelta(days=d)) if w >= start]
    ours = list(islice(clock.walls_from(start), len(plain)))
    assert ours == plain


@settings(max_examples=200, deadline=None)
@given(
    spec=st.one_of(
        crons.map(lambda e: CronSpec(expression=e)),
        st.tuples(rules, dtstarts).map(lambda t: RRuleSpec(rrule=t[0], starts_at=t[1])),
    ),
    zone=st.sampled_from(["UTC", "Europe/Kyiv", "America/New_York", "Australia/Lord_Howe"]),
    starts_on=st.one_of(st.none(), st.dates(date(2000, 1, 1), date(2030, 1, 1))),
    after=st.datetimes(datetime(2000, 1, 1), datetime(2032, 1, 1), timezones=st.just(UTC)),
)
def test_a_shared_timetable_answers_as_one_built_afresh(spec, zone, starts_on, after):
    try:
        fresh = _build(spec, zone, starts_on, None, None)
    except SpecError:
        with pytest.raises(SpecError):
            timetable(spec, zone, starts_on=starts_on)
        return
    shared = timetable(spec, zone, starts_on=starts_on)
    assert shared is timetable(spec, zone, starts_on=starts_on)  # kept, not built again
    assert shared.upcoming(after, 5) == fresh.upcoming(after, 5)
