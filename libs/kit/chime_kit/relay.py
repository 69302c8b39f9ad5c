"""The outbox relay: publishes committed outbox rows with publisher confirms.

It never follows a cursor over ids (concurrent transactions commit out of order, so an id
below the cursor can appear later); it takes whatever rows are present, oldest first, and
deletes only those the broker confirmed. Returned (unroutable) or unconfirmed rows stay.
A transaction-scoped advisory lock lets one relay of a schema work at a time, which keeps
per-stream order with many replicas and leaves no leader to lose.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib

import aio_pika
import aiormq
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aiormq import spec

from chime_contracts.routing import EVENT_LOG_QUEUE, EVENTS_EXCHANGE
from chime_kit.loops import BackgroundLoop
from chime_kit.metrics import EVENTS_PUBLISHED, OUTBOX_PENDING, PUBLISH_FAILURES

log = logging.getLogger(__name__)
# How often the relay counts what waits in its outbox, for the gauge.
PENDING_COUNT_SECONDS = 10.0

PERSISTENT = int(aio_pika.DeliveryMode.PERSISTENT)


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        amqp_url: str,
        *,
        schema: str,
        batch_size: int = 1000,
        idle_poll_seconds: float = 0.05,
        publish_timeout: float = 10.0,
        event_log_max_age: str | None = None,
    ) -> None:
        self.pool = pool
        self.amqp_url = amqp_url
        self.schema = schema
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        self.publish_timeout = publish_timeout
        self.event_log_max_age = event_log_max_age
        self._lock_key = zlib.crc32(f"chime-relay-{schema}".encode())
        self._loop = BackgroundLoop(f"outbox-relay-{schema}", self._run)
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def connect(self) -> None:
        self._connection = await aio_pika.connect_robust(self.amqp_url)
        # on_return_raises: an unroutable (returned) mandatory publish fails instead of
        # being logged and dropped, so its row stays pending.
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        self._exchange = await self._channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        if self.event_log_max_age:
            event_log = await self._channel.declare_queue(
                EVENT_LOG_QUEUE,
                durable=True,
                arguments={"x-queue-type": "stream", "x-max-age": self.event_log_max_age},
            )
            await event_log.bind(self._exchange, routing_key="#")

    async def start(self) -> None:
        if self._exchange is None:
            await self.connect()
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
            self._exchange = None

    def wake(self) -> None:
        """Called after a commit that wrote outbox rows: publish now, not at the next poll."""
        self._loop.wake()

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    async def _run(self) -> None:
        failures = 0
        counted_at = 0.0
        while True:
            self._loop.clear()
            try:
                published = await self.publish_pending()
                failures = 0
                if time.monotonic() - counted_at >= PENDING_COUNT_SECONDS:
                    OUTBOX_PENDING.labels(self.schema).set(
                        await self.pool.fetchval("SELECT count(*) FROM outbox")
                    )
                    counted_at = time.monotonic()
            except Exception as exc:
                failures += 1
                log.warning("outbox relay of %s failed (%r); retrying", self.schema, exc)
                await asyncio.sleep(min(5.0, 0.1 * 2**failures))
                continue
            if published < self.batch_size:
                await self._loop.sleep(self.idle_poll_seconds)

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many rows were confirmed and removed."""
        if self._channel is None or self._exchange is None:
            raise RuntimeError("relay is not connected")
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", self._lock_key):
                return 0
            rows = await conn.fetch(
                "SELECT id, event_id, routing_key, body, traceparent FROM outbox"
                " ORDER BY id LIMIT $1",
                self.batch_size,
            )
            if not rows:
                return 0
            # The relay is bound by client CPU, so it publishes on the underlying aiormq
            # channel: no aio-pika Message per row, no readiness check per publish, and no
            # wait for the socket write (wait=False) — only for the broker's confirm.
            async with asyncio.timeout(self.publish_timeout):
                channel = await self._channel.get_underlay_channel()
            assert isinstance(channel, aiormq.Channel)  # the abstract one lacks `wait`
            results = await asyncio.gather(
                *(
                    channel.basic_publish(
                        row["body"],
                        exchange=EVENTS_EXCHANGE,
                        routing_key=row["routing_key"],
                        properties=_properties(row),
                        mandatory=True,
                        timeout=self.publish_timeout,
                        wait=False,
                    )
                    for row in rows
                ),
                return_exceptions=True,
            )
            confirmed = [
                row["id"]
                for row, result in zip(rows, results, strict=True)
                if not isinstance(result, BaseException)
            ]
            failed = len(rows) - len(confirmed)
            if failed:
                first_error = next(r for r in results if isinstance(r, BaseException))
                log.warning(
                    "%d of %d outbox events of %s not confirmed (%r); they stay pending",
                    failed,
                    len(rows),
                    self.schema,
                    first_error,
                )
                PUBLISH_FAILURES.labels(self.schema).inc(failed)
            if confirmed:
                await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", confirmed)
        EVENTS_PUBLISHED.labels(self.schema).inc(len(confirmed))
        return len(confirmed)


def _properties(row: asyncpg.Record) -> spec.Basic.Properties:
    traceparent = row["traceparent"]
    properties: spec.Basic.Properties = spec.Basic.Properties(
        content_type="application/json",
        delivery_mode=PERSISTENT,
        message_id=row["event_id"],
        message_type=row["routing_key"],
        headers={"traceparent": traceparent} if traceparent else None,
    )
    return properties
