"""`/every` and `/ping` phrases as the specs the scheduler is asked for, every error too."""

from datetime import UTC, date, datetime, time

import pytest
from croniter import croniter
from dateutil.rrule import rrulestr

from chime_contracts.events.schedules import CronSpec, RRuleSpec
from chime_ingest.domain.recurrence import parse_every, parse_ping
from chime_ingest.domain.time_phrases import PhraseError

pytestmark = pytest.mark.unit

# Tuesday 1 December 2026, 12:00 in Kyiv.
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "cron", "phrase", "text"),
    [
        ("daily 9:00 drink water", "0 9 * * *", "daily 9:00", "drink water"),
        ("every day at 7am wake up", "0 7 * * *", "every day at 7am", "wake up"),
        ("weekdays 8:30 standup", "30 8 * * 1-5", "weekdays 8:30", "standup"),
        ("every weekday 8:30 standup", "30 8 * * 1-5", "every weekday 8:30", "standup"),
        ("weekends 10:00 long run", "0 10 * * 6,0", "weekends 10:00", "long run"),
        ("mon,wed 19:00 gym", "0 19 * * 1,3", "mon,wed 19:00", "gym"),
        ("every mon and fri 9am review", "0 9 * * 1,5", "every mon and fri 9am", "review"),
        ("on sun 20:15 plan", "15 20 * * 0", "on sun 20:15", "plan"),
        ("1st of the month 9:00 pay rent", "0 9 1 * *", "1st of the month 9:00", "pay rent"),
        ("15th of every month 9:00 bills", "0 9 15 * *", "15th of every month 9:00", "bills"),
        ("monthly on the 2nd 18:00 report", "0 18 2 * *", "monthly on the 2nd 18:00", "report"),
        ("hourly stretch", "0 * * * *", "hourly", "stretch"),
        ('"30 8 * * 1-5" standup', "30 8 * * 1-5", '"30 8 * * 1-5"', "standup"),
        ("“*/15  9-17 * * *” look up", "*/15 9-17 * * *", "“*/15  9-17 * * *”", "look up"),
    ],
)  # fmt: skip
def test_phrases_that_are_crons(args, cron, phrase, text):
    recurrence = parse_every(args, NOW, "Europe/Kyiv")
    assert recurrence.spec == CronSpec(expression=cron)
    assert (recurrence.phrase, recurrence.text, recurrence.starts_on) == (phrase, text, None)
    assert croniter.is_valid(cron)


@pytest.mark.parametrize(
    ("args", "rule", "starts_on", "first"),
    [
        (
            "every 2 weeks on sat 10:00 clean up",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA;BYHOUR=10;BYMINUTE=0;BYSECOND=0",
            date(2026, 12, 5),
            [datetime(2026, 12, 5, 10), datetime(2026, 12, 19, 10), datetime(2027, 1, 2, 10)],
        ),
        (
            "every 3 weeks on tue, thu 18:00 choir",
            "FREQ=WEEKLY;INTERVAL=3;BYDAY=TU,TH;BYHOUR=18;BYMINUTE=0;BYSECOND=0",
            date(2026, 12, 1),
            [datetime(2026, 12, 1, 18), datetime(2026, 12, 3, 18), datetime(2026, 12, 22, 18)],
        ),
        (
            "every 3 days 9:00 water plants",
            "FREQ=DAILY;INTERVAL=3;BYHOUR=9;BYMINUTE=0;BYSECOND=0",
            date(2026, 12, 4),
            [datetime(2026, 12, 4, 9), datetime(2026, 12, 7, 9), datetime(2026, 12, 10, 9)],
        ),
        (
            "the last day of the month 18:00 invoices",
            "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=18;BYMINUTE=0;BYSECOND=0",
            date(2026, 12, 31),
            [datetime(2026, 12, 31, 18), datetime(2027, 1, 31, 18), datetime(2027, 2, 28, 18)],
        ),
    ],
)
def test_phrases_that_are_rules(args, rule, starts_on, first):
    recurrence = parse_every(args, NOW, "Europe/Kyiv")
    assert recurrence.spec == RRuleSpec(rrule=rule)
    assert recurrence.starts_on == starts_on
    # DTSTART is the first day's midnight: the rule's next occurrences from it, local time.
    occurrences = rrulestr(rule, dtstart=datetime.combine(starts_on, time()))
    assert list(occurrences[:3]) == first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("", "Tell me how often and what"),
        ("sometimes coffee", "I couldn't understand how often 'sometimes coffee' is"),
        ("daily coffee", "At what time?"),
        ("mon,wed 7 gym", "At what time?"),
        ("daily 9:00", "What should I send you daily 9:00?"),
        ("daily 25:00 x", "25:00 is not a time of day"),
        ("32nd of the month 9:00 x", "A month has no day 32"),
        ("every 0 weeks on mon 9:00 x", "Say every 1 to 52 weeks or days"),
        ("every 60 days 9:00 x", "Say every 1 to 52 weeks or days"),
        ('"61 8 * * *" x', "'61 8 * * *' is not a 5-field cron"),
        ('"* * * *" x', "'* * * *' is not a 5-field cron"),
        ('"0 0 * * * *" x', "'0 0 * * * *' is not a 5-field cron"),
    ],
)
def test_every_errors_say_what_was_wrong_with_examples(args, message):
    with pytest.raises(PhraseError) as raised:
        parse_every(args, NOW, "Europe/Kyiv")
    assert message in str(raised.value)
    assert "/every day 9:00 drink water" in str(raised.value)


def test_pings():
    pings = parse_ping("3 09:00-18:00 drink water")
    assert (pings.spec.per_day, pings.spec.window_start, pings.spec.window_end) == (
        3, time(9), time(18),
    )  # fmt: skip
    assert (pings.phrase, pings.text) == ("3 09:00-18:00", "drink water")
    assert parse_ping("1 7:30 \u2013 8:00 breathe").spec.window_start == time(7, 30)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("", "I couldn't understand that"),
        ("three 09:00-18:00 x", "I couldn't understand that"),
        ("0 09:00-18:00 x", "Ask for 1 to 100 pings a day"),
        ("101 09:00-18:00 x", "Ask for 1 to 100 pings a day"),
        ("3 18:00-09:00 x", "The window must end after it starts (18:00 is not before 09:00)"),
        ("3 09:00-24:30 x", "24:30 is not a time of day"),
        ("3 09:00-18:00", "What should I ping you about?"),
    ],
)
def test_ping_errors_say_what_was_wrong_with_an_example(args, message):
    with pytest.raises(PhraseError) as raised:
        parse_ping(args)
    assert message in str(raised.value)
    assert "/ping 3 09:00-18:00 drink water" in str(raised.value)
