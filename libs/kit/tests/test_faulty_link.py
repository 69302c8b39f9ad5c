import asyncio
from urllib.parse import urlsplit

import asyncpg
import pytest

from chime_kit.faulty_link import faulty_link

pytestmark = pytest.mark.integration


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host).geturl()


async def test_a_cut_drops_open_connections_and_new_ones_pass(database_url):
    target = urlsplit(database_url)
    async with faulty_link(target.hostname or "127.0.0.1", target.port or 5432) as link:
        conn = await asyncpg.connect(_through(database_url, link.port))
        assert await conn.fetchval("SELECT 1") == 1
        assert link.cut() == 1
        with pytest.raises((asyncpg.ConnectionDoesNotExistError, ConnectionError, OSError)):
            await conn.fetchval("SELECT 1")
        again = await asyncpg.connect(_through(database_url, link.port))
        assert await again.fetchval("SELECT 2") == 2
        await again.close()


async def test_down_refuses_new_connections_until_it_is_up(database_url):
    target = urlsplit(database_url)
    async with faulty_link(target.hostname or "127.0.0.1", target.port or 5432) as link:
        link.down(30)
        with pytest.raises((ConnectionError, OSError, asyncpg.PostgresError)):
            await asyncpg.connect(_through(database_url, link.port), timeout=2)
        link.up()
        conn = await asyncpg.connect(_through(database_url, link.port))
        assert await conn.fetchval("SELECT 3") == 3
        await conn.close()


async def test_hold_keeps_the_answer_until_release(database_url):
    target = urlsplit(database_url)
    async with faulty_link(target.hostname or "127.0.0.1", target.port or 5432) as link:
        conn = await asyncpg.connect(_through(database_url, link.port))
        link.hold()
        query = asyncio.create_task(conn.fetchval("SELECT 4"))
        await asyncio.sleep(0.2)
        assert not query.done()
        link.release()
        assert await query == 4
        await conn.close()
