"""Fixtures of the history tests; their helpers are in history_support beside this file."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from chime_api.bootstrap import MIGRATIONS, SERVICE
from chime_api.history.adapters.partitions import maintain
from chime_kit.db import create_pool
from chime_kit.runtime import run_migrations

sys.path.insert(0, str(Path(__file__).parent))
from history_support import NOW


@pytest.fixture
async def history_db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The api's schema with history partitions for 30 days before NOW and 7 after."""
    await run_migrations(database_url, SERVICE, MIGRATIONS)
    pool = await create_pool(database_url, SERVICE, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await maintain(conn, NOW, 30, 7)
    try:
        yield pool
    finally:
        await pool.close()
