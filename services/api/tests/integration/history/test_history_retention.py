"""Retention with a fake clock: partitions made ahead, whole days dropped at the boundary,
facts for a dropped day not kept, stats going with their days."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from history_support import NOW, apply, received

from chime_api.history.adapters.partitions import PARTITIONED, existing, maintain

pytestmark = pytest.mark.integration
TODAY = NOW.replace(hour=0, minute=0)
HORIZON = TODAY - timedelta(days=30)


async def test_partitions_cover_the_retention_and_the_days_ahead(history_db) -> None:
    async with history_db.acquire() as conn:
        days = await existing(conn)
    expected = {(HORIZON + timedelta(days=d)).date() for d in range(30 + 1 + 7)}
    assert days == {parent: expected for parent in PARTITIONED}


async def test_maintaining_twice_changes_nothing(history_db) -> None:
    async with history_db.acquire() as conn:
        again = await maintain(conn, NOW, 30, 7)
    assert (again.created, again.dropped) == (0, 0)


async def test_replicas_maintaining_at_once_make_each_partition_once(history_db) -> None:
    later = NOW + timedelta(days=3)

    async def replica():
        async with history_db.acquire() as conn:
            return await maintain(conn, later, 30, 7)

    results = await asyncio.gather(replica(), replica(), replica())
    assert sorted(r.created for r in results) == [0, 0, 3 * len(PARTITIONED)]
    async with history_db.acquire() as conn:
        days = await existing(conn)
    assert all(max(d) == (TODAY + timedelta(days=3 + 7)).date() for d in days.values())


async def test_the_oldest_day_goes_whole_at_the_boundary(history_db) -> None:
    first, last = HORIZON, HORIZON + timedelta(days=1) - timedelta(microseconds=1)
    second = HORIZON + timedelta(days=1)
    await apply(history_db, received(1, 1, first), received(1, 2, last), received(1, 3, second))
    async with history_db.acquire() as conn:
        moved = await maintain(conn, NOW + timedelta(days=1), 30, 7)
        days = await existing(conn)
    assert moved.dropped == len(PARTITIONED)
    assert moved.created == len(PARTITIONED)
    assert moved.window.horizon == second
    assert all(min(d) == second.date() for d in days.values())
    assert all(max(d) == (TODAY + timedelta(days=8)).date() for d in days.values())
    remaining = await history_db.fetch("SELECT message_id FROM history_messages")
    assert [r["message_id"] for r in remaining] == [3]
    buckets = await history_db.fetch(
        "SELECT DISTINCT granularity, bucket FROM stats_rollups ORDER BY 1"
    )
    assert [(b["granularity"], b["bucket"]) for b in buckets] == [("day", second), ("hour", second)]
    assert await history_db.fetchval("SELECT count(*) FROM history_log") == 1


async def test_a_fact_for_a_dropped_day_is_not_kept(history_db) -> None:
    async with history_db.acquire() as conn:
        await maintain(conn, NOW + timedelta(days=1), 30, 7)
    await apply(history_db, received(1, 1, HORIZON + timedelta(hours=3)))
    assert await history_db.fetchval("SELECT count(*) FROM history_messages") == 0


async def test_a_shorter_retention_drops_more_days_at_once(history_db) -> None:
    await apply(history_db, received(1, 1, NOW - timedelta(days=10)), received(1, 2, NOW))
    async with history_db.acquire() as conn:
        moved = await maintain(conn, NOW, 7, 7)
    assert moved.dropped == 23 * len(PARTITIONED)
    remaining = await history_db.fetch("SELECT message_id FROM history_messages")
    assert [r["message_id"] for r in remaining] == [2]
