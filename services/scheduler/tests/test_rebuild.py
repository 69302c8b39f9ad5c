"""`python -m chime_scheduler rebuild` re-derives the reminders projection from the streams,
row for row, after a workload of duplicates, racing replicas and firing."""

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import ReminderRequested
from chime_kit.testing import table_rows
from chime_scheduler.bootstrap import build
from chime_scheduler.settings import SchedulerSettings

pytestmark = pytest.mark.integration


def request(n: int, due_at: datetime):
    return envelope_of(
        ReminderRequested(
            reminder_id=f"w{n}", bot_id=1 + n % 3, chat_id=n % 17, user_id=n, text=f"note {n}",
            due_at=due_at, time_zone="Europe/Kyiv", phrase="in 1s",
        ),
        producer="ingest",
    )  # fmt: skip


def rebuild(database_url: str) -> str:
    env = {
        **os.environ,
        "CHIME_SCHEDULER_DATABASE_URL": database_url,
        "CHIME_SCHEDULER_LOG_JSON": "false",
    }
    done = subprocess.run(
        [sys.executable, "-m", "chime_scheduler", "rebuild"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return done.stderr + done.stdout


async def test_rebuilt_reminders_equal_the_live_projection(database_url):
    settings = SchedulerSettings(database_url=database_url, fire_batch_size=25)
    schedulers = [await build(settings) for _ in range(2)]
    now = datetime.now(UTC)
    requests = [
        request(n, now - timedelta(seconds=1) if n % 2 else now + timedelta(hours=n + 1))
        for n in range(120)
    ]
    try:
        # Every request reaches both replicas, some twice: each is recorded once.
        async def deliver(scheduler, envelopes):
            for e in envelopes:
                await scheduler.runtime.broker.deliver(e)

        await asyncio.gather(
            deliver(schedulers[0], requests), deliver(schedulers[1], requests + requests[:10])
        )

        fired = await asyncio.gather(*(s.firing.fire_until_idle() for s in schedulers))
        assert sum(fired) == 60
        pool = schedulers[0].runtime.pool
        live = await table_rows(pool, "reminders")
        assert len(live) == 120
        events = await pool.fetchval("SELECT count(*) FROM events")
        assert events == 120 * 2 + 60

        output = await asyncio.to_thread(rebuild, database_url)
        assert "from 300 events" in output
        assert await table_rows(pool, "reminders") == live
        assert await schedulers[0].firing.fire_once() == 0
    finally:
        for scheduler in schedulers:
            await scheduler.runtime.pool.close()
