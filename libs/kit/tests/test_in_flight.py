from datetime import UTC, datetime, timedelta

import pytest

from chime_kit.in_flight import InFlight, oldest

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_watermark_is_the_oldest_event_still_in_flight():
    tracker = InFlight()
    assert tracker.watermark() is None
    tracker.enter(T0 + timedelta(seconds=2))
    tracker.enter(T0)
    tracker.enter(T0)  # two messages of the same time
    assert tracker.watermark() == T0
    tracker.leave(T0)
    assert tracker.watermark() == T0
    tracker.leave(T0)
    assert tracker.watermark() == T0 + timedelta(seconds=2)
    tracker.leave(T0 + timedelta(seconds=2))
    assert tracker.watermark() is None


def test_the_oldest_of_several_trackers():
    a, b = InFlight(), InFlight()
    assert oldest(a, b) is None
    a.enter(T0 + timedelta(seconds=1))
    b.enter(T0)
    assert oldest(a, b) == T0
    assert oldest() is None
