"""A chat as ingest knows it, folded from its stream `chat-<bot>-<chat>`: pure, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from chime_contracts.envelope import Event
from chime_contracts.events import (
    ChatMemberChanged,
    ChatMigrated,
    ChatResumed,
    ChatStopped,
    LanguageSet,
    TimeZoneSet,
    UserStarted,
)
from chime_kit.event_store import Recorded
from chime_kit.streams import Aggregate


@dataclass(frozen=True)
class ChatState:
    started: bool = False
    # None until the chat chooses one: the installation's default applies (a setting, so it
    # is resolved when read, not recorded).
    time_zone: str | None = None
    language: str | None = None
    language_chosen_by: str | None = None
    stopped: bool = False
    member: str | None = None  # the bot's own status in the chat, as Telegram last said
    migrated_to: int | None = None

    def zone(self, default: str) -> str:
        return self.time_zone or default


def evolve(state: ChatState, event: Event) -> ChatState:
    if isinstance(event, UserStarted):
        return replace(state, started=True)
    if isinstance(event, TimeZoneSet):
        return replace(state, time_zone=event.time_zone)
    if isinstance(event, LanguageSet):
        return replace(state, language=event.language, language_chosen_by=event.chosen_by)
    if isinstance(event, ChatStopped):
        return replace(state, stopped=True)
    if isinstance(event, ChatResumed):
        return replace(state, stopped=False)
    if isinstance(event, ChatMemberChanged):
        return replace(state, member=event.new_state)
    if isinstance(event, ChatMigrated):
        return replace(state, migrated_to=event.new_chat_id)
    return state


CHAT = Aggregate(ChatState(), evolve)


def stream_id(bot_id: int, chat_id: int) -> str:
    return f"chat-{bot_id}-{chat_id}"


def chat_of_stream(stream: str) -> tuple[int, int] | None:
    """(bot, chat) of a stream `chat-<bot>-<chat>`; None for any other stream."""
    prefix, _, rest = stream.partition("-")
    bot, _, chat = rest.partition("-")
    if prefix != "chat" or not bot.isdigit() or not chat.lstrip("-").isdigit():
        return None
    return int(bot), int(chat)


def row_changes(recorded: Recorded) -> dict[str, Any]:
    """The columns of its chat's row (the chats projection) an event of a chat stream sets;
    none for another."""
    data = recorded.envelope.data
    if isinstance(data, UserStarted):
        return {"started_at": recorded.envelope.occurred_at}
    if isinstance(data, TimeZoneSet):
        return {"time_zone": data.time_zone}
    if isinstance(data, LanguageSet):
        return {"language": data.language, "language_chosen_by": data.chosen_by}
    if isinstance(data, ChatStopped | ChatResumed):
        return {"stopped": isinstance(data, ChatStopped)}
    if isinstance(data, ChatMemberChanged):
        return {
            "chat_type": data.chat_type, "member": data.new_state,
            "can_post": data.can_post_messages,
        }  # fmt: skip
    if isinstance(data, ChatMigrated):  # recorded in the old chat's stream
        return {"migrated_to": data.new_chat_id}
    return {}


# Every column of a chat's row and its value before any event (a rebuild's starting point).
EMPTY_ROW: dict[str, Any] = {
    "time_zone": None, "started_at": None, "language": None, "language_chosen_by": None,
    "stopped": False, "chat_type": None, "member": None, "can_post": None, "migrated_to": None,
}  # fmt: skip


def row_of(events: Sequence[Recorded]) -> dict[str, Any]:
    """The whole row a chat's stream folds into, from its first event on (a rebuild's)."""
    row = dict(EMPTY_ROW)
    for recorded in events:
        row.update(row_changes(recorded))
    return row


def choose_time_zone(state: ChatState, chosen: TimeZoneSet) -> list[Event]:
    """Recorded only when it changes what the chat already had."""
    return [] if state.time_zone == chosen.time_zone else [chosen]


def start(
    state: ChatState, started: UserStarted, resumed: ChatResumed, language: LanguageSet | None
) -> list[Event]:
    """Every /start is kept (a returning user); a stopped chat resumes; a chat that never
    chose a language takes Telegram's, when we speak it."""
    events: list[Event] = [started]
    if state.stopped:
        events.append(resumed)
    if language is not None and state.language is None:
        events.append(language)
    return events


def stop(state: ChatState, stopped: ChatStopped) -> list[Event]:
    return [] if state.stopped else [stopped]


def choose_language(state: ChatState, chosen: LanguageSet) -> list[Event]:
    """A command's choice is kept (it outranks Telegram's); the same one twice is not."""
    if state.language == chosen.language and state.language_chosen_by == chosen.chosen_by:
        return []
    return [chosen]


def member_changed(state: ChatState, changed: ChatMemberChanged) -> list[Event]:
    """Telegram's word on the bot's membership, kept when it says something new."""
    return [] if state.member == changed.new_state else [changed]


def migrate_from(state: ChatState, migrated: ChatMigrated) -> list[Event]:
    """The old group's stream closes with the move, once."""
    return [] if state.migrated_to is not None else [migrated]


def migrate_into(
    state: ChatState,
    old: ChatState,
    zone: TimeZoneSet,
    language: LanguageSet | None,
    stopped: ChatStopped,
) -> list[Event]:
    """The supergroup takes over the old group's choices it has not made itself, and stays
    stopped if the group was."""
    events: list[Event] = []
    if old.time_zone and state.time_zone is None:
        events.append(zone)
    if language is not None and state.language is None:
        events.append(language)
    if old.stopped and not state.stopped:
        events.append(stopped)
    return events
