"""Telegram's messages and membership changes as Chime's events: pure, from aiogram's types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, cast

from aiogram.types import ChatMemberUpdated, Message

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


def received(bot_id: int, update_id: int, kind: MessageKind, message: Message) -> MessageReceived:
    content = str(getattr(message.content_type, "value", message.content_type))
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
        content_type="other" if content == "unknown" else content,
        text=message.text if message.text is not None else message.caption,
        command=command_of(message),
        reply_to_message_id=message.reply_to_message.message_id
        if message.reply_to_message
        else None,
        sent_at=_aware(message.date),
        edited_at=_aware(message.edit_date) if message.edit_date else None,
    )


def member_changed(bot_id: int, change: ChatMemberUpdated) -> ChatMemberChanged:
    new = change.new_chat_member
    bot = new.user if new.user.id == bot_id else None
    return ChatMemberChanged(
        bot_id=bot_id,
        chat_id=change.chat.id,
        chat_type=change.chat.type,
        chat_title=change.chat.title,
        old_state=_STATES.get(str(change.old_chat_member.status), "left"),
        new_state=_STATES.get(str(new.status), "left"),
        by_user_id=change.from_user.id,
        can_post_messages=cast(bool | None, getattr(new, "can_post_messages", None)),
        changed_at=_aware(change.date),
        bot_username=bot.username if bot else None,
    )


def _aware(value: datetime | int) -> datetime:
    if isinstance(value, int):
        return datetime.fromtimestamp(value, UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
