"""The messages the scheduler asks the sender for: occurrences (with a Snooze button),
confirmations and replies. Pure builders of `send.requested.v1`, and of a firing batch's
occurrences as one `send.batch.requested.v1` per bot."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

from chime_contracts.envelope import new_event_id
from chime_contracts.events import SendBatchRequested, SendRequested
from chime_contracts.events.schedules import MessageTemplate, ScheduleOwner
from chime_contracts.events.shared import BatchDelivery, InlineButton, SendSource
from chime_scheduler.domain.texts import say
from chime_scheduler.domain.trusted import trusted

BATCH_LIMIT = 5000  # deliveries in one send.batch.requested.v1


@cache
def snooze_row(language: str | None) -> tuple[InlineButton, ...]:
    """Ingest answers a `snooze:<for>` callback (15m, 1h) and asks the scheduler to snooze."""
    return (
        InlineButton(text=say("snooze", language), callback_data="snooze:15m"),
        InlineButton(text=say("snooze_hour", language), callback_data="snooze:1h"),
    )


def occurrence_id(kind: str, source_id: str, occurrence: datetime) -> str:
    """One delivery per occurrence: the sender sends each id at most once."""
    return f"{kind}:{source_id}:{int(occurrence.timestamp())}"


def occurrence(
    kind: str, source_id: str, delivery_id: str, bot_id: int, chat_id: int,
    message: MessageTemplate, scheduled_for: datetime, language: str | None,
) -> SendRequested:  # fmt: skip
    """An occurrence of a schedule, a reminder or a snooze, with its Snooze buttons."""
    return SendRequested(
        delivery_id=delivery_id, bot_id=bot_id, chat_id=chat_id, text=message.text,
        parse_mode=message.parse_mode, origin=f"scheduler.{kind}",
        source=SendSource(kind=kind, id=source_id), variables=message.variables,
        buttons=[*(message.buttons or []), list(snooze_row(language))], media=message.media,
        disable_notification=message.disable_notification, scheduled_for=scheduled_for,
    )  # fmt: skip


def batched_occurrence(
    kind: str, source_id: str, delivery_id: str, chat_id: int, message: MessageTemplate,
    scheduled_for: datetime, language: str | None, traceparent: str | None,
    correlation_id: str,
) -> BatchDelivery:  # fmt: skip
    """`occurrence` as one delivery of a batch: the same message, with the firing's trace.
    Built without validation: every part comes validated (the stored template, our own
    ids and buttons); `test_a_batched_occurrence_is_a_valid_one` holds it to the model."""
    return trusted(
        BatchDelivery, delivery_id=delivery_id, chat_id=chat_id, text=message.text,
        parse_mode=message.parse_mode, source=trusted(SendSource, kind=kind, id=source_id),
        variables=message.variables,
        buttons=[*(message.buttons or []), list(snooze_row(language))], media=message.media,
        disable_notification=message.disable_notification, scheduled_for=scheduled_for,
        traceparent=traceparent, correlation_id=correlation_id,
    )  # fmt: skip


def batches(by_bot: dict[int, list[BatchDelivery]]) -> list[SendBatchRequested]:
    """One bus message per bot (and per `BATCH_LIMIT` deliveries) for a firing batch's
    occurrences; the batch-level message fields repeat its first delivery's."""
    out = []
    for bot_id, deliveries in by_bot.items():
        for n in range(0, len(deliveries), BATCH_LIMIT):
            part: Sequence[BatchDelivery] = deliveries[n : n + BATCH_LIMIT]
            first = part[0]
            out.append(SendBatchRequested(
                batch_id=f"fire:{new_event_id()}", bot_id=bot_id,
                chat_ids=[d.chat_id for d in part], text=first.text, source=first.source,
                deliveries=list(part),
            ))  # fmt: skip
    return out


def chat_of(owner: ScheduleOwner) -> tuple[int, int] | None:
    """The (bot, chat) a chat owner stands for; None for an API key."""
    if owner.kind != "chat":
        return None
    bot, _, chat = owner.id.partition(":")
    try:
        return int(bot), int(chat)
    except ValueError:
        return None


def to_chat(
    bot_id: int, chat_id: int, request_id: str, text: str, kind: str = "confirmation",
    buttons: list[list[InlineButton]] | None = None,
) -> SendRequested:  # fmt: skip
    """A confirmation (or, kind `reply`, an answer such as /list) to a chat."""
    return SendRequested(
        delivery_id=f"{kind}:{request_id}", bot_id=bot_id, chat_id=chat_id, text=text,
        origin=f"scheduler.{kind}", source=SendSource(kind=kind, id=request_id), buttons=buttons,
    )  # fmt: skip
