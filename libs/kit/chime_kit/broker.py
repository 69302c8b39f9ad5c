"""RabbitMQ wiring: one topic exchange, quorum queues that dead-letter, one connection.

Consumers are built on aio-pika directly, not on FastStream: FastStream 0.7.8 hands a
RabbitMQ subscriber one message at a time (batch consumption exists there only for Kafka,
Redis and NATS) and settles each on its own, which cost a third of the throughput of
acknowledging many at once; the kit's consumer commits a batch and then acks it with one
`basic.ack(multiple)`.

A failed message is nacked with requeue and the quorum queue's `x-delivery-limit` decides
when it has failed often enough to be dead-lettered. Dead-lettering is at-least-once
(`x-dead-letter-strategy`), which RabbitMQ allows only with `x-overflow: reject-publish`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractQueue, AbstractRobustConnection
from aio_pika.connection import make_url

from chime_contracts.envelope import Envelope
from chime_contracts.routing import (
    DEAD_LETTER_EXCHANGE,
    EVENTS_EXCHANGE,
    dead_letter_queue,
)

if TYPE_CHECKING:
    from chime_kit.consumer import Consumer, Outcome, Router


@dataclass(frozen=True)
class ExchangeSpec:
    """How Chime declares an exchange; the Kubernetes topology must declare it the same way."""

    name: str
    type: aio_pika.ExchangeType
    durable: bool = True
    auto_delete: bool = False

    async def declare(self, channel: AbstractChannel) -> aio_pika.abc.AbstractExchange:
        return await channel.declare_exchange(
            self.name, self.type, durable=self.durable, auto_delete=self.auto_delete
        )


EVENTS = ExchangeSpec(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC)
DEAD_LETTERS = ExchangeSpec(DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT)


# How long closing a connection that failed or was cancelled half-way may take.
CLOSE_SECONDS = 5.0


async def connect_robust(amqp_url: str) -> AbstractRobustConnection:
    """aio-pika's robust connection, closed again if connecting fails or is cancelled.

    `aio_pika.connect_robust` starts the connection's reconnecting task before it awaits
    the first connect: a caller cancelled then (a service stopped while it was still
    connecting) leaves that task retrying for ever, against a vhost that may be gone."""
    connection = aio_pika.RobustConnection(make_url(amqp_url))
    try:
        await connection.connect()
    except BaseException:
        await close_quietly(connection)
        raise
    return connection


async def close_quietly(connection: AbstractRobustConnection) -> None:
    """Close `connection` within `CLOSE_SECONDS`, whatever state it is in."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_SECONDS):
            await connection.close()


def consumer_queue_arguments(name: str, *, delivery_limit: int) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": name,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-delivery-limit": delivery_limit,
    }


async def declare_consumer_queue(
    channel: AbstractChannel, name: str, routing_keys: str | Sequence[str], *, delivery_limit: int
) -> AbstractQueue:
    """The quorum queue `name` bound to each of `routing_keys` on the events exchange."""
    exchange = await EVENTS.declare(channel)
    queue = await channel.declare_queue(
        name, durable=True, arguments=consumer_queue_arguments(name, delivery_limit=delivery_limit)
    )
    for key in [routing_keys] if isinstance(routing_keys, str) else routing_keys:
        await queue.bind(exchange, key)
    return queue


async def declare_dead_letter_queue(channel: AbstractChannel, queue: str) -> None:
    exchange = await DEAD_LETTERS.declare(channel)
    dlq = await channel.declare_queue(
        dead_letter_queue(queue), durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dlq.bind(exchange, routing_key=queue)


class Broker:
    """The consumers of one process on one robust connection, a channel each.

    aio-pika's robust connection reopens channels, redeclares queues and consumes again
    after the broker drops the connection.
    """

    def __init__(self, amqp_url: str, *, prefetch: int) -> None:
        self.amqp_url = amqp_url
        self.prefetch = prefetch
        self.consumers: list[Consumer[Any]] = []
        self._connection: AbstractRobustConnection | None = None

    @property
    def connection(self) -> AbstractRobustConnection | None:
        """The consumers' connection while it is open (for the health view's probes)."""
        return self._connection

    def include_router(self, router: Router) -> None:
        self.consumers.extend(router.consumers)

    async def start(self) -> None:
        if not self.consumers:
            return
        self._connection = await connect_robust(self.amqp_url)
        for consumer in self.consumers:
            await consumer.start(self._connection, prefetch=self.prefetch)

    async def stop(self) -> None:
        for consumer in self.consumers:
            await consumer.stop()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def ping(self, timeout: float) -> bool:  # noqa: ASYNC109 (readiness's call)
        """Whether the consumers' connection is up (true when there are no consumers)."""
        if not self.consumers:
            return True
        connection = self._connection
        if connection is None:
            return False
        try:
            async with asyncio.timeout(timeout):
                await connection.ready()
        except TimeoutError:
            return False
        return not connection.is_closed

    async def deliver(
        self,
        *bodies: Envelope[Any] | bytes,
        routing_key: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> dict[str, Sequence[Outcome]]:
        """Hand `bodies` as one batch to every consumer of their routing key, in process.

        The fast test path: the consumers' own code with a real database and no broker.
        Returns each queue's outcomes, in order.
        """
        keys = {routing_key or _routing_key(body) for body in bodies}
        if len(keys) != 1:
            raise ValueError(f"one routing key per delivery, got {sorted(map(str, keys))}")
        key = keys.pop()
        return {
            consumer.queue: await consumer.deliver(*bodies, headers=headers)
            for consumer in self.consumers
            if key is not None and consumer.wants(key)
        }


def _routing_key(body: Envelope[Any] | bytes) -> str | None:
    return body.routing_key if isinstance(body, Envelope) else None


def build_broker(amqp_url: str, *, prefetch: int) -> Broker:
    return Broker(amqp_url, prefetch=prefetch)
