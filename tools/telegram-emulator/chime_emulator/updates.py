"""Builders of the Message and Update objects Telegram sends, as plain JSON."""

from typing import Any

from chime_emulator.formatting import utf16_length
from chime_emulator.state import Bot, Chat, StoredMessage, User

# Telegram withholds these unless a bot lists them in allowed_updates.
OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entity Telegram adds when a message starts with '/'."""
    if not text.startswith("/") or len(text) < 2 or text[1].isspace():
        return []
    command = text.split(maxsplit=1)[0]
    return [{"offset": 0, "length": utf16_length(command), "type": "bot_command"}]


def message(
    *,
    message_id: int,
    date: int,
    chat: Chat,
    text: str | None,
    sender: dict[str, Any] | None,
    entities: list[dict[str, Any]] | None = None,
    message_thread_id: int | None = None,
    content: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Message; `content` holds what a message other than text carries (photo, caption,
    reply_to_message, service fields)."""
    built: dict[str, Any] = {"message_id": message_id}
    if message_thread_id is not None:
        built["message_thread_id"] = message_thread_id
    if sender is not None:
        built["from"] = sender
    if chat.type == "channel":
        built["sender_chat"] = chat.to_api()
    built |= {"chat": chat.to_api(), "date": date}
    if message_thread_id is not None and chat.is_forum:
        built["is_topic_message"] = True
    if content:
        built |= content
    if text is not None:
        built["text"] = text
        if entities:
            built["entities"] = entities
    return built


def incoming_message_update(
    *,
    chat: Chat,
    sender: User | None,
    text: str,
    date: int,
    message_thread_id: int | None = None,
    reply_to_message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An update without update_id, which the delivery assigns."""
    built = message(
        message_id=chat.next_message_id(),
        date=date,
        chat=chat,
        text=text,
        sender=None if sender is None else sender.to_api(),
        entities=command_entities(text),
        message_thread_id=message_thread_id,
        content=None if reply_to_message is None else {"reply_to_message": reply_to_message},
    )
    kind = "channel_post" if chat.type == "channel" else "message"
    return {kind: built}


ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
)
CHANNEL_ADMIN_RIGHTS = ("can_post_messages", "can_edit_messages")
GROUP_ADMIN_RIGHTS = ("can_pin_messages",)


def member_status(bot: Bot, status: str, chat_type: str = "private") -> dict[str, Any]:
    """A ChatMember of the bot: an administrator gets the usual rights of a bot admin."""
    member: dict[str, Any] = {"user": bot.to_api(), "status": status}
    if status == "kicked":
        member["until_date"] = 0
    if status == "administrator":
        member |= {"can_be_edited": False, "is_anonymous": False}
        member |= dict.fromkeys(ADMIN_RIGHTS, True) | {"can_promote_members": False}
        extra = CHANNEL_ADMIN_RIGHTS if chat_type == "channel" else GROUP_ADMIN_RIGHTS
        member |= dict.fromkeys(extra, True)
    return member


def my_chat_member_update(
    *, bot: Bot, chat: Chat, user: User, old_status: str, new_status: str, date: int
) -> dict[str, Any]:
    return {
        "my_chat_member": {
            "chat": chat.to_api(),
            "from": user.to_api(),
            "date": date,
            "old_chat_member": member_status(bot, old_status, chat.type),
            "new_chat_member": member_status(bot, new_status, chat.type),
        }
    }


def chat_id_of(payload: Any) -> int | None:
    """The chat an update belongs to, which orders its webhook delivery; None if unknown."""
    if not isinstance(payload, dict):
        return None
    for key, value in payload.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        holder = value.get("message") if key == "callback_query" else value
        chat = holder.get("chat") if isinstance(holder, dict) else None
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            chat_id: int = chat["id"]
            return chat_id
        sender = value.get("from")
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            user_id: int = sender["id"]
            return user_id
    return None


def update_type(payload: Any) -> str | None:
    """The kind of an update: its one field besides update_id."""
    if not isinstance(payload, dict):
        return None
    return next((key for key in payload if key != "update_id"), None)


def is_allowed(payload: Any, allowed_updates: list[str] | None) -> bool:
    kind = update_type(payload)
    if kind is None:
        return True  # malformed updates are delivered as they are
    if allowed_updates:
        return kind in allowed_updates
    return kind not in OPT_IN_UPDATE_TYPES


def is_command_for(text: str, username: str) -> bool:
    """A command with no addressee, or addressed `/cmd@username` to this bot."""
    if not command_entities(text):
        return False
    _, at, addressee = text.split(maxsplit=1)[0].partition("@")
    return not at or addressee.lower() == username.lower()


def quoted(stored: StoredMessage) -> dict[str, Any]:
    """A message as another one's reply_to_message shows it: without its own reply."""
    return {key: value for key, value in stored.message.items() if key != "reply_to_message"}
