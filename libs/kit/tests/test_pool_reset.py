"""A released connection is reset only when its statements may have left session state."""

import asyncpg
import pytest

from chime_kit.db import create_pool, may_leave_session_state

LEAVE_STATE = [
    "SELECT pg_advisory_lock($1)",
    "SELECT pg_advisory_lock_shared($1, $2)",
    "SELECT pg_try_advisory_lock($1, $2)",
    "select pg_advisory_unlock($1)",
    'LISTEN "new_delivery"',
    "UNLISTEN *",
    "SET search_path TO x",
    "set application_name = 'x'",
    'CREATE SCHEMA "s"; SET search_path TO "s"',
    "RESET ALL",
    "SELECT set_config('a.b', 'c', false)",
    "CREATE TEMP TABLE t (x int)",
    "CREATE TEMPORARY TABLE t (x int)",
    "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
    "PREPARE p AS SELECT 1",
    "DISCARD ALL",
]
STATELESS = [
    "SELECT 1",
    "SELECT pg_advisory_xact_lock($1)",
    "SELECT pg_try_advisory_xact_lock($1)",
    "SET LOCAL lock_timeout = '100ms'",
    "UPDATE deliveries SET state = 'sending' WHERE id = $1",
    "WITH taken AS (UPDATE deliveries d SET state = $1) SELECT * FROM taken",
    "INSERT INTO outbox (event_id) VALUES ($1) ON CONFLICT DO NOTHING",
    "SELECT pg_notify($1, '')",
]


@pytest.mark.unit
@pytest.mark.parametrize("query", LEAVE_STATE)
def test_statements_that_may_leave_session_state_are_told(query):
    assert may_leave_session_state(query)


@pytest.mark.unit
@pytest.mark.parametrize("query", STATELESS)
def test_plain_statements_leave_none(query):
    assert not may_leave_session_state(query)
    assert not may_leave_session_state(query)  # and again, from what was seen


async def _last_query_of(database_url: str, pid: int) -> str:
    other = await asyncpg.connect(database_url)
    try:
        return str(await other.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid))
    finally:
        await other.close()


async def _locks_of(database_url: str, pid: int) -> int:
    other = await asyncpg.connect(database_url)
    try:
        return int(
            await other.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1", pid
            )
        )
    finally:
        await other.close()


@pytest.mark.integration
async def test_a_transaction_of_plain_statements_is_released_without_a_reset(database_url):
    pool = await create_pool(database_url, "public", min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            await conn.execute("SELECT pg_advisory_xact_lock(42)")
        assert await _last_query_of(database_url, pid) == "COMMIT;"
    finally:
        await pool.close()


@pytest.mark.integration
async def test_session_state_is_reset_on_release_and_only_once(database_url):
    pool = await create_pool(database_url, "public", min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            await conn.execute("SELECT pg_advisory_lock(4242)")
            await conn.execute("SET application_name = 'changed'")
        assert await _locks_of(database_url, pid) == 0
        assert "RESET ALL" in await _last_query_of(database_url, pid)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == pid
            assert await conn.fetchval("SHOW application_name") == "chime-public"
            await conn.fetchval("SELECT 2")
        assert await _last_query_of(database_url, pid) == "SELECT 2"
    finally:
        await pool.close()


@pytest.mark.integration
async def test_a_pool_given_its_own_reset_keeps_it(database_url):
    released = []

    async def reset(conn: asyncpg.Connection) -> None:
        released.append(conn)

    pool = await create_pool(database_url, "public", min_size=1, max_size=1, reset=reset)
    try:
        async with pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock(4243)")
        assert len(released) == 1
    finally:
        await pool.close()
