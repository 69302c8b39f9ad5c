"""A series whose closed hours are kept between reads answers what the table holds after
every kind of change to them: a late event, forgetting a chat, retention, a rebuild."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from history_support import BOT, NOW, apply, received

from chime_api.entrypoints.cli import SERVICE_CLI
from chime_api.history.adapters import queries
from chime_api.history.adapters.closed import ClosedRollups
from chime_api.history.adapters.partitions import maintain
from chime_api.history.domain.buckets import Granularity
from chime_api.history.handlers import forget_chat
from chime_kit.unit_of_work import unit_of_work

pytestmark = pytest.mark.integration
HOUR = timedelta(hours=1)
START = NOW - timedelta(days=30)  # the retention's first day
AT = NOW + 30 * timedelta(minutes=1)  # reads at 12:30: hours before 12:00 are closed


class Counting:
    """A connection that counts the rows its statements return."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.rows = 0

    async def fetch(self, sql: str, *params: Any) -> list[Any]:
        rows = await self.conn.fetch(sql, *params)
        self.rows += len(rows)
        return list(rows)


async def series(pool: Any, kept: ClosedRollups | None) -> tuple[dict[Any, Any], int]:
    """The whole's hourly series over the retention, and the rows it read."""
    async with pool.acquire() as conn:
        counting = Counting(conn)
        rows = await queries.rollups(
            counting, "global", "", Granularity.HOUR, START, AT, now=AT, kept=kept
        )  # type: ignore[arg-type]
    return rows, counting.rows


async def agrees(pool: Any, kept: ClosedRollups) -> dict[Any, Any]:
    rows, _ = await series(pool, kept)
    assert rows == (await series(pool, None))[0]
    return rows


async def test_kept_hours_answer_what_the_table_holds_after_each_change(
    database_url, history_db
) -> None:
    # Chats 1 and 2 spoke in the first hour of the retention and every 7 hours since.
    times = [START + h * HOUR for h in range(0, 30 * 24, 7)] + [NOW + 10 * timedelta(minutes=1)]
    await apply(history_db, *[received(1 + i % 2, i + 1, at) for i, at in enumerate(times)])
    kept = ClosedRollups(min_rows=1)
    first = await agrees(history_db, kept)
    assert len(first) == len(times)
    assert len(kept) == 1
    _, read = await series(history_db, kept)
    assert read == 2  # the versions of the closed hours, and the open hour's one row

    await apply(history_db, received(3, 1, NOW - 2 * HOUR))  # late: a closed hour
    assert (await agrees(history_db, kept))[NOW - 2 * HOUR].received == 1

    await apply(history_db, received(3, 2, START + 7 * HOUR))  # and one that already had rows
    assert (await agrees(history_db, kept))[START + 7 * HOUR].received == 2

    async with unit_of_work(history_db, "api") as uow:
        await forget_chat(uow, BOT, 3)
    after_forget = await agrees(history_db, kept)
    assert NOW - 2 * HOUR not in after_forget
    assert after_forget[START + 7 * HOUR].received == 1

    async with history_db.acquire() as conn:
        await maintain(conn, NOW + timedelta(days=1), 30, 7)  # the first day dropped
    after_drop = await agrees(history_db, kept)
    assert START not in after_drop

    await SERVICE_CLI.rebuild(database_url)
    assert await agrees(history_db, kept) == after_drop
    _, read = await series(history_db, kept)
    assert read == 2  # kept again
