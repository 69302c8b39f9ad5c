"""The sender's event streams: what its decisions are taken from. Pure, no I/O.

`delivery-<id>`: the request as received (`send.requested.v1` or `notification.due.v1`),
then its one outcome (`message.sent.v1` or `send.failed.v1`). `chat-<bot>:<chat>`: what the
sender knows of a chat (`chat.blocked.v1`, and the facts ingest reports about it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import (
    ChatBlocked,
    ChatMemberChanged,
    ChatMigrated,
    MessageSent,
    NotificationDue,
    SendFailed,
    SendRequested,
    UserStarted,
)
from chime_kit.streams import Aggregate


@dataclass(frozen=True)
class DeliveryState:
    requested: bool = False
    finished: bool = False


def _evolve_delivery(state: DeliveryState, event: Event) -> DeliveryState:
    if isinstance(event, SendRequested | NotificationDue):
        return replace(state, requested=True)
    if isinstance(event, MessageSent | SendFailed):
        return replace(state, finished=True)
    return state


DELIVERY = Aggregate(DeliveryState(), _evolve_delivery)


def delivery_stream(delivery_id: str) -> str:
    return f"delivery-{delivery_id}"


def request(state: DeliveryState, received: Envelope[Any]) -> list[Event | Envelope[Any]]:
    """Keep the request as received; a delivery id seen before is not requested again."""
    return [] if state.requested else [received]


@dataclass(frozen=True)
class ChatState:
    blocked: bool = False
    moved_to: int | None = None  # a group that became a supergroup: its new id


# A bot's membership that lets it send again, and the one that means it was thrown out of a
# private chat (the user blocked it).
BACK = ("member", "administrator")


def _evolve_chat(state: ChatState, event: Event) -> ChatState:
    if isinstance(event, ChatBlocked):
        return replace(state, blocked=True)
    if isinstance(event, UserStarted):
        return replace(state, blocked=False)
    if isinstance(event, ChatMemberChanged):
        if event.new_state in BACK:
            return replace(state, blocked=False)
        if event.new_state == "kicked":
            return replace(state, blocked=True)
    if isinstance(event, ChatMigrated):
        return replace(state, moved_to=event.new_chat_id)
    return state


CHAT = Aggregate(ChatState(), _evolve_chat)


def chat_stream(bot_id: int, chat_id: int) -> str:
    return f"chat-{bot_id}:{chat_id}"


def block(state: ChatState, blocked: ChatBlocked) -> list[Event | Envelope[Any]]:
    """Mark the chat blocked once: a second refusal says nothing new."""
    return [] if state.blocked else [blocked]


def reported(state: ChatState, received: Envelope[Any]) -> list[Event | Envelope[Any]]:
    """Keep what ingest reported about the chat when it changes whether the bot may send."""
    after = _evolve_chat(state, received.data)
    return [received] if after.blocked != state.blocked else []


def migrate(
    state: ChatState, migrated: Envelope[Any] | ChatMigrated
) -> list[Event | Envelope[Any]]:
    """Record a chat's move once, whoever noticed it first (ingest, or a refused send)."""
    new_id = migrated.data.new_chat_id if isinstance(migrated, Envelope) else migrated.new_chat_id
    return [] if state.moved_to == new_id else [migrated]
