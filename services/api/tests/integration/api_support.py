"""Helpers of the api's integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aio_pika
import httpx
from fastapi import FastAPI

from chime_contracts.envelope import Event, envelope_of
from chime_contracts.routing import EVENTS_EXCHANGE

WRITE = "notifications:write"
READ = "notifications:read"


@asynccontextmanager
async def running(app: FastAPI, raise_errors: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """The app's own lifespan (runtime, consumers, relay) around an in-process client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_errors)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client
        await outbox_drained(app)


async def outbox_drained(app: FastAPI, timeout: float = 5.0) -> None:
    """Stop only once the relay published what the test's requests wrote."""
    pool = app.state.service.runtime.pool

    async def empty() -> bool:
        return await pool.fetchval("SELECT count(*) FROM outbox") == 0

    await eventually(empty, timeout)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Tap:
    """A test queue bound to chosen routing keys of the events exchange."""

    def __init__(self, connection: aio_pika.abc.AbstractRobustConnection) -> None:
        self.connection = connection
        self.exchange: aio_pika.abc.AbstractExchange | None = None
        self.queue: aio_pika.abc.AbstractQueue | None = None

    async def bind(self, *routing_keys: str) -> None:
        channel = await self.connection.channel()
        self.exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        self.queue = await channel.declare_queue(
            "test.tap", durable=True, arguments={"x-queue-type": "quorum"}
        )
        for key in routing_keys:
            await self.queue.bind(self.exchange, key)

    async def take(
        self, count: int, timeout: float = 10.0
    ) -> list[aio_pika.abc.AbstractIncomingMessage]:
        assert self.queue is not None
        got: list[aio_pika.abc.AbstractIncomingMessage] = []
        async with self.queue.iterator(timeout=timeout) as it:
            async for message in it:
                await message.ack()
                got.append(message)
                if len(got) >= count:
                    break
        return got

    async def publish(self, event: Event) -> None:
        assert self.exchange is not None
        envelope = envelope_of(event, producer="sender")
        await self.exchange.publish(
            aio_pika.Message(envelope.model_dump_json().encode()), routing_key=event.type
        )


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)
