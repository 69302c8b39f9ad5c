"""What the one-process scheduler benches (`load_cpu.py`, `fire_cpu.py`) set up alike: a
database and a vhost of the run's own (the relay bench's `Environment`, dropped at the
end), the scheduler's schema migrated into it, and a small pool on it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from chime_kit.db import create_pool
from chime_kit.migrator import migrate

HERE = Path(__file__).resolve().parent
CHUNK = 20_000  # requests built and loaded per transaction

_relay = importlib.util.spec_from_file_location("relay_bench", HERE.parent / "relay" / "run.py")
assert _relay is not None
assert _relay.loader is not None
relay_bench = importlib.util.module_from_spec(_relay)
sys.modules["relay_bench"] = relay_bench
_relay.loader.exec_module(relay_bench)


@asynccontextmanager
async def scheduler_database() -> AsyncIterator[tuple[Any, asyncpg.Pool]]:
    """(the environment: `dsn`, `amqp_url`; a one-connection pool on the migrated schema)."""
    async with relay_bench.Environment() as env:
        conn = await asyncpg.connect(env.dsn)
        try:
            await migrate(conn, "scheduler", "chime_scheduler.migrations")
        finally:
            await conn.close()
        pool = await create_pool(env.dsn, "scheduler", min_size=1, max_size=1)
        try:
            yield env, pool
        finally:
            await pool.close()
