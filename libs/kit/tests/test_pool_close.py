import asyncio
import time
from urllib.parse import urlsplit

import asyncpg
import pytest

from chime_kit.faulty_link import faulty_link
from chime_kit.runtime import close_pool

pytestmark = pytest.mark.integration


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    user, _, _ = parts.netloc.rpartition("@")
    host = f"127.0.0.1:{port}"
    return parts._replace(netloc=f"{user}@{host}" if user else host).geturl()


async def test_a_pool_whose_server_stopped_answering_is_terminated_after_the_grace(
    database_url,
):
    target = urlsplit(database_url)
    async with faulty_link(target.hostname or "127.0.0.1", target.port or 5432) as link:
        pool = await asyncpg.create_pool(_through(database_url, link.port), min_size=1, max_size=1)
        link.hold()  # the server's answers never arrive: a query in flight never ends
        query = asyncio.create_task(pool.fetchval("SELECT 1"))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await close_pool(pool, grace=0.5)
        assert time.monotonic() - started < 5
        assert pool.is_closing()
        query.cancel()
        link.release()


async def test_a_healthy_pool_closes_gracefully(database_url):
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    assert await pool.fetchval("SELECT 2") == 2
    await close_pool(pool, grace=5)
    assert pool.is_closing()
