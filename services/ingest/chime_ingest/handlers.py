"""What ingest does with an update: accept it durably, then interpret it. No frameworks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import (
    ReminderRequested,
    SendRequested,
    TimeZoneSet,
    UpdateReceived,
    UserStarted,
)
from chime_ingest.adapters.postgres import Chats, UpdateLog
from chime_ingest.domain import replies
from chime_ingest.domain.commands import Command, parse_command
from chime_ingest.domain.time_phrases import PhraseError, parse_reminder
from chime_ingest.domain.time_zones import UnknownTimeZone, resolve_time_zone
from chime_ingest.domain.updates import Update, check_update, kind_of
from chime_kit import event_store
from chime_kit.unit_of_work import UnitOfWork

Accepted = Literal["accepted", "duplicate", "rejected"]


async def accept_update(uow: UnitOfWork, bot_id: int, body: dict[str, Any]) -> Accepted:
    """Store the update once; an invalid one is kept as rejected and the stream moves on.

    The caller has checked that `body` has an integer update_id.
    """
    log = UpdateLog(uow.conn)
    try:
        update = check_update(body)
    except ValueError as exc:
        stored = await log.add(bot_id, body["update_id"], kind_of(body), body, reason=str(exc))
        return "rejected" if stored else "duplicate"
    if not await log.add(bot_id, update.update_id, update.kind, body):
        return "duplicate"
    await uow.emit(
        UpdateReceived(
            bot_id=bot_id,
            update_id=update.update_id,
            kind=update.kind,
            chat_id=update.chat_id,
            user_id=update.user_id,
            update=body,
        )
    )
    return "accepted"


async def interpret_update(
    uow: UnitOfWork, envelope: Envelope[UpdateReceived], default_time_zone: str
) -> None:
    """Turn an accepted update into domain events and replies."""
    received = envelope.data
    update = check_update(received.update)
    message = update.message
    if update.kind != "message" or message is None or not message.text:
        return
    command = parse_command(message.text)
    if command is None:
        return
    context = _Context(uow, received, update, default_time_zone)
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
        self, uow: UnitOfWork, received: UpdateReceived, update: Update, default_zone: str
    ) -> None:
        assert update.message is not None
        self.uow = uow
        self.bot_id = received.bot_id
        self.update = update
        self.message = update.message
        self.chat_id = update.message.chat.id
        self.user_id = update.user_id or self.chat_id
        self.default_zone = default_zone
        self.chats = Chats(uow.conn)

    async def start(self) -> None:
        sender = self.message.from_
        zone = await self.chats.time_zone(self.bot_id, self.chat_id) or self.default_zone
        await self.chats.start(self.bot_id, self.chat_id, zone)
        await self.record(
            UserStarted(
                bot_id=self.bot_id,
                chat_id=self.chat_id,
                user_id=self.user_id,
                username=sender.username if sender else None,
                first_name=sender.first_name if sender else None,
                language_code=sender.language_code if sender else None,
            ),
        )
        await self.reply(replies.WELCOME.format(time_zone=zone))

    async def remind(self, command: Command) -> None:
        zone = await self.chats.time_zone(self.bot_id, self.chat_id) or self.default_zone
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
        current = await self.chats.time_zone(self.bot_id, self.chat_id) or self.default_zone
        if not command.args:
            await self.reply(replies.time_zone_is(current, _local_time(current)))
            return
        try:
            zone = resolve_time_zone(command.args)
        except UnknownTimeZone as exc:
            await self.reply(replies.cannot_understand(str(exc)))
            return
        await self.chats.set_time_zone(self.bot_id, self.chat_id, zone)
        await self.record(
            TimeZoneSet(
                bot_id=self.bot_id, chat_id=self.chat_id, user_id=self.user_id, time_zone=zone
            )
        )
        await self.reply(replies.time_zone_set(zone, _local_time(zone)))

    async def record(self, event: Event) -> None:
        """Append to this chat's stream; a concurrent writer makes the handler retry."""
        stream = f"chat-{self.bot_id}-{self.chat_id}"
        version = await event_store.current_version(self.uow.conn, stream)
        await self.uow.record(stream, version, event)

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
