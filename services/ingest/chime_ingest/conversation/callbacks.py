"""A pressed inline button: answered at once (a toast), then acted on."""

from __future__ import annotations

from aiogram.types import CallbackQuery, Message

from chime_contracts.events import ListingRequested, MessageEditRequested, SnoozeRequested
from chime_contracts.events.shared import SendSource
from chime_ingest.conversation.chat import Chat, now
from chime_ingest.conversation.commands import set_language
from chime_ingest.domain import replies
from chime_ingest.domain.callbacks import ChooseLanguage, Page, parse_button


async def pressed(chat: Chat, query: CallbackQuery, message: Message) -> None:
    button = parse_button(query.data)
    state, texts = await chat.texts()
    if button is None:
        await chat.view.answer_callback(chat.bot_id, query.id, texts.say(replies.UNKNOWN_BUTTON))
        return
    if isinstance(button, Page):
        await chat.view.answer_callback(chat.bot_id, query.id, "")
        await chat.emit(
            ListingRequested(
                request_id=chat.request_id, bot_id=chat.bot_id, chat_id=chat.chat_id,
                what=button.what, page=button.page, edit_message_id=message.message_id,
                time_zone=state.zone(chat.default_zone), language=texts.language,
                requested_at=now(),
            )
        )  # fmt: skip
        return
    if isinstance(button, ChooseLanguage):
        said = await set_language(chat, button.language)
        await chat.view.answer_callback(chat.bot_id, query.id, said)
        await _edit(chat, message, said)
        return
    original = message.text or message.caption
    zone = state.zone(chat.default_zone)
    until = now() + button.delay
    snoozed = texts.say(replies.SNOOZED, when=texts.when(until, zone))
    await chat.view.answer_callback(chat.bot_id, query.id, snoozed)
    if not original:  # a reminder always has text; nothing to fire again without it
        return
    await chat.emit(
        SnoozeRequested(
            snooze_id=chat.request_id, bot_id=chat.bot_id, chat_id=chat.chat_id, text=original,
            until=until, time_zone=zone, language=texts.language, requested_at=now(),
        )
    )  # fmt: skip
    await _edit(chat, message, f"{original}\n\n{snoozed}")


async def _edit(chat: Chat, message: Message, text: str) -> None:
    """The button's message shows what was done, its keyboard gone (pressed once)."""
    await chat.emit(
        MessageEditRequested(
            edit_id=f"edit:{chat.bot_id}:{chat.update_id}", bot_id=chat.bot_id,
            chat_id=chat.chat_id, message_id=message.message_id, text=text, buttons=[],
            source=SendSource(kind="reply", id=f"{chat.bot_id}:{chat.update_id}"),
        )
    )  # fmt: skip
