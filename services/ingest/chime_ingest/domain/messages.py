"""Telegram's messages and membership changes as Chime's events: pure, from aiogram's types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from aiogram.enums import ContentType
from aiogram.types import Message
from pydantic import BaseModel, ConfigDict, Field

from chime_contracts.events import ChatMemberChanged, MessageReceived
from chime_contracts.events.ingest import ChatMemberState

MessageKind = Literal["message", "edited_message", "channel_post", "edited_channel_post"]
_STATES: dict[str, ChatMemberState] = {
    "creator": "administrator",
    "administrator": "administrator",
    "member": "member",
    "restricted": "restricted",
    "left": "left",
    "kicked": "kicked",
}


def command_of(message: Message) -> str | None:
    """`/remind` when the message starts with a bot command (without its `@bot`)."""
    text = message.text or ""
    for entity in message.entities or []:
        if entity.type == "bot_command" and entity.offset == 0:
            return text[: entity.length].split("@", 1)[0].lower()
    return None


def content_type(message: Message, raw: dict[str, Any]) -> str:
    """aiogram's name for what the message carries; for a part it could not read (left out
    of `message`), the first field of the raw message that names a content type."""
    content = str(getattr(message.content_type, "value", message.content_type))
    if content != ContentType.UNKNOWN.value:
        return content
    known = {kind.value for kind in ContentType}
    return next((key for key in raw if key in known and key != "text"), "other")


def received(
    bot_id: int, update_id: int, kind: MessageKind, message: Message, raw: dict[str, Any]
) -> MessageReceived:
    sender = message.from_user
    return MessageReceived(
        bot_id=bot_id,
        update_id=update_id,
        update_kind=kind,
        chat_id=message.chat.id,
        chat_type=message.chat.type,
        message_id=message.message_id,
        user_id=sender.id if sender else None,
        language_code=sender.language_code if sender else None,
        content_type=content_type(message, raw),
        text=message.text if message.text is not None else message.caption,
        command=command_of(message),
        reply_to_message_id=message.reply_to_message.message_id
        if message.reply_to_message
        else None,
        sent_at=_aware(message.date),
        edited_at=_edited_at(message.edit_date),
    )


_LATEST = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime holds


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Chat(_Lenient):
    id: int
    type: str
    title: str | None = None


class _User(_Lenient):
    id: int
    username: str | None = None
    language_code: str | None = None


class _Member(_Lenient):
    user: _User
    status: str
    can_post_messages: bool | None = None


class MemberChange(_Lenient):
    """`my_chat_member`, read for what Chime needs of it. Not aiogram's type: its
    administrator requires every right of the newest Bot API (a server or an emulator a
    version behind omits some), and a membership change must never be lost for a right it
    does not need."""

    chat: _Chat
    from_: _User = Field(alias="from")
    date: int = Field(ge=0, le=_LATEST)
    old_chat_member: _Member
    new_chat_member: _Member


def member_changed(bot_id: int, change: MemberChange) -> ChatMemberChanged:
    new = change.new_chat_member
    return ChatMemberChanged(
        bot_id=bot_id,
        chat_id=change.chat.id,
        chat_type=change.chat.type,
        chat_title=change.chat.title,
        old_state=_STATES.get(change.old_chat_member.status, "left"),
        new_state=_STATES.get(new.status, "left"),
        by_user_id=change.from_.id,
        can_post_messages=new.can_post_messages,
        changed_at=_aware(change.date),
        bot_username=new.user.username if new.user.id == bot_id else None,
    )


def _edited_at(edit_date: int | None) -> datetime | None:
    """aiogram keeps `edit_date` as Telegram's integer; one no datetime holds is no date."""
    return _aware(edit_date) if edit_date and 0 < edit_date <= _LATEST else None


def _aware(value: datetime | int) -> datetime:
    if isinstance(value, int):
        return datetime.fromtimestamp(value, UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
