"""The kit's share of an update: CPU of one handler's transaction, client and server.

    uv run python bench/e2e/kit.py [--transactions 3000] [--rounds 3]

What every consumed event costs in the kit whatever the handler does: a transaction from
the pool, a unit of work caused by the event, two events recorded in a new stream (an
append of several), one more emitted, the outbox rows written at the commit, the trace
context of the current span carried, the consumer's read of the next message's trace
context. Measured as this process's CPU and the CPU of the pool's one PostgreSQL backend
(/proc) per transaction, so two checkouts compare on the same machine in the same minutes
(the e2e run's figures move with everything else running). Its own database, dropped at the
end. Run it from each checkout: `cd <checkout> && uv run python <this file>`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

import asyncpg

from chime_contracts.envelope import envelope_of
from chime_contracts.events import UserStarted
from chime_kit.db import create_pool
from chime_kit.migrator import kit_migrations
from chime_kit.telemetry import context_from, continuing
from chime_kit.unit_of_work import transaction

POSTGRES = os.environ.get("CHIME_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def backend_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_round(dsn: str, transactions: int, first: int) -> tuple[float, float, float]:
    """Client and backend CPU, and wall time, per transaction (µs)."""
    pool = await create_pool(dsn, "bench", min_size=1, max_size=1)
    try:
        pid = int(await pool.fetchval("SELECT pg_backend_pid()"))
        cause = envelope_of(UserStarted(bot_id=1, chat_id=1, user_id=1), producer="ingest")
        headers = {"traceparent": TRACEPARENT, "x-delivery-count": 0}
        client, server, wall = time.process_time(), backend_seconds(pid), time.perf_counter()
        for n in range(first, first + transactions):
            context_from(headers)
            with continuing(TRACEPARENT):
                async with transaction(pool, "bench") as tx:
                    uow = tx.unit(cause)
                    started = [UserStarted(bot_id=1, chat_id=n, user_id=k) for k in (n, n + 1)]
                    await uow.record(f"chat-{n}", 0, *started)
                    await uow.emit(UserStarted(bot_id=2, chat_id=n, user_id=n))
        per = 1e6 / transactions
        return (
            (time.process_time() - client) * per,
            (backend_seconds(pid) - server) * per,
            (time.perf_counter() - wall) * per,
        )
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    name = f"chime_kitbench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    try:
        conn = await asyncpg.connect(dsn)
        await conn.execute("CREATE SCHEMA bench; SET search_path TO bench")
        for migration in kit_migrations():
            await conn.execute(migration.sql)
        await conn.close()
        await one_round(dsn, 300, 0)  # warm: statements prepared, codecs loaded
        rounds = [
            await one_round(dsn, args.transactions, (r + 1) * 1_000_000) for r in range(args.rounds)
        ]
        print(
            f"{args.rounds} rounds of {args.transactions} transactions, load"
            f" {os.getloadavg()[0]:.1f}; µs per transaction, median (min):"
        )
        for i, label in enumerate(("client CPU", "backend CPU", "wall")):
            values = [r[i] for r in rounds]
            print(f"  {label:12s} {statistics.median(values):8.1f}  ({min(values):.1f})")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
