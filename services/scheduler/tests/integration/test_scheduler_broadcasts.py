"""A broadcast to a topic: every current subscriber once, blocked and stopped chats skipped,
counted and named (`broadcast.recipients.skipped.v1`), handed to the sender in slices,
progress and the end from the outcomes."""

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
from chime_scheduler import handlers
from chime_scheduler.adapters.postgres import PostgresStore
from chime_scheduler.domain import broadcasts
from chime_scheduler.entrypoints.service import create_service
from chime_scheduler.settings import SchedulerSettings

from .flow import chat_owner, outbox, schedule_request, sends

pytestmark = pytest.mark.integration
API = ScheduleOwner(kind="api_key", id="key_1")
NOW = datetime.now(UTC)


@pytest.fixture
async def scheduler(database_url):
    built = await create_service(SchedulerSettings(database_url=database_url))
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
    named = [e["data"] for e in events if e["type"] == "broadcast.recipients.skipped.v1"]
    assert [(s["slice_id"], s["reason"], s["chat_ids"]) for s in named] == [
        ("b1:skipped:0", "blocked", [2, 3, 4]),
        ("b1:skipped:1", "stopped", [6]),
    ]
    assert {(s["broadcast_id"], s["bot_id"]) for s in named} == {("b1", 1)}
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


def cancel(broadcast_id):
    return envelope_of(
        BroadcastCancelRequested(broadcast_id=broadcast_id, owner=API, requested_at=NOW),
        producer="api",
    )


@pytest.fixture
def paced(monkeypatch):
    """Slices of two chats, the sender handed one slice ahead, slowly: the rest is held."""
    monkeypatch.setattr(broadcasts, "SLICE", 2)
    monkeypatch.setattr(broadcasts, "PER_SECOND", 0.001)
    monkeypatch.setattr(broadcasts, "HAND_AHEAD", timedelta(0))


def sent_to(broadcast_id, chat_id):
    return envelope_of(MessageSent(
        delivery_id=f"{broadcast_id}:0:{chat_id}", bot_id=1, chat_id=chat_id,
        telegram_message_id=chat_id, attempts=1, sent_at=NOW,
        source=SendSource(kind="broadcast", id=broadcast_id),
    ), producer="sender")  # fmt: skip


async def start_to_five(scheduler, broadcast_id):
    """A broadcast to chats 1-5 started; what the start left in the outbox."""
    for chat_id in range(1, 6):
        await scheduler.runtime.broker.deliver(subscription(chat_id))
    await scheduler.runtime.broker.deliver(broadcast(broadcast_id))
    await scheduler.firing.fire_until_idle()
    return await outbox(scheduler.runtime.pool)


async def hand_slices_at(scheduler, at):
    async with scheduler.runtime.unit_of_work() as uow:
        return await handlers.hand_due_slices(uow, PostgresStore(uow.conn), at, 10)


async def test_cancelling_a_started_broadcast_drops_the_slices_not_yet_handed(scheduler, paced):
    deliver, pool = scheduler.runtime.broker.deliver, scheduler.runtime.pool
    started = await start_to_five(scheduler, "b1")
    batches = [e["data"] for e in started if e["type"] == "send.batch.requested.v1"]
    assert [b["chat_ids"] for b in batches] == [[1, 2]]
    assert await pool.fetchval("SELECT count(*) FROM broadcast_slices") == 2
    await deliver(sent_to("b1", 1))

    await deliver(cancel("b1"))
    [finished] = [e["data"] for e in await outbox(pool) if e["type"] == "broadcast.finished.v1"]
    assert finished["cancelled"] is True
    assert (finished["handed"], finished["sent"], finished["failed"]) == (2, 1, 0)
    row = await pool.fetchrow("SELECT status, handed, sent FROM broadcasts WHERE id = 'b1'")
    assert tuple(row) == ("cancelled", 2, 1)
    assert await hand_slices_at(scheduler, NOW + timedelta(days=1)) == 0
    await deliver(sent_to("b1", 2))  # the handed slice goes on; the broadcast stays cancelled
    assert not [e for e in await outbox(pool) if e["type"].startswith("broadcast.")]

    await deliver(cancel("b1"))
    [rejected] = [e["data"] for e in await outbox(pool) if e["type"] == "schedule.rejected.v1"]
    assert (rejected["schedule_ref"], rejected["action"]) == ("b1", "cancel")
    assert rejected["reason"] == "broadcast b1 was already cancelled"


async def test_held_slices_go_to_the_sender_when_their_time_comes(scheduler, paced):
    pool = scheduler.runtime.pool
    started = datetime.now(UTC)  # not NOW: the module may have been imported long before
    await start_to_five(scheduler, "b2")
    # slice 1 is due 2000 s after the start, slice 2 after 4000 s
    assert await hand_slices_at(scheduler, started + timedelta(seconds=2500)) == 1
    [batch] = [e["data"] for e in await outbox(pool) if e["type"] == "send.batch.requested.v1"]
    assert (batch["batch_id"], batch["chat_ids"]) == ("b2:1", [3, 4])
    assert batch["source"] == {"kind": "broadcast", "id": "b2"}


async def test_cancelling_a_finished_or_unknown_broadcast_is_refused_with_the_reason(scheduler):
    deliver, pool = scheduler.runtime.broker.deliver, scheduler.runtime.pool
    await deliver(broadcast("empty"))  # no subscribers: finished at once
    await scheduler.firing.fire_until_idle()
    await outbox(pool)
    for broadcast_id in ("empty", "nope"):
        await deliver(cancel(broadcast_id))
    reasons = [e["data"]["reason"] for e in await outbox(pool)
               if e["type"] == "schedule.rejected.v1"]  # fmt: skip
    assert reasons == ["broadcast empty has already finished", "there is no broadcast nope"]
    assert (
        await pool.fetchval("SELECT count(*) FROM broadcast_tallies WHERE broadcast_id = 'nope'")
        == 0
    )
    assert await pool.fetchval("SELECT status FROM broadcasts WHERE id = 'empty'") == "finished"


async def test_a_schedule_to_a_topic_starts_a_broadcast_at_each_occurrence(scheduler):
    deliver, pool = scheduler.runtime.broker.deliver, scheduler.runtime.pool
    for chat_id in (1, 2):
        await deliver(subscription(chat_id))
    # The clock of this test, not of the module's import: a long suite may import it minutes
    # before it runs, past the misfire grace of an occurrence a second old.
    now = datetime.now(UTC)
    start = now - timedelta(seconds=5)
    await deliver(
        schedule_request(
            "topical",
            OnceSpec(at=now - timedelta(seconds=1)),
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


def test_skipped_chats_are_named_by_reason_in_slices_of_the_contracts_share():
    left_out = [(c, "stopped" if c % 10 == 0 else "blocked") for c in range(6_000)]
    named = broadcasts.skipped_slices("b", 1, left_out, NOW)
    assert [(s.slice_id, s.reason, len(s.chat_ids)) for s in named] == [
        ("b:skipped:0", "blocked", 5000),
        ("b:skipped:1", "blocked", 400),
        ("b:skipped:2", "stopped", 600),
    ]
    assert sorted(c for s in named for c in s.chat_ids) == list(range(6_000))
    assert broadcasts.skipped_slices("b", 1, [], NOW) == []
