# ruff: noqa: RUF001 (the Ukrainian confirmation is meant)
"""Schedules through the scheduler's consumers and firing loop, on a real database."""

from datetime import UTC, datetime, timedelta

import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import (
    ChatMigrated,
    ChatResumed,
    ChatStopped,
    ListingRequested,
    ReminderRequested,
    ScheduleChangeRequested,
    SubscriptionRequested,
    TimeZoneSet,
)
from chime_contracts.events.schedules import CronSpec, OnceSpec, RRuleSpec
from chime_scheduler.entrypoints.service import create_service
from chime_scheduler.settings import SchedulerSettings

from .flow import chat_owner, outbox, schedule_request, sends

pytestmark = pytest.mark.integration


@pytest.fixture
async def scheduler(database_url):
    built = await create_service(SchedulerSettings(database_url=database_url, fire_batch_size=100))
    yield built
    await built.runtime.pool.close()


def listing(page=1, edit=None, what="schedules", chat_id=5):
    return envelope_of(ListingRequested(
        request_id=f"l{page}{edit}", bot_id=1, chat_id=chat_id, what=what, page=page,
        edit_message_id=edit, time_zone="Europe/Kyiv", language="en",
        requested_at=datetime.now(UTC),
    ), producer="ingest")  # fmt: skip


def change(ref, action, chat_id=5, **more):
    return envelope_of(ScheduleChangeRequested(
        change_id=f"c-{ref}-{action}", schedule_id=ref, owner=chat_owner(chat_id), action=action,
        requested_at=datetime.now(UTC), **more,
    ), producer="ingest")  # fmt: skip


async def test_a_chat_creates_lists_and_changes_by_number_in_its_language(scheduler):
    deliver, pool = scheduler.runtime.broker.deliver, scheduler.runtime.pool
    for n in range(12):
        await deliver(schedule_request(f"s{n}", CronSpec(expression="30 8 * * 1-5"),
                                       language="uk"))  # fmt: skip
    events = await outbox(pool)
    assert [e["type"] for e in events[:2]] == ["schedule.created.v1", "send.requested.v1"]
    first = sends(events, "confirmation")[0]
    assert first["text"].startswith("✅ Заплановано #1: text of s0\nнаступне: ")
    assert first["chat_id"] == 5

    await deliver(change("#3", "pause"))
    await deliver(change("#99", "cancel"))
    events = await outbox(pool)
    assert [e["type"] for e in events] == [
        "schedule.changed.v1", "send.requested.v1", "schedule.rejected.v1", "send.requested.v1",
    ]  # fmt: skip
    assert events[1]["data"]["text"] == "⏸ Paused #3."
    assert "there is no schedule #99 in this chat" in events[3]["data"]["text"]

    await deliver(listing())
    [reply] = sends(await outbox(pool), "reply")
    lines = reply["text"].splitlines()
    assert lines[0] == "Your schedules, page 1 of 2:"
    assert lines[3].startswith("#3 ")
    assert "⏸ paused" in lines[3]
    nav = [[b["callback_data"] for b in row] for row in reply["buttons"]]
    assert nav == [["list:schedules:2"]]

    await deliver(listing(page=2, edit=77))
    [edit] = await outbox(pool)
    assert edit["type"] == "message.edit.requested.v1"
    assert edit["data"]["message_id"] == 77
    assert [line[:4] for line in edit["data"]["text"].splitlines()[1:]] == ["#11 ", "#12 "]
    assert edit["data"]["buttons"][0][0]["callback_data"] == "list:schedules:1"


async def test_an_occurrence_fires_once_with_its_snooze_button_and_the_next_is_indexed(scheduler):
    deliver, pool = scheduler.runtime.broker.deliver, scheduler.runtime.pool
    now = datetime.now(UTC)
    start = (now - timedelta(seconds=30)).astimezone().replace(microsecond=0)
    await deliver(schedule_request(
        "every", RRuleSpec(rrule="FREQ=MINUTELY;INTERVAL=10", starts_at=start),
        requested_at=start - timedelta(seconds=1),
    ))  # fmt: skip
    await deliver(schedule_request("once", OnceSpec(at=now - timedelta(seconds=1)),
                                   requested_at=now - timedelta(seconds=2)))  # fmt: skip
    await outbox(pool)
    assert await scheduler.firing.fire_until_idle() == 2
    fired = sends(await outbox(pool), "schedule")
    assert {f["source"]["id"] for f in fired} == {"every", "once"}
    every = next(f for f in fired if f["source"]["id"] == "every")
    assert every["delivery_id"] == f"schedule:every:{int(start.timestamp())}"
    assert datetime.fromisoformat(every["scheduled_for"]) == start
    assert [b["callback_data"] for b in every["buttons"][-1]] == ["snooze:15m", "snooze:1h"]
    assert await scheduler.firing.fire_until_idle() == 0
    rows = {r["id"]: r for r in await pool.fetch("SELECT * FROM schedules")}
    assert rows["every"]["next_at"] == start + timedelta(minutes=10)
    assert (rows["every"]["status"], rows["every"]["fired"]) == ("active", 1)
    assert (rows["once"]["status"], rows["once"]["next_at"]) == ("finished", None)
    types = await pool.fetch("SELECT type FROM events WHERE stream_id = 'schedule-every'"
                             " ORDER BY version")  # fmt: skip
    assert [t["type"] for t in types] == [
        "schedule.requested.v1", "schedule.created.v1", "schedule.fired.v1",
    ]  # fmt: skip


async def test_stop_start_zone_and_migration_move_a_chats_schedules(scheduler):
    deliver, pool = scheduler.runtime.broker.deliver, scheduler.runtime.pool
    await deliver(schedule_request("a", CronSpec(expression="0 9 * * *"), chat_id=-40))
    await deliver(envelope_of(SubscriptionRequested(
        bot_id=1, chat_id=-40, topic="news", action="subscribe", requested_by=chat_owner(-40),
        requested_at=datetime.now(UTC)), producer="ingest"))  # fmt: skip
    now = datetime.now(UTC)
    await deliver(envelope_of(ChatStopped(bot_id=1, chat_id=-40, stopped_at=now), producer="i"))
    assert await pool.fetchval("SELECT status FROM schedules WHERE id = 'a'") == "paused"
    await deliver(envelope_of(ChatResumed(bot_id=1, chat_id=-40, resumed_at=now), producer="i"))
    assert await pool.fetchval("SELECT status FROM schedules WHERE id = 'a'") == "active"
    await deliver(envelope_of(TimeZoneSet(bot_id=1, chat_id=-40, user_id=1,
                                          time_zone="Asia/Tokyo"), producer="i"))  # fmt: skip
    row = await pool.fetchrow("SELECT time_zone, next_at FROM schedules WHERE id = 'a'")
    assert row["time_zone"] == "Asia/Tokyo"
    assert row["next_at"].astimezone(UTC).hour == 0  # 09:00 in Tokyo
    await deliver(envelope_of(ChatMigrated(bot_id=1, old_chat_id=-40, new_chat_id=-1040,
                                           migrated_at=now), producer="i"))  # fmt: skip
    row = await pool.fetchrow("SELECT chat_id, owner_id FROM schedules WHERE id = 'a'")
    assert (row["chat_id"], row["owner_id"]) == (-1040, "1:-1040")
    subscribers = await pool.fetch("SELECT chat_id FROM subscriptions WHERE topic = 'news'")
    assert [r["chat_id"] for r in subscribers] == [-1040]
    await deliver(change("#1", "cancel", chat_id=-1040))
    assert await pool.fetchval("SELECT status FROM schedules WHERE id = 'a'") == "cancelled"


async def test_a_once_due_when_its_chat_changes_zone_fires_once(scheduler):
    deliver, pool = scheduler.runtime.broker.deliver, scheduler.runtime.pool
    now = datetime.now(UTC)
    due = now - timedelta(seconds=1)  # due, not yet claimed by the firing loop
    await deliver(
        schedule_request(
            "due",
            OnceSpec(at=due.astimezone(UTC).replace(tzinfo=None)),
            time_zone="UTC",
            requested_at=now - timedelta(seconds=2),
        )
    )
    await deliver(envelope_of(TimeZoneSet(bot_id=1, chat_id=5, user_id=5,
                                          time_zone="Europe/London"), producer="i"))  # fmt: skip
    row = await pool.fetchrow("SELECT status, time_zone, next_at FROM schedules WHERE id = 'due'")
    assert tuple(row) == ("active", "Europe/London", due)
    await outbox(pool)
    assert await scheduler.firing.fire_until_idle() == 1
    [fired] = sends(await outbox(pool), "schedule")
    assert datetime.fromisoformat(fired["scheduled_for"]) == due
    assert await scheduler.firing.fire_until_idle() == 0
    assert await pool.fetchval("SELECT status FROM schedules WHERE id = 'due'") == "finished"


async def test_a_reminder_follows_its_chats_zone_and_is_listed(scheduler):
    deliver, pool = scheduler.runtime.broker.deliver, scheduler.runtime.pool
    due = (datetime.now(UTC) + timedelta(days=2)).replace(
        hour=7, minute=0, second=0, microsecond=0
    )  # 09:00 in Kyiv
    await deliver(envelope_of(ReminderRequested(
        reminder_id="r1", bot_id=1, chat_id=5, user_id=5, text="dentist", due_at=due,
        time_zone="Europe/Kyiv", phrase="9:00",
    ), producer="ingest"))  # fmt: skip
    await deliver(schedule_request("s", CronSpec(expression="30 8 * * *")))
    await deliver(envelope_of(TimeZoneSet(bot_id=1, chat_id=5, user_id=5,
                                          time_zone="Asia/Tokyo"), producer="i"))  # fmt: skip
    row = await pool.fetchrow("SELECT due_at, time_zone FROM reminders WHERE id = 'r1'")
    assert (row["due_at"], row["time_zone"]) == (due - timedelta(hours=7), "Asia/Tokyo")
    types = await pool.fetch("SELECT type FROM events WHERE stream_id = 'reminder-r1'"
                             " ORDER BY version")  # fmt: skip
    assert [t["type"] for t in types][-1] == "reminder.scheduled.v1"
    await outbox(pool)

    await deliver(listing())
    [reply] = sends(await outbox(pool), "reply")
    lines = reply["text"].splitlines()
    assert lines[0] == "Your schedules, page 1 of 1:"
    assert lines[1].startswith("#1 ")
    assert lines[2].startswith("⏰ r1 ")
    assert lines[2].endswith(": dentist")
    assert "02:00" in lines[2]  # 09:00 in Tokyo, shown in the listing's zone (Kyiv)


async def test_a_reminder_cancelled_by_its_listed_id_never_fires(scheduler):
    deliver, pool = scheduler.runtime.broker.deliver, scheduler.runtime.pool
    due = datetime.now(UTC) - timedelta(seconds=1)  # due, not yet claimed by the firing loop
    for rid in ("r1", "r2"):
        await deliver(envelope_of(ReminderRequested(
            reminder_id=rid, bot_id=1, chat_id=5, user_id=5, text=f"call {rid}", due_at=due,
            time_zone="Europe/Kyiv", phrase="now",
        ), producer="ingest"))  # fmt: skip
    await outbox(pool)
    await deliver(listing())
    [reply] = sends(await outbox(pool), "reply")
    assert [line.split()[:2] for line in reply["text"].splitlines()[1:]] == [
        ["⏰", "r1"],
        ["⏰", "r2"],
    ]

    await deliver(change("r1", "cancel"))
    await deliver(change("r1", "cancel"))  # redelivered: once
    await deliver(change("r2", "pause"))
    await deliver(change("r1", "cancel", chat_id=6))  # not that chat's
    replies = [m["text"] for m in sends(await outbox(pool), "confirmation")]
    assert replies[0] == "🗑 Cancelled reminder r1."
    assert replies[1].startswith("⚠️ I could not pause r2: a reminder can only be cancelled")
    assert "there is no schedule r1 in this chat" in replies[2]
    assert len(replies) == 3
    types = await pool.fetch("SELECT type FROM events WHERE stream_id = 'reminder-r1'"
                             " ORDER BY version")  # fmt: skip
    assert [t["type"] for t in types][-1] == "schedule.change.requested.v1"

    assert await scheduler.firing.fire_until_idle() == 1
    fired = [m["text"] for m in sends(await outbox(pool), "reminder")]
    assert fired == ["⏰ call r2"]
    rows = await pool.fetch("SELECT id, state FROM reminders ORDER BY id")
    assert [(r["id"], r["state"]) for r in rows] == [("r1", "cancelled"), ("r2", "fired")]
    await deliver(change("r2", "cancel"))
    [late] = [m["text"] for m in sends(await outbox(pool), "confirmation")]
    assert late.startswith("⚠️ I could not cancel r2: the reminder is over (fired)")
