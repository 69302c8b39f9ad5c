"""A chat as ingest knows it, folded from its stream `chat-<bot>-<chat>`: pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, replace

from chime_contracts.envelope import Event
from chime_contracts.events import TimeZoneSet, UserStarted
from chime_kit.streams import Aggregate


@dataclass(frozen=True)
class ChatState:
    started: bool = False
    # None until the chat chooses one: the installation's default applies (a setting, so it
    # is resolved when read, not recorded).
    time_zone: str | None = None

    def zone(self, default: str) -> str:
        return self.time_zone or default


def evolve(state: ChatState, event: Event) -> ChatState:
    if isinstance(event, UserStarted):
        return replace(state, started=True)
    if isinstance(event, TimeZoneSet):
        return replace(state, time_zone=event.time_zone)
    return state


CHAT = Aggregate(ChatState(), evolve)


def stream_id(bot_id: int, chat_id: int) -> str:
    return f"chat-{bot_id}-{chat_id}"


def choose_time_zone(state: ChatState, chosen: TimeZoneSet) -> list[Event]:
    """Recorded only when it changes what the chat already had."""
    return [] if state.time_zone == chosen.time_zone else [chosen]
