"""Consumer throughput and CPU per message: the kit's consumer draining a full queue.

Usage: uv run python bench/consumer/run.py [--events 20000] [--rounds 3] [--prefetch 100]
       [--batch 50] [--trickle 200]

Each round fills a quorum queue (declared as every service declares its queues) with
`--events` real `UserStarted` envelopes, then starts a kit `Runtime` subscribed to it whose
handler appends the event to a stream of its chat (one event-store row, as the services'
handlers do, plus the consumer's inbox row). Timed from `runtime.start()` until the last
inbox row is committed: messages/s, and this process's CPU per message (the consumer is
the only work in it). Then `--trickle` messages are published one at a time, 50 a second,
into the idle consumer: the latency from publish to commit shows whether batching waits.
Everything runs in a PostgreSQL database and a RabbitMQ vhost of its own, removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aio_pika
import aiormq
import asyncpg

from chime_contracts.envelope import Envelope
from chime_contracts.events.ingest import UserStarted
from chime_contracts.routing import EVENTS_EXCHANGE
from chime_kit import event_store
from chime_kit.broker import declare_consumer_queue
from chime_kit.consumer import Router
from chime_kit.runtime import Runtime, open_runtime
from chime_kit.settings import ServiceSettings
from chime_kit.unit_of_work import UnitOfWork

# The relay bench's environment (its own database and vhost) and envelopes, shared.
_spec = importlib.util.spec_from_file_location(
    "relay_bench", Path(__file__).resolve().parent.parent / "relay" / "run.py"
)
assert _spec is not None
assert _spec.loader is not None
relay_bench = importlib.util.module_from_spec(_spec)
sys.modules["relay_bench"] = relay_bench  # its dataclasses look their module up
_spec.loader.exec_module(relay_bench)

SERVICE = "bench"
QUEUE = "bench.user-started"
TRICKLE_RATE = 50.0


async def fill(amqp_url: str, envelopes: list[Envelope[UserStarted]]) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await declare_consumer_queue(channel, QUEUE, UserStarted.type_name(), delivery_limit=5)
        underlay = await channel.get_underlay_channel()
        for start in range(0, len(envelopes), 1000):
            await asyncio.gather(*(publish(underlay, e) for e in envelopes[start : start + 1000]))
    finally:
        await connection.close()


async def publish(channel: Any, envelope: Envelope[UserStarted]) -> None:
    await channel.basic_publish(
        envelope.model_dump_json().encode(),
        exchange=EVENTS_EXCHANGE,
        routing_key=envelope.routing_key,
        properties=aiormq.spec.Basic.Properties(
            delivery_mode=2,
            message_id=envelope.id,
            headers={"traceparent": relay_bench.TRACEPARENT},
        ),
        wait=False,
    )


async def append_to_chat(uow: UnitOfWork, envelope: Envelope[UserStarted]) -> None:
    stream = f"chat-{envelope.data.chat_id}"
    await event_store.append(uow.conn, stream, 0, [envelope])


async def open_consumer(
    dsn: str, amqp_url: str, prefetch: int, batch: int, handler: Any = append_to_chat
) -> Runtime:
    settings = ServiceSettings(
        database_url=dsn,
        amqp_url=amqp_url,
        consumer_prefetch=prefetch,
        consumer_batch_size=batch,
        event_log_max_age=None,
        relay_idle_poll_seconds=5.0,
    )
    runtime = await open_runtime(SERVICE, settings, "bench_migrations")
    router = Router()
    runtime.subscribe(router, queue=QUEUE, event=UserStarted, handler=handler)
    runtime.broker.include_router(router)
    return runtime


async def drain(dsn: str, amqp_url: str, n: int, prefetch: int, batch: int) -> tuple[float, float]:
    """Seconds and CPU seconds for the consumer to commit `n` queued messages."""
    runtime = await open_consumer(dsn, amqp_url, prefetch, batch)
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        await runtime.start()
        # Polls what is committed: the thing measured.
        while await runtime.pool.fetchval("SELECT count(*) FROM inbox") < n:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await runtime.stop()


async def trickle(dsn: str, amqp_url: str, n: int, prefetch: int, batch: int) -> list[float]:
    """Publish-to-commit latencies (ms) of `n` messages sent one at a time."""
    sent: dict[str, float] = {}
    latencies: list[float] = []
    all_seen = asyncio.Event()

    async def timed(uow: UnitOfWork, envelope: Envelope[UserStarted]) -> None:
        await append_to_chat(uow, envelope)
        # Measured at the handler; the commit follows at once when nothing else waits.
        latencies.append((time.perf_counter() - sent[envelope.id]) * 1000)
        if len(latencies) == n:
            all_seen.set()

    runtime = await open_consumer(dsn, amqp_url, prefetch, batch, timed)
    await runtime.start()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        underlay = await channel.get_underlay_channel()
        for envelope in relay_bench.make_envelopes(n, chats=n):
            sent[envelope.id] = time.perf_counter()
            await publish(underlay, envelope)
            await asyncio.sleep(1 / TRICKLE_RATE)
        await all_seen.wait()
        return latencies
    finally:
        await connection.close()
        await runtime.stop()


async def main(n: int, rounds: int, prefetch: int, batch: int, trickled: int) -> None:
    envelopes = relay_bench.make_envelopes(n, chats=n)  # one event per chat: version 0
    async with relay_bench.Environment() as env:
        first = await open_consumer(env.dsn, env.amqp_url, prefetch, batch)  # migrates
        info = await relay_bench.conditions(first.pool, env.api)
        await first.stop()
        print("conditions:")
        for key, value in info.items():
            print(f"  {key:18} {value}")
        print(
            f"  {'workload':18} {n} queued UserStarted envelopes per round, prefetch {prefetch},"
            f" batch {batch}; handler appends 1 event-store row; 1 quorum queue"
        )
        rates: list[float] = []
        cpu_ms: list[float] = []
        for i in range(1, rounds + 1):
            await fill(env.amqp_url, envelopes)
            seconds, cpu = await drain(env.dsn, env.amqp_url, n, prefetch, batch)
            rates.append(n / seconds)
            cpu_ms.append(cpu / n * 1000)
            print(
                f"round {i}: {n / seconds:8.0f} msg/s  {n} in {seconds:.2f} s,"
                f" client CPU {cpu / seconds:.0%}, {cpu / n * 1000:.3f} ms CPU/msg"
            )
            await _reset(env.dsn)
        print()
        print(
            f"drain   best {max(rates):8.0f}  median {statistics.median(rates):8.0f} msg/s;"
            f"  CPU/msg median {statistics.median(cpu_ms):.3f} ms"
        )
        if trickled:
            latencies = sorted(await trickle(env.dsn, env.amqp_url, trickled, prefetch, batch))
            p50 = latencies[len(latencies) // 2]
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            print(
                f"trickle {trickled} msgs at {TRICKLE_RATE:.0f}/s, publish to handler:"
                f" p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {latencies[-1]:.1f} ms"
            )


async def _reset(dsn: str) -> None:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": SERVICE})
    try:
        # The event store refuses TRUNCATE through a trigger; a bench may skip it.
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("TRUNCATE inbox, events")
        await conn.execute("VACUUM ANALYZE inbox")
        await conn.execute("VACUUM ANALYZE events")
    finally:
        await conn.close()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "relay"))  # bench_migrations
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--batch", type=int, default=50, help="most messages per transaction")
    parser.add_argument("--trickle", type=int, default=200, help="messages for the latency probe")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.rounds, args.prefetch, args.batch, args.trickle))
