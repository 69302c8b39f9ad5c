"""History's reads: the newest messages of a chat read from the last day's partitions
first, and from before it when the day had fewer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from history_support import BOT, NOW, apply, received

from chime_api.history.adapters import queries

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
