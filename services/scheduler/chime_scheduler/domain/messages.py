"""The messages the scheduler asks the sender for: occurrences (with a Snooze button),
confirmations and replies. Pure builders of `send.requested.v1`."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from chime_contracts.events import SendRequested
from chime_contracts.events.schedules import MessageTemplate, ScheduleOwner
from chime_contracts.events.shared import InlineButton, SendSource
from chime_scheduler.domain.texts import say


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
