"""`rebuild` re-derives the chats projection from the chat streams, row for row, after many
chats started, chose zones (some racing on one chat) and asked for reminders; and the pools
projection from the assignment streams, after chats started front and worker bots at once."""

import asyncio

import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import UpdateReceived
from chime_ingest import handlers
from chime_ingest.__main__ import CLI
from chime_ingest.adapters.postgres import PostgresChats
from chime_ingest.domain.pools import Pool, Pools, encode_payload
from chime_kit.db import create_pool
from chime_kit.runtime import run_migrations
from chime_kit.testing import table_rows
from chime_kit.unit_of_work import unit_of_work

pytestmark = pytest.mark.integration

ZONES = ["Europe/Berlin", "Asia/Tokyo", "America/Chicago", "utc"]


def received(update_id: int, chat_id: int, text: str, bot_id: int | None = None):
    body = {
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1, "text": text,
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Cy"},
        },
    }  # fmt: skip
    return envelope_of(
        UpdateReceived(
            bot_id=1 + chat_id % 2 if bot_id is None else bot_id,
            update_id=update_id,
            kind="message",
            update=body,
        ),
        producer="ingest",
    )


async def test_rebuilt_chats_equal_the_live_projection(database_url):
    await run_migrations(database_url, "ingest", "chime_ingest.migrations")
    pool = await create_pool(database_url, "ingest", min_size=2, max_size=8)

    async def interpret(envelope):
        async with unit_of_work(pool, "ingest", envelope) as uow:
            await handlers.interpret_update(uow, envelope, default_time_zone="Europe/Kyiv")

    async def conversation(chat_id: int):
        base = chat_id * 100
        texts = ["/start", f"/tz {ZONES[chat_id % 4]}", "/remind in 1h x", "/start", "/tz"]
        for n, text in enumerate(texts[: 2 + chat_id % 4]):
            await interpret(received(base + n, chat_id, text))

    try:
        await asyncio.gather(*(conversation(c) for c in range(40)))
        # Several replicas deciding on one chat at once: each decision lands on its own version.
        await asyncio.gather(
            *(interpret(received(9000 + n, 7, "/tz Asia/Tokyo")) for n in range(4))
        )
        await asyncio.gather(*(interpret(received(9100 + n, 7, "/start")) for n in range(4)))
        live = await table_rows(pool, "chats")
        assert len(live) == 40
        assert await pool.fetchval(
            "SELECT count(*) FROM events WHERE stream_id = 'chat-2-7' AND type = 'user.started.v1'"
        ) == 4 + 2  # fmt: skip

        rebuilt = await CLI.rebuild(database_url)
        assert await table_rows(pool, "chats") == live
        assert rebuilt.tables == ("chats", "bots", "pool_assignments", "pool_loads")
        assert rebuilt.events == await pool.fetchval("SELECT count(*) FROM events")
    finally:
        await pool.close()


FRONT, WORKERS = 20, (21, 22, 23)
POOLS = Pools((Pool("main", FRONT, WORKERS, {23: 2.0}),))


async def test_rebuilt_pool_assignments_equal_the_live_projection(database_url):
    await run_migrations(database_url, "ingest", "chime_ingest.migrations")
    pool = await create_pool(database_url, "ingest", min_size=2, max_size=8)
    async with pool.acquire() as conn:
        for bot in WORKERS:
            await PostgresChats(conn).set_bot_username(bot, f"worker{bot}_bot")

    async def interpret(envelope):
        async with unit_of_work(pool, "ingest", envelope) as uow:
            await handlers.interpret_update(uow, envelope, "UTC", POOLS)

    async def person(chat_id: int):
        base = 100_000 + chat_id * 10
        if chat_id % 5 == 0:  # starts a worker directly
            await interpret(received(base, chat_id, "/start", WORKERS[chat_id % 3]))
            return
        await interpret(received(base, chat_id, "/start", FRONT))
        if chat_id % 2:  # follows the link (the worker is the one it was given)
            worker = await pool.fetchval(
                "SELECT bot_id FROM pool_assignments WHERE chat_id = $1", chat_id
            )
            payload = encode_payload("main", chat_id)
            await interpret(received(base + 1, chat_id, f"/start {payload}", worker))

    try:
        await asyncio.gather(*(person(c) for c in range(60)))
        # Several replicas deciding one chat's first /start at once: one assignment.
        await asyncio.gather(
            *(interpret(received(9200 + n, 999, "/start", FRONT)) for n in range(4))
        )
        live = [await table_rows(pool, t) for t in ("pool_assignments", "pool_loads")]
        assert len(live[0]) == 61
        assert sum(await pool.fetchval("SELECT array_agg(chats) FROM pool_loads")) == 61

        await CLI.rebuild(database_url)
        assert [await table_rows(pool, t) for t in ("pool_assignments", "pool_loads")] == live
    finally:
        await pool.close()
