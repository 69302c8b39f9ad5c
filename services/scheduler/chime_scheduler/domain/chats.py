"""What the scheduler keeps of a chat, from ingest's and the sender's facts.

The stream `chat-<bot>:<chat>` keeps those facts as received, each only when it changes
something: blocked (the sender's chat.blocked.v1, or my_chat_member kicked or left),
stopped (/stop, then /start), its zone and language, and a migration to a supergroup.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import (
    ChatBlocked,
    ChatMemberChanged,
    ChatMigrated,
    ChatResumed,
    ChatStopped,
    LanguageSet,
    TimeZoneSet,
)
from chime_kit.streams import Aggregate

GONE = ("kicked", "left")


@dataclass(frozen=True)
class ChatState:
    blocked: bool = False
    stopped: bool = False
    time_zone: str | None = None
    language: str | None = None
    migrated_to: int | None = None


def evolve(state: ChatState, event: Event) -> ChatState:
    if isinstance(event, ChatBlocked):
        return replace(state, blocked=True)
    if isinstance(event, ChatMemberChanged):
        return replace(state, blocked=event.new_state in GONE)
    if isinstance(event, ChatStopped):
        return replace(state, stopped=True)
    if isinstance(event, ChatResumed):
        return replace(state, stopped=False)
    if isinstance(event, TimeZoneSet):
        return replace(state, time_zone=event.time_zone)
    if isinstance(event, LanguageSet):
        return replace(state, language=event.language)
    if isinstance(event, ChatMigrated):
        return replace(state, migrated_to=event.new_chat_id)
    return state


CHAT = Aggregate(ChatState(), evolve)


def stream_id(bot_id: int, chat_id: int) -> str:
    return f"chat-{bot_id}:{chat_id}"


def note(state: ChatState, fact: Envelope[Any]) -> list[Event | Envelope[Any]]:
    """Keep the fact if it changes what the scheduler knows of the chat."""
    return [fact] if evolve(state, fact.data) != state else []
