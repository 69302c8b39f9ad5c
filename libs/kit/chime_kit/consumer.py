"""Consuming one event type idempotently: inbox row and handler writes commit together."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from chime_contracts.envelope import Envelope, Event
from chime_kit.broker import EVENTS, consumer_queue
from chime_kit.in_flight import InFlight
from chime_kit.metrics import EVENTS_CONSUMED, HANDLER_SECONDS
from chime_kit.telemetry import context_from, mark_service
from chime_kit.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
Handler = Callable[[UnitOfWork, Envelope[E]], Awaitable[None]]
UnitOfWorkFactory = Callable[[Envelope[Any]], Any]


def subscribe(
    router: RabbitRouter,
    *,
    service: str,
    queue: str,
    event: type[E],
    handler: Handler[E],
    unit_of_work: UnitOfWorkFactory,
    delivery_limit: int,
    in_flight: InFlight | None = None,
) -> None:
    """Bind `queue` to `event`'s routing key and apply each event once.

    A message that is not a valid envelope of `event` is poison: rejected straight to the
    dead-letter queue. A handler exception nacks with requeue; the queue's delivery limit
    then dead-letters it. A redelivered event already in the inbox is acknowledged unapplied.
    `in_flight` follows the event times of the messages being applied.
    """
    envelope_type = Envelope[event]  # type: ignore[valid-type]
    tracer = trace.get_tracer("chime.consumer")

    @router.subscriber(
        consumer_queue(queue, event.type_name(), delivery_limit=delivery_limit),
        EVENTS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=queue,
        description=f"{service} consumes {event.type_name()}",
    )
    async def consume(message: RabbitMessage) -> None:
        try:
            envelope = envelope_type.model_validate_json(message.body)
        except ValidationError as exc:
            log.error("poison message on %s dead-lettered: %s", queue, exc.errors()[:3])
            EVENTS_CONSUMED.labels(service, queue, "poison").inc()
            await message.reject(requeue=False)
            return
        tracking = in_flight or InFlight()
        # Entered before the first await, so an earlier message is tracked before a later one
        # can commit.
        tracking.enter(envelope.occurred_at)
        try:
            await _apply(envelope, message)
        except Exception:
            # Left before the pause: a failing message must not hold the watermark back.
            tracking.leave(envelope.occurred_at)
            await asyncio.sleep(_backoff(message.headers))
            raise
        except BaseException:
            tracking.leave(envelope.occurred_at)
            raise
        tracking.leave(envelope.occurred_at)

    async def _apply(envelope: Envelope[Any], message: RabbitMessage) -> None:
        with tracer.start_as_current_span(
            f"consume {envelope.type}",
            context=context_from(message.headers),
            kind=SpanKind.CONSUMER,
            attributes={"messaging.destination.name": queue, "chime.event_id": envelope.id},
        ) as span:
            mark_service(span, service)
            started = time.perf_counter()
            try:
                async with unit_of_work(envelope) as uow:
                    if not await claim(uow, queue, envelope.id):
                        EVENTS_CONSUMED.labels(service, queue, "duplicate").inc()
                        return
                    await handler(uow, envelope)
            except Exception:
                EVENTS_CONSUMED.labels(service, queue, "error").inc()
                log.exception(
                    "handling %s on %s failed; it will be redelivered", envelope.id, queue
                )
                raise
            HANDLER_SECONDS.labels(service, queue).observe(time.perf_counter() - started)
            EVENTS_CONSUMED.labels(service, queue, "applied").inc()


async def claim(uow: UnitOfWork, consumer: str, event_id: str) -> bool:
    """Insert the inbox row; False when this consumer already applied the event."""
    status = await uow.conn.execute(
        "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        consumer,
        event_id,
    )
    return bool(status == "INSERT 0 1")


def _backoff(headers: dict[str, Any] | None) -> float:
    """A short pause before the nack, growing with the quorum queue's delivery count."""
    count = int((headers or {}).get("x-delivery-count", 0) or 0)
    return float(min(2.0, 0.05 * 2**count))
