"""What each history read costs, alone: wall time, the CPU of the reading process and of
its PostgreSQL backend, and the plan.

Usage: uv run python bench/history/reads.py [--dsn DSN] [--keep] [--repeat 1000] [--plans]
       [--chats 10000] [--big 20] [--big-messages 10000] [--messages 20]

Without `--dsn` it makes a database and loads it as `run.py` does (the same 30 days, folded
by the projection's replay), and drops it at the end unless `--keep` (then it prints the
DSN to pass next time). Each read runs `--repeat` times one after the other on one
connection (no other reads beside it; whatever else runs on the machine does): last 20 of
a random chat (most have 20 messages in 30 days, so few of them in the last day) and of a
big chat, a 24-hour range of a big chat (a page of up to 500), and a 30-day hourly series
of a random chat and of the whole (720 zero-filled points with p50/p95). Printed per read:
wall p50 / p99, the reading process's CPU per read and the backend's (from its
/proc/<pid>/stat, so PostgreSQL on the same machine; 10 ms ticks summed over all repeats).
With `--plans`, `EXPLAIN (ANALYZE, BUFFERS)` of each read's statements.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import run

from chime_api.bootstrap import MIGRATIONS, SERVICE
from chime_api.history.adapters import queries
from chime_api.history.adapters.log import HistoryReplay
from chime_api.history.adapters.partitions import maintain
from chime_api.history.domain.buckets import Granularity
from chime_api.history.domain.series import zero_filled
from chime_kit.db import create_pool
from chime_kit.runtime import run_migrations

TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) a local PostgreSQL backend has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def prepare(dsn: str, args: argparse.Namespace) -> None:
    await run_migrations(dsn, SERVICE, MIGRATIONS)
    pool = await create_pool(dsn, SERVICE, min_size=1, max_size=2)
    try:
        now = datetime.now(UTC)
        async with pool.acquire() as conn:
            await maintain(conn, now, run.DAYS, 7)
        facts, seconds = await run.load(pool, args, now)
        async with pool.acquire() as conn, conn.transaction():
            await HistoryReplay(conn).replay(1000)
        async with pool.acquire() as conn:
            await conn.execute("ANALYZE")
        print(f"loaded {facts} facts ({seconds:.0f} s to the log, then replayed)")
    finally:
        await pool.close()


def reads(args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    ids = run.chat_ids(args.chats)
    now = datetime.now(UTC)
    start = (now - timedelta(days=run.DAYS)).replace(minute=0, second=0, microsecond=0)

    async def series(conn: Any, scope: str, scope_id: str) -> None:
        end = datetime.now(UTC)
        rows = await queries.rollups(conn, scope, scope_id, Granularity.HOUR, start, end)
        points = zero_filled(rows, start, end, Granularity.HOUR)
        [p.latency_p50_p95_ms() for p in points]

    async def between(conn: Any) -> None:
        end = datetime.now(UTC)
        chat = rng.choice(ids[: args.big])
        await queries.between(conn, run.BOT, chat, end - timedelta(days=1), end, None, 500)

    return {
        "last 20, a random chat": lambda c: queries.last(c, run.BOT, rng.choice(ids), 20),
        "last 20, a big chat": lambda c: queries.last(c, run.BOT, rng.choice(ids[: args.big]), 20),
        "24 h range, a big chat": between,
        "30-day hourly series, a chat": lambda c: series(c, "chat", f"{run.BOT}:{rng.choice(ids)}"),
        "30-day hourly series, global": lambda c: series(c, "global", ""),
    }


async def measure(dsn: str, args: argparse.Namespace) -> None:
    pool = await create_pool(dsn, SERVICE, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            print(f"load avg {os.getloadavg()[0]:.2f}; {args.repeat} of each read, one at a time")
            for name, read in reads(args, random.Random(5)).items():
                await timed(conn, pid, name, read, args.repeat)
            print(f"load avg {os.getloadavg()[0]:.2f}")
            if args.plans:
                await plans(conn, args)
    finally:
        await pool.close()


async def timed(
    conn: Any, pid: int, name: str, read: Callable[[Any], Awaitable[Any]], repeat: int
) -> None:
    for _ in range(min(50, repeat)):  # warm: statements prepared, caches filled
        await read(conn)
    walls = []
    cpu, server = time.process_time(), backend_cpu(pid)
    for _ in range(repeat):
        t = time.perf_counter()
        await read(conn)
        walls.append((time.perf_counter() - t) * 1000)
    cpu = (time.process_time() - cpu) * 1000 / repeat
    server = (backend_cpu(pid) - server) * 1000 / repeat
    print(f"  {name:31} wall p50 {run.pct(walls, 0.5):6.2f}  p99 {run.pct(walls, 0.99):6.2f} ms"
          f"   CPU per read: client {cpu:5.2f} ms, server {server:5.2f} ms")  # fmt: skip


async def plans(conn: Any, args: argparse.Namespace) -> None:
    """The plans of the reads' statements, as asyncpg runs them (prepared, parameters)."""
    big = run.chat_ids(args.chats)[0]
    small = run.chat_ids(args.chats)[-1]
    now = datetime.now(UTC)
    captured: list[tuple[str, tuple[Any, ...]]] = []

    class Capture:
        async def fetch(self, sql: str, *params: Any) -> list[Any]:
            captured.append((sql, params))
            return list(await conn.fetch(sql, *params))

    start = now - timedelta(days=run.DAYS)
    await queries.last(Capture(), run.BOT, small, 20)  # type: ignore[arg-type]
    await queries.between(Capture(), run.BOT, big, now - timedelta(days=1), now, None, 500)  # type: ignore[arg-type]
    await queries.rollups(Capture(), "chat", f"{run.BOT}:{small}", Granularity.HOUR, start, now)  # type: ignore[arg-type]
    await queries.rollups(Capture(), "global", "", Granularity.HOUR, start, now)  # type: ignore[arg-type]
    for sql, params in captured:
        print(f"\n-- {' '.join(sql.split())[:150]}\n-- {params}")
        for row in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *params):
            print(row[0])


async def main(args: argparse.Namespace) -> None:
    if args.dsn:
        await measure(args.dsn, args)
        return
    name = f"chime_bench_reads_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(run.POSTGRES)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = urlsplit(run.POSTGRES)._replace(path=f"/{name}").geturl()
    try:
        await prepare(dsn, args)
        await measure(dsn, args)
    finally:
        if args.keep:
            print(f"kept: --dsn {dsn}")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="a database loaded before (--keep), reused as it is")
    parser.add_argument("--keep", action="store_true", help="keep the database made here")
    parser.add_argument("--repeat", type=int, default=1000)
    parser.add_argument("--plans", action="store_true")
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=20)
    parser.add_argument("--big-messages", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=20)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(_arguments()))
