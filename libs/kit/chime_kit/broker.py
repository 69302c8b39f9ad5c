"""FastStream RabbitBroker wiring: one topic exchange, quorum queues that dead-letter.

Checked defaults we do not trust: FastStream's subscriber ack policy is REJECT_ON_ERROR (an
exception rejects without requeue: one failure and the message is gone or dead-lettered), so
subscribers here use NACK_ON_ERROR and let the quorum queue's `x-delivery-limit` decide when
a message has failed often enough to be dead-lettered. Dead-lettering is at-least-once
(`x-dead-letter-strategy`), which RabbitMQ allows only with `x-overflow: reject-publish`.
"""

from __future__ import annotations

from faststream.rabbit import (
    Channel,
    ExchangeType,
    QueueType,
    RabbitBroker,
    RabbitExchange,
    RabbitQueue,
)

from chime_contracts.routing import DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE, dead_letter_queue

EVENTS = RabbitExchange(EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
DEAD_LETTERS = RabbitExchange(DEAD_LETTER_EXCHANGE, type=ExchangeType.DIRECT, durable=True)


def build_broker(amqp_url: str, *, prefetch: int) -> RabbitBroker:
    return RabbitBroker(
        amqp_url,
        default_channel=Channel(prefetch_count=prefetch),
        logger=None,
    )


def consumer_queue(name: str, routing_key: str, *, delivery_limit: int) -> RabbitQueue:
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=routing_key,
        arguments={
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-delivery-limit": delivery_limit,
        },
    )


async def declare_dead_letter_queue(broker: RabbitBroker, queue: str) -> None:
    exchange = await broker.declare_exchange(DEAD_LETTERS)
    dlq = await broker.declare_queue(
        RabbitQueue(dead_letter_queue(queue), queue_type=QueueType.QUORUM, durable=True)
    )
    await dlq.bind(exchange, routing_key=queue)
