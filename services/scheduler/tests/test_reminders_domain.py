from datetime import UTC, datetime

import pytest

from chime_scheduler.domain.reminders import confirmation_text, delivery_id, reminder_text

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_confirmation_today_shows_the_local_clock():
    due = datetime(2026, 11, 26, 10, 0, 2, tzinfo=UTC)
    assert confirmation_text("hello", due, "Europe/Kyiv", NOW) == (
        "⏰ Got it. I'll remind you at 12:00:02 (Europe/Kyiv): hello"
    )


def test_confirmation_another_day_shows_the_date():
    due = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert "Fri 27 Nov 2026 09:00" in confirmation_text("x", due, "Europe/Kyiv", NOW)


def test_a_late_evening_utc_time_is_tomorrow_locally():
    now = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)  # 23:00 in Kyiv
    due = datetime(2026, 11, 26, 22, 30, tzinfo=UTC)  # 00:30 the next day in Kyiv
    assert "Fri 27 Nov 2026 00:30" in confirmation_text("x", due, "Europe/Kyiv", now)


def test_delivery_ids_and_text():
    assert delivery_id("7-1") == "reminder:7-1"
    assert reminder_text("tea") == "⏰ tea"
