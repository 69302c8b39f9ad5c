"""A broadcast to a topic: every current subscriber once, blocked and stopped chats skipped
and counted, handed to the sender in slices, progress and the end from the outcomes."""

from datetime import UTC, datetime, timedelta

import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import (
    BroadcastCancelRequested,
    BroadcastRequested,
    ChatBlocked,
    ChatMemberChanged,
    ChatStopped,
    MessageSent,
    SendFailed,
    SubscriptionRequested,
)
from chime_contracts.events.schedules import MessageTemplate, OnceSpec, ScheduleOwner
from chime_contracts.events.shared import SendSource
from chime_scheduler.bootstrap import build
from chime_scheduler.domain import broadcasts
from chime_scheduler.settings import SchedulerSettings

from .flow import chat_owner, outbox, schedule_request, sends

pytestmark = pytest.mark.integration
API = ScheduleOwner(kind="api_key", id="key_1")
NOW = datetime.now(UTC)


@pytest.fixture
async def scheduler(database_url):
    built = await build(SchedulerSettings(database_url=database_url))
    yield built
    await built.runtime.pool.close()


def subscription(chat_id, action="subscribe"):
    return envelope_of(SubscriptionRequested(
        bot_id=1, chat_id=chat_id, topic="news", action=action, requested_by=chat_owner(chat_id),
        requested_at=NOW), producer="ingest")  # fmt: skip


def member(chat_id, old, new):
    return envelope_of(ChatMemberChanged(
        bot_id=1, chat_id=chat_id, chat_type="private", old_state=old, new_state=new,
        changed_at=NOW), producer="ingest")  # fmt: skip


def broadcast(broadcast_id, at=None):
    return envelope_of(
        BroadcastRequested(
            broadcast_id=broadcast_id,
            owner=API,
            bot_id=1,
            topic="news",
            message=MessageTemplate(text="v2 is out"),
            at=at,
            requested_at=NOW,
        ),
        producer="api",
    )


async def test_fan_out_skips_blocked_and_stopped_chats_and_reports_to_the_end(scheduler):
    deliver, pool = scheduler.runtime.broker.deliver, scheduler.runtime.pool
    for chat_id in range(1, 61):
        await deliver(subscription(chat_id))
    await deliver(subscription(7))  # again: nothing changes
    await deliver(subscription(60, "unsubscribe"))
    for chat_id in (2, 3):  # the sender found them blocked
        await deliver(envelope_of(ChatBlocked(bot_id=1, chat_id=chat_id,
                                              detected_by="send_forbidden", blocked_at=NOW),
                                  producer="sender"))  # fmt: skip
    await deliver(member(4, "member", "kicked"))  # blocked in Telegram
    await deliver(member(5, "member", "kicked"))
    await deliver(member(5, "kicked", "member"))  # ... and unblocked
    await deliver(envelope_of(ChatStopped(bot_id=1, chat_id=6, stopped_at=NOW), producer="i"))
    replies = [d["text"] for d in sends(await outbox(pool), "confirmation")]
    assert replies.count("🔔 Subscribed to news.") == 60
    assert "You follow news already." in replies
    assert "🔕 Unsubscribed from news." in replies
    assert await pool.fetchval("SELECT subscribers FROM topics WHERE topic = 'news'") == 59

    await deliver(broadcast("b1"))
    assert await scheduler.firing.fire_until_idle() == 1
    events = await outbox(pool)
    [started] = [e["data"] for e in events if e["type"] == "broadcast.started.v1"]
    batches = [e["data"] for e in events if e["type"] == "send.batch.requested.v1"]
    expected = sorted(set(range(1, 60)) - {2, 3, 4, 6})
    assert [c for b in batches for c in b["chat_ids"]] == expected
    assert (started["recipients"], started["skipped"], started["slices"]) == (55, 4, 1)
    assert batches[0]["source"] == {"kind": "broadcast", "id": "b1"}
    assert datetime.fromisoformat(started["estimated_finish_at"]) > datetime.fromisoformat(
        started["started_at"]
    )

    for n, chat_id in enumerate(expected):
        outcome = (
            SendFailed(delivery_id=f"b1:0:{chat_id}", bot_id=1, chat_id=chat_id, reason="x",
                       permanent=True, attempts=1, failed_at=NOW,
                       source=SendSource(kind="broadcast", id="b1"))
            if n % 11 == 0 else
            MessageSent(delivery_id=f"b1:0:{chat_id}", bot_id=1, chat_id=chat_id,
                        telegram_message_id=n, attempts=1, sent_at=NOW,
                        source=SendSource(kind="broadcast", id="b1"))
        )  # fmt: skip
        await deliver(envelope_of(outcome, producer="sender"))
    [finished] = [e["data"] for e in await outbox(pool) if e["type"] == "broadcast.finished.v1"]
    assert (finished["handed"], finished["sent"], finished["failed"], finished["skipped"]) == (
        55, 50, 5, 4,
    )  # fmt: skip
    row = await pool.fetchrow("SELECT status, sent, failed FROM broadcasts WHERE id = 'b1'")
    assert tuple(row) == ("finished", 50, 5)


async def test_a_timed_broadcast_waits_and_can_be_cancelled_before_it_starts(scheduler):
    deliver, pool = scheduler.runtime.broker.deliver, scheduler.runtime.pool
    await deliver(subscription(1))
    await deliver(broadcast("later", at=NOW + timedelta(hours=1)))
    assert await scheduler.firing.fire_until_idle() == 0
    await deliver(
        envelope_of(
            BroadcastCancelRequested(broadcast_id="later", owner=API, requested_at=NOW),
            producer="api",
        )
    )
    assert await pool.fetchval("SELECT status FROM broadcasts WHERE id = 'later'") == "cancelled"


async def test_a_schedule_to_a_topic_starts_a_broadcast_at_each_occurrence(scheduler):
    deliver, pool = scheduler.runtime.broker.deliver, scheduler.runtime.pool
    for chat_id in (1, 2):
        await deliver(subscription(chat_id))
    start = NOW - timedelta(seconds=5)
    await deliver(
        schedule_request(
            "topical",
            OnceSpec(at=NOW - timedelta(seconds=1)),
            chat_id=None,
            topic="news",
            owner=API,
            requested_at=start,
        )
    )
    await outbox(pool)
    assert await scheduler.firing.fire_until_idle() == 2  # the occurrence and its broadcast
    events = await outbox(pool)
    [started] = [e["data"] for e in events if e["type"] == "broadcast.started.v1"]
    assert started["schedule_id"] == "topical"
    assert started["broadcast_id"].startswith("topical@")
    [batch] = [e["data"] for e in events if e["type"] == "send.batch.requested.v1"]
    assert batch["chat_ids"] == [1, 2]


def test_slices_hold_at_most_the_contracts_share_each():
    chats = list(range(12_001))
    sliced = broadcasts.slices("b", 1, chats, MessageTemplate(text="x"), False, NOW)
    assert [len(s.chat_ids) for s in sliced] == [5000, 5000, 2001]
    assert [s.batch_id for s in sliced] == ["b:0", "b:1", "b:2"]
    assert [c for s in sliced for c in s.chat_ids] == chats
