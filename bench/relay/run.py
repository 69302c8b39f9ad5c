"""Partitioned outbox relay throughput against the raw aio-pika ceiling, in the same run.

Usage: uv run python bench/relay/run.py [--events 50000] [--batch 1000] [--rounds 3]
                                        [--relays 2] [--chats 1000]

Three publishers are timed: raw aio-pika in one process, raw aio-pika in `--relays`
processes at once (the ceilings), and `--relays` relay processes draining one schema's
outbox together, sharing its partitions. All publish the same real `UserStarted` envelopes,
persistent and mandatory, with publisher confirms and a window of `--batch` in flight, into
a quorum queue bound to `#` on `chime.events`. The events belong to `--chats` chats, each a
numbered sequence; after each relay round the queue is read back and every chat's sequence
must arrive complete and in order. Rounds alternate because the machine is shared and noisy.
Everything runs in a PostgreSQL database and a RabbitMQ vhost of its own, removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from urllib.parse import quote, urlsplit

import aio_pika
import asyncpg
import httpx
import orjson

from chime_contracts.envelope import Envelope, envelope_of
from chime_contracts.events.ingest import UserStarted
from chime_contracts.routing import EVENT_LOG_QUEUE, EVENTS_EXCHANGE
from chime_kit import outbox
from chime_kit.db import create_pool
from chime_kit.migrator import migrate
from chime_kit.outbox import PARTITIONS
from chime_kit.relay import MEMBER, OutboxRelay

# `bench_migrations` sits beside this file; a bench is run as a script, not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent))

POSTGRES = os.environ.get("CHIME_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBITMQ_API = os.environ.get("CHIME_BENCH_RABBITMQ_API", "http://guest:guest@127.0.0.1:15672")
RABBITMQ_AMQP = os.environ.get("CHIME_BENCH_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672")
SCHEMA = "bench"
QUEUE = "bench.relay"
TARGET = 10_000
# A real relay publishes under a span; the header costs the same here.
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@dataclass
class Round:
    kind: str
    events: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def make_envelopes(n: int, chats: int) -> list[Envelope[UserStarted]]:
    """Event i is number i // chats + 1 of chat i % chats (the number travels in user_id)."""
    return [
        envelope_of(
            UserStarted(
                bot_id=7_000_000_000,
                chat_id=500_000_000 + i % chats,
                user_id=i // chats + 1,
                username=f"user{i}",
                first_name="Ada",
                language_code="en",
            ),
            producer="ingest",
            traceparent=TRACEPARENT,
        )
        for i in range(n)
    ]


class Environment:
    """A database and a vhost of the run's own."""

    def __init__(self) -> None:
        self.name = f"chime_bench_{uuid.uuid4().hex[:10]}"
        parts = urlsplit(POSTGRES)
        self.dsn = parts._replace(path=f"/{self.name}").geturl()
        self.amqp_url = f"{RABBITMQ_AMQP.rstrip('/')}/{quote(self.name, safe='')}"
        self.api = httpx.AsyncClient(base_url=RABBITMQ_API, timeout=10)
        self.vhost_path = f"/api/vhosts/{quote(self.name, safe='')}"

    async def __aenter__(self) -> Environment:
        admin = await asyncpg.connect(POSTGRES)
        try:
            await admin.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await admin.close()
        (await self.api.put(self.vhost_path)).raise_for_status()
        (
            await self.api.put(
                f"/api/permissions/{quote(self.name, safe='')}/guest",
                json={"configure": ".*", "write": ".*", "read": ".*"},
            )
        ).raise_for_status()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.api.delete(self.vhost_path)
        await self.api.aclose()
        admin = await asyncpg.connect(POSTGRES)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await admin.close()


async def declare_queue(
    channel: aio_pika.abc.AbstractChannel, event_log: str | None
) -> aio_pika.abc.AbstractQueue:
    exchange = await channel.declare_exchange(
        EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
    await queue.bind(exchange, "#")
    if event_log:
        # As every service's relay declares it: every publisher below also feeds the stream.
        stream = await channel.declare_queue(
            EVENT_LOG_QUEUE,
            durable=True,
            arguments={"x-queue-type": "stream", "x-max-age": event_log},
        )
        await stream.bind(exchange, "#")
    return queue


async def queued(queue: aio_pika.abc.AbstractQueue) -> int:
    result = await queue.declare()
    return int(result.message_count or 0)


Body = tuple[str, str, bytes]


def serialised(envelopes: list[Envelope[UserStarted]]) -> list[Body]:
    """Bodies serialised beforehand, as the relay reads them from its table."""
    return [(e.id, e.routing_key, e.model_dump_json().encode()) for e in envelopes]


async def publish_raw(
    amqp_url: str, bodies: list[Body], window: int, start_at: float
) -> tuple[float, float]:
    """Plain aio-pika use: a `Message` and `exchange.publish` per event, confirms awaited."""
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        # Processes publishing together start at the same moment.
        await asyncio.sleep(max(0.0, start_at - time.time()))
        cpu = time.process_time()
        for start in range(0, len(bodies), window):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            body,
                            message_id=event_id,
                            type=key,
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            headers={"traceparent": TRACEPARENT},
                        ),
                        routing_key=key,
                        mandatory=True,
                        timeout=10,
                    )
                    for event_id, key, body in bodies[start : start + window]
                )
            )
        return time.time(), time.process_time() - cpu  # the caller spans all processes
    finally:
        await connection.close()


def _raw_process(
    amqp_url: str, bodies: list[Body], window: int, start_at: float
) -> tuple[float, float]:
    return asyncio.run(publish_raw(amqp_url, bodies, window, start_at))


async def ceiling(
    amqp_url: str, bodies: list[Body], window: int, processes: int, label: str
) -> Round:
    """Raw aio-pika in `processes` processes, each a share of the events, started together."""
    start_at = time.time() + 3.0  # after every process has started and connected
    shares = [bodies[i::processes] for i in range(processes)]
    context = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    with context.Pool(processes) as pool:
        parts = await asyncio.gather(
            *(
                loop.run_in_executor(
                    None, pool.apply, _raw_process, (amqp_url, share, window, start_at)
                )
                for share in shares
            )
        )
    ended = max(end for end, _ in parts)
    return Round(label, len(bodies), ended - start_at, sum(cpu for _, cpu in parts))


class RelayProcesses:
    """`count` processes, each running a service's relay (`OutboxRelay.start()`) on the schema."""

    def __init__(self, env: Environment, count: int, batch: int, event_log: str | None) -> None:
        self.env, self.count, self.batch, self.event_log = env, count, batch, event_log
        self.procs: list[asyncio.subprocess.Process] = []

    async def __aenter__(self) -> RelayProcesses:
        for _ in range(self.count):
            args = [__file__, "--relay-process", self.env.dsn, self.env.amqp_url]
            args += ["--batch", str(self.batch)]
            if self.event_log:
                args += ["--event-log", self.event_log]
            proc = await asyncio.create_subprocess_exec(
                sys.executable, *args, stdin=asyncio.subprocess.PIPE
            )
            self.procs.append(proc)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()  # end of input: the process stops its relay and exits
        for proc in self.procs:
            await proc.wait()

    def cpu_seconds(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for proc in self.procs:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    async def wait_until_shared(self, pool: asyncpg.Pool) -> list[int]:
        """Until every relay runs and holds its even share of the partitions."""
        space = OutboxRelay(pool, "", schema=SCHEMA)._lock_space
        share = -(-PARTITIONS // self.count)
        for _ in range(600):
            held = await pool.fetch(
                "SELECT pid, count(*) FILTER (WHERE objid < $2) AS partitions FROM pg_locks"
                " WHERE locktype = 'advisory' AND granted AND classid = $1::int8::oid"
                " AND objsubid = 2 GROUP BY pid",
                space,
                MEMBER,
            )
            counts = sorted(r["partitions"] for r in held)
            if len(counts) == self.count and sum(counts) == PARTITIONS and max(counts) <= share:
                return counts
            await asyncio.sleep(0.1)
        raise RuntimeError("the relays did not share the partitions")


async def fill_outbox(pool: asyncpg.Pool, envelopes: list[Envelope[UserStarted]]) -> float:
    """Write every event in one transaction: all appear to the relays at its commit."""
    # The dead rows of the previous round's deletes would slow this round's reads.
    await pool.execute("VACUUM ANALYZE outbox")
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await outbox.add(conn, envelopes)
        await tx.commit()
    return time.perf_counter()


async def relay_round(
    pool: asyncpg.Pool, relays: RelayProcesses, envelopes: list[Envelope[UserStarted]]
) -> Round:
    cpu = relays.cpu_seconds()
    started = await fill_outbox(pool, envelopes)
    async with pool.acquire() as conn:
        # Polled: the relays run in other processes, nothing here could signal the end.
        while await conn.fetchval("SELECT EXISTS (SELECT 1 FROM outbox)"):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    seconds = time.perf_counter() - started
    return Round("relay", len(envelopes), seconds, relays.cpu_seconds() - cpu)


async def verify_order(amqp_url: str, n: int, chats: int) -> str:
    """Read the queue back: every chat's events complete, once each, in order."""
    seen: dict[int, list[int]] = {}
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=2000)
        queue = await channel.declare_queue(QUEUE, passive=True)
        received = 0
        async with queue.iterator(timeout=30) as messages:
            async for message in messages:
                data = orjson.loads(message.body)["data"]
                seen.setdefault(data["chat_id"], []).append(data["user_id"])
                received += 1
                if received % 1000 == 0 or received == n:
                    await message.ack(multiple=True)
                if received == n:
                    break
    expected = {
        500_000_000 + c: list(range(1, len(range(c, n, chats)) + 1)) for c in range(min(n, chats))
    }
    if seen != expected:
        raise AssertionError("per-stream order broken, or events lost or duplicated")
    return f"order verified: {len(seen)} chats, each complete and in order"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


async def conditions(pool: asyncpg.Pool, api: httpx.AsyncClient) -> dict[str, str]:
    overview = (await api.get("/api/overview")).json()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{os.cpu_count()} x {cpu_model()}",
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "postgresql": str(await pool.fetchval("SELECT version()")).split(" on ")[0],
        "rabbitmq": overview.get("rabbitmq_version", "unknown"),
        "erlang": overview.get("erlang_version", "unknown"),
        "aio-pika / aiormq": f"{version('aio-pika')} / {version('aiormq')}",
        "asyncpg": version("asyncpg"),
    }


def summary(rounds: list[Round], kind: str) -> tuple[float, float]:
    rates = [r.rate for r in rounds if r.kind == kind]
    return max(rates), statistics.median(rates)


async def main(args: argparse.Namespace) -> None:
    n, batch, k = args.events, args.batch, args.relays
    envelopes = make_envelopes(n, args.chats)
    bodies = serialised(envelopes)
    sizes = [len(body) for _, _, body in bodies]
    async with Environment() as env:
        pool = await create_pool(env.dsn, SCHEMA, min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                await migrate(conn, SCHEMA, "bench_migrations")  # type: ignore[arg-type]
            setup = await aio_pika.connect(env.amqp_url)
            channel = await setup.channel()
            queue = await declare_queue(channel, args.event_log)
            info = await conditions(pool, env.api)
            print("conditions:")
            for key, value in info.items():
                print(f"  {key:18} {value}")
            print(
                f"  {'workload':18} {n} events of {args.chats} chats, batch/window {batch},"
                f" body {min(sizes)}-{max(sizes)} B, persistent, mandatory, confirms,"
                f" 1 quorum queue bound to '#'"
                + (
                    f" and the stream {EVENT_LOG_QUEUE} (max age {args.event_log})"
                    if args.event_log
                    else ""
                )
            )
            print(f"  {'relays':18} {k} processes sharing {PARTITIONS} partitions")
            results: list[Round] = []

            async def report(round_no: int, label: str, result: Round, extra: str = "") -> None:
                print(
                    f"round {round_no} {label:18} {result.rate:8.0f} ev/s  {_detail(result)}{extra}"
                )
                results.append(result)

            async with RelayProcesses(env, k, batch, args.event_log) as relays:
                shares = await relays.wait_until_shared(pool)
                print(f"  {'partitions held':18} {shares}")
                for i in range(1, args.rounds + 1):
                    for processes, label in ((1, "ceiling-1"), (k, f"ceiling-{k}")):
                        result = await ceiling(env.amqp_url, bodies, batch, processes, label)
                        await report(
                            i, f"aio-pika x{processes}:", result, f"  queued {await queued(queue)}"
                        )
                        await queue.purge()
                    result = await relay_round(pool, relays, envelopes)
                    await report(
                        i,
                        f"relay x{k}:",
                        result,
                        f"  {await verify_order(env.amqp_url, n, args.chats)}",
                    )
            await setup.close()
        finally:
            await pool.close()
    best_1, median_1 = summary(results, "ceiling-1")
    best_k, median_k = summary(results, f"ceiling-{k}")
    best_relay, median_relay = summary(results, "relay")
    print()
    print(f"ceiling aio-pika, 1 process   best {best_1:8.0f}  median {median_1:8.0f} events/s")
    print(f"ceiling aio-pika, {k} processes best {best_k:8.0f}  median {median_k:8.0f} events/s")
    print(
        f"relay, {k} processes           best {best_relay:8.0f}"
        f"  median {median_relay:8.0f} events/s"
    )
    verdict = "meets" if median_relay >= TARGET else "BELOW"
    print(
        f"relay / ceiling x1 {median_relay / median_1:.0%},"
        f" / ceiling x{k} {median_relay / median_k:.0%}"
        f" (medians); target >= {TARGET} events/s: {verdict}"
    )


def _detail(result: Round) -> str:
    return (
        f"{result.events} in {result.seconds:.2f} s,"
        f" client CPU {result.cpu_seconds:.1f} s"
        f" ({result.cpu_seconds / result.seconds:.0%} of one core)"
    )


async def relay_process(dsn: str, amqp_url: str, batch: int, event_log: str | None) -> None:
    """One relay process, as a service runs it, until its standard input ends."""
    pool = await create_pool(dsn, SCHEMA, min_size=1, max_size=2)
    relay = OutboxRelay(
        pool,
        amqp_url,
        schema=SCHEMA,
        batch_size=batch,
        event_log_max_age=event_log,
        idle_poll_seconds=0.005,
        rebalance_seconds=0.5,
    )
    await relay.start()
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await relay.stop()
        await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000, help="relay batch = ceiling window")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--relays", type=int, default=2, help="relay processes")
    parser.add_argument("--chats", type=int, default=1000, help="streams the events belong to")
    parser.add_argument(
        "--event-log",
        metavar="MAX_AGE",
        default=None,
        help="also route every event into the stream chime.events.log, as the services do"
        " (e.g. 7D)",
    )
    parser.add_argument(
        "--relay-process", nargs=2, metavar=("DSN", "AMQP_URL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.relay_process:
        dsn, amqp_url = args.relay_process
        asyncio.run(relay_process(dsn, amqp_url, args.batch, args.event_log))
    else:
        asyncio.run(main(args))
