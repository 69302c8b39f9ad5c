"""Random pings: n a day inside the window, spaced, drawn afresh each day, reproducible."""

import itertools
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chime_contracts.events.schedules import PingsSpec
from chime_schedules import timetable
from chime_schedules.clocks import PingsClock

pytestmark = pytest.mark.unit


@settings(max_examples=200, deadline=None)
@given(
    per_day=st.integers(1, 12),
    opens=st.integers(0, 23),
    hours=st.integers(1, 24),
    spacing=st.integers(0, 30),
    seed=st.integers(0, 2**32),
    day=st.dates(date(2000, 1, 1), date(2100, 1, 1)),
)
def test_a_day_has_n_pings_inside_the_window_at_least_the_spacing_apart(
    per_day, opens, hours, spacing, seed, day
):
    if (per_day - 1) * spacing >= hours * 60:
        return
    clock = PingsClock(
        per_day, time(opens), time((opens + hours) % 24), timedelta(minutes=spacing), seed
    )
    walls = clock.day(day)
    assert len(walls) == per_day
    start = datetime.combine(day, time(opens))
    assert all(start <= w < start + timedelta(hours=hours) for w in walls)
    assert all(b - a >= timedelta(minutes=spacing) for a, b in itertools.pairwise(walls))
    assert clock.day(day) == walls  # reproducible from the seed


def test_each_day_is_drawn_afresh_and_seeds_differ():
    clock = PingsClock(3, time(10), time(22), timedelta(minutes=30), seed=7)
    days = [clock.day(date(2026, 3, d)) for d in range(1, 8)]
    offsets = {tuple(w.time() for w in d) for d in days}
    assert len(offsets) == 7
    other = PingsClock(3, time(10), time(22), timedelta(minutes=30), seed=8)
    assert other.day(date(2026, 3, 1)) != days[0]


def test_draws_are_uniform_over_the_window():
    clock = PingsClock(1, time(10), time(22), timedelta(0), seed=1)
    hours = [clock.day(date(2026, 1, 1) + timedelta(days=d))[0].hour for d in range(6000)]
    counts = [hours.count(h) for h in range(10, 22)]
    assert min(counts) > 6000 / 12 * 0.8
    assert max(counts) < 6000 / 12 * 1.2


def test_a_window_past_midnight_and_the_timetable_in_a_zone():
    spec = PingsSpec(per_day=2, window_start=time(22), window_end=time(2), seed=3)
    got = timetable(spec, "Europe/Kyiv").upcoming(datetime(2026, 3, 1, tzinfo=UTC), 6)
    assert len(got) == 6
    assert all(g.hour >= 22 or g.hour < 2 for g in got)
    assert got == sorted(got)
