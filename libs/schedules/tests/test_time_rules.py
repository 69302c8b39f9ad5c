"""RFC 5545 §3.3.5 for every kind, start and end dates, leap days and the far future."""

from datetime import UTC, date, datetime, time

import pytest

from chime_contracts.events.schedules import CronSpec, OnceSpec, PingsSpec, RRuleSpec
from chime_schedules import SpecError, local_instant, timetable, zone_of

pytestmark = pytest.mark.unit
KYIV, NY = "Europe/Kyiv", "America/New_York"
# New York springs forward at 02:00 on 8 March 2026 and falls back at 02:00 on 1 November.
SPRING, FALL = date(2026, 3, 8), date(2026, 11, 1)


def iso(at: datetime | None) -> str:
    assert at is not None
    return at.astimezone(zone_of(NY)).isoformat()


def test_a_wall_time_in_the_gap_moves_forward_by_the_gap():
    assert (
        iso(local_instant(datetime(2026, 3, 8, 2, 30), zone_of(NY))) == "2026-03-08T03:30:00-04:00"
    )


def test_a_repeated_wall_time_is_its_first_instance():
    assert (
        iso(local_instant(datetime(2026, 11, 1, 1, 30), zone_of(NY))) == "2026-11-01T01:30:00-04:00"
    )


GAP, FIRST = "2026-03-08T03:30:00-04:00", "2026-11-01T01:30:00-04:00"
ON_THE_NIGHTS = [
    ("once", OnceSpec(at=datetime(2026, 3, 8, 2, 30)), SPRING, GAP),
    ("cron", CronSpec(expression="30 2 * * *"), SPRING, GAP),
    ("rrule", RRuleSpec(rrule="FREQ=DAILY;BYHOUR=2;BYMINUTE=30"), SPRING, GAP),
    ("once, fold", OnceSpec(at=datetime(2026, 11, 1, 1, 30)), FALL, FIRST),
    ("cron, fold", CronSpec(expression="30 1 * * *"), FALL, FIRST),
    ("rrule, fold", RRuleSpec(rrule="FREQ=DAILY;BYHOUR=1;BYMINUTE=30"), FALL, FIRST),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "night", "expected"), [p[1:] for p in ON_THE_NIGHTS],
                         ids=[p[0] for p in ON_THE_NIGHTS])  # fmt: skip
def test_every_kind_follows_the_rfc_on_the_nights_clocks_change(spec, night, expected):
    table = timetable(spec, NY, anchor=datetime(2026, 1, 1, tzinfo=UTC))
    evening = datetime.combine(night, time(0), tzinfo=zone_of(NY))
    got = table.upcoming(evening, 3)
    assert got[0].isoformat() == expected
    # Once only, even where the wall time happens twice.
    assert len({g.date() for g in got}) == len(got)


def test_hourly_cron_across_both_nights_fires_once_per_instant_and_strictly_increasing():
    table = timetable(CronSpec(expression="*/30 * * * *"), NY)
    for night in (SPRING, FALL):
        got = table.upcoming(datetime.combine(night, time(0), tzinfo=zone_of(NY)), 12)
        utc = [g.astimezone(UTC) for g in got]
        assert utc == sorted(set(utc))
    spring = table.upcoming(datetime.combine(SPRING, time(1), tzinfo=zone_of(NY)), 4)
    # 02:00 and 02:30 do not exist: 02:00 → 03:00 (the same instant as 03:00: once), 02:30 → 03:30.
    assert [g.strftime("%H:%M%z") for g in spring] == [
        "01:30-0500",
        "03:00-0400",
        "03:30-0400",
        "04:00-0400",
    ]
    fall = table.upcoming(datetime.combine(FALL, time(0, 45), tzinfo=zone_of(NY)), 3)
    # The repeated hour fires at its first instance only.
    assert [g.strftime("%H:%M%z") for g in fall] == ["01:00-0400", "01:30-0400", "02:00-0500"]


def test_the_next_after_an_instant_inside_the_second_pass_of_a_repeated_hour():
    table = timetable(CronSpec(expression="45 1 * * *"), NY)
    second_pass = datetime(2026, 11, 1, 1, 10, fold=1, tzinfo=zone_of(NY))
    assert iso(table.next_after(second_pass)) == "2026-11-02T01:45:00-05:00"


def test_a_time_just_before_a_gap_found_from_inside_it():
    table = timetable(CronSpec(expression="30 2 * * *"), NY)
    after = datetime(2026, 3, 8, 3, 10, tzinfo=zone_of(NY))  # 02:30 reads as 03:30: still ahead
    assert iso(table.next_after(after)) == "2026-03-08T03:30:00-04:00"


def test_start_and_end_dates_are_local_and_inclusive():
    table = timetable(
        CronSpec(expression="0 9 * * *"), KYIV, starts_on=date(2026, 3, 5), ends_on=date(2026, 3, 7)
    )
    got = table.upcoming(datetime(2026, 1, 1, tzinfo=UTC), 10)
    assert [g.isoformat() for g in got] == [
        "2026-03-05T09:00:00+02:00", "2026-03-06T09:00:00+02:00", "2026-03-07T09:00:00+02:00",
    ]  # fmt: skip
    with pytest.raises(SpecError, match="before the start"):
        timetable(
            CronSpec(expression="0 9 * * *"),
            KYIV,
            starts_on=date(2026, 3, 5),
            ends_on=date(2026, 3, 4),
        )


def test_leap_days():
    cron = timetable(CronSpec(expression="0 9 29 2 *"), KYIV)
    assert [g.date().isoformat() for g in cron.upcoming(datetime(2026, 1, 1, tzinfo=UTC), 3)] == [
        "2028-02-29", "2032-02-29", "2036-02-29",
    ]  # fmt: skip
    rule = timetable(RRuleSpec(rrule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=9"), KYIV,
                     anchor=datetime(2096, 1, 1, tzinfo=UTC))  # fmt: skip
    # 2100 is not a leap year.
    assert [g.year for g in rule.upcoming(datetime(2096, 1, 1, tzinfo=UTC), 2)] == [2096, 2104]


def test_the_far_future_ends_cleanly():
    cron = timetable(CronSpec(expression="0 9 30 12 *"), KYIV)
    assert [g.year for g in cron.upcoming(datetime(9997, 1, 1, tzinfo=UTC), 5)] == [
        9997,
        9998,
        9999,
    ]
    rule = timetable(RRuleSpec(rrule="FREQ=YEARLY", starts_at=datetime(2026, 1, 1, 9)), KYIV)
    assert rule.next_after(datetime(9999, 6, 1, tzinfo=UTC)) is None
    assert rule.next_after(datetime(2500, 6, 1, tzinfo=UTC)) is not None
    once = timetable(OnceSpec(at=datetime(9999, 1, 1, 9)), KYIV)
    assert once.next_after(datetime(2026, 1, 1, tzinfo=UTC)) is not None
    minutely = timetable(
        RRuleSpec(rrule="FREQ=MINUTELY;INTERVAL=7", starts_at=datetime(2026, 1, 1)), KYIV
    )
    # Far from DTSTART, yet found without walking every occurrence since then.
    far = minutely.next_after(datetime(3026, 1, 1, tzinfo=UTC))
    assert far is not None
    assert far.year == 3026


def test_an_aware_once_is_kept_as_given_and_a_past_one_never_fires():
    at = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST, the second pass
    table = timetable(OnceSpec(at=at), NY)
    assert table.next_after(datetime(2026, 1, 1, tzinfo=UTC)) == at
    assert table.next_after(at) is None


@pytest.mark.parametrize(
    ("spec", "zone", "message"),
    [
        (CronSpec(expression="61 * * * *"), KYIV, "bad cron"),
        (CronSpec(expression="0 0 31 2 *"), KYIV, "bad cron"),
        (CronSpec(expression="* * * * * *"), KYIV, "5 fields"),
        (RRuleSpec(rrule="FREQ=FORTNIGHTLY"), KYIV, "bad RRULE"),
        (RRuleSpec(rrule="FREQ=SECONDLY"), KYIV, "too often"),
        (CronSpec(expression="0 9 * * *"), "Mars/Olympus", "unknown time zone"),
        (
            PingsSpec(
                per_day=20, window_start=time(10), window_end=time(11), min_spacing_minutes=5
            ),
            KYIV,
            "do not fit",
        ),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, zone, message):
    with pytest.raises(SpecError, match=message):
        timetable(spec, zone)


def test_exdate_and_rdate_are_wall_times_of_the_zone():
    spec = RRuleSpec(
        rrule="FREQ=DAILY;COUNT=3", starts_at=datetime(2026, 3, 1, 9),
        exdates=[datetime(2026, 3, 2, 9)], rdates=[datetime(2026, 3, 2, 12, 30)],
    )  # fmt: skip
    got = timetable(spec, KYIV).upcoming(datetime(2026, 1, 1, tzinfo=UTC), 10)
    assert [g.strftime("%d %H:%M") for g in got] == ["01 09:00", "02 12:30", "03 09:00"]
