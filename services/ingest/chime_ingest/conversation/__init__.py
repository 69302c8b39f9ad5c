"""Everything a person says to a Chime bot, from an accepted update to events and replies.

The update is read with aiogram's types (fields Telegram adds later pass through); one that
does not fit them was still recorded by the receive path and is left alone here. Every
message, edit and channel post becomes `message.received.v1`; commands, pressed buttons,
membership changes and group migrations become their own events.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, cast

from aiogram.types import CallbackQuery, Message, Update
from pydantic import ValidationError

from chime_contracts.events import UpdateReceived
from chime_ingest.conversation import callbacks, commands, lifecycle
from chime_ingest.conversation.chat import Chat
from chime_ingest.domain.commands import parse_command
from chime_ingest.domain.messages import MemberChange, MessageKind, received
from chime_ingest.ports import ChatsView, Pooling
from chime_kit.streams import Work

log = logging.getLogger(__name__)
_MAX_PRUNES = 8
_MESSAGES = ("message", "edited_message", "channel_post", "edited_channel_post")


def typed(body: dict[str, Any]) -> Update | None:
    """The update as aiogram reads it, or None when even its kind does not fit its types.

    A part that does not fit (an older client's sticker without `type`, a field Telegram
    changed) is left out and the rest read again, so one odd attachment does not cost the
    message its `message.received.v1`; the raw update stays in the log as it came.
    """
    for _ in range(_MAX_PRUNES):
        try:
            return Update.model_validate(body)
        except ValidationError as exc:
            pruned = _without(body, [error["loc"] for error in exc.errors()])
            if pruned is None:
                break
            body = pruned
        except (ValueError, TypeError):
            break
    log.info("update %s is not one aiogram reads", body.get("update_id"))
    return None


def _without(body: dict[str, Any], locations: list[tuple[int | str, ...]]) -> dict[str, Any] | None:
    """A copy without what each error is about: the value itself when it is there (a wrong
    one), else the object it is missing from. None when that would be the update's kind."""
    paths = {tuple(_walk(body, location)) for location in locations}
    if any(len(path) < 2 for path in paths):
        return None
    pruned = copy.deepcopy(body)
    # Deepest and last first, so list indices still point where they did; a path inside
    # one already dropped is gone with it.
    for path in sorted(
        paths, key=lambda p: (len(p), p[-1] if isinstance(p[-1], int) else -1), reverse=True
    ):
        if any(path[: len(other)] == other for other in paths if len(other) < len(path)):
            continue
        parent: Any = pruned
        for step in path[:-1]:
            parent = parent[step]
        del parent[path[-1]]
    return pruned


def _walk(data: Any, location: tuple[int | str, ...]) -> list[Any]:
    """The steps of `location` that exist in `data` (aiogram's union tags are no keys)."""
    path: list[Any] = []
    for step in location:
        if (isinstance(data, dict) and step in data) or (
            isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data)
        ):
            path.append(step)
            data = data[step]  # type: ignore[index]
    return path


async def interpret(
    uow: Work,
    view: ChatsView,
    update: UpdateReceived,
    default_time_zone: str,
    pooling: Pooling | None = None,
) -> None:
    if "my_chat_member" in update.update:
        await _membership(uow, view, update, default_time_zone)
        return
    parsed = typed(update.update)
    if parsed is None:
        return
    for kind in _MESSAGES:
        message = getattr(parsed, kind)
        if isinstance(message, Message):
            kind_of = cast(MessageKind, kind)
            raw = update.update.get(kind)
            raw_message = raw if isinstance(raw, dict) else {}
            await uow.emit(received(update.bot_id, update.update_id, kind_of, message, raw_message))
            if kind == "message":
                await _message(uow, view, update, message, default_time_zone, pooling)
            return
    if parsed.callback_query is not None:
        await _callback(uow, view, update, parsed.callback_query, default_time_zone)


async def _membership(
    uow: Work, view: ChatsView, update: UpdateReceived, default_zone: str
) -> None:
    try:
        change = MemberChange.model_validate(update.update["my_chat_member"])
    except ValidationError:
        log.info("my_chat_member of update %s is not readable", update.update_id)
        return
    user = change.from_
    chat = Chat(uow, view, update.bot_id, change.chat.id, change.chat.type, update.update_id,
                user.id, user.language_code, default_zone)  # fmt: skip
    await lifecycle.membership(chat, change)


async def _message(
    uow: Work,
    view: ChatsView,
    update: UpdateReceived,
    message: Message,
    default_zone: str,
    pooling: Pooling | None,
) -> None:
    sender = message.from_user
    chat = Chat(
        uow, view, update.bot_id, message.chat.id, message.chat.type, update.update_id,
        sender.id if sender else None, sender.language_code if sender else None, default_zone,
        reply_to=message.message_id, pooling=pooling,
    )  # fmt: skip
    if message.migrate_to_chat_id is not None:
        await lifecycle.migrate(chat, _elsewhere(chat, message.migrate_to_chat_id))
        return
    if message.migrate_from_chat_id is not None:
        await lifecycle.migrate(_elsewhere(chat, message.migrate_from_chat_id), chat)
        return
    command = parse_command(message.text or "")
    if command is None:
        return
    if command.addressee is not None and not command.for_bot(
        await view.bot_username(update.bot_id)
    ):
        return  # `/cmd@another_bot` in a group (an unaddressed one is for every bot)
    handler = commands.COMMANDS.get(command.name)
    if handler is None:
        if not chat.private and command.addressee is None:
            return  # in a group an unaddressed command may be another bot's
        handler = commands.unknown
    replied = message.reply_to_message
    await handler(
        chat,
        command,
        commands.Sender(
            username=sender.username if sender else None,
            first_name=sender.first_name if sender else None,
            replied_text=(replied.text or replied.caption) if replied else None,
            replied_to_bot=replied is not None and _from_bot(replied, update.bot_id),
        ),
    )


def _from_bot(message: Message, bot_id: int) -> bool:
    return message.from_user is not None and message.from_user.id == bot_id


def _elsewhere(chat: Chat, chat_id: int) -> Chat:
    return Chat(chat.uow, chat.view, chat.bot_id, chat_id, "supergroup", chat.update_id,
                chat.user_id, chat.language_code, chat.default_zone)  # fmt: skip


async def _callback(
    uow: Work, view: ChatsView, update: UpdateReceived, query: CallbackQuery, default_zone: str
) -> None:
    message = query.message
    if not isinstance(message, Message):
        # Too old to see (or an inline message): answered, nothing else to do.
        await view.answer_callback(update.bot_id, query.id, "")
        return
    chat = Chat(uow, view, update.bot_id, message.chat.id, message.chat.type, update.update_id,
                query.from_user.id, query.from_user.language_code, default_zone)  # fmt: skip
    await callbacks.pressed(chat, query, message)
