"""Outbox relay throughput against the raw aio-pika publish ceiling, on the same machine.

Usage: uv run python bench/relay/run.py [--events 50000] [--batch 1000] [--rounds 3]

Three publishers are timed: raw aio-pika (the ceiling the relay is held to), raw aiormq
(the lower layer the relay itself publishes on, so the honest ceiling of its approach) and
the relay draining the outbox. All publish the same real `UserStarted` envelopes,
persistent and mandatory, with publisher confirms and a window of `--batch` in flight, into
a quorum queue bound to `#` on `chime.events`. Rounds alternate (aio-pika, aiormq, relay,
...) because the machine is shared and noisy. Everything
runs in a PostgreSQL database and a RabbitMQ vhost of its own, both removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
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
import aiormq
import asyncpg
import httpx

from chime_contracts.envelope import Envelope, envelope_of
from chime_contracts.events.ingest import UserStarted
from chime_contracts.routing import EVENT_LOG_QUEUE, EVENTS_EXCHANGE
from chime_kit import outbox
from chime_kit.db import create_pool
from chime_kit.migrator import migrate
from chime_kit.relay import OutboxRelay

# `bench_migrations` sits beside this file; a bench is run as a script, not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent))

POSTGRES = os.environ.get("CHIME_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBITMQ_API = os.environ.get("CHIME_BENCH_RABBITMQ_API", "http://guest:guest@127.0.0.1:15672")
RABBITMQ_AMQP = os.environ.get("CHIME_BENCH_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672")
SCHEMA = "bench"
QUEUE = "bench.relay"
WRITE_TX_SIZE = 500
TARGET = 0.90
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


def make_envelopes(n: int) -> list[Envelope[UserStarted]]:
    return [
        envelope_of(
            UserStarted(
                bot_id=7_000_000_000 + i % 100,
                chat_id=500_000_000 + i,
                user_id=500_000_000 + i,
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


async def ceiling(amqp_url: str, envelopes: list[Envelope[UserStarted]], window: int) -> Round:
    """Raw aio-pika with bodies serialised beforehand, as the relay reads them from its table."""
    bodies = [(e.id, e.routing_key, e.model_dump_json().encode()) for e in envelopes]
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        wall, cpu = time.perf_counter(), time.process_time()
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
        return Round("ceiling", len(bodies), time.perf_counter() - wall, time.process_time() - cpu)
    finally:
        await connection.close()


async def ceiling_aiormq(
    amqp_url: str, envelopes: list[Envelope[UserStarted]], window: int
) -> Round:
    """The layer the relay publishes on: aiormq's basic_publish, confirm awaited, no drain."""
    bodies = [(e.id, e.routing_key, e.model_dump_json().encode()) for e in envelopes]
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        underlay = await channel.get_underlay_channel()
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(bodies), window):
            await asyncio.gather(
                *(
                    underlay.basic_publish(
                        body,
                        exchange=EVENTS_EXCHANGE,
                        routing_key=key,
                        properties=aiormq.spec.Basic.Properties(
                            content_type="application/json",
                            delivery_mode=2,
                            message_id=event_id,
                            message_type=key,
                            headers={"traceparent": TRACEPARENT},
                        ),
                        mandatory=True,
                        timeout=10,
                        wait=False,
                    )
                    for event_id, key, body in bodies[start : start + window]
                )
            )
        return Round(
            "ceiling-aiormq", len(bodies), time.perf_counter() - wall, time.process_time() - cpu
        )
    finally:
        await connection.close()


async def fill_outbox(pool: asyncpg.Pool, envelopes: list[Envelope[UserStarted]]) -> float:
    # The dead rows of the previous round's deletes would slow this round's reads.
    await pool.execute("VACUUM ANALYZE outbox")
    started = time.perf_counter()
    for start in range(0, len(envelopes), WRITE_TX_SIZE):
        async with pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, envelopes[start : start + WRITE_TX_SIZE])
    return time.perf_counter() - started


async def relay_round(
    pool: asyncpg.Pool, amqp_url: str, n: int, batch: int, event_log: str | None
) -> Round:
    relay = OutboxRelay(
        pool, amqp_url, schema=SCHEMA, batch_size=batch, event_log_max_age=event_log
    )
    await relay.connect()
    try:
        published = 0
        wall, cpu = time.perf_counter(), time.process_time()
        while published < n:
            done = await relay.publish_pending()
            if done == 0:
                raise RuntimeError(f"relay stalled after {published} of {n} events")
            published += done
        return Round("relay", published, time.perf_counter() - wall, time.process_time() - cpu)
    finally:
        await relay.stop()


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
        "faststream": version("faststream"),
    }


def summary(rounds: list[Round], kind: str) -> tuple[float, float]:
    rates = [r.rate for r in rounds if r.kind == kind]
    return max(rates), statistics.median(rates)


async def main(n: int, batch: int, rounds: int, event_log: str | None) -> None:
    envelopes = make_envelopes(n)
    sizes = [len(e.model_dump_json()) for e in envelopes]
    async with Environment() as env:
        pool = await create_pool(env.dsn, SCHEMA, min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                await migrate(conn, SCHEMA, "bench_migrations")  # type: ignore[arg-type]
            setup = await aio_pika.connect(env.amqp_url)
            channel = await setup.channel()
            queue = await declare_queue(channel, event_log)
            info = await conditions(pool, env.api)
            print("conditions:")
            for key, value in info.items():
                print(f"  {key:18} {value}")
            print(
                f"  {'workload':18} {n} events, batch/window {batch}, body"
                f" {min(sizes)}-{max(sizes)} B (mean {statistics.mean(sizes):.0f}),"
                f" persistent, mandatory, confirms, 1 quorum queue bound to '#'"
                + (f" and the stream {EVENT_LOG_QUEUE} (max age {event_log})" if event_log else "")
            )
            results: list[Round] = []

            async def report(round_no: int, label: str, result: Round, extra: str = "") -> None:
                delivered = await queued(queue)
                await queue.purge()
                print(
                    f"round {round_no} {label:8} {result.rate:8.0f} ev/s  {_detail(result)}"
                    f"  queued {delivered}{extra}"
                )
                results.append(result)

            for i in range(1, rounds + 1):
                await report(i, "ceiling:", await ceiling(env.amqp_url, envelopes, batch))
                await report(i, "aiormq:", await ceiling_aiormq(env.amqp_url, envelopes, batch))
                write_seconds = await fill_outbox(pool, envelopes)
                await report(
                    i,
                    "relay:",
                    await relay_round(pool, env.amqp_url, n, batch, event_log),
                    f"  (outbox write {n / write_seconds:.0f} ev/s, tx of {WRITE_TX_SIZE},"
                    " not timed)",
                )
            await setup.close()
        finally:
            await pool.close()
    best_ceiling, median_ceiling = summary(results, "ceiling")
    best_aiormq, median_aiormq = summary(results, "ceiling-aiormq")
    best_relay, median_relay = summary(results, "relay")
    print()
    print(f"ceiling (aio-pika)  best {best_ceiling:8.0f}  median {median_ceiling:8.0f} events/s")
    print(f"ceiling (aiormq)    best {best_aiormq:8.0f}  median {median_aiormq:8.0f} events/s")
    print(f"relay               best {best_relay:8.0f}  median {median_relay:8.0f} events/s")
    ratio = median_relay / median_ceiling
    verdict = "meets" if ratio >= TARGET else "BELOW"
    print(
        f"relay/ceiling (aio-pika)  best {best_relay / best_ceiling:.0%}  median {ratio:.0%}"
        f"  (target >= {TARGET:.0%}: {verdict})"
    )
    print(
        f"relay/ceiling (aiormq)    best {best_relay / best_aiormq:.0%}"
        f"  median {median_relay / median_aiormq:.0%}"
    )


def _detail(result: Round) -> str:
    return (
        f"{result.events} in {result.seconds:.2f} s,"
        f" client CPU {result.cpu_seconds / result.seconds:.0%}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000, help="relay batch = ceiling window")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--event-log",
        metavar="MAX_AGE",
        default=None,
        help="also route every event into the stream chime.events.log, as the services do"
        " (e.g. 7D)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.events, args.batch, args.rounds, args.event_log))
