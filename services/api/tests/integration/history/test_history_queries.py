"""History's reads: the newest messages of a chat read from yesterday's and today's
partitions first, and from before them when they held fewer; each read's plan holds only
the partitions of its days."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from history_support import BOT, NOW, apply, received

from chime_api.history.adapters import queries
from chime_api.history.adapters.closed import ClosedRollups
from chime_api.history.domain.buckets import Granularity

pytestmark = pytest.mark.integration


async def test_the_last_messages_come_from_the_last_day_and_before_it(history_db) -> None:
    hours = [70, 50, 30, 20, 5, 3, 1]  # before NOW; four within the last day
    await apply(
        history_db,
        *[received(1, i + 1, NOW - timedelta(hours=h), text=f"{h}h") for i, h in enumerate(hours)],
        received(2, 1, NOW - timedelta(minutes=1), text="another chat"),
    )
    async with history_db.acquire() as conn:
        three = await queries.last(conn, BOT, 1, 3, now=NOW)
        two = await queries.last(conn, BOT, 1, 2, now=NOW)
        five = await queries.last(conn, BOT, 1, 5, now=NOW)
        everything = await queries.last(conn, BOT, 1, 50, now=NOW)
        none = await queries.last(conn, BOT, 3, 20, now=NOW)
    assert [m.text for m in two] == ["3h", "1h"]
    assert [m.text for m in three] == ["5h", "3h", "1h"]
    assert [m.text for m in five] == ["30h", "20h", "5h", "3h", "1h"]
    assert [m.text for m in everything] == [f"{h}h" for h in hours]
    assert none == []


class _Recorder:
    """A connection that records the statements a read sends (and answers no rows)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *params: Any) -> list[Any]:
        self.sent.append((sql, params))
        return []


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text.replace("'", "''") + "'"


async def _generic_plan(conn: Any, sql: str, params: tuple[Any, ...]) -> tuple[set[date], int]:
    """The days of the partitions in the plan PostgreSQL keeps for a prepared statement when
    it plans it without its parameters' values (as it settles on after a few runs), and how
    many more it holds only to prune when it runs (opening and locking them first)."""
    await conn.execute(f"PREPARE read AS {sql}")
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    try:
        args = ", ".join(map(_literal, params))
        plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE read({args})")
    finally:
        await conn.execute("RESET plan_cache_mode")
        await conn.execute("DEALLOCATE read")
    days: set[date] = set()
    removed = 0

    def walk(node: dict[str, Any]) -> None:
        nonlocal removed
        if "Relation Name" in node:
            name = node["Relation Name"]
            days.add(date(int(name[-8:-4]), int(name[-4:-2]), int(name[-2:])))
        removed += node.get("Subplans Removed", 0)
        for child in node.get("Plans", []):
            walk(child)

    walk((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"])
    return days, removed


async def test_reads_plan_only_the_partitions_of_their_days(history_db) -> None:
    recorder = _Recorder()
    conn: Any = recorder
    await queries.last(conn, BOT, 1, 20, now=NOW)  # no rows: it reads on from before yesterday
    await queries.between(conn, BOT, 1, NOW - timedelta(hours=30), NOW, None, 100)
    await queries.rollups(conn, "chat", f"{BOT}:1", Granularity.HOUR, NOW - timedelta(days=2), NOW)
    async with history_db.acquire() as db:
        recent, earlier, between, rollups = [await _generic_plan(db, *s) for s in recorder.sent]
    day, one = NOW.date(), timedelta(days=1)
    # The last messages: yesterday's partition on (today's, and the empty ones ahead), then
    # the days before it.
    assert min(recent[0]) == day - one
    assert max(earlier[0]) == day - 2 * one
    # A 30-hour range: the two days it touches; two days of rollups: the three it touches.
    assert between[0] == {day - one, day}
    assert rollups[0] == {day - 2 * one, day - one, day}
    # Pruned when planned, not when run: the other days are not even opened.
    assert (recent[1], earlier[1], between[1], rollups[1]) == (0, 0, 0, 0)


class _KeptRecorder(_Recorder):
    """As `_Recorder`, and the versions of no closed rows: the same as when they were kept."""

    async def fetch(self, sql: str, *params: Any) -> list[Any]:
        await super().fetch(sql, *params)
        return [([],)] if sql.startswith("SELECT array_agg") else []


async def test_a_kept_series_plans_only_the_partitions_of_its_days(history_db) -> None:
    recorder = _KeptRecorder()
    conn: Any = recorder
    kept = ClosedRollups(min_rows=0)
    since, now, until = (
        NOW - timedelta(days=2),
        NOW + timedelta(minutes=30),
        NOW + timedelta(hours=1),
    )
    for _ in range(2):  # read, then kept: its versions and its open hour
        await queries.rollups(conn, "global", "", Granularity.HOUR, since, until, now, kept)
    assert [sql.split(" ", 2)[1] for sql, _ in recorder.sent] == [
        "bucket,",
        "array_agg(xmin::text::bigint",
        "bucket,",
    ]
    async with history_db.acquire() as db:
        everything, versions, open_rows = [await _generic_plan(db, *s) for s in recorder.sent]
    day, one = NOW.date(), timedelta(days=1)
    assert everything[0] == versions[0] == {day - 2 * one, day - one, day}
    assert open_rows[0] == {day}
    assert (everything[1], versions[1], open_rows[1]) == (0, 0, 0)
