"""The scheduler's repositories in memory, for handler tests without a database: the
reminders projection here, the others in `memory_schedules.py` and `memory_topics.py`, all
on one `InMemoryStore` (one contract suite runs them and PostgreSQL's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from chime_contracts.events import (
    NotificationDue,
    ReminderRequested,
    ReminderScheduled,
    ScheduleChangeRequested,
    SendRequested,
    SnoozeRequested,
)
from chime_kit.event_store import Recorded
from chime_scheduler.adapters.memory_schedules import InMemorySchedules
from chime_scheduler.adapters.memory_topics import (
    InMemoryBroadcasts,
    InMemoryChats,
    InMemorySubscriptions,
)
from chime_scheduler.domain.reminders import SNOOZE, Reminder

ONE_SHOT = ("reminder", "snooze")
STREAM = "reminder-"


@dataclass(frozen=True)
class Row:
    reminder: Reminder
    state: str
    fired_at: datetime | None = None


class InMemoryReminders:
    tables = ("reminders",)

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e, data = r.envelope, r.envelope.data
            if isinstance(data, ReminderRequested):
                reminder = Reminder(
                    data.reminder_id, data.bot_id, data.chat_id, data.text, data.due_at,
                    data.time_zone, e.correlation_id, e.traceparent, r.version,
                    language=data.language,
                )  # fmt: skip
                self.rows[data.reminder_id] = Row(reminder, "requested")
            elif isinstance(data, ReminderScheduled) and data.reminder_id in self.rows:
                row = self.rows[data.reminder_id]
                reminder = replace(
                    row.reminder, due_at=data.due_at, version=r.version,
                    # a move (by a new zone) keeps the request's trace
                    traceparent=row.reminder.traceparent if data.time_zone else e.traceparent,
                    time_zone=data.time_zone or row.reminder.time_zone,
                )  # fmt: skip
                self.rows[data.reminder_id] = replace(row, reminder=reminder, state="scheduled")
            elif isinstance(data, SnoozeRequested):
                reminder = Reminder(
                    SNOOZE + data.snooze_id, data.bot_id, data.chat_id, data.text, data.until,
                    data.time_zone, e.correlation_id, e.traceparent, r.version, kind="snooze",
                    language=data.language,
                )  # fmt: skip
                self.rows[reminder.id] = Row(reminder, "scheduled")
            elif isinstance(data, ScheduleChangeRequested) and r.stream_id.startswith(STREAM):
                held = self.rows.get(r.stream_id.removeprefix(STREAM))
                if held is not None and held.state == "scheduled":
                    reminder = replace(held.reminder, version=r.version)
                    self.rows[reminder.id] = replace(held, reminder=reminder, state="cancelled")
            elif isinstance(data, NotificationDue) and data.source_id in self.rows:
                self._fire(data.source_id, data.fired_at, r.version)
            elif isinstance(data, SendRequested) and data.source and data.source.kind in ONE_SHOT:
                prefix = SNOOZE if data.source.kind == "snooze" else ""
                if prefix + data.source.id in self.rows:
                    self._fire(prefix + data.source.id, e.occurred_at, r.version)

    def _fire(self, reminder_id: str, now: datetime, version: int) -> Reminder:
        row = self.rows[reminder_id]
        reminder = replace(row.reminder, version=version)
        self.rows[reminder_id] = Row(reminder, "fired", now)
        return reminder

    async def claim_due(self, now: datetime, limit: int) -> list[Reminder]:
        due = sorted(
            (r.reminder for r in self.rows.values()
             if r.state == "scheduled" and r.reminder.due_at <= now),
            key=lambda r: r.due_at,
        )[:limit]  # fmt: skip
        return [self._fire(r.id, now, r.version + 1) for r in due]

    async def next_due_at(self) -> datetime | None:
        due = [r.reminder.due_at for r in self.rows.values() if r.state == "scheduled"]
        return min(due, default=None)

    async def status(self, reminder_id: str) -> str | None:
        row = self.rows.get(reminder_id)
        return row.state if row else None

    async def resolve(self, bot_id: int, chat_id: int, ref: str) -> str | None:
        row = self.rows.get(ref)
        if row is None or row.reminder.kind != "reminder":
            return None
        return ref if (row.reminder.bot_id, row.reminder.chat_id) == (bot_id, chat_id) else None

    async def of_chat(self, bot_id: int, chat_id: int) -> list[str]:
        return [r.id for r in self.listed(bot_id, chat_id)]

    def listed(self, bot_id: int, chat_id: int) -> list[Reminder]:
        """The chat's reminders (not snoozes) still to fire, by due time."""
        mine = [r.reminder for r in self.rows.values() if r.state == "scheduled"
                and r.reminder.kind == "reminder"
                and (r.reminder.bot_id, r.reminder.chat_id) == (bot_id, chat_id)]  # fmt: skip
        return sorted(mine, key=lambda r: r.due_at)


class InMemoryStore:
    """Every repository of the scheduler in memory, as `ports.Store` (shared across units
    of work: a fake has no transactions to roll back)."""

    def __init__(self) -> None:
        self.reminders = InMemoryReminders()
        self.schedules = InMemorySchedules(self.reminders.listed)
        self.chats = InMemoryChats()
        self.subscriptions = InMemorySubscriptions(self.chats)
        self.broadcasts = InMemoryBroadcasts()
