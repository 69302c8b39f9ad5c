import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import pytest

from chime_contracts.routing import EVENTS_EXCHANGE
from chime_kit.runtime import Runtime, open_runtime
from chime_kit.settings import ServiceSettings

# The migrations package of a made-up service, importable as `fake_service_migrations`.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
async def runtime(database_url: str, amqp_url: str) -> AsyncIterator[Runtime]:
    settings = ServiceSettings(
        database_url=database_url,
        amqp_url=amqp_url,
        delivery_limit=2,
        relay_idle_poll_seconds=0.02,
        event_log_max_age=None,
    )
    rt = await open_runtime("demo", settings, "fake_service_migrations")
    yield rt
    await rt.stop()


class Tap:
    """A test queue bound to every event, read with aio-pika."""

    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self.queue = queue

    async def drain(
        self, expected: int, timeout: float = 10.0
    ) -> list[aio_pika.abc.AbstractIncomingMessage]:
        got: list[aio_pika.abc.AbstractIncomingMessage] = []
        async with self.queue.iterator(timeout=timeout) as it:
            async for message in it:
                await message.ack()
                got.append(message)
                if len(got) >= expected:
                    break
        return got

    async def count(self) -> int:
        declared = await self.queue.channel.declare_queue(self.queue.name, passive=True)
        return declared.declaration_result.message_count or 0


@pytest.fixture
async def tap(amqp_url: str) -> AsyncIterator[Tap]:
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue("tap", durable=True, arguments={"x-queue-type": "quorum"})
    await queue.bind(exchange, "#")
    yield Tap(queue)
    await connection.close()
