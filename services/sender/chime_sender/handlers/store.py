"""Storing requests: record each in its delivery's stream once, and queue it for sending."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from chime_contracts.envelope import Envelope
from chime_contracts.events import NotificationDue, SendRequested
from chime_kit.streams import Work, decide
from chime_kit.telemetry import current_traceparent
from chime_sender.domain import streams
from chime_sender.domain.deliveries import Delivery
from chime_sender.domain.messages import parts_of, rendered
from chime_sender.ports import Stores


class Stored(Enum):
    QUEUED = "queued"
    DUPLICATE = "duplicate"  # this delivery id was requested before: nothing more is sent


async def _store(
    work: Work,
    stores: Stores,
    delivery: Delivery,
    origin: str,
    received: Envelope[Any],
    requested_at: datetime,
) -> Stored:
    decided = await decide(
        work,
        streams.delivery_stream(delivery.delivery_id),
        streams.DELIVERY,
        lambda state: streams.request(state, received),
        project=stores.log.apply,
    )
    if not decided.recorded:
        return Stored.DUPLICATE
    parts = len(parts_of(delivery.text, delivery.method))
    await stores.deliveries.add(delivery, origin, parts, requested_at, decided.version)
    return Stored.QUEUED


async def store_send_request(
    work: Work, stores: Stores, envelope: Envelope[SendRequested]
) -> Stored:
    request = envelope.data
    text, method, options = rendered(request)
    delivery = Delivery(
        delivery_id=request.delivery_id,
        bot_id=request.bot_id,
        chat_id=request.chat_id,
        text=text,
        parse_mode=request.parse_mode,
        reply_to_message_id=request.reply_to_message_id,
        correlation_id=envelope.correlation_id,
        traceparent=current_traceparent()[0],
        source=request.source,
        method=method,
        options=options,
    )
    return await _store(work, stores, delivery, request.origin, envelope, envelope.occurred_at)


async def store_due_notification(
    work: Work, stores: Stores, envelope: Envelope[NotificationDue]
) -> Stored:
    due = envelope.data
    delivery = Delivery(
        delivery_id=due.delivery_id,
        bot_id=due.bot_id,
        chat_id=due.chat_id,
        text=due.text,
        parse_mode=None,
        reply_to_message_id=None,
        correlation_id=envelope.correlation_id,
        traceparent=current_traceparent()[0],
    )
    origin = f"scheduler.{due.source}"
    return await _store(work, stores, delivery, origin, envelope, envelope.occurred_at)
