"""History under load: 30 days of conversations loaded through the projection, then chat
traffic at a fixed rate through history's consumer while reads run beside it.

Usage: uv run python bench/history/run.py [--chats 10000] [--big 20] [--big-messages 10000]
       [--messages 20] [--rate 1000] [--seconds 60] [--alone 20] [--rebuild]
       [--via direct|webhooks] [--connections 64]

1. **Load**: `--chats` chats over 30 days (`--big` of them with `--big-messages` messages,
   the others `--messages`), every third incoming message answered (an outgoing message
   joined with its request), written to the history log in batches of 5,000, then folded
   into the tables by the projection's replay (what `rebuild` runs). Prints both rates.
2. **Writes alone** for `--alone` s: `message.received.v1` envelopes at `--rate` per second
   (open loop: each has its due time; a late one counts its wait) through the kit's
   `Consumer` of history (`Consumer.deliver`: what has arrived, up to `--batch` (50, the
   consumer's default) in one transaction with the inbox rows and the handler), without
   RabbitMQ in between. Ingest latency = from
   an envelope's due time to its batch's commit.
3. **Writes with reads** for `--seconds` s: the same writes while a reader process runs, at
   fixed rates, the last 20 messages of a random chat (100/s), a 24-hour range of a big
   chat (10/s, one page of up to 500), and a 30-day hourly series (720 points, zero-filled,
   p50/p95 computed) of a random chat or the whole (10/s), through history's query code
   (`chime_api.history.adapters.queries`, not HTTP; the reader freezes its start-up
   objects out of the collector's sight, as the api does once started). Halfway through,
   retention drops the oldest day's partitions (DETACH CONCURRENTLY, DROP) while writes go
   on; the longest gap between two commits during the drop is printed beside the longest
   gap overall.
4. With `--rebuild`: `python -m chime_api rebuild`'s code over everything, in facts/s.

With `--via webhooks` (`webhooks.py`), phases 2 and 3 go through ingest's webhooks instead:
ingest and the api run as processes, updates are posted to ingest at `--rate` and reach
history through ingest's interpretation, its outbox relay and RabbitMQ; ingest's p99 is
printed alone and beside the reads (no retention drop in this mode).

The run creates its own PostgreSQL database and drops it at the end (`CHIME_BENCH_POSTGRES`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import platform
import random
import subprocess
import sys
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import webhooks

from chime_api.bootstrap import MIGRATIONS, SERVICE
from chime_api.entrypoints.cli import SERVICE_CLI
from chime_api.history import handlers
from chime_api.history.adapters import log, queries
from chime_api.history.adapters.log import HistoryReplay
from chime_api.history.adapters.partitions import maintain
from chime_api.history.domain.buckets import Granularity
from chime_api.history.domain.facts import Fact, Outcome, Received
from chime_api.history.domain.series import zero_filled
from chime_api.settings import ApiSettings
from chime_contracts.envelope import envelope_of
from chime_contracts.events import MessageReceived
from chime_kit.consumer import Consumer
from chime_kit.db import create_pool
from chime_kit.in_flight import InFlight
from chime_kit.runtime import run_migrations
from chime_kit.unit_of_work import transaction

POSTGRES = os.environ.get("CHIME_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BOT = 9_400_001  # the webhook mode's bot: its token starts with this id
DAYS = 30
LOAD_BATCH = 5000


def chat_ids(chats: int) -> list[int]:
    return [1_000_000 + i for i in range(chats)]


def load_facts(chat: int, n: int, now: datetime, rng: random.Random) -> list[Fact]:
    start = now - timedelta(days=DAYS - 1)
    span = (now - start).total_seconds()
    times = sorted(start + timedelta(seconds=rng.random() * span) for _ in range(n))
    facts: list[Fact] = []
    for i, at in enumerate(times):
        text = f"message {i} of chat {chat}: {rng.choice(WORDS)} {rng.choice(WORDS)}"
        user = chat * 10 + i % 3
        facts.append(Received(bot_id=BOT, chat_id=chat, at=at, message_id=2 * i + 1,
                              user_id=user, content_type="text", text=text))  # fmt: skip
        if i % 3 == 0:
            answered = at + timedelta(seconds=1)
            facts.append(Outcome(kind="sent", bot_id=BOT, chat_id=chat, at=answered,
                                 delivery_id=f"r:{chat}:{i}", message_id=2 * i + 2,
                                 text=f"answer {i}", source_kind="reply",
                                 latency_ms=rng.expovariate(1 / 300)))  # fmt: skip
    return facts


WORDS = [
    "cats",
    "dogs",
    "rain",
    "coffee",
    "deploy",
    "standup",
    "lunch",
    "meeting",
    "release",
    "bug",
    "fix",
    "review",
]


async def load(pool: asyncpg.Pool, args: argparse.Namespace, now: datetime) -> tuple[int, float]:
    """The facts written to the history log; (how many, seconds)."""
    rng = random.Random(1)
    chats = chat_ids(args.chats)
    pending: list[Fact] = []
    total = 0
    started = time.perf_counter()

    async def flush() -> None:
        nonlocal total
        async with pool.acquire() as conn, conn.transaction():
            await log.append(conn, pending)
        total += len(pending)
        pending.clear()

    for i, chat in enumerate(chats):
        n = args.big_messages if i < args.big else args.messages
        pending += load_facts(chat, n, now, rng)
        if len(pending) >= LOAD_BATCH:
            await flush()
    if pending:
        await flush()
    return total, time.perf_counter() - started


def live_envelopes(args: argparse.Namespace, seconds: float, first_id: int) -> list[bytes]:
    rng = random.Random(first_id)
    chats = chat_ids(args.chats)
    big = chats[: args.big]
    out = []
    for n in range(int(args.rate * seconds)):
        chat = rng.choice(big) if rng.random() < 0.3 else rng.choice(chats)
        event = MessageReceived(
            bot_id=BOT, update_id=first_id + n, update_kind="message", chat_id=chat,
            chat_type="private", message_id=first_id + n, user_id=chat * 10 + n % 3,
            content_type="text", text=f"live {n}: {rng.choice(WORDS)}",
            sent_at=datetime.now(UTC),
        )  # fmt: skip
        out.append(envelope_of(event, producer="ingest").model_dump_json().encode())
    return out


class Writer:
    """One history consumer fed at a fixed rate; commit times and latencies recorded."""

    def __init__(self, pool: asyncpg.Pool, rate: float, batch: int = 50) -> None:
        self.rate = rate
        self.batch = batch
        self.consumer: Consumer[Any] = Consumer(
            service=SERVICE, queue="api.history-received", event=MessageReceived,
            handler=handlers.message_received,
            transaction=lambda: transaction(pool, SERVICE), delivery_limit=5, batch_size=batch,
            in_flight=InFlight(),
        )  # fmt: skip
        self.commits: list[float] = []

    async def run(self, bodies: list[bytes]) -> list[float]:
        """Latencies (ms) from each body's due time to its commit."""
        queue: deque[tuple[float, bytes]] = deque()
        arrived = asyncio.Event()
        latencies: list[float] = []
        start = time.perf_counter()

        async def produce() -> None:
            for i, body in enumerate(bodies):
                due = start + i / self.rate
                if (wait := due - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
                queue.append((due, body))
                arrived.set()

        producer = asyncio.create_task(produce())
        done = 0
        while done < len(bodies):
            if not queue:
                arrived.clear()
                await arrived.wait()
                continue
            batch = [queue.popleft() for _ in range(min(self.batch, len(queue)))]
            outcomes = await self.consumer.deliver(*[b for _, b in batch])
            assert all(o.value == "applied" for o in outcomes), outcomes
            now = time.perf_counter()
            self.commits.append(now)
            latencies += [(now - due) * 1000 for due, _ in batch]
            done += len(batch)
        await producer
        return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def describe(name: str, values: list[float]) -> str:
    worst = max(values, default=float("nan"))
    return (f"{name:34} n={len(values):6}  p50 {pct(values, 0.5):7.2f}"
            f"  p99 {pct(values, 0.99):7.2f}  max {worst:7.2f} ms")  # fmt: skip


# --- the reader process ---------------------------------------------------------------------


async def reader(dsn: str, seconds: float, chats: int, big: int) -> dict[str, list[float]]:
    pool = await create_pool(dsn, SERVICE, min_size=4, max_size=4)
    # As the api's lifespan does once it has started (chime_kit.service): what is there now
    # stays, so the full collector need not walk it again on every read.
    gc.collect()
    gc.freeze()
    ids = chat_ids(chats)
    rng = random.Random(2)
    results: dict[str, list[float]] = {"last 20": [], "24 h range": [], "30-day hourly series": []}
    now = datetime.now(UTC)
    stop = time.perf_counter() + seconds

    async def last20() -> None:
        async with pool.acquire() as conn:
            await queries.last(conn, BOT, rng.choice(ids), 20)

    async def range24() -> None:
        async with pool.acquire() as conn:
            end = datetime.now(UTC)
            await queries.between(
                conn, BOT, rng.choice(ids[:big]), end - timedelta(days=1), end, None, 500
            )

    async def series() -> None:
        scope, scope_id = (
            ("global", "") if rng.random() < 0.2 else ("chat", f"{BOT}:{rng.choice(ids)}")
        )
        start = (now - timedelta(days=DAYS)).replace(minute=0, second=0, microsecond=0)
        async with pool.acquire() as conn:
            rows = await queries.rollups(conn, scope, scope_id, Granularity.HOUR, start, now)
        points = zero_filled(rows, start, now, Granularity.HOUR)
        [p.latency_p50_p95_ms() for p in points]

    async def paced(name: str, rate: float, read: Any) -> None:
        i, begin = 0, time.perf_counter()
        while (due := begin + i / rate) < stop:
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            t0 = time.perf_counter()
            await read()
            results[name].append((time.perf_counter() - max(t0, due)) * 1000)
            i += 1

    await asyncio.gather(
        paced("last 20", 100, last20), paced("24 h range", 10, range24),
        paced("30-day hourly series", 10, series),
    )  # fmt: skip
    await pool.close()
    return results


# --- the run ------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    name = f"chime_bench_history_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = urlsplit(POSTGRES)._replace(path=f"/{name}").geturl()
    try:
        await run(dsn, args)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def run(dsn: str, args: argparse.Namespace) -> None:
    await run_migrations(dsn, SERVICE, MIGRATIONS)
    pool = await create_pool(dsn, SERVICE, min_size=2, max_size=4)
    try:
        await phases(pool, dsn, args)
    finally:
        await pool.close()


async def phases(pool: asyncpg.Pool, dsn: str, args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        await maintain(conn, now, DAYS, 7)
        version = await conn.fetchval("SHOW server_version")
    print("conditions:")
    print(
        f"  machine   {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, shared"
    )
    python = platform.python_version()
    print(f"  versions  Python {python}, PostgreSQL {version}, asyncpg {asyncpg.__version__}")
    print(f"  sizes     {args.chats} chats ({args.big} with {args.big_messages} messages, the rest"
          f" {args.messages}), 30 days, an answer to every third message")  # fmt: skip
    print(f"  load avg  {os.getloadavg()[0]:.2f} at start")

    facts, seconds = await load(pool, args, now)
    print(f"load: {facts} facts written to the history log in {seconds:.1f} s"
          f" = {facts / seconds:,.0f} facts/s (load avg {os.getloadavg()[0]:.2f})")  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        t = time.perf_counter()
        folded = await HistoryReplay(conn).replay(1000)
        seconds = time.perf_counter() - t
    async with pool.acquire() as conn:
        await conn.execute("ANALYZE")
        messages = await conn.fetchval("SELECT count(*) FROM history_messages")
    print(f"      folded into {messages} messages and their rollups by the projection's replay"
          f" in {seconds:.1f} s = {folded / seconds:,.0f} facts/s"
          f" (load avg {os.getloadavg()[0]:.2f})")  # fmt: skip
    replay_rate = folded / seconds

    if args.via == "webhooks":
        await through_webhooks(pool, dsn, args)
    else:
        await direct(pool, dsn, args, now)

    if args.rebuild:
        async with pool.acquire() as conn:
            logged = await conn.fetchval("SELECT count(*) FROM history_log")
        t = time.perf_counter()
        await SERVICE_CLI.rebuild(dsn)
        seconds = time.perf_counter() - t
        print(f"rebuild: {logged} facts in {seconds:.1f} s = {logged / seconds:,.0f} facts/s,"
              f" {logged / seconds / args.rate:.1f}x the live rate of {args.rate}/s")  # fmt: skip
    print(f"replay at load: {replay_rate:,.0f} facts/s = {replay_rate / args.rate:.1f}x the live"
          f" rate of {args.rate}/s")  # fmt: skip


async def direct(pool: asyncpg.Pool, dsn: str, args: argparse.Namespace, now: datetime) -> None:
    """History's consumer fed directly, alone and then beside the reader; a retention drop
    halfway through the second phase."""
    writer = Writer(pool, args.rate, args.batch)
    cpu = time.process_time()
    alone = await writer.run(live_envelopes(args, args.alone, 10**9))
    cpu = (time.process_time() - cpu) * 1000 / len(alone)
    print(
        describe(f"ingest alone at {args.rate}/s", alone) + f"  (load avg {os.getloadavg()[0]:.2f})"
    )
    print(f"  the consumer's process: {cpu:.2f} ms CPU per message (envelopes made beforehand)")

    bodies = live_envelopes(args, args.seconds, 2 * 10**9)
    reader_proc = subprocess.Popen(  # noqa: ASYNC220 - started once, read in a thread
        reader_command(dsn, args), stdout=subprocess.PIPE, text=True
    )
    writer.commits.clear()

    async def drop_midway() -> tuple[float, float, float]:
        await asyncio.sleep(args.seconds / 2)
        async with pool.acquire() as conn:
            t0 = time.perf_counter()
            done = await maintain(conn, now + timedelta(days=1), DAYS, 7)
            t1 = time.perf_counter()
        assert done.dropped > 0
        return t0, t1, float(done.dropped)

    with_reads, (t0, t1, dropped) = await asyncio.gather(writer.run(bodies), drop_midway())
    out, _ = await asyncio.to_thread(reader_proc.communicate)
    reads: dict[str, list[float]] = json.loads(out)
    print(
        describe(f"ingest with reads at {args.rate}/s", with_reads)
        + f"  (load avg {os.getloadavg()[0]:.2f})"
    )
    for kind, values in reads.items():
        print(describe(kind, values))
    commits = writer.commits
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(commits)]
    during = [(b - a) * 1000 for a, b in itertools.pairwise(commits) if b >= t0 and a <= t1]
    print(f"retention: {int(dropped)} partitions (one day of 4 tables) dropped under load in"
          f" {(t1 - t0) * 1000:.0f} ms; longest gap between commits during it"
          f" {max(during, default=0):.0f} ms, overall {max(gaps, default=0):.0f} ms")  # fmt: skip


def reader_command(dsn: str, args: argparse.Namespace) -> list[str]:
    return [sys.executable, __file__, "--reader", dsn, "--seconds", str(args.seconds),
            "--chats", str(args.chats), "--big", str(args.big)]  # fmt: skip


async def through_webhooks(pool: asyncpg.Pool, dsn: str, args: argparse.Namespace) -> None:
    """Ingest and the api as processes; updates posted to ingest's webhook, alone and then
    beside the reader."""
    services = webhooks.Services(dsn, BOT, dsn.rsplit("/", 1)[1])
    await services.start()
    rng = random.Random(3)
    chats = chat_ids(args.chats)

    def bodies(seconds: float, first_id: int) -> list[bytes]:
        start = time.time()
        out = []
        for i in range(int(args.rate * seconds)):
            chat = rng.choice(chats[: args.big]) if rng.random() < 0.3 else rng.choice(chats)
            text = f"live {i}: {rng.choice(WORDS)} {rng.choice(WORDS)}"
            out.append(webhooks.update(first_id + i, chat, int(start + i / args.rate), text))
        return out

    async def read_beside() -> dict[str, list[float]]:
        process = subprocess.Popen(  # noqa: ASYNC220 - started once, read in a thread
            reader_command(dsn, args), stdout=subprocess.PIPE, text=True
        )
        out, _ = await asyncio.to_thread(process.communicate)
        reads: dict[str, list[float]] = json.loads(out)
        return reads

    try:
        rate, connections = args.rate, args.connections
        pool_max = ApiSettings.model_fields["db_pool_max"].default
        print(f"through ingest's webhooks: ingest and the api as processes (the api's pool:"
              f" at most {pool_max}), {connections} keep-alive connections to ingest")  # fmt: skip
        await webhooks.phase(services, pool, "warm-up", bodies(3, 1_000_000_000), rate, connections)
        alone = await webhooks.phase(
            services, pool, "ingest alone", bodies(args.alone, 1_100_000_000), rate, connections
        )
        beside = await webhooks.phase(
            services, pool, "ingest with reads", bodies(args.seconds, 1_200_000_000), rate,
            connections, beside=read_beside,
        )  # fmt: skip
        for kind, values in beside["reads"].items():
            print(describe(kind, values))
        p99 = (webhooks.pct(alone["answers"], 0.99), webhooks.pct(beside["answers"], 0.99))
        print(f"ingest's p99 alone {p99[0]:.1f} ms, with reads {p99[1]:.1f} ms")
    finally:
        await services.stop()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=20)
    parser.add_argument("--big-messages", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--alone", type=float, default=20)
    parser.add_argument("--batch", type=int, default=50, help="the consumer's batch size")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--via", choices=("direct", "webhooks"), default="direct")
    parser.add_argument("--connections", type=int, default=64, help="webhook mode's keep-alives")
    parser.add_argument("--reader", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _arguments()
    if arguments.reader:
        result = asyncio.run(
            reader(arguments.reader, arguments.seconds, arguments.chats, arguments.big)
        )
        print(json.dumps(result))
    else:
        asyncio.run(main(arguments))
