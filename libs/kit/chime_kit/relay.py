"""The outbox relay: publishes committed outbox rows with publisher confirms.

It never follows a cursor over ids (concurrent transactions commit out of order, so an id
below the cursor can appear later); it takes whatever rows are present, oldest first, and
deletes only those the broker confirmed. Returned (unroutable) or unconfirmed rows stay.

The outbox is split into `outbox.PARTITIONS` partitions by ordering key. A relay serves a
partition only while its database session holds that partition's advisory lock, so the
relays of every process and replica of a service share the partitions, and one partition's
rows go out on one channel in id order. Relays count each other (a shared lock each holds)
and take an even share; a partition changes hands only when its relay has nothing in
flight. A relay is pipelined: it reads the next batch while the broker confirms the last
one, but publishes it only after every row of the last one was confirmed (on the same
channel, in order), so a failed row is retried before anything of its partition after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import zlib
from collections.abc import Sequence

import aio_pika
import aiormq
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aiormq import spec

from chime_contracts.routing import EVENT_LOG_QUEUE, EVENTS_EXCHANGE, event_type_of
from chime_kit.broker import EVENTS, connect_robust
from chime_kit.db import Connection
from chime_kit.loops import BackgroundLoop
from chime_kit.metrics import (
    EVENTS_PUBLISHED,
    OUTBOX_OLDEST_SECONDS,
    OUTBOX_PENDING,
    PUBLISH_FAILURES,
)
from chime_kit.outbox import PARTITIONS

log = logging.getLogger(__name__)
# How often the relay counts what waits in its outbox, for the gauge.
PENDING_COUNT_SECONDS = 10.0
# The longest a relay waits to stop listening on a connection it gives back.
LISTENER_SECONDS = 1.0
# The pause before rows the broker did not confirm are read and published again.
RETRY_SECONDS = 0.05
# The second key of the shared lock every running relay holds, so relays can count each other
# (partitions use 0 .. PARTITIONS - 1).
MEMBER = PARTITIONS

PERSISTENT = int(aio_pika.DeliveryMode.PERSISTENT)

_SELECT = (
    "SELECT id, event_id, routing_key, body, traceparent FROM outbox"
    " WHERE partition = ANY($1::smallint[]) AND NOT (id = ANY($2::bigint[]))"
    " ORDER BY id LIMIT $3"
)
_BACKLOG = (
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM outbox"
)
_MEMBERS = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND classid = $1::int8::oid AND objid = $2::int8::oid AND objsubid = 2"
)


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        amqp_url: str,
        *,
        schema: str,
        batch_size: int = 1000,
        idle_poll_seconds: float = 1.0,
        publish_timeout: float = 10.0,
        event_log_max_age: str | None = None,
        rebalance_seconds: float = 2.0,
    ) -> None:
        self.pool = pool
        self.amqp_url = amqp_url
        self.schema = schema
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        self.publish_timeout = publish_timeout
        self.event_log_max_age = event_log_max_age
        self.rebalance_seconds = rebalance_seconds
        # First key of the relay's two-key advisory locks; positive, as pg_locks shows it.
        self._lock_space = zlib.crc32(f"chime-relay-{schema}".encode()) & 0x7FFFFFFF
        self._loop = BackgroundLoop(f"outbox-relay-{schema}", self._run)
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._owned: set[int] = set()
        self._failures = 0

    async def connect(self) -> None:
        self._connection = await connect_robust(self.amqp_url)
        # on_return_raises: an unroutable (returned) mandatory publish fails instead of
        # being logged and dropped, so its row stays pending.
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        self._exchange = await EVENTS.declare(self._channel)
        if self.event_log_max_age:
            event_log = await self._channel.declare_queue(
                EVENT_LOG_QUEUE,
                durable=True,
                arguments={"x-queue-type": "stream", "x-max-age": self.event_log_max_age},
            )
            await event_log.bind(self._exchange, routing_key="#")

    @property
    def loop(self) -> BackgroundLoop:
        """The relay's background loop, for the runtime's probes to watch."""
        return self._loop

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
    def connection(self) -> AbstractRobustConnection | None:
        return self._connection

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    @property
    def partitions(self) -> frozenset[int]:
        """The partitions the running relay serves now."""
        return frozenset(self._owned)

    async def _run(self) -> None:
        while True:
            try:
                # The session holds the partition locks: the pool's reset on release (or the
                # session's end) unlocks them, whatever happens.
                async with self.pool.acquire() as conn:
                    try:
                        await self._serve(conn)
                    finally:
                        self._owned = set()
            except Exception as exc:
                self._failures += 1
                log.warning("outbox relay of %s failed (%r); retrying", self.schema, exc)
                await asyncio.sleep(min(5.0, 0.1 * 2**self._failures))

    async def _serve(self, conn: Connection) -> None:
        await conn.execute("SELECT pg_advisory_lock_shared($1, $2)", self._lock_space, MEMBER)
        # Woken at the commit of any transaction that wrote this schema's outbox (kit
        # migration 0004), whichever process or replica wrote it.
        channel = f"chime_outbox_{self.schema}"
        await conn.add_listener(channel, self._loop.wake)
        try:
            await self._pipeline(conn)
        finally:
            # On a healthy connection, before it goes back to the pool; a broken one (its
            # proxy already released, or no answer) is discarded by the pool anyway.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(LISTENER_SECONDS):
                    await conn.remove_listener(channel, self._loop.wake)

    async def _pipeline(self, conn: Connection) -> None:
        """Publish batch after batch; look for rows only when there may be some: a wake
        (a commit, here or elsewhere) since the last look, a full batch, a failed row, a
        rebalance, or the poll's end (the safety net for a lost notification)."""
        rebalance_at = counted_at = 0.0
        rows: Sequence[asyncpg.Record] = []
        confirmed: list[int] = []
        look = True  # at start: rows may have waited for us
        while True:
            if not rows:
                # Nothing is in flight: the moment to delete, rebalance, and look for work.
                if confirmed:
                    await _delete(conn, confirmed)
                    confirmed = []
                if not look:
                    await self._loop.sleep(self.idle_poll_seconds)  # at once when woken
                now = time.monotonic()
                if now >= rebalance_at:
                    await self._rebalance(conn)
                    rebalance_at = now + self.rebalance_seconds
                if now - counted_at >= PENDING_COUNT_SECONDS:
                    backlog = await conn.fetchrow(_BACKLOG)
                    assert backlog is not None  # an aggregate has a row
                    OUTBOX_PENDING.labels(self.schema).set(backlog[0])
                    OUTBOX_OLDEST_SECONDS.labels(self.schema).set(backlog[1])
                    counted_at = now
                self._loop.clear()
                rows = await self._fetch(conn, self._owned, ())
                look = False
                if not rows:
                    continue
            confirms = await self._publish(rows)
            try:
                if confirmed:
                    await _delete(conn, confirmed)
                # Read ahead while there may be more (a full batch, or a commit since the
                # last look), unless a rebalance is due: then the pipeline drains first.
                upcoming: Sequence[asyncpg.Record] = []
                full = len(rows) >= self.batch_size
                if time.monotonic() >= rebalance_at:
                    look = True
                elif full or self._loop.woken:
                    self._loop.clear()
                    upcoming = await self._fetch(conn, self._owned, [r["id"] for r in rows])
                results = await confirms
            except BaseException:
                confirms.cancel()
                raise
            confirmed = self._confirmed(rows, results)
            self._failures = 0
            if len(confirmed) == len(rows):
                rows = upcoming
            else:
                # What was read ahead must not overtake the rows that failed: read again.
                rows = []
                await _delete(conn, confirmed)
                confirmed = []
                await asyncio.sleep(RETRY_SECONDS)
                look = True

    async def _rebalance(self, conn: Connection) -> None:
        """Keep an even share of the partitions among the relays that run now."""
        members = max(1, int(await conn.fetchval(_MEMBERS, self._lock_space, MEMBER)))
        share = -(-PARTITIONS // members)
        for partition in sorted(self._owned)[share:]:
            await conn.execute("SELECT pg_advisory_unlock($1, $2)", self._lock_space, partition)
            self._owned.discard(partition)
        # Start at a random partition, so relays joining together do not contend for the same.
        start = random.randrange(PARTITIONS)
        for i in range(PARTITIONS):
            if len(self._owned) >= share:
                break
            partition = (start + i) % PARTITIONS
            if partition not in self._owned and await conn.fetchval(
                "SELECT pg_try_advisory_lock($1, $2)", self._lock_space, partition
            ):
                self._owned.add(partition)

    async def publish_pending(self) -> int:
        """Publish one batch of the partitions no running relay holds; returns how many rows
        were confirmed and removed. For tests and tools: a service runs `start()`."""
        async with self.pool.acquire() as conn:
            held = [
                p
                for p in range(PARTITIONS)
                if await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", self._lock_space, p)
            ]
            # The locks end with the session's reset when the connection goes back to the pool.
            rows = await self._fetch(conn, held, ())
            if not rows:
                return 0
            confirmed = self._confirmed(rows, await (await self._publish(rows)))
            await _delete(conn, confirmed)
        return len(confirmed)

    async def _fetch(
        self, conn: Connection, partitions: set[int] | list[int], in_flight: Sequence[int]
    ) -> list[asyncpg.Record]:
        if not partitions:
            return []
        # In-flight rows are excluded by id, not by a cursor: a lower id may commit later.
        rows: list[asyncpg.Record] = await conn.fetch(
            _SELECT, list(partitions), in_flight, self.batch_size
        )
        return rows

    async def _publish(
        self, rows: Sequence[asyncpg.Record]
    ) -> asyncio.Future[list[object | BaseException]]:
        """Queue every row's publish, in order, on the channel; the future holds the confirms."""
        if self._channel is None or self._exchange is None:
            raise RuntimeError("relay is not connected")
        # The relay is bound by client CPU, so it publishes on the underlying aiormq
        # channel: no aio-pika Message per row, no readiness check per publish, and no
        # wait for the socket write (wait=False) — only for the broker's confirm. The tasks
        # queue their frames in the order they were created (the channel's lock is FIFO).
        async with asyncio.timeout(self.publish_timeout):
            channel = await self._channel.get_underlay_channel()
        assert isinstance(channel, aiormq.Channel)  # the abstract one lacks `wait`
        return asyncio.gather(
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

    def _confirmed(
        self, rows: Sequence[asyncpg.Record], results: Sequence[object | BaseException]
    ) -> list[int]:
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
        EVENTS_PUBLISHED.labels(self.schema).inc(len(confirmed))
        return confirmed


async def _delete(conn: Connection, ids: list[int]) -> None:
    if ids:
        await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", ids)


def _properties(row: asyncpg.Record) -> spec.Basic.Properties:
    traceparent = row["traceparent"]
    properties: spec.Basic.Properties = spec.Basic.Properties(
        content_type="application/json",
        delivery_mode=PERSISTENT,
        message_id=row["event_id"],
        message_type=event_type_of(row["routing_key"]),
        headers={"traceparent": traceparent} if traceparent else None,
    )
    return properties
