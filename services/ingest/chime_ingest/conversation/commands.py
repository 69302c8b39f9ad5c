"""Each command a person sends, as requests to the scheduler and replies in their language."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

from chime_contracts.events import (
    ChatResumed,
    ChatStopped,
    LanguageSet,
    ListingRequested,
    ReminderRequested,
    ScheduleChangeRequested,
    ScheduleRequested,
    SnoozeRequested,
    SubscriptionRequested,
    TimeZoneSet,
    UserStarted,
)
from chime_contracts.events.schedules import MessageTemplate
from chime_contracts.events.shared import InlineButton
from chime_ingest.conversation.chat import Chat, now
from chime_ingest.conversation.pools import started as pool_started
from chime_ingest.domain import chats, replies
from chime_ingest.domain.commands import Command
from chime_ingest.domain.recurrence import Pings, Recurrence, parse_every, parse_ping
from chime_ingest.domain.time_phrases import PhraseError, parse_reminder, parse_snooze
from chime_ingest.domain.time_zones import resolve_time_zone
from chime_ingest.locale import LANGUAGES, Texts, display_name, language_named, supported

Handler = Callable[[Chat, Command, "Sender"], Awaitable[None]]
T = TypeVar("T")
_TOPIC = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class Sender:
    """Who wrote the command, and the message it answered (for /snooze)."""

    def __init__(
        self,
        username: str | None,
        first_name: str | None,
        replied_text: str | None = None,
        replied_to_bot: bool = False,
    ) -> None:
        self.username = username
        self.first_name = first_name
        self.replied_text = replied_text
        self.replied_to_bot = replied_to_bot


async def start(chat: Chat, command: Command, sender: Sender) -> None:
    at = now()
    telegram = supported(chat.language_code)
    decided = await chat.decide(
        lambda state: chats.start(
            state,
            UserStarted(
                bot_id=chat.bot_id, chat_id=chat.chat_id, user_id=chat.user_id or chat.chat_id,
                username=sender.username, first_name=sender.first_name,
                language_code=chat.language_code, payload=command.args or None,
            ),
            ChatResumed(bot_id=chat.bot_id, chat_id=chat.chat_id, user_id=chat.user_id,
                        resumed_at=at),
            LanguageSet(bot_id=chat.bot_id, chat_id=chat.chat_id, user_id=chat.user_id,
                        language=telegram, chosen_by="telegram") if telegram else None,
        )
    )  # fmt: skip
    texts = Texts(chat.language(decided.after))
    if chat.pooling is not None:
        routed = await pool_started(chat, chat.pooling, texts)
        if routed is not None:  # a deep link to the chat's worker bot instead of the welcome
            await chat.reply(routed)
            return
    welcome = replies.welcome(texts, decided.after.zone(chat.default_zone))
    if decided.before.stopped:
        welcome = f"{texts.say(replies.WELCOME_BACK)}\n\n{welcome}"
    await chat.reply(welcome)


async def stop(chat: Chat, command: Command, sender: Sender) -> None:
    stopped = ChatStopped(
        bot_id=chat.bot_id, chat_id=chat.chat_id, user_id=chat.user_id, stopped_at=now()
    )
    decided = await chat.decide(lambda state: chats.stop(state, stopped))
    texts = Texts(chat.language(decided.after))
    said = replies.ALREADY_STOPPED if decided.before.stopped else replies.STOPPED
    await chat.reply(texts.say(said))


async def help_(chat: Chat, command: Command, sender: Sender) -> None:
    _, texts = await chat.texts()
    await chat.reply(texts.say(replies.HELP))


async def remind(chat: Chat, command: Command, sender: Sender) -> None:
    state, texts = await chat.texts()
    zone = state.zone(chat.default_zone)
    reminder = await _understood(chat, texts, lambda: parse_reminder(command.args, now(), zone))
    if reminder is None:
        return
    await chat.emit(
        ReminderRequested(
            reminder_id=chat.request_id, bot_id=chat.bot_id, chat_id=chat.chat_id,
            user_id=chat.user_id or chat.chat_id, text=reminder.text, due_at=reminder.due_at,
            time_zone=zone, phrase=reminder.phrase, language=texts.language,
        )
    )  # fmt: skip


async def every(chat: Chat, command: Command, sender: Sender) -> None:
    state, texts = await chat.texts()
    zone = state.zone(chat.default_zone)
    recurrence = await _understood(chat, texts, lambda: parse_every(command.args, now(), zone))
    if recurrence is not None:
        await _schedule(chat, texts, zone, recurrence, recurrence.starts_on)


async def ping(chat: Chat, command: Command, sender: Sender) -> None:
    state, texts = await chat.texts()
    pings = await _understood(chat, texts, lambda: parse_ping(command.args))
    if pings is not None:
        await _schedule(chat, texts, state.zone(chat.default_zone), pings)


async def _understood(chat: Chat, texts: Texts, parse: Callable[[], T]) -> T | None:
    """What the phrase means, or None once the chat was told what was wrong with it."""
    try:
        return parse()
    except PhraseError as error:
        await chat.reply(replies.problem(texts, error))
        return None


async def _schedule(
    chat: Chat, texts: Texts, zone: str, said: Recurrence | Pings, starts_on: date | None = None
) -> None:  # fmt: skip
    await chat.emit(
        ScheduleRequested(
            schedule_id=chat.request_id, owner=chat.owner, bot_id=chat.bot_id,
            chat_id=chat.chat_id, spec=said.spec, time_zone=zone, starts_on=starts_on,
            message=MessageTemplate(text=said.text), phrase=said.phrase,
            language=texts.language, requested_at=now(),
        )
    )  # fmt: skip


async def listing(chat: Chat, command: Command, sender: Sender) -> None:
    state, texts = await chat.texts()
    await chat.emit(
        ListingRequested(
            request_id=chat.request_id, bot_id=chat.bot_id, chat_id=chat.chat_id,
            what="topics" if command.name == "topics" else "schedules",
            reply_to_message_id=chat.reply_to, time_zone=state.zone(chat.default_zone),
            language=texts.language, requested_at=now(),
        )
    )  # fmt: skip


async def change(chat: Chat, command: Command, sender: Sender) -> None:
    _, texts = await chat.texts()
    if not command.args:
        await chat.reply(texts.say(replies.WHICH_ONE, command=command.name))
        return
    await chat.emit(
        ScheduleChangeRequested(
            change_id=chat.request_id, schedule_id=command.args[:100], owner=chat.owner,
            action=command.name, requested_at=now(),
        )
    )  # fmt: skip


async def subscription(chat: Chat, command: Command, sender: Sender) -> None:
    _, texts = await chat.texts()
    topic = command.args.lstrip("#").lower()
    if not topic:
        await chat.reply(texts.say(replies.WHICH_TOPIC, command=command.name))
        return
    if not _TOPIC.match(topic):
        await chat.reply(texts.say(replies.BAD_TOPIC, topic=command.args, command=command.name))
        return
    await chat.emit(
        SubscriptionRequested(
            bot_id=chat.bot_id, chat_id=chat.chat_id, topic=topic,
            action="subscribe" if command.name == "subscribe" else "unsubscribe",
            requested_by=chat.owner, requested_at=now(),
        )
    )  # fmt: skip


async def snooze(chat: Chat, command: Command, sender: Sender) -> None:
    state, texts = await chat.texts()
    if not (sender.replied_to_bot and sender.replied_text):
        await chat.reply(texts.say(replies.SNOOZE_WHICH))
        return
    zone = state.zone(chat.default_zone)
    at = now()
    until = await _understood(chat, texts, lambda: parse_snooze(command.args, at, zone))
    if until is None:
        return
    await chat.emit(
        SnoozeRequested(
            snooze_id=chat.request_id, bot_id=chat.bot_id, chat_id=chat.chat_id,
            text=sender.replied_text, until=until, time_zone=zone, language=texts.language,
            requested_at=at,
        )
    )  # fmt: skip
    await chat.reply(texts.say(replies.SNOOZED, when=texts.when(until, zone)))


def language_buttons() -> list[list[InlineButton]]:
    return [
        [InlineButton(text=display_name(code), callback_data=f"lang:{code}") for code in LANGUAGES]
    ]


async def language(chat: Chat, command: Command, sender: Sender) -> None:
    _, texts = await chat.texts()
    if not command.args:
        shown = texts.say(replies.LANGUAGE_IS, language=display_name(texts.language))
        await chat.reply(shown, buttons=language_buttons())
        return
    chosen = language_named(command.args)
    if chosen is None:
        known = replies.languages()
        said = texts.say(replies.UNKNOWN_LANGUAGE, language=command.args, languages=known)
        await chat.reply(said)
        return
    await chat.reply(await set_language(chat, chosen))


async def set_language(chat: Chat, language: str) -> str:
    """Records a chosen language; the confirmation, in that language."""
    event = LanguageSet(
        bot_id=chat.bot_id,
        chat_id=chat.chat_id,
        user_id=chat.user_id,
        language=language,
        chosen_by="command",
    )
    await chat.decide(lambda state: chats.choose_language(state, event))
    return Texts(language).say(replies.LANGUAGE_SET, language=display_name(language))


async def time_zone(chat: Chat, command: Command, sender: Sender) -> None:
    state, texts = await chat.texts()
    if not command.args:
        current = state.zone(chat.default_zone)
        await chat.reply(
            texts.say(replies.TIME_ZONE_IS, time_zone=current, time=texts.clock(now(), current))
        )
        return
    zone = await _understood(chat, texts, lambda: resolve_time_zone(command.args))
    if zone is None:
        return
    chosen = TimeZoneSet(
        bot_id=chat.bot_id,
        chat_id=chat.chat_id,
        user_id=chat.user_id or chat.chat_id,
        time_zone=zone,
    )
    await chat.decide(lambda state: chats.choose_time_zone(state, chosen))
    local = texts.clock(now(), zone)
    await chat.reply(texts.say(replies.TIME_ZONE_SET, time_zone=zone, time=local))


COMMANDS: dict[str, Handler] = {
    "start": start,
    "stop": stop,
    "help": help_,
    "remind": remind,
    "every": every,
    "ping": ping,
    "list": listing,
    "topics": listing,
    "cancel": change,
    "pause": change,
    "resume": change,
    "subscribe": subscription,
    "unsubscribe": subscription,
    "snooze": snooze,
    "language": language,
    "tz": time_zone,
    "timezone": time_zone,
}


async def unknown(chat: Chat, command: Command, sender: Sender) -> None:
    _, texts = await chat.texts()
    await chat.reply(texts.say(replies.UNKNOWN_COMMAND, command=command.name))
