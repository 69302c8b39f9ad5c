from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import ReminderScheduled, ScheduleChangeRequested
from chime_contracts.events.schedules import ScheduleOwner
from chime_scheduler.domain.reminders import (
    REMINDER,
    ReminderState,
    cancel,
    cancel_refusal,
    confirmation_text,
    delivery_id,
    move_zone,
    reminder_text,
)

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


def scheduled(due_at, time_zone="Europe/Kyiv"):
    return ReminderState(status="scheduled", due_at=due_at, time_zone=time_zone)


def test_a_new_zone_keeps_the_wall_time_of_a_reminder():
    state = scheduled(datetime(2026, 11, 27, 7, 0, tzinfo=UTC))  # 09:00 in Kyiv
    [moved] = move_zone(state, "r1", 1, 5, "America/New_York", NOW)
    assert moved == ReminderScheduled(
        reminder_id="r1", bot_id=1, chat_id=5, time_zone="America/New_York",
        due_at=datetime(2026, 11, 27, 14, 0, tzinfo=UTC),  # 09:00 in New York
    )  # fmt: skip
    assert move_zone(state, "r1", 1, 5, "Europe/Kyiv", NOW) == []
    assert move_zone(replace(state, status="fired"), "r1", 1, 5, "Asia/Tokyo", NOW) == []


def test_a_wall_time_in_the_new_zones_gap_moves_forward_by_the_gap():
    # 02:30 on 29 March 2026 does not exist in Berlin (02:00 -> 03:00): it is 03:30 CEST.
    state = scheduled(datetime(2026, 3, 29, 0, 30, tzinfo=UTC))  # 02:30 in Kyiv (EET)
    [moved] = move_zone(state, "r1", 1, 5, "Europe/Berlin", NOW.replace(month=3, day=1))
    assert moved.due_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_a_due_or_passed_reminder_keeps_its_instant_in_the_new_zone():
    due = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # 12:00 in Kyiv, due now
    [kept] = move_zone(scheduled(due), "r1", 1, 5, "Europe/London", NOW)
    assert (kept.due_at, kept.time_zone) == (due, "Europe/London")
    soon = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)  # 13:00 in Kyiv; 13:00 in Tokyo passed
    [passed] = move_zone(scheduled(soon), "r1", 1, 5, "Asia/Tokyo", NOW)
    assert passed.due_at == soon


def cancel_request(action="cancel", change_id="c1"):
    return envelope_of(ScheduleChangeRequested(
        change_id=change_id, schedule_id="r1", owner=ScheduleOwner(kind="chat", id="1:5"),
        action=action, requested_at=NOW,
    ), producer="ingest")  # fmt: skip


def test_a_scheduled_reminder_is_cancelled_once_and_a_fired_one_is_not():
    scheduled = ReminderState(status="scheduled", due_at=NOW)
    asked = cancel_request()
    assert cancel(scheduled, asked) == [asked]
    after = REMINDER.fold([asked], scheduled)
    assert after.status == "cancelled"
    assert cancel(after, asked) == []  # the same request again
    assert cancel_refusal(after, "cancel") == "the reminder is over (cancelled)"
    assert cancel(after, cancel_request(change_id="c2")) == []
    fired = replace(scheduled, status="fired")
    assert cancel(fired, asked) == []
    assert cancel_refusal(fired, "cancel") == "the reminder is over (fired)"
    assert cancel_refusal(scheduled, "pause") == "a reminder can only be cancelled"
    assert cancel(scheduled, cancel_request("pause")) == []
