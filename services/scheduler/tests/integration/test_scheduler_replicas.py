"""Several firing processes at once, and one killed with SIGKILL mid-batch: every
occurrence fires exactly once, recorded once in its stream and sent once."""

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from chime_contracts.events.schedules import OnceSpec, RRuleSpec
from chime_kit.db import create_pool
from chime_kit.migrator import migrate
from chime_scheduler.adapters.bulk import load_schedules

from .flow import schedule_request

pytestmark = pytest.mark.integration
PROCESS = Path(__file__).with_name("firing_process.py")


async def load(database_url, requests):
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn, "scheduler", "chime_scheduler.migrations")
    finally:
        await conn.close()
    pool = await create_pool(database_url, "scheduler", min_size=1, max_size=2)
    async with pool.acquire() as conn, conn.transaction():
        created, rejected = await load_schedules(conn, requests)
    assert rejected == 0
    return pool, created


def replica(database_url, seconds, batch=200, idle=None):
    more = [] if idle is None else [str(idle)]
    return subprocess.Popen(
        [sys.executable, str(PROCESS), database_url, str(seconds), str(batch), *more],
        stdout=subprocess.PIPE, text=True, env=os.environ.copy(),
    )  # fmt: skip


async def deliveries(pool):
    rows = await pool.fetch(
        "SELECT d ->> 'delivery_id' AS id FROM outbox,"
        " jsonb_array_elements(convert_from(body, 'UTF8')::jsonb #> '{data,deliveries}') d"
        " WHERE routing_key = 'send.batch.requested.v1'"
    )
    return [r["id"] for r in rows]


async def fired_events(pool):
    return await pool.fetchval("SELECT count(*) FROM events WHERE type = 'schedule.fired.v1'")


async def test_three_replicas_fire_each_occurrence_exactly_once(database_url):
    now = datetime.now(UTC)
    due = (now + timedelta(seconds=4)).replace(microsecond=0)
    requests = [
        schedule_request(f"o{n}", OnceSpec(at=due + timedelta(milliseconds=n % 1000)),
                         chat_id=n, requested_at=now)
        for n in range(2400)
    ] + [
        schedule_request(f"m{n}", RRuleSpec(rrule="FREQ=MINUTELY", starts_at=due), chat_id=n,
                         requested_at=now)
        for n in range(600)
    ]  # fmt: skip
    pool, created = await load(database_url, requests)
    try:
        assert created == 3000
        # Each works until the due time has passed and then nothing is left.
        replicas = [replica(database_url, 60, idle=6.0) for _ in range(3)]
        counts = [int(p.communicate(timeout=60)[0]) for p in replicas]
        sent = await deliveries(pool)
        assert sum(counts) == len(sent) == len(set(sent)) == 3000
        assert await fired_events(pool) == 3000
        assert sum(1 for c in counts if c) >= 2  # the replicas shared the work
        late = await pool.fetchval(
            "SELECT count(*) FROM schedules WHERE id LIKE 'm%' AND next_at <> $1", due
            + timedelta(minutes=1),
        )  # fmt: skip
        assert late == 0
    finally:
        await pool.close()


async def test_a_replica_killed_mid_batch_loses_and_doubles_nothing(database_url):
    now = datetime.now(UTC)
    requests = [
        schedule_request(f"k{n}", OnceSpec(at=now + timedelta(seconds=3)), chat_id=n,
                         requested_at=now)
        for n in range(20_000)
    ]  # fmt: skip
    pool, created = await load(database_url, requests)
    try:
        assert created == 20_000
        doomed = replica(database_url, 120, batch=500)
        while await fired_events(pool) < 500:
            await asyncio.sleep(0.05)
        doomed.send_signal(signal.SIGKILL)
        doomed.communicate(timeout=10)  # reaps it and closes its pipe
        assert await fired_events(pool) < 20_000  # killed with work left
        survivors = [replica(database_url, 60, batch=500, idle=1.0) for _ in range(2)]
        for p in survivors:
            p.communicate(timeout=60)
        sent = await deliveries(pool)
        assert len(sent) == len(set(sent)) == 20_000
        assert await fired_events(pool) == 20_000
        assert await pool.fetchval("SELECT count(*) FROM schedules WHERE status = 'active'") == 0
    finally:
        await pool.close()
