"""A database link that hangs fails a request within the pool's timeouts, answered 503."""

from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from fastapi import FastAPI

from chime_kit.db import create_pool
from chime_kit.faulty_link import faulty_link
from chime_kit.http import install_http_edges

pytestmark = pytest.mark.integration


async def test_a_request_on_a_hung_database_link_answers_503_instead_of_waiting(database_url):
    pg = urlsplit(database_url)
    async with faulty_link(pg.hostname or "127.0.0.1", pg.port or 5432) as link:
        dsn = urlunsplit(pg._replace(netloc=f"{pg.username}@127.0.0.1:{link.port}"))
        pool = await create_pool(
            dsn, "public", min_size=1, max_size=1, acquire_timeout=0.5, command_timeout=0.5
        )
        app = FastAPI()
        install_http_edges(app, "demo", max_body_bytes=1024)

        @app.get("/answer")
        async def answer() -> int:
            return int(await pool.fetchval("SELECT 42"))

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/answer")).json() == 42
            link.hold()
            # The pooled connection's command times out...
            first = await client.get("/answer")
            # ...and a new one cannot be opened through the link either.
            link.cut()
            second = await client.get("/answer")
            link.release()
        pool.terminate()
    for response in (first, second):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "2"
