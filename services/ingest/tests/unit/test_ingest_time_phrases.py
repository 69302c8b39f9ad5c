import re
from datetime import UTC, datetime, timedelta

import pytest

from chime_ingest.domain.time_phrases import PhraseError, parse_duration, parse_reminder

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "delta", "text"),
    [
        ("in 2s hello", timedelta(seconds=2), "hello"),
        ("in 10m stretch", timedelta(minutes=10), "stretch"),
        ("in 1h30m call back", timedelta(hours=1, minutes=30), "call back"),
        ("in 2 hours drink water", timedelta(hours=2), "drink water"),
        ("in 3 days pay rent", timedelta(days=3), "pay rent"),
        ("IN 1w Review", timedelta(weeks=1), "Review"),
    ],
)
def test_relative_phrases(args, delta, text):
    reminder = parse_reminder(args, NOW, "Europe/Kyiv")
    assert reminder.due_at == NOW + delta
    assert reminder.text == text


def test_clock_time_later_today_in_the_users_zone():
    # 10:00 UTC is 12:00 in Kyiv (UTC+2 in November).
    reminder = parse_reminder("at 18:30 pizza", NOW, "Europe/Kyiv")
    assert reminder.due_at == datetime(2026, 11, 26, 16, 30, tzinfo=UTC)
    assert reminder.phrase == "at 18:30"
    assert reminder.text == "pizza"


def test_clock_time_already_passed_means_tomorrow():
    reminder = parse_reminder("9:00 call mom", NOW, "Europe/Kyiv")
    assert reminder.due_at == datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def test_tomorrow_and_meridiem():
    reminder = parse_reminder("tomorrow 9pm call", NOW, "America/New_York")
    assert reminder.due_at == datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def test_time_in_the_spring_forward_gap_moves_forward_by_the_gap():
    # Berlin skips 02:00-03:00 on 2026-03-29; RFC 5545 reads 02:30 as 03:30 CEST = 01:30Z.
    now = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    reminder = parse_reminder("tomorrow 2:30 check", now, "Europe/Berlin")
    assert reminder.due_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_repeated_autumn_time_means_the_first_occurrence():
    # Berlin repeats 02:00-03:00 on 2026-10-25; 02:30 first happens at 00:30Z (CEST).
    now = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    reminder = parse_reminder("tomorrow 2:30 check", now, "Europe/Berlin")
    assert reminder.due_at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("", "Tell me when and what"),
        ("in 5 fortnights x", "not a unit"),
        ("in 10m", "What should I remind you of"),
        ("someday maybe", "couldn't understand"),
        ("at 25:00 x", "not a time of day"),
        ("today 9:00 x", "already passed"),
        ("in 0s x", "longer than zero"),
        ("in 9999w x", "five years"),
    ],
)
def test_errors_say_what_was_wrong(args, message):
    with pytest.raises(PhraseError, match=message):
        parse_reminder(args, NOW, "Europe/Kyiv")


def test_unknown_zone_is_a_clear_error():
    with pytest.raises(PhraseError, match="time zone"):
        parse_reminder("at 10:00 x", NOW, "Mars/Olympus")


# NOW is Thursday 26 November 2026, 12:00 in Kyiv (UTC+2).
@pytest.mark.parametrize(
    ("args", "due", "phrase", "text"),
    [
        ("fri 18:30 movie night", datetime(2026, 11, 27, 16, 30), "fri 18:30", "movie night"),
        ("Friday at 6pm movie", datetime(2026, 11, 27, 16, 0), "Friday at 6pm", "movie"),
        ("thu 18:30 later today", datetime(2026, 11, 26, 16, 30), "thu 18:30", "later today"),
        ("thu 9:00 passed today", datetime(2026, 12, 3, 7, 0), "thu 9:00", "passed today"),
        ("next thu 18:30 a week on", datetime(2026, 12, 3, 16, 30), "next thu 18:30", "a week on"),
        ("next monday 9am standup", datetime(2026, 11, 30, 7, 0), "next monday 9am", "standup"),
        ("2026-12-01 18:00 pay rent", datetime(2026, 12, 1, 16, 0), "2026-12-01 18:00", "pay rent"),
        ("2027-1-5 8:05 dentist", datetime(2027, 1, 5, 6, 5), "2027-1-5 8:05", "dentist"),
        ("at 9 call", datetime(2026, 11, 27, 7, 0), "at 9", "call"),
        ("today 23:59 sleep", datetime(2026, 11, 26, 21, 59), "today 23:59", "sleep"),
        ("12am midnight", datetime(2026, 11, 26, 22, 0), "12am", "midnight"),
    ],
)
def test_days_dates_and_weekdays(args, due, phrase, text):
    reminder = parse_reminder(args, NOW, "Europe/Kyiv")
    assert reminder.due_at == due.replace(tzinfo=UTC)
    assert (reminder.phrase, reminder.text) == (phrase, text)


@pytest.mark.parametrize(
    ("args", "delta", "text"),
    [
        ("in 2 hours 15 minutes call back", timedelta(hours=2, minutes=15), "call back"),
        ("in 2 hours and 15 minutes call", timedelta(hours=2, minutes=15), "call"),
        ("in 1d 2h 3m 4s x", timedelta(days=1, hours=2, minutes=3, seconds=4), "x"),
        ("in 10m 5 apples", timedelta(minutes=10), "5 apples"),
    ],
)
def test_durations_stop_at_the_first_word_that_is_no_unit(args, delta, text):
    reminder = parse_reminder(args, NOW, "Europe/Kyiv")
    assert (reminder.due_at, reminder.text) == (NOW + delta, text)


BERLIN, NEW_YORK, D = "Europe/Berlin", "America/New_York", datetime


@pytest.mark.parametrize(
    ("zone", "now", "args", "due"),
    [
        # Spring forward: Berlin jumps 02:00 → 03:00 on 29 March 2026 (RFC 5545: + the gap).
        (BERLIN, D(2026, 3, 28, 12), "sun 2:30 x", D(2026, 3, 29, 1, 30)),
        (BERLIN, D(2026, 3, 28, 12), "2026-03-29 02:00 x", D(2026, 3, 29, 1)),
        (BERLIN, D(2026, 3, 28, 12), "2026-03-29 03:00 x", D(2026, 3, 29, 1)),
        (BERLIN, D(2026, 3, 28, 12), "2026-03-29 01:59 x", D(2026, 3, 29, 0, 59)),
        # New York jumps 02:00 → 03:00 on 8 March 2026: 02:30 is 03:30 EDT.
        (NEW_YORK, D(2026, 3, 7, 12), "tomorrow 2:30am x", D(2026, 3, 8, 7, 30)),
        # Fall back: 02:30 happens twice in Berlin on 25 October; the first is meant.
        (BERLIN, D(2026, 10, 24, 12), "2026-10-25 02:30 x", D(2026, 10, 25, 0, 30)),
        (BERLIN, D(2026, 10, 24, 12), "2026-10-25 03:00 x", D(2026, 10, 25, 2)),
        # Relative phrases are durations: a night with a jump is still 8 hours long.
        (BERLIN, D(2026, 3, 28, 23), "in 8h x", D(2026, 3, 29, 7)),
    ],
)
def test_dst_edges_follow_rfc_5545(zone, now, args, due):
    reminder = parse_reminder(args, now.replace(tzinfo=UTC), zone)
    assert reminder.due_at == due.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("2026-01-01 18:00 x", "2026-01-01 18:00 has already passed"),
        ("2026-02-30 10:00 x", "2026-02-30 is not a date"),
        ("5 apples", "Is 5 a time? Write it as 5:00 or at 5"),
        ("fri call mom", "At what time fri"),
        ("next monday", "At what time next monday"),
        ("13pm x", "13:00pm is not a time"),
        ("9:75 x", "9:75 is not a time of day"),
        ("in", "In how long"),
        ("in soon x", "In how long"),
        ("2031-12-01 10:00 x", "more than five years"),
        ("fri 18:30", "What should I remind you of fri 18:30"),
    ],
)
def test_more_errors_say_what_was_wrong(args, message):
    with pytest.raises(PhraseError, match=re.escape(message)):
        parse_reminder(args, NOW, "Europe/Kyiv")


@pytest.mark.parametrize(
    ("spec", "delta"),
    [
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("2 hours 30 min", timedelta(hours=2, minutes=30)),
    ],
)
def test_durations_alone(spec, delta):
    assert parse_duration(spec) == delta


@pytest.mark.parametrize(("spec", "message"), [("15m later", "as a duration"), ("", "In how long")])
def test_durations_alone_refuse_more(spec, message):
    with pytest.raises(PhraseError, match=message):
        parse_duration(spec)
