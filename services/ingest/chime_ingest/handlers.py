"""What ingest does with an update: accept it durably, then interpret it. No frameworks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import (
    ReminderRequested,
    SendRequested,
    TimeZoneSet,
    UpdateReceived,
    UserStarted,
)
from chime_ingest.adapters.postgres import PostgresChats
from chime_ingest.adapters.update_log import Arrival, Claimed, UpdateLog
from chime_ingest.domain import chats, replies
from chime_ingest.domain.chats import CHAT, ChatState
from chime_ingest.domain.commands import Command, parse_command
from chime_ingest.domain.time_phrases import PhraseError, parse_reminder
from chime_ingest.domain.time_zones import UnknownTimeZone, resolve_time_zone
from chime_ingest.domain.updates import Update, check_update
from chime_ingest.ports import ChatsView
from chime_kit.db import Connection
from chime_kit.streams import Decided, Work, decide, state_of
from chime_kit.unit_of_work import UnitOfWork

Accepted = Literal["accepted", "duplicate", "rejected"]


async def accept_updates(conn: Connection, arrivals: Sequence[Arrival]) -> list[Accepted]:
    """Store updates in one statement (its own transaction when the caller opened none), each
    once per (bot, update_id): accepted (queued for the interpreter by the same statement),
    rejected (kept with the reason Chime cannot act on it, never interpreted), or a
    duplicate of one already stored or earlier in `arrivals`."""
    first: dict[tuple[int, int], int] = {}
    unique = [
        a for n, a in enumerate(arrivals) if first.setdefault((a.bot_id, a.update_id), n) == n
    ]
    stored = await UpdateLog(conn).add(unique) if unique else set()
    outcomes: list[Accepted] = []
    for n, a in enumerate(arrivals):
        key = (a.bot_id, a.update_id)
        if key not in stored or first[key] != n:
            outcomes.append("duplicate")
        else:
            outcomes.append("rejected" if a.reason else "accepted")
    return outcomes


def receipt_of(claimed: Claimed) -> Envelope[UpdateReceived]:
    """The update's receipt, built from its stored row, as the cause of what interpreting it
    emits (they share its correlation id and trace). It is not published: nothing else
    consumes it, and ingest reads its updates from its own table."""
    received = UpdateReceived.model_construct(
        type="update.received.v1",
        bot_id=claimed.bot_id,
        update_id=claimed.update_id,
        kind=claimed.kind,
        chat_id=claimed.chat_id,
        user_id=claimed.user_id,
        update=claimed.payload,
    )
    # Not validated again: every field comes from the row the receive path checked.
    receipt: Envelope[UpdateReceived] = Envelope[UpdateReceived].model_construct(
        id=claimed.event_id,
        type=received.type,
        occurred_at=claimed.received_at,
        producer="ingest",
        correlation_id=claimed.event_id,
        causation_id=None,
        traceparent=claimed.traceparent,
        tracestate=None,
        data=received,
    )
    return receipt


async def interpret_update(
    uow: UnitOfWork, receipt: Envelope[UpdateReceived], default_time_zone: str
) -> None:
    """As the interpreter calls it: the chats projection works in the same transaction."""
    await interpret(uow, PostgresChats(uow.conn), receipt.data, default_time_zone)


async def interpret(
    uow: Work, view: ChatsView, received: UpdateReceived, default_time_zone: str
) -> None:
    """Turn an accepted update into domain events and replies.

    The chat's state (started, time zone) is decided from its stream; `view` is its
    projection, updated with every append.
    """
    update = check_update(received.update)
    message = update.message
    if update.kind != "message" or message is None or not message.text:
        return
    command = parse_command(message.text)
    if command is None:
        return
    context = _Context(uow, view, received, update, default_time_zone)
    if command.name == "start":
        await context.start()
    elif command.name == "help":
        await context.reply(replies.HELP)
    elif command.name == "remind":
        await context.remind(command)
    elif command.name in ("tz", "timezone"):
        await context.time_zone(command)
    else:
        await context.reply(replies.unknown_command(command.name))


class _Context:
    def __init__(
        self,
        uow: Work,
        view: ChatsView,
        received: UpdateReceived,
        update: Update,
        default_zone: str,
    ) -> None:
        assert update.message is not None
        self.uow = uow
        self.view = view
        self.bot_id = received.bot_id
        self.update = update
        self.message = update.message
        self.chat_id = update.message.chat.id
        self.user_id = update.user_id or self.chat_id
        self.default_zone = default_zone
        self.stream = chats.stream_id(self.bot_id, self.chat_id)

    async def start(self) -> None:
        sender = self.message.from_
        started = UserStarted(
            bot_id=self.bot_id,
            chat_id=self.chat_id,
            user_id=self.user_id,
            username=sender.username if sender else None,
            first_name=sender.first_name if sender else None,
            language_code=sender.language_code if sender else None,
        )
        # Every /start is a fact worth keeping (a returning user), so it is always recorded.
        decided = await self.decide(lambda _: [started])
        await self.reply(replies.WELCOME.format(time_zone=decided.after.zone(self.default_zone)))

    async def remind(self, command: Command) -> None:
        zone = (await self.state()).zone(self.default_zone)
        try:
            reminder = parse_reminder(command.args, datetime.now(UTC), zone)
        except PhraseError as exc:
            await self.reply(replies.cannot_understand(str(exc)))
            return
        await self.uow.emit(
            ReminderRequested(
                # Derived from the update, so a re-interpreted update asks only once.
                reminder_id=f"{self.bot_id}-{self.update.update_id}",
                bot_id=self.bot_id,
                chat_id=self.chat_id,
                user_id=self.user_id,
                text=reminder.text,
                due_at=reminder.due_at,
                time_zone=zone,
                phrase=reminder.phrase,
            )
        )

    async def time_zone(self, command: Command) -> None:
        if not command.args:
            current = (await self.state()).zone(self.default_zone)
            await self.reply(replies.time_zone_is(current, _local_time(current)))
            return
        try:
            zone = resolve_time_zone(command.args)
        except UnknownTimeZone as exc:
            await self.reply(replies.cannot_understand(str(exc)))
            return
        chosen = TimeZoneSet(
            bot_id=self.bot_id, chat_id=self.chat_id, user_id=self.user_id, time_zone=zone
        )
        await self.decide(lambda state: chats.choose_time_zone(state, chosen))
        await self.reply(replies.time_zone_set(zone, _local_time(zone)))

    async def state(self) -> ChatState:
        return await state_of(self.uow, self.stream, CHAT)

    async def decide(self, decision: Callable[[ChatState], Sequence[Event]]) -> Decided[ChatState]:
        """Append to this chat's stream at the version decided from; a race is retried."""
        return await decide(self.uow, self.stream, CHAT, decision, project=self.view.apply)

    async def reply(self, text: str) -> None:
        await self.uow.emit(
            SendRequested(
                delivery_id=f"reply:{self.bot_id}:{self.update.update_id}",
                bot_id=self.bot_id,
                chat_id=self.chat_id,
                text=text,
                reply_to_message_id=self.message.message_id,
                origin="ingest.reply",
            )
        )


def _local_time(time_zone: str) -> str:
    return datetime.now(ZoneInfo(time_zone)).strftime("%H:%M")
