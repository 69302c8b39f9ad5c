"""The scheduler's own tables."""

from __future__ import annotations

from datetime import datetime

from chime_kit.db import Connection
from chime_scheduler.domain.reminders import Reminder


class ReminderRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, reminder: Reminder, user_id: int | None) -> bool:
        """False when this reminder id is already stored."""
        status = await self.conn.execute(
            "INSERT INTO reminders (id, bot_id, chat_id, user_id, text, due_at, time_zone,"
            " correlation_id, traceparent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (id) DO NOTHING",
            reminder.id,
            reminder.bot_id,
            reminder.chat_id,
            user_id,
            reminder.text,
            reminder.due_at,
            reminder.time_zone,
            reminder.correlation_id,
            reminder.traceparent,
        )
        return bool(status == "INSERT 0 1")

    async def claim_due(self, now: datetime, limit: int) -> list[Reminder]:
        """Mark due reminders fired and return them; replicas skip each other's rows."""
        rows = await self.conn.fetch(
            "WITH due AS ("
            "  SELECT id FROM reminders WHERE state = 'scheduled' AND due_at <= $1"
            "  ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " UPDATE reminders r SET state = 'fired', fired_at = $1 FROM due"
            " WHERE r.id = due.id"
            " RETURNING r.id, r.bot_id, r.chat_id, r.text, r.due_at, r.time_zone,"
            " r.correlation_id, r.traceparent",
            now,
            limit,
        )
        return [Reminder(**dict(row)) for row in rows]

    async def next_due_at(self) -> datetime | None:
        value: datetime | None = await self.conn.fetchval(
            "SELECT min(due_at) FROM reminders WHERE state = 'scheduled'"
        )
        return value
