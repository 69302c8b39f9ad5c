"""The history projection from event sequences: out of order, duplicated, edited; a send's
request and outcome meeting in either order; blocks; facts outside the window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from history_support import (
    BOT,
    NOW,
    apply,
    batch,
    blocked,
    failed,
    minutes,
    received,
    requested,
    rollup,
    sent,
    wrapped,
)

from chime_contracts.events import SendBatchRequested
from chime_contracts.events.shared import BatchDelivery, SendSource

pytestmark = pytest.mark.integration
HOUR = NOW.replace(minute=0)
DAY = NOW.replace(hour=0, minute=0)


async def test_an_edit_before_its_original_and_a_redelivery_leave_one_row_with_the_edit(
    history_db,
) -> None:
    at = NOW - minutes(30)
    edit = received(1, 10, at, text="hello, edited", edited_at=at + minutes(1))
    await apply(history_db, edit, received(1, 10, at), received(1, 10, at))
    rows = await history_db.fetch("SELECT text, edited_at FROM history_messages")
    assert [(r["text"], r["edited_at"]) for r in rows] == [("hello, edited", at + minutes(1))]
    row = await rollup(
        history_db, "chat", f"{BOT}:1", "hour", (NOW - minutes(30)).replace(minute=0)
    )
    assert row["received"] == 1
    assert row["received_by_kind"] == {"text": 1}
    assert row["active_users"] == 1


async def test_an_older_edit_after_a_newer_one_changes_nothing(history_db) -> None:
    at = NOW - minutes(30)
    newer = received(1, 10, at, text="third", edited_at=at + minutes(3))
    older = received(1, 10, at, text="second", edited_at=at + minutes(2))
    await apply(history_db, received(1, 10, at), newer, older)
    assert await history_db.fetchval("SELECT text FROM history_messages") == "third"


async def test_both_directions_come_back_in_order(history_db) -> None:
    t = NOW - minutes(50)
    await apply(
        history_db,
        received(1, 1, t),
        requested(1, "d1", t + timedelta(seconds=1), text="pong"),
        sent(1, "d1", t + timedelta(seconds=2), message_id=2),
        received(1, 3, t + timedelta(seconds=3), text="thanks"),
    )
    rows = await history_db.fetch(
        "SELECT direction, text, message_id FROM history_messages ORDER BY at, id"
    )
    assert [(r["direction"], r["text"], r["message_id"]) for r in rows] == [
        ("in", "hello", 1), ("out", "pong", 2), ("in", "thanks", 3),
    ]  # fmt: skip


async def test_an_outcome_before_its_request_gets_the_text_and_latency_later(history_db) -> None:
    t = NOW - minutes(10)
    await apply(history_db, sent(1, "d1", t + timedelta(milliseconds=300), message_id=5))
    assert await history_db.fetchval("SELECT text FROM history_messages") is None
    hour = await rollup(history_db, "global", "", "hour", t.replace(minute=0))
    assert hour["sent"] == 1
    assert sum(hour["latency"]) == 0
    await apply(history_db, requested(1, "d1", t, text="late text"))
    assert await history_db.fetchval("SELECT text FROM history_messages") == "late text"
    hour = await rollup(history_db, "global", "", "hour", t.replace(minute=0))
    assert hour["sent"] == 1
    assert hour["latency"][3] == 1  # 300 ms: the (250, 500] bucket


async def test_a_second_outcome_of_a_delivery_is_not_counted_again(history_db) -> None:
    t = NOW - minutes(5)
    await apply(
        history_db, requested(1, "d1", t), sent(1, "d1", t + minutes(1), 9),
        sent(1, "d1", t + minutes(1), 9), failed(1, "d1", t + minutes(2)),
    )  # fmt: skip
    assert await history_db.fetchval("SELECT count(*) FROM history_messages") == 1
    day = await rollup(history_db, "global", "", "day", DAY)
    assert (day["sent"], day["failed"]) == (1, 0)


async def test_failures_count_by_reason_and_blocks_count(history_db) -> None:
    t = NOW - minutes(20)
    await apply(
        history_db, requested(1, "a", t), failed(1, "a", t + minutes(1), "blocked"),
        requested(2, "b", t), failed(2, "b", t + minutes(1), "chat_not_found"),
        requested(3, "c", t), failed(3, "c", t + minutes(1), "blocked"), blocked(1, t),
    )  # fmt: skip
    day = await rollup(history_db, "bot", str(BOT), "day", DAY)
    assert day["failed"] == 3
    assert day["failed_by_reason"] == {"blocked": 2, "chat_not_found": 1}
    assert day["blocked"] == 1
    statuses = await history_db.fetch("SELECT status, failure_reason FROM history_messages")
    assert {(r["status"], r["failure_reason"]) for r in statuses} == {
        ("failed", "blocked"), ("failed", "chat_not_found"),
    }  # fmt: skip


async def test_a_batch_gives_every_chat_its_text(history_db) -> None:
    t = NOW - minutes(20)
    await apply(
        history_db, batch([1, 2], "b1", t, "news"), sent(1, "b1:1", t + minutes(1), 3),
        sent(2, "b1:2", t + minutes(1), 4, kind="broadcast"),
    )  # fmt: skip
    texts = await history_db.fetch("SELECT chat_id, text FROM history_messages ORDER BY chat_id")
    assert [(r["chat_id"], r["text"]) for r in texts] == [(1, "news"), (2, "news")]


async def test_a_batch_of_deliveries_gives_each_its_own_id_and_text(history_db) -> None:
    """A firing batch's occurrences: each delivery by its own id, with its own text."""
    t = NOW - minutes(20)
    deliveries = [
        BatchDelivery(
            delivery_id=f"schedule:s{n}:1", chat_id=n, text=f"drink {{what}} {n}",
            variables={"what": "water"}, source=SendSource(kind="schedule", id=f"s{n}"),
        )
        for n in (1, 2)
    ]  # fmt: skip
    fired = wrapped(
        SendBatchRequested(
            batch_id="fire:1", bot_id=BOT, chat_ids=[1, 2], text="not sent",
            source=deliveries[0].source, deliveries=deliveries,
        ),
        "scheduler",
        t,
    )  # fmt: skip
    await apply(
        history_db, fired, sent(1, "schedule:s1:1", t + minutes(1), 3, kind="schedule"),
        sent(2, "schedule:s2:1", t + minutes(1), 4, kind="schedule"),
    )  # fmt: skip
    texts = await history_db.fetch("SELECT chat_id, text FROM history_messages ORDER BY chat_id")
    assert [(r["chat_id"], r["text"]) for r in texts] == [
        (1, "drink water 1"),
        (2, "drink water 2"),
    ]


async def test_active_chats_and_users_are_distinct_per_bucket(history_db) -> None:
    t = NOW - minutes(40)
    await apply(
        history_db, received(1, 1, t, user=100), received(1, 2, t, user=100),
        received(1, 3, t, user=101), received(2, 1, t, user=100),
    )  # fmt: skip
    hour = await rollup(history_db, "global", "", "hour", t.replace(minute=0))
    assert (hour["received"], hour["active_chats"], hour["active_users"]) == (4, 2, 2)
    chat = await rollup(history_db, "chat", f"{BOT}:1", "hour", t.replace(minute=0))
    assert (chat["received"], chat["active_users"]) == (3, 2)


async def test_facts_outside_the_window_are_not_kept(history_db) -> None:
    too_old = NOW - timedelta(days=40)
    too_far = NOW + timedelta(days=30)
    await apply(history_db, received(1, 1, too_old), received(1, 2, too_far))
    assert await history_db.fetchval("SELECT count(*) FROM history_messages") == 0
    assert await history_db.fetchval("SELECT count(*) FROM history_log") == 0
