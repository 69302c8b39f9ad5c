"""Chats as the bots see them: a read model folded from ingest's and the sender's events.

One record per (bot, chat), the fold of the stream `chat-<bot>:<chat>`. Another service's
event joins that stream only when it changes the record (`changes`), so the stream stays
short: a chat's messages move `last_seen_at` at most once per `SEEN_STEP`, which is the
precision of `last_seen_at`. A rebuild folds the same streams, so it yields the same rows.

Blocking is decided by the event's own time: an older event never undoes a newer one
(the sender's `chat.blocked` and ingest's messages come through different queues).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from chime_contracts.envelope import Envelope
from chime_contracts.events import (
    ChatBlocked,
    ChatMemberChanged,
    ChatResumed,
    ChatStopped,
    LanguageSet,
    MessageReceived,
    TimeZoneSet,
    UserStarted,
)

SEEN_STEP = timedelta(minutes=5)
CHAT_EVENTS = (
    UserStarted,
    MessageReceived,
    ChatMemberChanged,
    ChatBlocked,
    ChatStopped,
    ChatResumed,
    TimeZoneSet,
    LanguageSet,
)
ChatEvent = (
    UserStarted
    | MessageReceived
    | ChatMemberChanged
    | ChatBlocked
    | ChatStopped
    | ChatResumed
    | TimeZoneSet
    | LanguageSet
)
_GONE = ("left", "kicked")  # the bot's membership states in which nothing reaches the chat


@dataclass(frozen=True)
class BotChat:
    """One chat as one bot knows it; `version` is its stream's."""

    bot_id: int
    chat_id: int
    first_seen_at: datetime
    version: int = 0
    chat_type: str | None = None
    user_id: int | None = None
    username: str | None = None
    first_name: str | None = None
    language: str | None = None
    time_zone: str | None = None
    started_at: datetime | None = None
    last_seen_at: datetime | None = None
    blocked: bool = False
    blocked_changed_at: datetime | None = None
    stopped: bool = False


@dataclass(frozen=True)
class Chat:
    """A chat across its bots: the bot it talks through now and each bot's view of it."""

    chat_id: int
    assigned_bot_id: int
    language: str | None
    time_zone: str | None
    first_seen_at: datetime
    last_seen_at: datetime | None
    bots: tuple[BotChat, ...]


def stream_of(bot_id: int, chat_id: int) -> str:
    return f"chat-{bot_id}:{chat_id}"


def time_of(envelope: Envelope[Any]) -> datetime:
    """When it happened in the chat: the event's own time, else when it was published."""
    e = envelope.data
    if isinstance(e, MessageReceived):
        return e.edited_at or e.sent_at
    if isinstance(e, ChatMemberChanged):
        return e.changed_at
    if isinstance(e, ChatBlocked):
        return e.blocked_at
    if isinstance(e, ChatStopped):
        return e.stopped_at
    if isinstance(e, ChatResumed):
        return e.resumed_at
    return envelope.occurred_at


def evolve(chat: BotChat | None, envelope: Envelope[Any], version: int) -> BotChat:
    """The record after one event of its stream."""
    e: ChatEvent = envelope.data
    at = time_of(envelope)
    chat = chat or BotChat(bot_id=e.bot_id, chat_id=e.chat_id, first_seen_at=at)
    chat = replace(chat, version=version, first_seen_at=min(chat.first_seen_at, at))
    if isinstance(e, UserStarted | MessageReceived):
        chat = _seen(chat, e, at)
    elif isinstance(e, ChatMemberChanged):
        chat = _blocking(replace(chat, chat_type=e.chat_type), e.new_state in _GONE, at)
    elif isinstance(e, ChatBlocked):
        chat = _blocking(chat, True, at)
    elif isinstance(e, ChatStopped | ChatResumed):
        chat = replace(chat, stopped=isinstance(e, ChatStopped))
    elif isinstance(e, TimeZoneSet):
        chat = replace(chat, time_zone=e.time_zone)
    elif isinstance(e, LanguageSet):
        chat = replace(chat, language=e.language)
    return chat


def _seen(chat: BotChat, e: UserStarted | MessageReceived, at: datetime) -> BotChat:
    """The chat wrote to the bot: it has not blocked it, and it was seen at `at`."""
    if chat.last_seen_at is None or at >= chat.last_seen_at + SEEN_STEP:
        chat = replace(chat, last_seen_at=at)
    if chat.language is None and e.language_code:
        chat = replace(chat, language=e.language_code)
    if isinstance(e, UserStarted):
        started = chat.started_at or at
        chat = replace(
            chat, started_at=started, user_id=e.user_id,
            username=e.username or chat.username, first_name=e.first_name or chat.first_name,
        )  # fmt: skip
    else:
        chat = replace(chat, chat_type=e.chat_type, user_id=e.user_id or chat.user_id)
    return _blocking(chat, False, at)


def _blocking(chat: BotChat, blocked: bool, at: datetime) -> BotChat:
    if chat.blocked_changed_at is not None and at < chat.blocked_changed_at:
        return chat  # older than what set the state now
    if chat.blocked == blocked and chat.blocked_changed_at is not None:
        return chat
    return replace(chat, blocked=blocked, blocked_changed_at=at)


def changes(chat: BotChat | None, envelope: Envelope[Any]) -> bool:
    """Whether the event changes the record (else it is not kept: the stream stays short)."""
    if chat is None:
        return True
    after = evolve(chat, envelope, chat.version)
    return after != chat


def assigned_bot(bots: Sequence[BotChat]) -> BotChat:
    """The bot the chat talks through: the one it last wrote to, else the one it started
    last, else the first that knew it; a bot it blocked only when every bot is blocked."""

    def rank(b: BotChat) -> tuple[bool, datetime, datetime, datetime, int]:
        floor = b.first_seen_at
        return (
            not b.blocked, b.last_seen_at or floor, b.started_at or floor, floor, -b.bot_id,
        )  # fmt: skip

    return max(bots, key=rank)


def chat_of(bots: Sequence[BotChat]) -> Chat:
    """The chat across its bots' records (all of one chat id, at least one)."""
    assigned = assigned_bot(bots)
    seen = [b.last_seen_at for b in bots if b.last_seen_at is not None]
    return Chat(
        chat_id=assigned.chat_id,
        assigned_bot_id=assigned.bot_id,
        language=assigned.language or next((b.language for b in bots if b.language), None),
        time_zone=assigned.time_zone or next((b.time_zone for b in bots if b.time_zone), None),
        first_seen_at=min(b.first_seen_at for b in bots),
        last_seen_at=max(seen) if seen else None,
        bots=tuple(sorted(bots, key=lambda b: b.bot_id)),
    )


@dataclass(frozen=True)
class ChatFilter:
    """Filters of a listing; a chat matches when one of its bots' records matches them all."""

    bot_id: int | None = None
    blocked: bool | None = None
    language: str | None = None

    def matches(self, chat: BotChat) -> bool:
        return (
            (self.bot_id is None or chat.bot_id == self.bot_id)
            and (self.blocked is None or chat.blocked == self.blocked)
            and (self.language is None or chat.language == self.language)
        )
