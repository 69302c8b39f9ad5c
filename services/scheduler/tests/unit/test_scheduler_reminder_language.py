"""A one-shot reminder's confirmation in the chat's language: its words and the names of the
day and month (the fired reminder's buttons: test_scheduler_reminders_contract.py)."""

from datetime import UTC, datetime

import pytest

from chime_scheduler.domain.reminders import confirmation_text

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_a_ukrainian_confirmation_today_shows_the_local_clock():
    due = datetime(2026, 11, 26, 10, 0, 2, tzinfo=UTC)
    assert confirmation_text("чай", due, "Europe/Kyiv", NOW, "uk") == (
        "⏰ Гаразд, нагадаю 12:00:02 (Europe/Kyiv): чай"
    )


def test_a_ukrainian_confirmation_names_the_day_and_month_in_ukrainian():
    due = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    text = confirmation_text("x", due, "Europe/Kyiv", NOW, "uk-UA")
    assert text.startswith("⏰ Гаразд, нагадаю ")
    assert "27" in text
    assert "2026 09:00" in text
    assert "Fri" not in text
    assert "Nov" not in text


@pytest.mark.parametrize("language", [None, "en", "de"])
def test_other_languages_read_english(language):
    due = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert confirmation_text("x", due, "Europe/Kyiv", NOW, language) == (
        "⏰ Got it. I'll remind you at Fri 27 Nov 2026 09:00 (Europe/Kyiv): x"
    )
