"""`GET /v1/chats` on ~100k chats: every shape of the listing (filters, cursor) walks the
`chat_listing_page` index and stops at its limit, checks its filters on the chats by key,
and never reads a whole table nor sorts one."""

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from chime_api.adapters.chats import PostgresChats, _page_query
from chime_api.bootstrap import MIGRATIONS, SERVICE
from chime_api.domain.chats import ChatFilter
from chime_kit.db import create_pool
from chime_kit.migrator import migrate

pytestmark = pytest.mark.integration
CHATS = 100_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)

# One bot per chat, a second bot on every tenth; one chat in fifty blocked, languages mixed.
_FILL = [
    "INSERT INTO chats (bot_id, chat_id, version, language, first_seen_at, blocked)"
    " SELECT 7, n, 1, (ARRAY['uk', 'en', 'de', 'pl'])[1 + n % 4],"
    " $1::timestamptz + n * interval '1 minute', n % 50 = 0 FROM generate_series(1, $2) AS n",
    "INSERT INTO chats (bot_id, chat_id, version, language, first_seen_at, blocked)"
    " SELECT 8, n, 1, 'en', $1::timestamptz + n * interval '1 minute' + interval '1 day',"
    " false FROM generate_series(10, $2, 10) AS n",
]


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += nodes(child)
    return found


@pytest.fixture
async def pool(database_url: str) -> Any:
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn, SERVICE, MIGRATIONS)
    finally:
        await conn.close()
    pool = await create_pool(database_url, SERVICE, min_size=1, max_size=2)
    async with pool.acquire() as conn:
        for statement in _FILL:
            await conn.execute(statement, T0, CHATS)
        # What the projection keeps beside the chats (and the migration backfills).
        await conn.execute(
            "INSERT INTO chat_listing SELECT chat_id, min(first_seen_at) FROM chats"
            " GROUP BY chat_id"
        )
        await conn.execute("ANALYZE chats; ANALYZE chat_listing")
    yield pool
    await pool.close()


SHAPES = [
    ChatFilter(),
    ChatFilter(bot_id=8),
    ChatFilter(blocked=True),
    ChatFilter(language="uk", blocked=False),
    ChatFilter(bot_id=7, language="de"),
]


async def test_every_listing_shape_walks_the_index(pool: Any):
    """One database for every shape: filling 100k chats is the slow part."""
    times = {}
    for where in SHAPES:
        for paged in (False, True):
            query, names = _page_query(where, paged)
            args: list[Any] = [21, *(getattr(where, n) for n in names)]
            if paged:
                args += [T0 + CHATS // 2 * timedelta(minutes=1), CHATS // 2]
            async with pool.acquire() as conn:
                [row] = await conn.fetch(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}", *args)
            plan = row[0][0]  # the pool decodes json itself
            every = nodes(plan["Plan"])
            kinds = {(n["Node Type"], n.get("Relation Name")) for n in every}
            assert ("Index Scan", "chat_listing") in kinds or (
                "Index Only Scan", "chat_listing",
            ) in kinds, (where, paged, kinds)  # fmt: skip
            slow = [n for n in every if n["Node Type"] in ("Seq Scan", "Sort", "HashAggregate")]
            assert not slow, (where, paged, kinds)
            walked = max(
                n["Actual Rows"] * n.get("Actual Loops", 1)
                for n in every
                if n.get("Relation Name") == "chat_listing"
            )
            # A filter as rare as one chat in fifty walks about a thousand entries, never all.
            assert walked < CHATS / 20, (where, paged, walked)
            times[where, paged] = plan["Execution Time"]
    # Milliseconds on a shared machine; the unindexed GROUP BY took hundreds here.
    assert max(times.values()) < 100, times


async def test_pages_follow_one_another_without_gaps(pool: Any):
    seen: list[int] = []
    after = None
    async with pool.acquire() as conn:
        chats = PostgresChats(conn)
        for _ in range(5):
            page = await chats.page(ChatFilter(blocked=True), 7, after)
            seen += [c.chat_id for c in page]
            after = (page[-1].first_seen_at, page[-1].chat_id)
    assert seen == list(range(CHATS - CHATS % 50, CHATS - 35 * 50, -50))
