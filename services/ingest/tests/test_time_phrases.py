from datetime import UTC, datetime, timedelta

import pytest

from chime_ingest.domain.time_phrases import PhraseError, parse_reminder

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
