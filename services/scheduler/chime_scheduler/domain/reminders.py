"""Reminders and snoozes as the scheduler sees them: pure rules, no I/O.

A reminder's stream `reminder-<id>` holds its life: the request as received
(`reminder.requested.v1`), `reminder.scheduled.v1`, then the `send.requested.v1` it fired
(source kind `reminder`; streams of older installations end in `notification.due.v1`), or
the owner's `/cancel` as received (`schedule.change.requested.v1`, action `cancel`). A
snooze's stream `snooze-<id>` holds `snooze.requested.v1`, then its `send.requested.v1`
(source kind `snooze`). Both fire from the reminders table, the one-shot due index.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import (
    NotificationDue,
    ReminderRequested,
    ReminderScheduled,
    ScheduleChangeRequested,
    SendRequested,
    SnoozeRequested,
)
from chime_contracts.events.schedules import MessageTemplate
from chime_kit.streams import Aggregate
from chime_scheduler.domain import messages
from chime_scheduler.domain.texts import say
from chime_schedules import SpecError, language_of, local_instant, wall_time, zone_of

Status = Literal["new", "requested", "scheduled", "fired", "cancelled"]
SNOOZE = "snooze:"


@dataclass(frozen=True)
class Reminder:
    """What firing needs of a due reminder or snooze (read from the due index)."""

    id: str
    bot_id: int
    chat_id: int
    text: str
    due_at: datetime
    time_zone: str
    correlation_id: str
    traceparent: str | None
    version: int = 0
    kind: str = "reminder"
    language: str | None = None

    @property
    def source_id(self) -> str:
        return self.id.removeprefix(SNOOZE)


@dataclass(frozen=True)
class ReminderState:
    status: Status = "new"
    due_at: datetime | None = None
    time_zone: str = "UTC"
    changes: tuple[str, ...] = field(default=())


def evolve(state: ReminderState, event: Event) -> ReminderState:
    if isinstance(event, ReminderRequested):
        # A request recorded after the fact (an upgraded installation) leaves the status.
        status: Status = "requested" if state.status == "new" else state.status
        return replace(state, status=status, time_zone=event.time_zone)
    if isinstance(event, ReminderScheduled):
        return replace(
            state, status="scheduled", due_at=event.due_at,
            time_zone=event.time_zone or state.time_zone,
        )  # fmt: skip
    if isinstance(event, SnoozeRequested):
        return replace(state, status="scheduled", due_at=event.until)
    if isinstance(event, NotificationDue | SendRequested):
        return replace(state, status="fired")
    if isinstance(event, ScheduleChangeRequested) and event.action == "cancel":
        status = "cancelled" if state.status == "scheduled" else state.status
        return replace(state, status=status, changes=(*state.changes, event.change_id))
    return state


REMINDER = Aggregate(ReminderState(), evolve)


def stream_id(reminder_id: str) -> str:
    """`reminder-<id>`, or `snooze-<id>` for a snooze's row (`snooze:<id>`)."""
    if reminder_id.startswith(SNOOZE):
        return f"snooze-{reminder_id.removeprefix(SNOOZE)}"
    return f"reminder-{reminder_id}"


def schedule(
    state: ReminderState, request: Envelope[ReminderRequested]
) -> list[Event | Envelope[Any]]:
    """Keep the request as received and schedule it; a request seen before changes nothing."""
    if state.status != "new":
        return []
    asked = request.data
    scheduled = ReminderScheduled(
        reminder_id=asked.reminder_id, bot_id=asked.bot_id, chat_id=asked.chat_id,
        due_at=asked.due_at,
    )  # fmt: skip
    return [request, scheduled]


def snooze(state: ReminderState, request: Envelope[SnoozeRequested]) -> list[Event | Envelope[Any]]:
    """Keep the snooze as received: it is its own schedule."""
    return [request] if state.status == "new" else []


def cancel_refusal(state: ReminderState, action: str) -> str | None:
    """Why the owner's change cannot apply to this reminder (a reminder can only be
    cancelled, while it is still to fire); None when it can."""
    if action != "cancel":
        return "a reminder can only be cancelled"
    if state.status != "scheduled":
        return f"the reminder is over ({state.status})"
    return None


def cancel(
    state: ReminderState, request: Envelope[ScheduleChangeRequested]
) -> list[Event | Envelope[Any]]:
    """Keep the owner's /cancel in the reminder's stream: it never fires after it. A change
    seen before, or one that cannot apply, records nothing."""
    asked = request.data
    if asked.change_id in state.changes or cancel_refusal(state, asked.action):
        return []
    return [request]


def move_zone(
    state: ReminderState,
    reminder_id: str,
    bot_id: int,
    chat_id: int,
    time_zone: str,
    now: datetime,
) -> list[Event]:
    """A chat's new zone moves a reminder still to fire: the wall time asked for is kept in
    the new zone (RFC 5545 for a gap or a repeated hour). One already due, or whose wall time
    has passed in the new zone, keeps its instant and fires there."""
    if state.status != "scheduled" or state.due_at is None or state.time_zone == time_zone:
        return []
    due_at = state.due_at
    if due_at > now:
        try:
            old, new = zone_of(state.time_zone), zone_of(time_zone)
        except SpecError:
            return []
        moved = local_instant(wall_time(due_at, old), new)
        due_at = moved if moved > now else due_at
    return [ReminderScheduled(
        reminder_id=reminder_id, bot_id=bot_id, chat_id=chat_id, due_at=due_at,
        time_zone=time_zone,
    )]  # fmt: skip


def fire(reminder: Reminder) -> SendRequested:
    text = reminder.text if reminder.kind == "snooze" else reminder_text(reminder.text)
    return messages.occurrence(
        reminder.kind, reminder.source_id, delivery_id(reminder.id), reminder.bot_id,
        reminder.chat_id, MessageTemplate(text=text), reminder.due_at, reminder.language,
    )  # fmt: skip


def delivery_id(reminder_id: str) -> str:
    """One delivery per reminder occurrence: the sender sends each id at most once."""
    return reminder_id if reminder_id.startswith(SNOOZE) else f"reminder:{reminder_id}"


def confirmation_text(
    text: str, due_at: datetime, time_zone: str, now: datetime, language: str | None = None
) -> str:
    """The reply that tells the user what was understood, in their own zone and language:
    the time alone for today ("12:00:02"), else the date too ("Fri 27 Nov 2026 09:00", the
    names in the chat's language)."""
    zone = ZoneInfo(time_zone)
    local = due_at.astimezone(zone)
    pattern = "HH:mm:ss" if local.date() == now.astimezone(zone).date() else "EEE dd MMM y HH:mm"
    when = format_datetime(local, pattern, tzinfo=zone, locale=language_of(language))
    return say("reminder_confirmed", language, when=when, zone=time_zone, text=text)


def reminder_text(text: str) -> str:
    return f"⏰ {text}"
