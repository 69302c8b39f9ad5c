"""Firing throughput: claiming from the due index versus loading every fired reminder's stream.

Usage: uv run python bench/scheduler/run.py [--reminders 10000] [--batch 1000] [--rounds 2]

Each round seeds `--reminders` reminders, all due, through the scheduler's own handler (so
streams, projection and outbox are as in production), then fires them all, `--batch` per
transaction, two ways: `index` is the scheduler's firing (a bulk claim from the reminders
projection, one bulk append and one outbox write per batch); `streams` also loads and folds
each claimed reminder's stream before appending, as deciding every firing from its stream
would. Rounds alternate because the machine is shared. Each round runs in a schema of its
own in a database of its own, dropped at the end. No broker is involved.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from chime_contracts.envelope import envelope_of
from chime_contracts.events import ReminderRequested
from chime_kit.db import create_pool
from chime_kit.event_store import decode
from chime_kit.migrator import migrate
from chime_kit.unit_of_work import unit_of_work
from chime_scheduler import handlers
from chime_scheduler.adapters.postgres import PostgresReminders
from chime_scheduler.domain.reminders import REMINDER, Reminder, stream_id

POSTGRES = os.environ.get("CHIME_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


class LoadingEachStream(PostgresReminders):
    """The due index, but every claimed reminder is also checked against its own stream."""

    async def claim_due(self, now: datetime, limit: int) -> list[Reminder]:
        claimed = await super().claim_due(now, limit)
        for reminder in claimed:
            rows = await self.conn.fetch(
                "SELECT version, envelope FROM events WHERE stream_id = $1 ORDER BY version",
                stream_id(reminder.id),
            )
            state = REMINDER.fold(decode(r["envelope"]) for r in rows)
            assert state.status == "scheduled"
            assert rows[-1]["version"] == reminder.version - 1
        return claimed


async def seed(pool: asyncpg.Pool, n: int) -> None:
    due = datetime.now(UTC) - timedelta(seconds=1)
    for start in range(0, n, 500):
        async with unit_of_work(pool, "scheduler") as uow:
            for i in range(start, min(n, start + 500)):
                request = envelope_of(
                    ReminderRequested(
                        reminder_id=f"b{i}", bot_id=1, chat_id=i, user_id=i, text="tea",
                        due_at=due, time_zone="UTC", phrase="in 1s",
                    ),
                    producer="bench",
                )  # fmt: skip
                await handlers.schedule_reminder(uow, PostgresReminders(uow.conn), request)


async def fire_all(pool: asyncpg.Pool, batch: int, loading: bool) -> float:
    started = time.perf_counter()
    while True:
        async with unit_of_work(pool, "scheduler") as uow:
            projection = (LoadingEachStream if loading else PostgresReminders)(uow.conn)
            fired = await handlers.fire_due_reminders(uow, projection, datetime.now(UTC), batch)
        if not fired:
            return time.perf_counter() - started


async def one_round(dsn: str, n: int, batch: int, loading: bool) -> float:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, schema, "chime_scheduler.migrations")
    finally:
        await conn.close()
    pool = await create_pool(dsn, schema, min_size=1, max_size=2)
    try:
        await seed(pool, n)
        await pool.execute("VACUUM ANALYZE reminders")
        seconds = await fire_all(pool, batch, loading)
        assert await pool.fetchval("SELECT count(*) FROM reminders WHERE state = 'fired'") == n
        return n / seconds
    finally:
        await pool.close()


async def main(n: int, batch: int, rounds: int) -> None:
    name = f"chime_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = urlsplit(POSTGRES)._replace(path=f"/{name}").geturl()
    results: dict[str, list[float]] = {"index": [], "streams": []}
    try:
        version = str(await admin.fetchval("SELECT version()")).split(" on ")[0]
        for _ in range(rounds):
            for kind in results:
                results[kind].append(await one_round(dsn, n, batch, kind == "streams"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    conditions: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(), "python": platform.python_version(), "postgresql": version,
        "reminders per round": n, "batch": batch, "rounds": rounds,
    }  # fmt: skip
    for key, value in conditions.items():
        print(f"{key:>20}: {value}")
    for kind, rates in results.items():
        print(
            f"{kind:>20}: median {statistics.median(rates):,.0f} fires/s"
            f"  (rounds: {', '.join(f'{r:,.0f}' for r in rates)})"
        )
    ratio = statistics.median(results["streams"]) / statistics.median(results["index"])
    print(f"{'streams / index':>20}: {ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.reminders, args.batch, args.rounds))
