"""The history projection fed in batches, as the consumers feed it (one transaction for many
events of one queue): duplicates, edits and a delivery's outcomes inside one batch give
what the same events give one by one, and what a rebuild gives."""

from __future__ import annotations

from datetime import timedelta
from itertools import groupby
from typing import Any

import asyncpg
import pytest
from history_support import (
    BOT,
    HANDLERS,
    NOW,
    apply,
    failed,
    minutes,
    received,
    requested,
    rollup,
    sent,
    snapshot,
)
from test_history_rebuild import _without_ids, workload

from chime_api.bootstrap import SERVICE
from chime_api.entrypoints.cli import SERVICE_CLI
from chime_contracts.envelope import Envelope
from chime_kit.unit_of_work import transaction

pytestmark = pytest.mark.integration
HOUR = NOW.replace(minute=0)


async def apply_together(pool: asyncpg.Pool, *envelopes: Envelope[Any]) -> None:
    """All in one transaction, each its own unit of work, as a consumer's batch."""
    async with transaction(pool, SERVICE) as tx:
        for envelope in envelopes:
            await HANDLERS[type(envelope.data)](tx.unit(envelope), envelope)


async def test_an_original_its_redelivery_and_edits_in_one_batch_make_one_row(
    database_url, history_db
) -> None:
    at = NOW - minutes(30)
    await apply_together(
        history_db,
        received(1, 10, at),
        received(1, 10, at, text="third", edited_at=at + minutes(3)),
        received(1, 10, at),
        received(1, 10, at, text="second", edited_at=at + minutes(2)),
    )
    rows = await history_db.fetch("SELECT text, edited_at FROM history_messages")
    assert [(r["text"], r["edited_at"]) for r in rows] == [("third", at + minutes(3))]
    chat = await rollup(history_db, "chat", f"{BOT}:1", "hour", HOUR.replace(hour=11))
    assert (chat["received"], chat["received_by_kind"], chat["active_users"]) == (1, {"text": 1}, 1)
    whole = await rollup(history_db, "global", "", "day", NOW.replace(hour=0))
    assert (whole["received"], whole["active_chats"], whole["active_users"]) == (1, 1, 1)
    live = await snapshot(history_db)
    await SERVICE_CLI.rebuild(database_url)
    assert await snapshot(history_db) == live


async def test_an_edit_before_its_original_in_one_batch_keeps_the_edit(history_db) -> None:
    at = NOW - minutes(30)
    edit = received(1, 10, at, text="hello, edited", edited_at=at + minutes(1))
    await apply_together(history_db, edit, received(1, 10, at))
    assert await history_db.fetchval("SELECT text FROM history_messages") == "hello, edited"


async def test_active_counts_in_a_batch_count_each_chat_and_user_once(history_db) -> None:
    t = NOW - minutes(40)
    await apply(history_db, received(1, 1, t, user=100))
    await apply_together(
        history_db, received(1, 2, t, user=100), received(1, 3, t, user=101),
        received(2, 1, t, user=100), received(2, 2, t, user=102), received(3, 1, t, user=103),
    )  # fmt: skip
    hour = await rollup(history_db, "global", "", "hour", t.replace(minute=0))
    assert (hour["received"], hour["active_chats"], hour["active_users"]) == (6, 3, 4)
    chat = await rollup(history_db, "chat", f"{BOT}:1", "hour", t.replace(minute=0))
    assert (chat["received"], chat["active_users"]) == (3, 2)


async def test_outcomes_and_requests_repeated_in_one_batch_count_once(history_db) -> None:
    t = NOW - minutes(10)
    await apply_together(
        history_db,
        sent(1, "d1", t + timedelta(milliseconds=300), 5),
        failed(1, "d1", t + minutes(1)),
        sent(1, "d1", t + timedelta(milliseconds=300), 5),
        failed(2, "d2", t + minutes(1), "chat_not_found"),
    )
    await apply_together(
        history_db, requested(1, "d1", t, text="first"), requested(1, "d1", t, text="second"),
        requested(2, "d2", t, text="gone"), requested(3, "d3", t, text="not yet"),
    )  # fmt: skip
    rows = await history_db.fetch(
        "SELECT delivery_id, status, text FROM history_messages ORDER BY delivery_id"
    )
    assert [tuple(r) for r in rows] == [("d1", "sent", "first"), ("d2", "failed", "gone")]
    hour = await rollup(history_db, "global", "", "hour", t.replace(minute=0))
    assert (hour["sent"], hour["failed"], hour["failed_by_reason"]) == (
        1, 1, {"chat_not_found": 1},
    )  # fmt: skip
    assert hour["latency"][3] == 1  # 300 ms, counted once when its request came
    assert sum(hour["latency"]) == 1
    await apply_together(history_db, sent(3, "d3", t + minutes(1), 7))
    assert await history_db.fetchval(
        "SELECT text FROM history_messages WHERE delivery_id = 'd3'"
    ) == "not yet"  # fmt: skip


def consumer_batches(events: list[Envelope[Any]], size: int) -> list[list[Envelope[Any]]]:
    """Consecutive events of one type (one queue) in batches of up to `size`."""
    batches: list[list[Envelope[Any]]] = []
    for _, run in groupby(events, key=lambda e: type(e.data)):
        same = list(run)
        batches += [same[i : i + size] for i in range(0, len(same), size)]
    return batches


async def test_a_workload_in_batches_equals_it_one_by_one_and_its_rebuild(
    database_url, history_db
) -> None:
    events = workload([1, 2, 3, -100200])
    # Most of the workload's neighbours differ in type; sorted by type, batches are full.
    by_type = sorted(events, key=lambda e: HANDLERS[type(e.data)].__name__)
    await apply(history_db, *by_type)
    one_by_one = await snapshot(history_db)
    async with history_db.acquire() as conn:
        for table in (
            "history_messages", "stats_rollups", "stats_members", "history_log",
            "history_deliveries",
        ):  # fmt: skip
            await conn.execute(f"DELETE FROM {table}")
    for together in consumer_batches(by_type, 9):
        await apply_together(history_db, *together)
    batched = await snapshot(history_db)
    assert len(batched["history_messages"]) > 90
    assert _without_ids(batched) == _without_ids(one_by_one)
    await SERVICE_CLI.rebuild(database_url)
    assert await snapshot(history_db) == batched
