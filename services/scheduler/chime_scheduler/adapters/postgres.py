"""The scheduler's tables: the reminders projection and due index."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from chime_contracts.envelope import Event
from chime_contracts.events import (
    NotificationDue,
    ReminderRequested,
    ReminderScheduled,
    ScheduleChangeRequested,
    SendRequested,
    SnoozeRequested,
)
from chime_kit.db import Connection
from chime_kit.event_store import Recorded
from chime_kit.projection import Projection
from chime_scheduler.adapters.schedules import PostgresSchedules
from chime_scheduler.adapters.topics import (
    PostgresBroadcasts,
    PostgresChats,
    PostgresSubscriptions,
)
from chime_scheduler.domain.reminders import SNOOZE, Reminder

E = TypeVar("E", bound=Event)
ONE_SHOT = ("reminder", "snooze")
STREAM = "reminder-"


class PostgresReminders:
    tables = ("reminders",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e, data = r.envelope, r.envelope.data
            if isinstance(data, ReminderRequested):
                await self.conn.execute(
                    "INSERT INTO reminders (id, bot_id, chat_id, user_id, text, due_at, time_zone,"
                    " state, correlation_id, traceparent, created_at, version, language)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested', $8, $9, $10, $11, $12)",
                    data.reminder_id, data.bot_id, data.chat_id, data.user_id, data.text,
                    data.due_at, data.time_zone, e.correlation_id, e.traceparent, e.occurred_at,
                    r.version, data.language,
                )  # fmt: skip
            elif isinstance(data, ReminderScheduled):
                await self.conn.execute(
                    "UPDATE reminders SET state = 'scheduled', due_at = $2,"
                    " traceparent = CASE WHEN $5::text IS NULL THEN $3 ELSE traceparent END,"
                    " version = $4,"
                    " time_zone = coalesce($5, time_zone) WHERE id = $1",
                    data.reminder_id, data.due_at, e.traceparent, r.version, data.time_zone,
                )  # fmt: skip
            elif isinstance(data, SnoozeRequested):
                await self.conn.execute(
                    "INSERT INTO reminders (id, bot_id, chat_id, text, due_at, time_zone, state,"
                    " correlation_id, traceparent, created_at, version, kind, language)"
                    " VALUES ($1, $2, $3, $4, $5, $6, 'scheduled', $7, $8, $9, $10, 'snooze', $11)",
                    SNOOZE + data.snooze_id, data.bot_id, data.chat_id, data.text, data.until,
                    data.time_zone, e.correlation_id, e.traceparent, e.occurred_at, r.version,
                    data.language,
                )  # fmt: skip
            elif isinstance(data, ScheduleChangeRequested) and r.stream_id.startswith(STREAM):
                await self.conn.execute(
                    "UPDATE reminders SET state = 'cancelled', version = $2"
                    " WHERE id = $1 AND state = 'scheduled'",
                    r.stream_id.removeprefix(STREAM), r.version,
                )  # fmt: skip
            elif isinstance(data, NotificationDue) and data.source == "reminder":
                await self._fired(data.source_id, data.fired_at, r.version)
            elif isinstance(data, SendRequested) and data.source and data.source.kind in ONE_SHOT:
                prefix = SNOOZE if data.source.kind == "snooze" else ""
                await self._fired(prefix + data.source.id, e.occurred_at, r.version)

    async def _fired(self, reminder_id: str, fired_at: datetime, version: int) -> None:
        await self.conn.execute(
            "UPDATE reminders SET state = 'fired', fired_at = $2, version = $3 WHERE id = $1",
            reminder_id, fired_at, version,
        )  # fmt: skip

    async def claim_due(self, now: datetime, limit: int) -> list[Reminder]:
        """Replicas skip each other's rows: each due reminder is claimed by one of them."""
        rows = await self.conn.fetch(
            "WITH due AS ("
            "  SELECT id FROM reminders WHERE state = 'scheduled' AND due_at <= $1"
            "  ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " UPDATE reminders r SET state = 'fired', fired_at = $1, version = r.version + 1"
            " FROM due WHERE r.id = due.id"
            " RETURNING r.id, r.bot_id, r.chat_id, r.text, r.due_at, r.time_zone,"
            " r.correlation_id, r.traceparent, r.version, r.kind, r.language",
            now,
            limit,
        )
        return [Reminder(**dict(row)) for row in rows]

    async def next_due_at(self) -> datetime | None:
        value: datetime | None = await self.conn.fetchval(
            "SELECT min(due_at) FROM reminders WHERE state = 'scheduled'"
        )
        return value

    async def status(self, reminder_id: str) -> str | None:
        value: str | None = await self.conn.fetchval(
            "SELECT state FROM reminders WHERE id = $1", reminder_id
        )
        return value

    async def resolve(self, bot_id: int, chat_id: int, ref: str) -> str | None:
        value: str | None = await self.conn.fetchval(
            "SELECT id FROM reminders WHERE id = $1 AND bot_id = $2 AND chat_id = $3"
            " AND kind = 'reminder'",
            ref, bot_id, chat_id,
        )  # fmt: skip
        return value

    async def of_chat(self, bot_id: int, chat_id: int) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT id FROM reminders WHERE bot_id = $1 AND chat_id = $2"
            " AND state = 'scheduled' AND kind = 'reminder' ORDER BY due_at",
            bot_id, chat_id,
        )  # fmt: skip
        return [r["id"] for r in rows]


def projections(conn: Connection) -> Sequence[Projection]:
    """Every projection of the scheduler, for `python -m chime_scheduler rebuild`."""
    store = PostgresStore(conn)
    return [store.reminders, store.schedules, store.subscriptions, store.chats, store.broadcasts]


class PostgresStore:
    """The scheduler's repositories on one connection (the unit of work's)."""

    def __init__(self, conn: Connection) -> None:
        self.reminders = PostgresReminders(conn)
        self.schedules = PostgresSchedules(conn)
        self.subscriptions = PostgresSubscriptions(conn)
        self.chats = PostgresChats(conn)
        self.broadcasts = PostgresBroadcasts(conn)
