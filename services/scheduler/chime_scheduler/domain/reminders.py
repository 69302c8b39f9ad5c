"""Reminders as the scheduler sees them: pure rules, no I/O.

A reminder's stream `reminder-<id>` holds its life: the request as received
(`reminder.requested.v1`), `reminder.scheduled.v1`, then `notification.due.v1` when it fired.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import NotificationDue, ReminderRequested, ReminderScheduled
from chime_kit.streams import Aggregate

Status = Literal["new", "requested", "scheduled", "fired", "cancelled"]


@dataclass(frozen=True)
class Reminder:
    """What firing needs of a due reminder (read from the due index)."""

    id: str
    bot_id: int
    chat_id: int
    text: str
    due_at: datetime
    time_zone: str
    correlation_id: str
    traceparent: str | None
    version: int = 0


@dataclass(frozen=True)
class ReminderState:
    status: Status = "new"
    due_at: datetime | None = None


def evolve(state: ReminderState, event: Event) -> ReminderState:
    if isinstance(event, ReminderRequested):
        # A request recorded after the fact (an upgraded installation) leaves the status.
        return replace(state, status="requested") if state.status == "new" else state
    if isinstance(event, ReminderScheduled):
        return replace(state, status="scheduled", due_at=event.due_at)
    if isinstance(event, NotificationDue):
        return replace(state, status="fired")
    return state


REMINDER = Aggregate(ReminderState(), evolve)


def stream_id(reminder_id: str) -> str:
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


def fire(reminder: Reminder, now: datetime) -> NotificationDue:
    return NotificationDue(
        delivery_id=delivery_id(reminder.id),
        source="reminder",
        source_id=reminder.id,
        bot_id=reminder.bot_id,
        chat_id=reminder.chat_id,
        text=reminder_text(reminder.text),
        due_at=reminder.due_at,
        fired_at=now,
    )


def delivery_id(reminder_id: str) -> str:
    """One delivery per reminder occurrence: the sender sends each id at most once."""
    return f"reminder:{reminder_id}"


def confirmation_text(text: str, due_at: datetime, time_zone: str, now: datetime) -> str:
    """The reply that tells the user what was understood, in their own zone."""
    local = due_at.astimezone(ZoneInfo(time_zone))
    today = now.astimezone(ZoneInfo(time_zone)).date()
    when = (
        local.strftime("%H:%M:%S") if local.date() == today else local.strftime("%a %d %b %Y %H:%M")
    )
    return f"⏰ Got it. I'll remind you at {when} ({time_zone}): {text}"


def reminder_text(text: str) -> str:
    return f"⏰ {text}"
