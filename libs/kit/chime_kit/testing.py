"""Helpers for tests that cross services: ASGI apps on real local ports, polling, and a tap
on the event exchange. Part of the package so every test suite shares one copy."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal, TypeVar

import aio_pika
import asyncpg
import orjson
import uvicorn
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage, AbstractQueue

from chime_contracts.envelope import Envelope
from chime_kit.broker import EVENTS, connect_robust
from chime_kit.db import Connection, create_pool
from chime_kit.fakes import InMemoryEvents, InMemoryWork
from chime_kit.migrator import kit_migrations, migrate, migrations_in
from chime_kit.streams import Work
from chime_kit.unit_of_work import UnitOfWork, unit_of_work

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serving(
    app: Any, port: int | None = None, lifespan: Literal["on", "off", "auto"] = "on"
) -> AsyncIterator[str]:
    """Serve `app` until the block ends; yields its base URL.

    The app's lifespan runs unless `lifespan="off"` (for bare ASGI callables without one).
    """
    port = port or free_port()
    # Idle connections are kept longer than any client of ours keeps them (the emulator's
    # clients keep theirs 60 s, as against Telegram), so none is closed under a request.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan=lifespan,
        timeout_keep_alive=75,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def eventually(
    check: Callable[[], Awaitable[T]], within: float = 15.0, interval: float = 0.05
) -> T:
    """Poll an async check until it returns something truthy (True, or a value); return it."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {within}s; last result: {result!r}")
        await asyncio.sleep(interval)


async def _events_exchange(channel: AbstractChannel) -> AbstractExchange:
    return await EVENTS.declare(channel)


async def publish_envelope(
    target: str | AbstractChannel,
    body: Envelope[Any] | bytes,
    routing_key: str | None = None,
    headers: dict[str, Any] | None = None,
) -> None:
    """Publish an envelope (or raw bytes) to the events exchange.

    `target` is an AMQP URL (a connection is opened for this one message) or a channel.
    An envelope is routed by its type unless `routing_key` says otherwise; bytes need one.
    """
    message_id = event_type = None
    if isinstance(body, Envelope):
        routing_key = routing_key or body.routing_key
        message_id, event_type = body.id, body.type  # as the outbox relay sets them
        body = body.model_dump_json().encode()
    if routing_key is None:
        raise ValueError("a raw body needs a routing key")
    message = aio_pika.Message(body, headers=headers or {}, message_id=message_id, type=event_type)
    if isinstance(target, str):
        async with await aio_pika.connect(target) as connection:
            channel = await connection.channel()
            await (await _events_exchange(channel)).publish(message, routing_key=routing_key)
    else:
        await (await _events_exchange(target)).publish(message, routing_key=routing_key)


class EventTap:
    """A quorum queue of its own, bound to chosen routing keys of the events exchange.

    `take` hands out the next messages as they are; `envelopes_of` parses what it reads and
    keeps every event it has seen, so later calls find the ones of other types.
    """

    def __init__(self, channel: AbstractChannel, queue: AbstractQueue) -> None:
        self.channel = channel
        self.queue = queue
        self.seen: list[dict[str, Any]] = []

    async def _next(self, deadline: float) -> AbstractIncomingMessage | None:
        """The next message, acked; None once the deadline has passed."""
        loop = asyncio.get_running_loop()
        while deadline - loop.time() > 0:
            # basic.get answers at once, empty or not; its timeout only guards against a
            # broker that never answers. A short one is harmful: aiormq closes the channel
            # of an RPC it gave up on, so a busy machine turned a slow answer into an error.
            message = await self.queue.get(timeout=30.0, fail=False)
            if message is not None:
                await message.ack()
                return message
            await asyncio.sleep(0.02)
        return None

    async def take(self, count: int, within: float = 10.0) -> list[AbstractIncomingMessage]:
        """The next `count` messages, acked, all within `within` seconds."""
        deadline = asyncio.get_running_loop().time() + within
        got: list[AbstractIncomingMessage] = []
        while len(got) < count:
            message = await self._next(deadline)
            assert message is not None, f"{len(got)} of {count} messages within {within}s"
            got.append(message)
        return got

    async def envelopes_of(
        self, event_type: str, count: int = 1, within: float = 15.0
    ) -> list[dict[str, Any]]:
        """Every event of that type seen so far, once there are `count` of them."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            found = [e for e in self.seen if e["type"] == event_type]
            if len(found) >= count:
                return found
            message = await self._next(deadline)
            assert message is not None, f"{count} x {event_type} not seen; saw {self.types()}"
            self.seen.append(orjson.loads(message.body))

    def types(self) -> list[str]:
        return [e["type"] for e in self.seen]

    async def message_count(self) -> int:
        """Messages waiting in the queue, by a passive declare."""
        declared = await self.channel.declare_queue(self.queue.name, passive=True)
        return declared.declaration_result.message_count or 0

    async def publish(
        self,
        body: Envelope[Any] | bytes,
        routing_key: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> None:
        await publish_envelope(self.channel, body, routing_key, headers)


@asynccontextmanager
async def event_tap(amqp_url: str, *routing_keys: str) -> AsyncIterator[EventTap]:
    """An `EventTap` bound to `routing_keys` (every event if none) until the block ends."""
    connection = await connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await _events_exchange(channel)
        queue = await channel.declare_queue(
            f"test.tap.{uuid.uuid4().hex[:12]}", durable=True, arguments={"x-queue-type": "quorum"}
        )
        for key in routing_keys or ("#",):
            await queue.bind(exchange, key)
        yield EventTap(channel, queue)


class Backend:
    """Units of work on PostgreSQL (`pool` given) or in memory, for contract suites that run
    one set of tests against both, and for handler tests on the fakes."""

    def __init__(self, pool: asyncpg.Pool | None = None, producer: str = "test") -> None:
        self.pool = pool
        self.producer = producer
        self.events = InMemoryEvents()

    @property
    def kind(self) -> str:
        return "memory" if self.pool is None else "postgres"

    def work(self, cause: Envelope[Any] | None = None) -> AbstractAsyncContextManager[Work]:
        if self.pool is None:
            return _in_memory(InMemoryWork(self.events, self.producer, cause))
        return unit_of_work(self.pool, self.producer, cause)

    def pick(self, work: Work, postgres: Callable[[Connection], T], memory: T) -> T:
        """The repository for `work`: bound to its connection, or the shared fake."""
        return postgres(work.conn) if isinstance(work, UnitOfWork) else memory


@asynccontextmanager
async def contract_backend(
    database_url: str | None, schema: str, migrations_package: str
) -> AsyncIterator[Backend]:
    """In memory when `database_url` is None, else on that database's migrated `schema`."""
    if database_url is None:
        yield Backend(producer=schema)
        return
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn, schema, migrations_package)
    finally:
        await conn.close()
    pool = await create_pool(database_url, schema, min_size=1, max_size=3)
    try:
        yield Backend(pool, producer=schema)
    finally:
        await pool.close()


@asynccontextmanager
async def _in_memory(work: InMemoryWork) -> AsyncIterator[Work]:
    async with work.attempt():  # a failing block leaves nothing behind, as a transaction
        yield work


async def table_rows(conn: Connection, table: str) -> list[str]:
    """Every row of a table as JSON text, sorted: two tables with equal rows compare equal."""
    if not table.isidentifier():
        raise ValueError(f"not a plain table name: {table!r}")
    rows = await conn.fetch(f"SELECT row_to_json(t)::text AS r FROM {table} t ORDER BY 1")  # noqa: S608
    return [r["r"] for r in rows]


async def migrate_as_before(
    conn: asyncpg.Connection, schema: str, migrations_package: str, before: str
) -> None:
    """The schema as an installation that stopped before migration `before` has it, for
    tests that upgrade one (the migrator then applies what is missing)."""
    await conn.execute(f'CREATE SCHEMA "{schema}"; SET search_path TO "{schema}"')
    await conn.execute(
        "CREATE TABLE schema_migrations"
        " (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    older = [m for m in migrations_in(migrations_package) if m.version < before]
    for migration in kit_migrations() + older:
        await conn.execute(migration.sql)
        await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", migration.version)
