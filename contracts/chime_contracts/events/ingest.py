"""Events published by ingest: Telegram's side of the door."""

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from chime_contracts.envelope import Event


class UpdateReceived(Event):
    """A Telegram update was accepted and stored durably (deduplicated per bot)."""

    type: Literal["update.received.v1"] = "update.received.v1"
    producer: ClassVar[str] = "ingest"

    bot_id: int
    update_id: int
    kind: str = Field(description="the Update field present, e.g. 'message', 'my_chat_member'")
    chat_id: int | None = None
    user_id: int | None = None
    update: dict[str, Any] = Field(description="the update as Telegram sent it")


class UserStarted(Event):
    """A user sent /start to a bot."""

    type: Literal["user.started.v1"] = "user.started.v1"
    producer: ClassVar[str] = "ingest"

    bot_id: int
    chat_id: int
    user_id: int
    username: str | None = None
    first_name: str | None = None
    language_code: str | None = None
    payload: str | None = Field(
        default=None, description="the deep-link payload after /start, if any"
    )


class ChatAssigned(Event):
    """A private chat was given a worker bot of a pool: every later message to it goes
    through that bot. Decided once per (pool, chat) on ingest's stream
    `assignment-<pool>-<chat>`; later /starts keep it (sticky)."""

    type: Literal["chat.assigned.v1"] = "chat.assigned.v1"
    producer: ClassVar[str] = "ingest"

    pool: str
    chat_id: int
    user_id: int
    bot_id: int = Field(description="the worker bot the chat is assigned to")
    front_bot_id: int = Field(description="the pool's front bot")
    started_bot_id: int = Field(
        description="the bot whose /start caused the assignment: the front bot (the chat is"
        " handed a deep link to the worker) or the worker itself (already started)"
    )
    pool_bot_ids: list[int] = Field(
        description="every bot of the pool (front and workers) when the chat was assigned"
    )
    payload: str | None = Field(
        default=None, description="the deep-link payload the chat was handed, if any"
    )
    assigned_at: datetime


class ChatAssignmentConfirmed(Event):
    """A chat started the worker bot it was assigned to (`/start <payload>` on it)."""

    type: Literal["chat.assignment.confirmed.v1"] = "chat.assignment.confirmed.v1"
    producer: ClassVar[str] = "ingest"

    pool: str
    chat_id: int
    user_id: int
    bot_id: int = Field(description="the worker bot, now started by the chat")
    confirmed_at: datetime


class ReminderRequested(Event):
    """A user asked to be reminded of something once, at `due_at`."""

    type: Literal["reminder.requested.v1"] = "reminder.requested.v1"
    producer: ClassVar[str] = "ingest"

    reminder_id: str = Field(min_length=1, description="unique; the scheduler stores it once")
    bot_id: int
    chat_id: int
    user_id: int
    text: str = Field(min_length=1)
    due_at: datetime
    time_zone: str = Field(description="IANA zone the user wrote the time in")
    phrase: str = Field(description="the time phrase as the user wrote it")
    language: str | None = Field(
        default=None,
        description="the chat's language, for the confirmation and the reminder's buttons: 'uk'",
    )


class TimeZoneSet(Event):
    """A chat chose the IANA time zone its times are read and shown in."""

    type: Literal["time_zone.set.v1"] = "time_zone.set.v1"
    producer: ClassVar[str] = "ingest"

    bot_id: int
    chat_id: int
    user_id: int
    time_zone: str = Field(description="IANA name, e.g. Europe/Kyiv")


class MessageReceived(Event):
    """A message reached a bot: new or edited, in a private chat, a group or a channel.

    Carries what history and stats need; the raw update stays in ingest's update log.
    """

    type: Literal["message.received.v1"] = "message.received.v1"
    producer: ClassVar[str] = "ingest"

    bot_id: int
    update_id: int
    update_kind: Literal["message", "edited_message", "channel_post", "edited_channel_post"]
    chat_id: int
    chat_type: str = Field(description="private, group, supergroup or channel")
    message_id: int
    user_id: int | None = None
    language_code: str | None = None
    content_type: str = Field(description="text, photo, document, sticker, ... or 'other'")
    text: str | None = Field(default=None, description="text or caption, if any")
    command: str | None = Field(default=None, description="'/remind' when it was a command")
    reply_to_message_id: int | None = None
    sent_at: datetime = Field(description="Telegram's date of the message")
    edited_at: datetime | None = None


ChatMemberState = Literal["member", "administrator", "restricted", "left", "kicked"]


class ChatMemberChanged(Event):
    """The bot's own membership of a chat changed (`my_chat_member`).

    In a private chat `kicked` means the user blocked the bot and `member` that they
    unblocked it; in a group or channel it is being removed, added or promoted.
    """

    type: Literal["chat.member.changed.v1"] = "chat.member.changed.v1"
    producer: ClassVar[str] = "ingest"

    bot_id: int
    chat_id: int
    chat_type: str
    chat_title: str | None = None
    old_state: ChatMemberState
    new_state: ChatMemberState
    by_user_id: int | None = None
    can_post_messages: bool | None = Field(default=None, description="channels: may post")
    changed_at: datetime
    bot_username: str | None = Field(
        default=None, description="the bot's username as Telegram showed it (for /cmd@name)"
    )


class ChatMigrated(Event):
    """A group became a supergroup: everything of `old_chat_id` now belongs to the new id."""

    type: Literal["chat.migrated.v1"] = "chat.migrated.v1"
    producer: ClassVar[str] = "ingest, sender"

    bot_id: int
    old_chat_id: int
    new_chat_id: int
    migrated_at: datetime


class ChatStopped(Event):
    """A chat sent /stop: its schedules pause and nothing but replies is sent to it."""

    type: Literal["chat.stopped.v1"] = "chat.stopped.v1"
    producer: ClassVar[str] = "ingest"

    bot_id: int
    chat_id: int
    user_id: int | None = None
    stopped_at: datetime


class ChatResumed(Event):
    """A stopped chat sent /start again: what /stop paused runs again."""

    type: Literal["chat.resumed.v1"] = "chat.resumed.v1"
    producer: ClassVar[str] = "ingest"

    bot_id: int
    chat_id: int
    user_id: int | None = None
    resumed_at: datetime


class LanguageSet(Event):
    """A chat chose the language its replies are written in (`/language`, or first contact)."""

    type: Literal["language.set.v1"] = "language.set.v1"
    producer: ClassVar[str] = "ingest"

    bot_id: int
    chat_id: int
    user_id: int | None = None
    language: str = Field(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$", examples=["uk", "en"])
    chosen_by: Literal["telegram", "command"]
