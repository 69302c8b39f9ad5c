"""Rebuilding a projection: readers keep the old rows until the commit, writers wait for it,
and the replay goes through the projection's own `apply`."""

import asyncio
from collections.abc import Sequence

import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import UserStarted
from chime_kit import event_store
from chime_kit.db import Connection
from chime_kit.event_store import Recorded
from chime_kit.projection import rebuild
from chime_kit.testing import eventually, table_rows

pytestmark = pytest.mark.integration


class Notes:
    """A projection of `user.started.v1` into the demo schema's `notes`; it can be held
    mid-replay so the test can look at the database meanwhile."""

    tables = ("notes",)

    def __init__(self, conn: Connection, hold: asyncio.Event | None = None) -> None:
        self.conn, self.hold = conn, hold
        self.reached = asyncio.Event()

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            await self.conn.execute(
                "INSERT INTO notes (id, body) VALUES ($1, $2)",
                r.stream_id, f"v{r.version} chat {r.envelope.data.chat_id}",
            )  # fmt: skip
            if self.hold is not None:
                self.reached.set()
                await self.hold.wait()


async def test_readers_see_the_old_rows_and_writers_wait_until_the_rebuild_commits(runtime):
    pool = runtime.pool
    async with pool.acquire() as conn, conn.transaction():
        for n in range(3):
            envelope = envelope_of(UserStarted(bot_id=1, chat_id=n, user_id=n), producer="demo")
            recorded = await event_store.append_many(
                conn, [event_store.Append(f"s{n}", 0, [envelope])]
            )
            await Notes(conn).apply(recorded)
    live = await table_rows(pool, "notes")

    hold = asyncio.Event()
    async with pool.acquire() as conn:
        notes = Notes(conn, hold)
        rebuilding = asyncio.create_task(rebuild(conn, [notes], batch_size=1))
        await notes.reached.wait()  # the tables are emptied and the first row replayed
        assert await table_rows(pool, "notes") == live
        writer = asyncio.create_task(pool.execute("INSERT INTO notes VALUES ('x', 'y')"))

        async def writer_waits_on_a_lock() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"))

        await eventually(writer_waits_on_a_lock)
        hold.set()
        rebuilt = await rebuilding
        await writer
    assert rebuilt.events == 3
    assert await table_rows(pool, "notes") == sorted([*live, '{"id":"x","body":"y"}'])


class Replayed(Notes):
    """A projection with a log of its own: `rebuild` empties its table, then replays it."""

    async def replay(self, batch_size: int) -> int:
        await self.conn.execute("INSERT INTO notes (id, body) VALUES ('own', 'log')")
        return 1


async def test_a_projection_with_its_own_log_is_replayed_after_the_events(runtime):
    pool = runtime.pool
    await pool.execute("INSERT INTO notes (id, body) VALUES ('stale', 'row')")
    async with pool.acquire() as conn:
        rebuilt = await rebuild(conn, [Replayed(conn)])
    assert rebuilt.events == 1
    assert await table_rows(pool, "notes") == ['{"id":"own","body":"log"}']
