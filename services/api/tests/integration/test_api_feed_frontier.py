"""The feed reads what committed before its snapshot, even when an api transaction that
began after the snapshot was taken is running: its xid is past the snapshot's, not one of
the epoch before (which held the whole feed back)."""

from collections.abc import AsyncIterator

import asyncpg
import pytest

from chime_api.adapters.feed import feed_after
from chime_api.adapters.keys import PostgresKeys
from chime_api.adapters.notifications import PostgresNotifications
from chime_api.bootstrap import MIGRATIONS, SERVICE
from chime_api.domain.keys import Scope
from chime_api.handlers import keys, notifications
from chime_api.handlers.notifications import NotificationRequest
from chime_kit.db import create_pool
from chime_kit.runtime import run_migrations
from chime_kit.unit_of_work import unit_of_work

pytestmark = pytest.mark.integration
TYPES = ["notification.requested.v1"]


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await run_migrations(database_url, SERVICE, MIGRATIONS)
    pool = await create_pool(database_url, SERVICE, min_size=2, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


async def test_a_transaction_begun_after_the_snapshot_holds_nothing_back(pool) -> None:
    async with unit_of_work(pool, SERVICE) as uow:
        key, _ = await keys.create_api_key(
            uow, PostgresKeys(uow.conn), keys.NewKey("feed", frozenset({Scope.NOTIFY}), "t")
        )
    for chat in (1, 2):
        async with unit_of_work(pool, SERVICE) as uow:
            request = NotificationRequest(chat_id=chat, bot_id=7, text="x")
            await notifications.request_notification(
                uow, PostgresNotifications(uow.conn), key, request
            )
    async with (
        pool.acquire() as reader,
        pool.acquire() as writer,
        reader.transaction(isolation="repeatable_read"),
    ):
        await reader.fetchval("SELECT 1")  # the reader's snapshot is taken here
        await writer.fetchval("SELECT txid_current()")  # one xid used up since
        async with writer.transaction():
            later = await writer.fetchval("SELECT txid_current()")  # an api xid, after it
            snapshot_xmax = await reader.fetchval(
                "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
            )
            assert later > snapshot_xmax
            seen = await feed_after(reader, key.owner, 0, TYPES)
    assert [e.type for e in seen] == TYPES * 2
