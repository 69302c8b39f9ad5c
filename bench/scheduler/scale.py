"""The scheduler at scale: a million live schedules, a large share due in one short window.

Usage:
    uv run python bench/scheduler/scale.py [--schedules 1000000] [--due 200000]
        [--window 10] [--replicas 1 2] [--loaders 2] [--broadcast 100000]

1. Loads `--schedules` live schedules of mixed kinds (cron, RRULE, pings, one-shots) in 12
   zones through the scheduler's bulk loader (each decided by the same code as a request:
   stream events and projection row), in `--loaders` processes. The due share is loaded per
   round, so every round has `--due` fresh occurrences in its window.
2. For each count in `--replicas`: that many scheduler processes (the real service: firing
   loop and partitioned outbox relay, publisher confirms) fire the round's occurrences,
   which fall in a `--window`-second window. Printed: fires/s from the window's start until
   the last occurrence was confirmed by RabbitMQ, the firing lag (claim time minus scheduled
   instant, from the `schedule.fired.v1` events) p50/p99/max, and duplicates and misses
   among the deliveries of the `send.batch.requested.v1` (one per bot per firing batch) a
   queue bound to them received during the round.
3. A broadcast to `--broadcast` subscribers (a tenth of them blocked or stopped): the time
   from its start until every slice was confirmed by RabbitMQ, and whether the skipped
   chats were named (`broadcast.recipients.skipped.v1`), each once.

A database and a vhost of the run's own, dropped at the end. The machine is shared: the
load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import orjson

from chime_contracts.envelope import envelope_of
from chime_contracts.events import BroadcastRequested, SubscriptionChanged
from chime_contracts.events.schedules import MessageTemplate, ScheduleOwner
from chime_kit.broker import EVENTS
from chime_kit.db import create_pool
from chime_kit.migrator import migrate
from chime_scheduler.adapters.bulk import load_schedules
from chime_scheduler.domain.schedules import NextOccurrences
from chime_scheduler.entrypoints.service import create_service
from chime_scheduler.settings import SchedulerSettings

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from harness import CHUNK, relay_bench  # noqa: E402
from workload import background, due, minute_after  # noqa: E402


def conditions() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average {load}"


async def load_slice(dsn: str, kind: str, first: int, count: int, at: float, window: float
                     ) -> None:  # fmt: skip
    """One loader process: its slice of the schedules, CHUNK per transaction."""
    pool = await create_pool(dsn, "scheduler", min_size=1, max_size=1)
    now = datetime.now(UTC)
    occurrences = NextOccurrences()  # shared by the chunks: all requested at `now`
    try:
        for start in range(first, first + count, CHUNK):
            n = min(CHUNK, first + count - start)
            requests = (
                background(start, n, now) if kind == "background"
                else due(start, n, datetime.fromtimestamp(at, UTC), window, now)
            )  # fmt: skip
            async with pool.acquire() as conn, conn.transaction():
                await load_schedules(conn, requests, occurrences)
    finally:
        await pool.close()


def load(dsn: str, kind: str, first: int, count: int, loaders: int, at: float = 0.0,
         window: float = 0.0) -> tuple[float, float]:  # fmt: skip
    """Load in `loaders` processes at once; (seconds taken, the loaders' CPU seconds, their
    requests' building included)."""
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    share = -(-count // loaders)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "load",
                dsn,
                kind,
                str(first + i * share),
                str(min(share, count - i * share)),
                str(at),
                str(window),
            ]
        )
        for i in range(loaders)
        if count - i * share > 0
    ]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit("a loader failed")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the loaders: waited for above
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return time.perf_counter() - started, cpu


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_replicas(env: Any, replicas: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen([sys.executable, __file__, "replica", env.dsn, env.amqp_url])
        for _ in range(replicas)
    ]


async def replica(dsn: str, amqp_url: str) -> None:
    """One scheduler process, as deployed, until SIGTERM."""
    settings = SchedulerSettings(database_url=dsn, amqp_url=amqp_url, migrate_on_start=False,
                                 log_json=False)  # fmt: skip
    scheduler = await create_service(settings)
    await scheduler.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await scheduler.stop()


async def tap(amqp_url: str, key: str) -> tuple[aio_pika.abc.AbstractRobustConnection, Any]:
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=2000)
    exchange = await EVENTS.declare(channel)
    queue = await channel.declare_queue(f"bench.{key}", durable=True,
                                        arguments={"x-queue-type": "quorum"})  # fmt: skip
    await queue.bind(exchange, key)
    return connection, queue


async def drain(queue: Any, items: Callable[[dict[str, Any]], list[Any]], quiet: float = 2.0
                ) -> list[Any]:  # fmt: skip
    """What `items` finds in the data of every message of the tap, once none came for
    `quiet` seconds."""
    got: list[Any] = []

    async def take(message: Any) -> None:
        got.extend(items(orjson.loads(message.body)["data"]))

    tag = await queue.consume(take, no_ack=True)
    seen = -1
    while seen != len(got):
        seen = len(got)
        await asyncio.sleep(quiet)
    await queue.cancel(tag)
    return got


def occurrences(data: dict[str, Any]) -> list[str]:
    """The delivery ids of a firing batch's occurrences (a broadcast's slice has none)."""
    return [d["delivery_id"] for d in data.get("deliveries") or []]


def slice_chats(data: dict[str, Any]) -> list[int]:
    """The chats of a broadcast's slice (not of occurrences firing meanwhile)."""
    return list(data["chat_ids"]) if data["source"]["kind"] == "broadcast" else []


async def wait_published(pool: asyncpg.Pool, fired_type: str, want: int, since: datetime,
                         deadline: float) -> float | None:  # fmt: skip
    """When `want` events of the round were recorded and the outbox was empty."""
    while time.monotonic() < deadline:
        fired = await pool.fetchval(
            "SELECT count(*) FROM events WHERE type = $1 AND recorded_at >= $2", fired_type, since
        )
        if fired >= want and not await pool.fetchval("SELECT count(*) FROM outbox"):
            return time.time()
        await asyncio.sleep(0.1)
    return None


async def fire_round(env: Any, pool: asyncpg.Pool, replicas: int, first: int, count: int,
                     window: float, loaders: int, rate: float) -> dict[str, Any]:  # fmt: skip
    # Time to load the round's schedules (at the rate the background loaded) and start the
    # replicas before the window opens.
    lead = 20 + (1.5 * count / rate if rate > 0 else 60)  # no background: no rate known
    at = minute_after(datetime.now(UTC) + timedelta(seconds=lead))
    seconds, _ = load(env.dsn, "due", first, count, loaders, at.timestamp(), window)
    connection, queue = await tap(env.amqp_url, "send.batch.requested.v1")
    procs = start_replicas(env, replicas)
    try:
        left = (at - datetime.now(UTC)).total_seconds()
        assert left > 2, f"the round's window opened {-left:.1f}s before the replicas ran"
        done = await wait_published(pool, "schedule.fired.v1", count, at - timedelta(seconds=1),
                                    time.monotonic() + left + 300)  # fmt: skip
        load_avg = os.getloadavg()
        cpu = sum(cpu_seconds(p.pid) for p in procs)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
    lags = await pool.fetchrow(
        "WITH l AS (SELECT (envelope #>> '{data,fired_at}')::timestamptz AS f,"
        " extract(epoch FROM (envelope #>> '{data,fired_at}')::timestamptz"
        " - (envelope #>> '{data,occurrence}')::timestamptz) AS s FROM events"
        " WHERE type = 'schedule.fired.v1' AND recorded_at >= $1)"
        " SELECT count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50,"
        " percentile_cont(0.99) WITHIN GROUP (ORDER BY s) AS p99, max(s) AS max,"
        " extract(epoch FROM max(f) - min(f)) AS span FROM l",
        at - timedelta(seconds=1),
    )  # fmt: skip
    delivered = await drain(queue, occurrences)
    await connection.close()
    ids = {d.split(":")[1] for d in delivered}
    expected = {f"b{n}" for n in range(first, first + count)}
    return {
        "replicas": replicas, "due": count, "load_seconds": seconds,
        "seconds": None if done is None else done - at.timestamp(),
        "lag": dict(lags), "delivered": len(delivered),
        "duplicates": len(delivered) - len(set(delivered)), "misses": len(expected - ids),
        "load_average": load_avg, "cpu": cpu,
    }  # fmt: skip


async def broadcast_round(env: Any, pool: asyncpg.Pool, subscribers: int) -> dict[str, Any]:
    """Subscribers through the subscription projection's own fold (streams and rows), a
    tenth blocked or stopped; then one broadcast, from its start to the last slice
    confirmed by RabbitMQ."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        rows = [(f"subscription-1:bench:{c}", 1, f"bench-sub-{c}", "subscription.changed.v1",
                 envelope_of(SubscriptionChanged(bot_id=1, chat_id=c, topic="bench",
                                                 subscribed=True, changed_at=now),
                             producer="bench").model_dump(mode="json"))
                for c in range(subscribers)]  # fmt: skip
        await conn.set_type_codec(
            "jsonb", schema="pg_catalog", format="binary",
            encoder=lambda v: b"\x01" + orjson.dumps(v), decoder=lambda b: orjson.loads(b[1:]),
        )  # fmt: skip
        await conn.copy_records_to_table(
            "events", records=rows, columns=("stream_id", "version", "event_id", "type", "envelope")
        )
        await conn.copy_records_to_table(
            "subscriptions", records=[(1, "bench", c, now) for c in range(subscribers)],
            columns=("bot_id", "topic", "chat_id", "subscribed_at"),
        )  # fmt: skip
        await conn.execute("INSERT INTO topics VALUES (1, 'bench', $1, $2)", subscribers, now)
        await conn.copy_records_to_table(
            "chats", records=[(1, c, c % 20 == 0, c % 20 == 1) for c in range(0, subscribers, 10)],
            columns=("bot_id", "chat_id", "blocked", "stopped"),
        )  # fmt: skip
    skipped = [c for c in range(0, subscribers, 10) if c % 20 in (0, 1)]
    connection, queue = await tap(env.amqp_url, "send.batch.requested.v1")
    named_connection, named_queue = await tap(env.amqp_url, "broadcast.recipients.skipped.v1")
    scheduler = await create_service(SchedulerSettings(database_url=env.dsn, amqp_url=env.amqp_url,
                                              migrate_on_start=False, log_json=False))  # fmt: skip
    await scheduler.start()
    try:
        request = envelope_of(BroadcastRequested(
            broadcast_id="big", owner=ScheduleOwner(kind="api_key", id="bench"), bot_id=1,
            topic="bench", message=MessageTemplate(text="news"), requested_at=now,
        ), producer="bench")  # fmt: skip
        started = time.time()
        await scheduler.runtime.broker.deliver(request)
        scheduler.firing.wake()
        done = await wait_published(pool, "broadcast.started.v1", 1,
                                    now - timedelta(seconds=1), time.monotonic() + 120)  # fmt: skip
    finally:
        await scheduler.stop()
    chats = await drain(queue, slice_chats)
    await connection.close()
    named = await drain(named_queue, lambda data: data["chat_ids"])
    await named_connection.close()
    return {
        "subscribers": subscribers, "skipped": len(skipped), "handed": len(chats),
        "distinct": len(set(chats)), "seconds": None if done is None else done - started,
        "expected": subscribers - len(skipped), "named": len(named),
        "named_right": sorted(named) == skipped,
    }  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    async with relay_bench.Environment() as env:
        conn = await asyncpg.connect(env.dsn)
        try:
            await migrate(conn, "scheduler", "chime_scheduler.migrations")
            version = str(await conn.fetchval("SELECT version()")).split(" on ")[0]
        finally:
            await conn.close()
        pool = await create_pool(env.dsn, "scheduler", min_size=1, max_size=2)
        print(f"machine: {conditions()}, {version}")
        rounds = len(args.replicas)
        base = args.schedules - args.due
        seconds, cpu = load(env.dsn, "background", 0, base, args.loaders)
        print(f"loaded {base:,} background schedules in {seconds:.1f}s"
              f" ({base / seconds:,.0f}/s, {args.loaders} loaders;"
              f" {1e6 * cpu / max(base, 1):.0f} µs of their CPU each, requests' building"
              f" included); {conditions()}")  # fmt: skip
        for n, replicas in enumerate(args.replicas):
            result = await fire_round(env, pool, replicas, base + n * args.due, args.due,
                                      args.window, args.loaders, base / seconds)  # fmt: skip
            live = await pool.fetchval("SELECT count(*) FROM schedules WHERE status = 'active'")
            lag, secs = result["lag"], result["seconds"]
            print(
                f"round {n + 1}/{rounds}: {replicas} replica(s), {live:,} live schedules,"
                f" {args.due:,} due in {args.window:.0f}s (loaded in {result['load_seconds']:.1f}s)"
                f"\n  fires/s published: "
                + (f"{args.due / secs:,.0f} (all confirmed {secs:.1f}s after the window opened)"
                   if secs else "did not finish")
                + f"\n  claimed: {lag['n'] / max(lag['span'], 0.001):,.0f} fires/s from the first"
                f" claim to the last ({lag['span']:.1f}s)"
                + f"\n  firing lag: p50 {lag['p50']:.3f}s p99 {lag['p99']:.3f}s"
                f" max {lag['max']:.3f}s over {lag['n']:,}"
                f"\n  scheduler processes' CPU: {result['cpu']:.1f}s,"
                f" {1000 * result['cpu'] / max(lag['n'], 1):.2f} ms per fire (relay included)"
                f"\n  delivered {result['delivered']:,}, duplicates {result['duplicates']},"
                f" misses {result['misses']}; load average during: "
                + " ".join(f"{x:.2f}" for x in result["load_average"])
            )  # fmt: skip
        if args.broadcast:
            b = await broadcast_round(env, pool, args.broadcast)
            print(
                f"broadcast: {b['subscribers']:,} subscribers, {b['skipped']:,} blocked or"
                f" stopped skipped, {b['handed']:,} handed ({b['distinct']:,} distinct, expected"
                f" {b['expected']:,}) in "
                + (f"{b['seconds']:.2f}s" if b["seconds"] else "did not finish")
                + f"; {b['named']:,} skipped named"
                + (" (each skipped chat once)" if b["named_right"] else " (NOT the skipped chats)")
                + f"; {conditions()}"
            )  # fmt: skip
        await pool.close()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        _, _, dsn, kind, first, count, at, window = sys.argv
        asyncio.run(load_slice(dsn, kind, int(first), int(count), float(at), float(window)))
    elif len(sys.argv) > 1 and sys.argv[1] == "replica":
        asyncio.run(replica(sys.argv[2], sys.argv[3]))
    else:
        parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
        parser.add_argument("--schedules", type=int, default=1_000_000)
        parser.add_argument("--due", type=int, default=200_000)
        parser.add_argument("--window", type=float, default=10.0)
        parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
        parser.add_argument("--loaders", type=int, default=2)
        parser.add_argument("--broadcast", type=int, default=100_000)
        asyncio.run(main(parser.parse_args()))
