"""Next-fire computation held to independent oracles, on generated specs, zones and instants.

Cron is built on cronsim; its oracle is croniter. Wall times become instants through
dateutil's own zone code (`resolve_imaginary` moves a time in a gap forward by the gap; a
repeated one is its first instance), not through ours. RRULE is built on dateutil with a
DTSTART moved near the query; its oracle is dateutil walking from the rule's own DTSTART.
"""

from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest
from croniter import croniter
from dateutil import tz
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from chime_contracts.events.schedules import CronSpec, RRuleSpec
from chime_schedules import SpecError, timetable

pytestmark = pytest.mark.unit
ZONES = [
    "UTC", "Europe/Kyiv", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham",
    "Asia/Kolkata", "America/Santiago", "Europe/London", "Antarctica/Troll",
]  # fmt: skip
# Around DST changes more often than at random: instants within a few days of one.
TRANSITIONS = [
    datetime(2026, 3, 8, 6, tzinfo=UTC), datetime(2026, 3, 29, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 0, tzinfo=UTC), datetime(2026, 11, 1, 5, tzinfo=UTC),
    datetime(2026, 4, 5, 0, tzinfo=UTC), datetime(2026, 9, 27, 0, tzinfo=UTC),
]  # fmt: skip


def field(low: int, high: int, star_steps: bool = True) -> st.SearchStrategy[str]:
    value = st.integers(low, high).map(str)
    starts = ["*", f"{low}-{high}"] if star_steps else [f"{low}-{high}"]
    step = st.tuples(st.sampled_from(starts), st.integers(2, 7)).map(lambda t: f"{t[0]}/{t[1]}")
    # Distinct ends: croniter 7 reads a one-value range such as "1-1" as "*".
    span = st.lists(st.integers(low, high), min_size=2, max_size=2, unique=True).map(
        lambda t: f"{min(t)}-{max(t)}"
    )
    many = st.lists(st.integers(low, high), min_size=2, max_size=4, unique=True).map(
        lambda xs: ",".join(map(str, sorted(xs)))
    )
    return st.one_of(st.just("*"), value, step, span, many)


# "*/2" in a day field: cronsim keeps Vixie cron's rule (a day field that starts with "*"
# makes the two day fields AND, not OR), croniter does not; that case has its own test.
crons = st.tuples(
    field(0, 59), field(0, 23), field(1, 28, False), field(1, 12), field(0, 6, False)
).map(" ".join)
instants = st.one_of(
    st.datetimes(datetime(2000, 1, 1), datetime(2060, 1, 1), timezones=st.just(UTC)),
    st.tuples(st.sampled_from(TRANSITIONS), st.integers(-4 * 86400, 4 * 86400)).map(
        lambda t: t[0] + timedelta(seconds=t[1])
    ),
)


def oracle_instant(wall: datetime, zone: str) -> datetime:
    aware = tz.resolve_imaginary(wall.replace(tzinfo=tz.gettz(zone), fold=0))
    return aware.astimezone(UTC)


def oracle_after(walls, zone: str, after: datetime, count: int) -> list[datetime]:
    found = sorted({at for w in walls if (at := oracle_instant(w, zone)) > after})
    return found[:count]


@settings(max_examples=100, deadline=None)
@given(expression=crons, zone=st.sampled_from(ZONES), after=instants)
def test_cron_matches_croniter(expression, zone, after):
    table = timetable(CronSpec(expression=expression), zone)
    ours = [g.astimezone(UTC) for g in table.upcoming(after, 5)]
    local = after.astimezone(tz.gettz(zone)).replace(tzinfo=None) - timedelta(hours=3)
    walls = islice(croniter(expression, local).all_next(datetime), 200)
    assert ours == oracle_after(walls, zone, after, 5)


rrules = st.builds(
    lambda freq, interval, byday, byhour, bysetpos: ";".join(
        p for p in (f"FREQ={freq}", f"INTERVAL={interval}", byday, byhour, bysetpos) if p
    ),
    st.sampled_from(["MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"]),
    st.integers(1, 5),
    st.sampled_from(["", "BYDAY=MO,WE,FR", "BYDAY=SA,SU", "BYDAY=TU"]),
    st.sampled_from(["", "BYHOUR=2,9", "BYHOUR=1;BYMINUTE=30", "BYMINUTE=0,30"]),
    st.sampled_from(["", "", "BYSETPOS=1", "BYSETPOS=-1"]),
)


@settings(max_examples=300, deadline=None)
@given(
    rule=rrules,
    zone=st.sampled_from(ZONES),
    dtstart=st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1)).map(
        lambda d: d.replace(microsecond=0)
    ),
    later=st.one_of(st.integers(0, 40 * 86400), st.integers(0, 3 * 365 * 86400)),
)
def test_rrule_matches_dateutil_from_its_own_dtstart(rule, zone, dtstart, later):
    if "BYSETPOS" in rule and "BY" not in rule.replace("BYSETPOS", ""):
        return  # BYSETPOS needs another BY part
    try:
        oracle = rrulestr(rule, dtstart=dtstart)
    except ValueError:  # a rule whose BY parts match nothing: ours refuses it too
        with pytest.raises(SpecError):
            timetable(RRuleSpec(rrule=rule, starts_at=dtstart), zone)
        return
    table = timetable(RRuleSpec(rrule=rule, starts_at=dtstart), zone)
    after = oracle_instant(dtstart, zone) + timedelta(seconds=later)
    ours = [g.astimezone(UTC) for g in table.upcoming(after, 4)]
    local = after.astimezone(tz.gettz(zone)).replace(tzinfo=None) - timedelta(hours=3)
    walls = islice(oracle.xafter(local, inc=True), 600)
    assert ours == oracle_after(walls, zone, after, 4)
    assert ours == sorted(set(ours))  # strictly increasing


def test_a_starred_day_field_keeps_vixie_crons_and_rule():
    table = timetable(CronSpec(expression="0 9 1 * */2"), "UTC")
    got = table.upcoming(datetime(2026, 3, 1, 12, tzinfo=UTC), 3)
    # The 1st of a month that is a Sunday, Tuesday, Thursday or Saturday; not every Sunday.
    assert [g.date().isoformat() for g in got] == ["2026-08-01", "2026-09-01", "2026-10-01"]
