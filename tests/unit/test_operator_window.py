"""The operator page's figures, folded from events: rates, lag, per-bot load, the lists."""

import pytest

from chime_api.operator.window import Window

pytestmark = pytest.mark.unit
T0 = 1_800_000_000.0  # on a bucket boundary


def sent(bot: int) -> dict:
    return {"type": "message.sent.v1", "data": {"bot_id": bot, "chat_id": 1}}


def failed(bot: int, chat: int) -> dict:
    return {
        "type": "send.failed.v1",
        "data": {
            "bot_id": bot,
            "chat_id": chat,
            "reason": "chat_not_found",
            "error_code": 400,
            "description": "Bad Request: chat not found",
            "permanent": True,
            "failed_at": "2027-01-15T08:00:00+00:00",
            "source": {"kind": "notification", "id": "ntf_1"},
        },
    }


def test_rates_and_load_per_bot_cover_the_last_minute():
    window = Window(T0 - 600)
    for second in range(60):
        window.observe(sent(1), T0 + second)
        if second % 2:
            window.observe(sent(2), T0 + second)
    window.observe(failed(2, 77), T0 + 59)
    snapshot = window.snapshot(T0 + 60)
    assert snapshot["rate"]["sent_per_second"] == 1.5
    assert snapshot["totals"] == {"sent": 90, "failed": 1, "blocked": 0}
    assert [
        (b["bot_id"], b["sent_last_minute"], b["failed_last_minute"]) for b in snapshot["bots"]
    ] == [
        (1, 60, 0),
        (2, 30, 1),
    ]
    assert snapshot["recent_failures"][0]["description"] == "Bad Request: chat not found"
    assert snapshot["recent_failures"][0]["source"] == "notification"
    assert len(snapshot["series"]) == 60
    assert sum(point["sent"] for point in snapshot["series"]) == 90
    # Ten minutes later the window has moved past all of it; the totals stay.
    later = window.snapshot(T0 + 700)
    assert later["rate"]["sent_per_second"] == 0
    assert later["bots"] == []
    assert later["totals"]["sent"] == 90


def test_schedule_lag_from_fired_reminders_and_schedules():
    window = Window(T0)
    window.observe(
        {
            "type": "notification.due.v1",
            "data": {"due_at": "2027-01-15T08:00:00Z", "fired_at": "2027-01-15T08:00:00.250Z"},
        },
        T0,
    )
    window.observe(
        {
            "type": "schedule.fired.v1",
            "data": {"occurrence": "2027-01-15T08:00:00Z", "fired_at": "2027-01-15T08:00:01.5Z"},
        },
        T0 + 1,
    )
    window.observe(
        {
            "type": "send.requested.v1",
            "occurred_at": "2027-01-15T08:00:00.5+00:00",
            "data": {"scheduled_for": "2027-01-15T08:00:00Z", "source": {"kind": "reminder"}},
        },
        T0 + 1,
    )
    # A schedule's send is counted by its schedule.fired; an API send has no schedule.
    for source in ("schedule", "notification"):
        window.observe(
            {
                "type": "send.requested.v1",
                "occurred_at": "2027-01-15T09:00:00Z",
                "data": {"scheduled_for": "2027-01-15T08:00:00Z", "source": {"kind": source}},
            },
            T0 + 1,
        )
    # Fired ahead of its instant (clock skew between replicas) counts as no lag; a malformed
    # time is ignored.
    window.observe(
        {
            "type": "schedule.fired.v1",
            "data": {"occurrence": "2027-01-15T08:00:00Z", "fired_at": "2027-01-15T07:59:59Z"},
        },
        T0 + 1,
    )
    window.observe(
        {"type": "schedule.fired.v1", "data": {"occurrence": "soon", "fired_at": None}}, T0 + 1
    )
    lag = window.snapshot(T0 + 2)["schedule_lag"]
    assert lag == {"samples": 3, "p50": 0.5, "p99": 1.5, "max": 1.5}


def test_blocked_chats_newest_first_and_malformed_events_ignored():
    window = Window(T0)
    for chat in (5, 6):
        window.observe(
            {"type": "chat.blocked.v1", "data": {"bot_id": 1, "chat_id": chat, "blocked_at": "x"}},
            T0,
        )
    window.observe({"type": "message.sent.v1", "data": "not an object"}, T0)
    window.observe({"data": {}}, T0)
    snapshot = window.snapshot(T0 + 1)
    assert [b["chat_id"] for b in snapshot["blocked_chats"]] == [6, 5]
    assert snapshot["totals"] == {"sent": 0, "failed": 0, "blocked": 2}


def test_a_chat_that_blocked_the_bot_counts_once_whoever_saw_it():
    window = Window(T0)
    member = {"bot_id": 1, "chat_id": 7, "chat_type": "private", "changed_at": "x"}
    window.observe(
        {"type": "chat.member.changed.v1", "data": {**member, "new_state": "kicked"}}, T0
    )
    window.observe(
        {"type": "chat.blocked.v1", "data": {"bot_id": 1, "chat_id": 7, "blocked_at": "y"}}, T0
    )
    window.observe(
        {"type": "chat.member.changed.v1", "data": {**member, "chat_id": 8, "new_state": "member"}},
        T0,
    )
    snapshot = window.snapshot(T0 + 1)
    assert [b["chat_id"] for b in snapshot["blocked_chats"]] == [7]
    assert snapshot["totals"]["blocked"] == 1
