"""The methods that send, edit and delete messages, and answer callback queries.

Every method first reads and checks all of its parameters (a bad request answers 400 and
changes nothing), then finds the chat and the bot's right to write there (400/403), and
only then takes a rate-limit slot and a message id.
"""

import mimetypes
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from chime_emulator import updates, validation
from chime_emulator.emulator import Emulator, now_epoch
from chime_emulator.errors import ApiError, bad_request, too_many_requests
from chime_emulator.params import (
    Params,
    Upload,
    get_bool,
    get_chat_id,
    get_int,
    get_required_int,
    get_str,
)
from chime_emulator.state import Bot, Chat, StoredFile, StoredMessage

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
MAX_CALLBACK_ANSWER_LENGTH = 200
PHOTO_SIZES = ((90, 60), (320, 213), (800, 533))
FILE_ID_PREFIX = {"photo": "AgACAgIAAxkDAAI", "document": "BQACAgIAAxkDAAI"}


@dataclass
class Outgoing:
    """A checked request to send one message."""

    chat_id: int | str
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    content: dict[str, Any] = field(default_factory=dict)
    markup: dict[str, Any] | None = None
    reply: validation.ReplyTo | None = None
    thread_id: int | None = None
    paid: bool = False


def _outgoing(params: Params) -> Outgoing:
    return Outgoing(
        chat_id=get_chat_id(params),
        markup=validation.reply_markup(params),
        reply=validation.reply_to(params),
        thread_id=get_int(params, "message_thread_id"),
        paid=get_bool(params, "allow_paid_broadcast"),
    )


def find_chat(emulator: Emulator, chat_id: int | str) -> Chat:
    chat = emulator.state.find_chat(chat_id)
    if chat is None:
        raise bad_request("chat not found")
    return chat


def check_access(emulator: Emulator, bot: Bot, chat: Chat) -> None:
    """Raises what Telegram answers when this bot may not write to this chat."""
    if chat.migrated_to is not None:
        raise ApiError(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": chat.migrated_to},
        )
    if chat.type == "private":
        user = emulator.state.users.get(chat.id)
        if user is not None and user.deactivated:
            raise ApiError(403, "Forbidden: user is deactivated")
        if chat.id in bot.blocked_by:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if bot.require_start and chat.id not in bot.started_by:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return
    status = chat.members.get(bot.id)
    if status == "kicked":
        raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
    if status == "left":
        raise ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
    if chat.type == "channel" and status == "member":
        raise bad_request("need administrator rights in the channel chat")


def _replied(chat: Chat, reply: validation.ReplyTo) -> dict[str, Any] | None:
    """The message replied to (without its own reply), or None if it may be left out."""
    same_chat = reply.chat_id is None or reply.chat_id in (chat.id, f"@{chat.username}")
    stored = chat.messages.get(reply.message_id) if same_chat else None
    if stored is None or stored.deleted:
        if reply.allow_sending_without_reply:
            return None
        raise bad_request("message to be replied not found")
    return updates.quoted(stored)


def _send(emulator: Emulator, bot: Bot, out: Outgoing) -> dict[str, Any]:
    state = emulator.state
    stats = state.stats
    chat = find_chat(emulator, out.chat_id)
    check_access(emulator, bot, chat)
    content = dict(out.content)
    if out.reply is not None:
        replied = _replied(chat, out.reply)
        if replied is not None:
            content = {"reply_to_message": replied} | content
    rejection = emulator.limiter.try_send(bot.token, chat.id, chat.chat_class, paid=out.paid)
    if rejection is not None:
        stats.count_breaches(bot.id, rejection.breached)
        raise too_many_requests(rejection.retry_after)
    message = updates.message(
        message_id=chat.next_message_id(),
        date=now_epoch(),
        chat=chat,
        text=out.text,
        sender=None if chat.type == "channel" else bot.to_api(),
        entities=out.entities,
        message_thread_id=out.thread_id,
        content=content,
    )
    if out.markup is not None and "inline_keyboard" in out.markup:
        message["reply_markup"] = out.markup
    stored = StoredMessage(message, bot.id, time.time())
    chat.messages[message["message_id"]] = stored
    if chat.type != "private":
        chat.members.setdefault(bot.id, "administrator" if chat.type == "channel" else "member")
    bot.sent.append(stored)
    stats.sent_total += 1
    stats.sent_per_bot[bot.id] += 1
    if out.paid:
        stats.paid_broadcast_sent += 1
    return message


async def send_message(emulator: Emulator, bot: Bot, params: Params) -> Any:
    out = _outgoing(params)
    out.text, out.entities = validation.message_text(params)
    return _send(emulator, bot, out)


def _new_file_id(emulator: Emulator, kind: str, suffix: str = "") -> tuple[str, str, int]:
    number = emulator.state.new_file_number()
    return f"{FILE_ID_PREFIX[kind]}{number:08d}{suffix}", f"AQAD{number:06d}{suffix}", number


def _new_photo(emulator: Emulator, upload: Upload | None) -> list[dict[str, Any]]:
    sizes: list[dict[str, Any]] = []
    for index, (width, height) in enumerate(PHOTO_SIZES):
        file_id, unique_id, _ = _new_file_id(emulator, "photo", f"x{index}")
        size: dict[str, Any] = {"file_id": file_id, "file_unique_id": unique_id, "width": width}
        size |= {"height": height, "file_size": (upload.size if upload else 60_000) >> (2 - index)}
        sizes.append(size)
    for size in sizes:
        emulator.state.files[size["file_id"]] = StoredFile("photo", sizes)
    return sizes


def _new_document(emulator: Emulator, name: str, upload: Upload | None) -> dict[str, Any]:
    file_id, unique_id, _ = _new_file_id(emulator, "document")
    mime_type = (upload.content_type if upload else None) or mimetypes.guess_type(name)[0]
    document: dict[str, Any] = {"file_name": name}
    if mime_type:
        document["mime_type"] = mime_type
    document |= {"file_id": file_id, "file_unique_id": unique_id}
    if upload is not None:
        document["file_size"] = upload.size
    emulator.state.files[file_id] = StoredFile("document", document)
    return document


def _media(emulator: Emulator, params: Params, kind: str) -> Any:
    """The photo sizes or document a request names: an upload, an HTTP URL or a file_id."""
    value = params.get(kind)
    if value is None or value == "":
        raise bad_request(f"there is no {kind} in the request")
    if isinstance(value, Upload):
        if kind == "photo":
            return _new_photo(emulator, value)
        return _new_document(emulator, value.filename, value)
    if not isinstance(value, str):
        raise bad_request("wrong file identifier/HTTP URL specified")
    if value.startswith(("http://", "https://")):
        parts = urlsplit(value)
        # Reserved names (RFC 2606) stand for a URL Telegram cannot download.
        if not parts.hostname or parts.hostname.endswith(".invalid"):
            raise bad_request("failed to get HTTP URL content")
        if kind == "photo":
            return _new_photo(emulator, None)
        name = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]) or "file"
        return _new_document(emulator, name, None)
    stored = emulator.state.files.get(value)
    if stored is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    if stored.kind != kind:
        raise bad_request(f"can't use file of type {stored.kind.title()} as {kind.title()}")
    return stored.value


async def _send_media(emulator: Emulator, bot: Bot, params: Params, kind: str) -> Any:
    out = _outgoing(params)
    caption, caption_entities = validation.caption(params)
    out.content = {kind: _media(emulator, params, kind)}
    if caption:
        out.content["caption"] = caption
        if caption_entities:
            out.content["caption_entities"] = caption_entities
    return _send(emulator, bot, out)


async def send_photo(emulator: Emulator, bot: Bot, params: Params) -> Any:
    return await _send_media(emulator, bot, params, "photo")


async def send_document(emulator: Emulator, bot: Bot, params: Params) -> Any:
    return await _send_media(emulator, bot, params, "document")


def _edit_target(params: Params) -> tuple[int | str, int]:
    if params.get("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")  # inline-mode messages are not emulated
    chat_id = get_chat_id(params)
    return chat_id, get_required_int(params, "message_id", "message identifier is not specified")


def _own_message(
    emulator: Emulator, bot: Bot, chat_id: int | str, message_id: int, missing: str
) -> tuple[Chat, StoredMessage]:
    chat = find_chat(emulator, chat_id)
    check_access(emulator, bot, chat)
    stored = chat.messages.get(message_id)
    if stored is None or stored.deleted:
        raise bad_request(missing)
    return chat, stored


def _editable(emulator: Emulator, bot: Bot, chat_id: int | str, message_id: int) -> dict[str, Any]:
    _, stored = _own_message(emulator, bot, chat_id, message_id, "message to edit not found")
    if stored.bot_id != bot.id:
        raise bad_request("message can't be edited")
    return stored.message


def _apply_edit(emulator: Emulator, message: dict[str, Any], changes: dict[str, Any]) -> Any:
    """Sets (or, for None, removes) fields; unchanged content is Telegram's 400."""
    if all(message.get(key) == value for key, value in changes.items()):
        raise bad_request(NOT_MODIFIED)
    for key, value in changes.items():
        if value is None:
            message.pop(key, None)
        else:
            message[key] = value
    message["edit_date"] = now_epoch()
    emulator.state.stats.edited_total += 1
    return message


def _entities_or_none(entities: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    return entities or None


async def edit_message_text(emulator: Emulator, bot: Bot, params: Params) -> Any:
    chat_id, message_id = _edit_target(params)
    text, entities = validation.message_text(params)
    markup = validation.reply_markup(params, inline_only=True)
    message = _editable(emulator, bot, chat_id, message_id)
    if "text" not in message:
        raise bad_request("there is no text in the message to edit")
    # As Telegram: an edit without reply_markup removes the inline keyboard.
    changes = {"text": text, "entities": _entities_or_none(entities), "reply_markup": markup}
    return _apply_edit(emulator, message, changes)


async def edit_message_caption(emulator: Emulator, bot: Bot, params: Params) -> Any:
    chat_id, message_id = _edit_target(params)
    caption, entities = validation.caption(params)
    markup = validation.reply_markup(params, inline_only=True)
    message = _editable(emulator, bot, chat_id, message_id)
    if "text" in message:
        raise bad_request("there is no caption in the message to edit")
    changes = {
        "caption": caption or None,
        "caption_entities": _entities_or_none(entities),
        "reply_markup": markup,
    }
    return _apply_edit(emulator, message, changes)


async def edit_message_reply_markup(emulator: Emulator, bot: Bot, params: Params) -> Any:
    chat_id, message_id = _edit_target(params)
    markup = validation.reply_markup(params, inline_only=True)
    message = _editable(emulator, bot, chat_id, message_id)
    return _apply_edit(emulator, message, {"reply_markup": markup})


async def delete_message(emulator: Emulator, bot: Bot, params: Params) -> Any:
    chat_id = get_chat_id(params)
    message_id = get_required_int(params, "message_id", "message identifier is not specified")
    chat, stored = _own_message(emulator, bot, chat_id, message_id, "message to delete not found")
    # A bot deletes its own messages, anything in a private chat, and others' as an admin.
    if not (
        stored.bot_id == bot.id
        or chat.type == "private"
        or chat.members.get(bot.id) == "administrator"
    ):
        raise bad_request("message can't be deleted")
    stored.deleted = True
    del chat.messages[message_id]
    emulator.state.stats.deleted_total += 1
    return True


async def send_chat_action(emulator: Emulator, bot: Bot, params: Params) -> Any:
    chat = find_chat(emulator, get_chat_id(params))
    check_access(emulator, bot, chat)
    return True


async def answer_callback_query(emulator: Emulator, bot: Bot, params: Params) -> Any:
    query_id = get_str(params, "callback_query_id") or ""
    text = get_str(params, "text")
    if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
        raise bad_request("MESSAGE_TOO_LONG")
    query = emulator.state.callback_queries.get(query_id)
    if query is None or query.bot_id != bot.id or query.answer is not None:
        raise bad_request(QUERY_INVALID)
    query.answer = {
        "text": text,
        "show_alert": get_bool(params, "show_alert"),
        "url": get_str(params, "url"),
        "cache_time": get_int(params, "cache_time", 0),
    }
    return True
