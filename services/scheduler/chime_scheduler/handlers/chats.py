"""What ingest and the sender say about chats: blocked, stopped, resumed, their zone and
language, a migration. A chat's schedules follow."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import (
    ChatMigrated,
    ChatResumed,
    ChatStopped,
    TimeZoneSet,
)
from chime_kit.streams import Work, decide
from chime_scheduler.domain import chats, reminders, schedules, subscriptions
from chime_scheduler.domain.chats import CHAT
from chime_scheduler.domain.reminders import REMINDER, ReminderState
from chime_scheduler.domain.schedules import SCHEDULE, ScheduleState
from chime_scheduler.domain.subscriptions import SUBSCRIPTION
from chime_scheduler.ports import Store


async def note_chat(uow: Work, store: Store, envelope: Envelope[Any]) -> bool:
    """Keep a chat fact in the chat's stream if it changes something; whether it did."""
    fact = envelope.data
    chat_id = fact.old_chat_id if isinstance(fact, ChatMigrated) else fact.chat_id
    decided = await decide(
        uow, chats.stream_id(fact.bot_id, chat_id), CHAT,
        lambda state: chats.note(state, envelope), project=store.chats.apply,
    )  # fmt: skip
    return bool(decided.recorded)


async def _each_schedule(
    uow: Work, store: Store, bot_id: int, chat_id: int,
    decision: Callable[[ScheduleState, str], Sequence[Event]],
) -> None:  # fmt: skip
    for schedule_id in await store.schedules.of_chat(bot_id, chat_id):
        await decide(
            uow, schedules.stream_id(schedule_id), SCHEDULE,
            partial(_on_schedule, decision, schedule_id), project=store.schedules.apply,
        )  # fmt: skip


def _on_schedule(
    decision: Callable[[ScheduleState, str], Sequence[Event]], schedule_id: str,
    state: ScheduleState,
) -> Sequence[Event]:  # fmt: skip
    return decision(state, schedule_id)


async def chat_stopped(uow: Work, store: Store, envelope: Envelope[ChatStopped]) -> None:
    """/stop: the chat's running schedules pause."""
    e = envelope.data
    if await note_chat(uow, store, envelope):
        await _each_schedule(
            uow, store, e.bot_id, e.chat_id,
            lambda s, sid: schedules.pause_for_stop(s, sid, envelope.id),
        )  # fmt: skip


async def chat_resumed(uow: Work, store: Store, envelope: Envelope[ChatResumed]) -> None:
    """/start after /stop: what /stop paused runs again, from now on."""
    e, now = envelope.data, datetime.now(UTC)
    if await note_chat(uow, store, envelope):
        await _each_schedule(
            uow, store, e.bot_id, e.chat_id,
            lambda s, sid: schedules.resume_after_start(s, sid, envelope.id, now),
        )  # fmt: skip


async def time_zone_set(uow: Work, store: Store, envelope: Envelope[TimeZoneSet]) -> None:
    """A chat's new zone moves the future occurrences of the schedules it owns, and its
    one-shot reminders (the wall time asked for, kept in the new zone)."""
    e, now = envelope.data, datetime.now(UTC)
    owner = f"{e.bot_id}:{e.chat_id}"
    if not await note_chat(uow, store, envelope):
        return

    def move(state: ScheduleState, sid: str) -> list[Event]:
        if state.owner is None or state.owner.kind != "chat" or state.owner.id != owner:
            return []
        return schedules.move_zone(state, sid, envelope.id, e.time_zone, now)

    await _each_schedule(uow, store, e.bot_id, e.chat_id, move)
    for reminder_id in await store.reminders.of_chat(e.bot_id, e.chat_id):
        await decide(
            uow, reminders.stream_id(reminder_id), REMINDER,
            partial(_move_reminder, reminder_id, e, now), project=store.reminders.apply,
        )  # fmt: skip


def _move_reminder(
    reminder_id: str, e: TimeZoneSet, now: datetime, state: ReminderState
) -> list[Event]:
    return reminders.move_zone(state, reminder_id, e.bot_id, e.chat_id, e.time_zone, now)


async def chat_migrated(uow: Work, store: Store, envelope: Envelope[ChatMigrated]) -> None:
    """A group became a supergroup: its schedules and subscriptions move to the new id."""
    e, now = envelope.data, datetime.now(UTC)
    if not await note_chat(uow, store, envelope):
        return
    await _each_schedule(
        uow, store, e.bot_id, e.old_chat_id,
        lambda s, sid: schedules.migrate(s, sid, envelope.id, e.bot_id, e.new_chat_id),
    )  # fmt: skip
    for topic in await store.subscriptions.topics_of_chat(e.bot_id, e.old_chat_id):
        for chat_id, want in ((e.old_chat_id, False), (e.new_chat_id, True)):
            move = partial(_subscription, e.bot_id, chat_id, topic, want, now)
            await decide(
                uow, subscriptions.stream_id(e.bot_id, topic, chat_id), SUBSCRIPTION, move,
                project=store.subscriptions.apply,
            )  # fmt: skip


def _subscription(
    bot_id: int, chat_id: int, topic: str, want: bool, now: datetime, subscribed: bool
) -> list[Event]:
    return subscriptions.set_to(subscribed, bot_id, chat_id, topic, want, now)
