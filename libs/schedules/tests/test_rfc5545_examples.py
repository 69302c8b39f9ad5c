"""RFC 5545 §3.8.5.3's own RRULE examples, as a table: DTSTART and the rule as the RFC gives
them (America/New_York), and the occurrences the RFC lists, as wall times."""

from datetime import UTC, datetime

import pytest

from chime_contracts.events.schedules import RRuleSpec
from chime_schedules import timetable

pytestmark = pytest.mark.unit
NY = "America/New_York"


def days(year: int, month: int, *mdays: int, at: str = "09:00") -> list[str]:
    return [f"{year:04d}-{month:02d}-{d:02d} {at}" for d in mdays]


# (what the RFC calls it, DTSTART, RRULE, EXDATEs, the first occurrences the RFC lists,
#  whether that list is all there is)
EXAMPLES = [
    ("daily for 10 occurrences", "19970902T090000", "FREQ=DAILY;COUNT=10", [],
     days(1997, 9, *range(2, 12)), True),
    ("daily until December 24, 1997", "19970902T090000", "FREQ=DAILY;UNTIL=19971224T000000Z",
     [], days(1997, 9, 2, 3, 4), False),
    ("every other day, forever", "19970902T090000", "FREQ=DAILY;INTERVAL=2", [],
     days(1997, 9, 2, 4, 6, 8, 10, 12), False),
    ("every 10 days, 5 occurrences", "19970902T090000", "FREQ=DAILY;INTERVAL=10;COUNT=5", [],
     days(1997, 9, 2, 12, 22) + days(1997, 10, 2, 12), True),
    ("every day in January, for 3 years (BYDAY)", "19980101T090000",
     "FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA", [],
     days(1998, 1, *range(1, 32)) + days(1999, 1, *range(1, 32)) + days(2000, 1, *range(1, 32)),
     True),
    ("every day in January, for 3 years (DAILY)", "19980101T090000",
     "FREQ=DAILY;UNTIL=20000131T140000Z;BYMONTH=1", [],
     days(1998, 1, *range(1, 32)) + days(1999, 1, *range(1, 32)) + days(2000, 1, *range(1, 32)),
     True),
    ("weekly for 10 occurrences", "19970902T090000", "FREQ=WEEKLY;COUNT=10", [],
     days(1997, 9, 2, 9, 16, 23, 30) + days(1997, 10, 7, 14, 21, 28) + days(1997, 11, 4), True),
    ("weekly on Tuesday and Thursday for five weeks", "19970902T090000",
     "FREQ=WEEKLY;COUNT=10;WKST=SU;BYDAY=TU,TH", [],
     days(1997, 9, 2, 4, 9, 11, 16, 18, 23, 25, 30) + days(1997, 10, 2), True),
    ("every other week on Monday, Wednesday, and Friday until December 24, 1997",
     "19970901T090000", "FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
     [], days(1997, 9, 1, 3, 5, 15, 17, 19, 29) + days(1997, 10, 1, 3, 13, 15, 17, 27, 29, 31)
     + days(1997, 11, 10, 12, 14, 24, 26, 28) + days(1997, 12, 8, 10, 12, 22), True),
    ("every other week on Tuesday and Thursday, for 8 occurrences", "19970902T090000",
     "FREQ=WEEKLY;INTERVAL=2;COUNT=8;WKST=SU;BYDAY=TU,TH", [],
     days(1997, 9, 2, 4, 16, 18, 30) + days(1997, 10, 2, 14, 16), True),
    ("monthly on the first Friday for 10 occurrences", "19970905T090000",
     "FREQ=MONTHLY;COUNT=10;BYDAY=1FR", [],
     days(1997, 9, 5) + days(1997, 10, 3) + days(1997, 11, 7) + days(1997, 12, 5)
     + days(1998, 1, 2) + days(1998, 2, 6) + days(1998, 3, 6) + days(1998, 4, 3)
     + days(1998, 5, 1) + days(1998, 6, 5), True),
    ("every other month on the first and last Sunday, 10 occurrences", "19970907T090000",
     "FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU", [],
     days(1997, 9, 7, 28) + days(1997, 11, 2, 30) + days(1998, 1, 4, 25) + days(1998, 3, 1, 29)
     + days(1998, 5, 3, 31), True),
    ("monthly on the second-to-last Monday for 6 months", "19970922T090000",
     "FREQ=MONTHLY;COUNT=6;BYDAY=-2MO", [],
     days(1997, 9, 22) + days(1997, 10, 20) + days(1997, 11, 17) + days(1997, 12, 22)
     + days(1998, 1, 19) + days(1998, 2, 16), True),
    ("monthly on the third-to-the-last day of the month, forever", "19970928T090000",
     "FREQ=MONTHLY;BYMONTHDAY=-3", [],
     days(1997, 9, 28) + days(1997, 10, 29) + days(1997, 11, 28) + days(1997, 12, 29)
     + days(1998, 1, 29) + days(1998, 2, 26), False),
    ("monthly on the 2nd and 15th for 10 occurrences", "19970902T090000",
     "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15", [],
     days(1997, 9, 2, 15) + days(1997, 10, 2, 15) + days(1997, 11, 2, 15)
     + days(1997, 12, 2, 15) + days(1998, 1, 2, 15), True),
    ("monthly on the first and last day for 10 occurrences", "19970930T090000",
     "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1", [],
     days(1997, 9, 30) + days(1997, 10, 1, 31) + days(1997, 11, 1, 30) + days(1997, 12, 1, 31)
     + days(1998, 1, 1, 31) + days(1998, 2, 1), True),
    ("every 18 months on the 10th thru 15th, 10 occurrences", "19970910T090000",
     "FREQ=MONTHLY;INTERVAL=18;COUNT=10;BYMONTHDAY=10,11,12,13,14,15", [],
     days(1997, 9, *range(10, 16)) + days(1999, 3, 10, 11, 12, 13), True),
    ("every Tuesday, every other month", "19970902T090000", "FREQ=MONTHLY;INTERVAL=2;BYDAY=TU",
     [], days(1997, 9, 2, 9, 16, 23, 30) + days(1997, 11, 4, 11, 18, 25)
     + days(1998, 1, 6, 13, 20, 27) + days(1998, 3, 3), False),
    ("yearly in June and July for 10 occurrences", "19970610T090000",
     "FREQ=YEARLY;COUNT=10;BYMONTH=6,7", [],
     [d for y in range(1997, 2002) for d in days(y, 6, 10) + days(y, 7, 10)], True),
    ("every other year on January, February, and March for 10 occurrences", "19970310T090000",
     "FREQ=YEARLY;INTERVAL=2;COUNT=10;BYMONTH=1,2,3", [],
     days(1997, 3, 10)
     + [d for y in (1999, 2001, 2003) for m in (1, 2, 3) for d in days(y, m, 10)], True),
    ("every third year on the 1st, 100th, and 200th day for 10 occurrences",
     "19970101T090000", "FREQ=YEARLY;INTERVAL=3;COUNT=10;BYYEARDAY=1,100,200", [],
     days(1997, 1, 1) + days(1997, 4, 10) + days(1997, 7, 19) + days(2000, 1, 1)
     + days(2000, 4, 9) + days(2000, 7, 18) + days(2003, 1, 1) + days(2003, 4, 10)
     + days(2003, 7, 19) + days(2006, 1, 1), True),
    ("every 20th Monday of the year, forever", "19970519T090000", "FREQ=YEARLY;BYDAY=20MO", [],
     days(1997, 5, 19) + days(1998, 5, 18) + days(1999, 5, 17), False),
    ("Monday of week number 20, forever", "19970512T090000",
     "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", [],
     days(1997, 5, 12) + days(1998, 5, 11) + days(1999, 5, 17), False),
    ("every Thursday in March, forever", "19970313T090000", "FREQ=YEARLY;BYMONTH=3;BYDAY=TH",
     [], days(1997, 3, 13, 20, 27) + days(1998, 3, 5, 12, 19, 26) + days(1999, 3, 4, 11, 18, 25),
     False),
    ("every Thursday, but only during June, July, and August, forever", "19970605T090000",
     "FREQ=YEARLY;BYDAY=TH;BYMONTH=6,7,8", [],
     days(1997, 6, 5, 12, 19, 26) + days(1997, 7, 3, 10, 17, 24, 31)
     + days(1997, 8, 7, 14, 21, 28) + days(1998, 6, 4), False),
    ("every Friday the 13th, forever (DTSTART excluded)", "19970902T090000",
     "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", ["19970902T090000"],
     days(1998, 2, 13) + days(1998, 3, 13) + days(1998, 11, 13) + days(1999, 8, 13)
     + days(2000, 10, 13), False),
    ("the first Saturday that follows the first Sunday of the month, forever",
     "19970913T090000", "FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13", [],
     days(1997, 9, 13) + days(1997, 10, 11) + days(1997, 11, 8) + days(1997, 12, 13)
     + days(1998, 1, 10) + days(1998, 2, 7) + days(1998, 3, 7) + days(1998, 4, 11)
     + days(1998, 5, 9) + days(1998, 6, 13), False),
    ("every 4 years, the first Tuesday after a Monday in November (U.S. election day)",
     "19961105T090000", "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
     [], days(1996, 11, 5) + days(2000, 11, 7) + days(2004, 11, 2), False),
    ("the third instance into the month of one of Tuesday, Wednesday, or Thursday, for the"
     " next 3 months", "19970904T090000", "FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3", [],
     days(1997, 9, 4) + days(1997, 10, 7) + days(1997, 11, 6), True),
    ("the second-to-last weekday of the month", "19970929T090000",
     "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2", [],
     days(1997, 9, 29) + days(1997, 10, 30) + days(1997, 11, 27) + days(1997, 12, 30)
     + days(1998, 1, 29) + days(1998, 2, 26) + days(1998, 3, 30), False),
    ("every 15 minutes for 6 occurrences", "19970902T090000",
     "FREQ=MINUTELY;INTERVAL=15;COUNT=6", [],
     [f"1997-09-02 {t}" for t in ("09:00", "09:15", "09:30", "09:45", "10:00", "10:15")], True),
    ("every hour and a half for 4 occurrences", "19970902T090000",
     "FREQ=MINUTELY;INTERVAL=90;COUNT=4", [],
     [f"1997-09-02 {t}" for t in ("09:00", "10:30", "12:00", "13:30")], True),
    ("every 20 minutes from 9:00 AM to 4:40 PM every day", "19970902T090000",
     "FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15,16;BYMINUTE=0,20,40", [],
     [f"1997-09-02 {h:02d}:{m:02d}" for h in range(9, 17) for m in (0, 20, 40)]
     + ["1997-09-03 09:00"], False),
    ("the same, by MINUTELY", "19970902T090000",
     "FREQ=MINUTELY;INTERVAL=20;BYHOUR=9,10,11,12,13,14,15,16", [],
     [f"1997-09-02 {h:02d}:{m:02d}" for h in range(9, 17) for m in (0, 20, 40)]
     + ["1997-09-03 09:00"], False),
    ("WKST=MO changes the result", "19970805T090000",
     "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO", [], days(1997, 8, 5, 10, 19, 24), True),
    ("WKST=SU changes the result", "19970805T090000",
     "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU", [], days(1997, 8, 5, 17, 19, 31), True),
    ("an invalid date (February 30) is ignored", "20070115T090000",
     "FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5", [],
     days(2007, 1, 15, 30) + days(2007, 2, 15) + days(2007, 3, 15, 30), True),
]  # fmt: skip


def local(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%S")


@pytest.mark.parametrize(
    ("dtstart", "rule", "exdates", "expected", "complete"),
    [pytest.param(*e[1:], id=e[0]) for e in EXAMPLES],
)
def test_rfc5545_example(dtstart, rule, exdates, expected, complete):
    spec = RRuleSpec(rrule=rule, starts_at=local(dtstart), exdates=[local(d) for d in exdates])
    table = timetable(spec, NY)
    start = table.next_after(datetime(1990, 1, 1, tzinfo=UTC))
    assert start is not None
    got = table.upcoming(datetime(1990, 1, 1, tzinfo=UTC), len(expected) + 1)
    shown = [g.strftime("%Y-%m-%d %H:%M") for g in got[: len(expected)]]
    assert shown == expected
    if complete:
        assert len(got) == len(expected)
    # Wall time holds across the DST change of 26 October 1997: 09:00 EDT, then 09:00 EST.
    for g in got:
        assert g.utcoffset() == g.tzinfo.utcoffset(g.replace(tzinfo=None))  # type: ignore[union-attr]


def test_daily_until_the_24th_of_december_counts_113_and_until_is_inclusive():
    spec = RRuleSpec(rrule="FREQ=DAILY;UNTIL=19971224T000000Z", starts_at=local("19970902T090000"))
    got = timetable(spec, NY).upcoming(datetime(1990, 1, 1, tzinfo=UTC), 200)
    assert len(got) == 113
    assert got[-1].strftime("%Y-%m-%d %H:%M %z") == "1997-12-23 09:00 -0500"
    inclusive = RRuleSpec(
        rrule="FREQ=DAILY;UNTIL=19970905T090000", starts_at=local("19970902T090000")
    )
    assert len(timetable(inclusive, NY).upcoming(datetime(1990, 1, 1, tzinfo=UTC), 10)) == 4
