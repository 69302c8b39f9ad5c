"""Projections of the api's requests to the scheduler: schedules, broadcasts, subscriptions.

A request carries the id of the key that made it; its owner (the key's team) is read from
the keys projection, which a rebuild replays first and whose team never changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from chime_api.domain.schedules import AFTER, RESULTS, Result
from chime_contracts.events import (
    BroadcastCancelRequested,
    BroadcastFinished,
    BroadcastProgressed,
    BroadcastRequested,
    BroadcastStarted,
    ScheduleChanged,
    ScheduleChangeRequested,
    ScheduleCreated,
    ScheduleFired,
    ScheduleRejected,
    ScheduleRequested,
    SubscriptionRequested,
)
from chime_kit.db import Connection
from chime_kit.event_store import Recorded

# A request's owner: the team of the key that made it (or the key itself).
_INSERT_SCHEDULE = """
INSERT INTO schedules (id, owner, api_key_id, bot_id, chat_id, topic, spec, time_zone,
    starts_on, ends_on, message, misfire, jitter_seconds, status, created_at)
SELECT $1, CASE WHEN team IS NULL THEN 'key:' || id ELSE 'team:' || team END, $2, $3, $4, $5,
    $6, $7, $8, $9, $10, $11, $12, 'requested', $13
FROM api_keys WHERE id = $2
"""
_INSERT_BROADCAST = """
INSERT INTO broadcasts (id, owner, api_key_id, bot_id, topic, message, at, status, created_at)
SELECT $1, CASE WHEN team IS NULL THEN 'key:' || id ELSE 'team:' || team END, $2, $3, $4, $5,
    $6, 'requested', $7
FROM api_keys WHERE id = $2
"""
_UPSERT_SUBSCRIPTION = """
INSERT INTO subscriptions (owner, bot_id, chat_id, topic, subscribed, changed_at)
SELECT CASE WHEN team IS NULL THEN 'key:' || id ELSE 'team:' || team END, $2, $3, $4, $5, $6
FROM api_keys WHERE id = $1
ON CONFLICT (owner, topic, bot_id, chat_id) DO UPDATE SET
    subscribed = excluded.subscribed, changed_at = excluded.changed_at
"""


@dataclass(frozen=True)
class ScheduleRow:
    id: str
    owner: str
    api_key_id: str
    bot_id: int
    chat_id: int | None
    topic: str | None
    spec: dict[str, Any]
    time_zone: str
    starts_on: date | None
    ends_on: date | None
    message: dict[str, Any]
    misfire: str
    jitter_seconds: int
    status: str
    pending: str | None
    created_at: datetime
    number: int | None = None
    next_at: datetime | None = None
    last_fired_at: datetime | None = None
    fired: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class BroadcastRow:
    id: str
    owner: str
    api_key_id: str
    bot_id: int
    topic: str
    message: dict[str, Any]
    at: datetime | None
    status: str
    created_at: datetime
    recipients: int | None = None
    handed: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    started_at: datetime | None = None
    estimated_finish_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class SubscriptionRow:
    owner: str
    bot_id: int
    chat_id: int
    topic: str
    subscribed: bool
    changed_at: datetime


class PostgresRequests:
    """The three tables, folded from the request streams."""

    tables = ("schedules", "broadcasts", "subscriptions")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            if isinstance(e, ScheduleRequested):
                await self.conn.execute(
                    _INSERT_SCHEDULE,
                    e.schedule_id, e.owner.id, e.bot_id, e.chat_id, e.topic,
                    e.spec.model_dump(mode="json"), e.time_zone, e.starts_on, e.ends_on,
                    e.message.model_dump(mode="json", exclude_none=True), e.misfire,
                    e.jitter_seconds, e.requested_at,
                )  # fmt: skip
            elif isinstance(e, ScheduleChangeRequested):
                await self._changed(e)
            elif isinstance(e, BroadcastRequested):
                await self.conn.execute(
                    _INSERT_BROADCAST,
                    e.broadcast_id, e.owner.id, e.bot_id, e.topic,
                    e.message.model_dump(mode="json", exclude_none=True), e.at, e.requested_at,
                )  # fmt: skip
            elif isinstance(e, BroadcastCancelRequested):
                await self.conn.execute(
                    "UPDATE broadcasts SET status = 'cancelled' WHERE id = $1", e.broadcast_id
                )
            elif isinstance(e, RESULTS):
                await self._result(e)
            elif isinstance(e, SubscriptionRequested):
                await self.conn.execute(
                    _UPSERT_SUBSCRIPTION,
                    e.requested_by.id, e.bot_id, e.chat_id, e.topic, e.action == "subscribe",
                    e.requested_at,
                )  # fmt: skip

    async def _result(self, e: Result) -> None:
        if isinstance(e, ScheduleCreated):
            await self.conn.execute(
                "UPDATE schedules SET status = 'active', number = $2, next_at = $3,"
                " spec = $4 WHERE id = $1",
                e.schedule_id, e.number, e.next_at, e.spec.model_dump(mode="json"),
            )  # fmt: skip
        elif isinstance(e, ScheduleRejected):
            status = "'rejected'" if e.action == "create" else "status"
            await self.conn.execute(
                f"UPDATE schedules SET status = {status}, reason = $2 WHERE id = $1",  # noqa: S608
                e.schedule_ref, e.reason,
            )  # fmt: skip
        elif isinstance(e, ScheduleChanged):
            await self.conn.execute(
                "UPDATE schedules SET status = $2, next_at = $3,"
                " spec = COALESCE($4, spec), time_zone = COALESCE($5, time_zone),"
                " chat_id = COALESCE($6, chat_id) WHERE id = $1",
                e.schedule_id, e.status, e.next_at,
                e.spec.model_dump(mode="json") if e.spec else None, e.time_zone, e.chat_id,
            )  # fmt: skip
        elif isinstance(e, ScheduleFired):
            await self.conn.execute(
                "UPDATE schedules SET last_fired_at = $2, next_at = $3, fired = fired + 1"
                " WHERE id = $1",
                e.schedule_id, e.fired_at, e.next_at,
            )  # fmt: skip
        elif isinstance(e, BroadcastStarted):
            # Results travel on separate queues: a late start changes no finished broadcast.
            await self.conn.execute(
                "UPDATE broadcasts SET recipients = $2, skipped = GREATEST(skipped, $3),"
                " started_at = $4, estimated_finish_at = COALESCE(estimated_finish_at, $5),"
                " status = CASE WHEN status = 'requested' THEN 'running' ELSE status END"
                " WHERE id = $1",
                e.broadcast_id, e.recipients, e.skipped, e.started_at, e.estimated_finish_at,
            )  # fmt: skip
        elif isinstance(e, BroadcastProgressed):
            # Running totals: a late report never takes a count back, nor undoes the finish.
            await self.conn.execute(
                "UPDATE broadcasts SET handed = GREATEST(handed, $2), sent = GREATEST(sent, $3),"
                " failed = GREATEST(failed, $4), skipped = GREATEST(skipped, $5),"
                " estimated_finish_at = COALESCE($6, estimated_finish_at),"
                " status = CASE WHEN status = 'requested' THEN 'running' ELSE status END"
                " WHERE id = $1 AND finished_at IS NULL",
                e.broadcast_id, e.handed, e.sent, e.failed, e.skipped, e.estimated_finish_at,
            )  # fmt: skip
        elif isinstance(e, BroadcastFinished):
            await self.conn.execute(
                "UPDATE broadcasts SET handed = $2, sent = $3, failed = $4, skipped = $5,"
                " finished_at = $6, status = $7 WHERE id = $1",
                e.broadcast_id, e.handed, e.sent, e.failed, e.skipped, e.finished_at,
                "cancelled" if e.cancelled else "finished",
            )  # fmt: skip

    async def _changed(self, e: ScheduleChangeRequested) -> None:
        if e.action in AFTER:
            await self.conn.execute(
                "UPDATE schedules SET status = $2 WHERE id = $1", e.schedule_id, AFTER[e.action]
            )
            return
        await self.conn.execute(
            "UPDATE schedules SET spec = COALESCE($2, spec), time_zone = COALESCE($3, time_zone),"
            " message = COALESCE($4, message), ends_on = COALESCE($5, ends_on) WHERE id = $1",
            e.schedule_id,
            e.spec.model_dump(mode="json") if e.spec else None,
            e.time_zone,
            e.message.model_dump(mode="json", exclude_none=True) if e.message else None,
            e.ends_on,
        )

    async def schedule(self, schedule_id: str) -> ScheduleRow | None:
        row = await self.conn.fetchrow("SELECT * FROM schedules WHERE id = $1", schedule_id)
        return ScheduleRow(**dict(row)) if row else None

    async def schedules(
        self, owner: str, limit: int, after: tuple[datetime, str] | None, status: str | None
    ) -> list[ScheduleRow]:
        rows = await self.conn.fetch(
            "SELECT * FROM schedules WHERE owner = $1"
            " AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))"
            " AND ($5::text IS NULL OR status = $5)"
            " ORDER BY created_at DESC, id DESC LIMIT $2",
            owner, limit, *(after or (None, None)), status,
        )  # fmt: skip
        return [ScheduleRow(**dict(r)) for r in rows]

    async def broadcast(self, broadcast_id: str) -> BroadcastRow | None:
        row = await self.conn.fetchrow("SELECT * FROM broadcasts WHERE id = $1", broadcast_id)
        return BroadcastRow(**dict(row)) if row else None

    async def broadcasts(
        self, owner: str, limit: int, after: tuple[datetime, str] | None, topic: str | None
    ) -> list[BroadcastRow]:
        rows = await self.conn.fetch(
            "SELECT * FROM broadcasts WHERE owner = $1"
            " AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))"
            " AND ($5::text IS NULL OR topic = $5)"
            " ORDER BY created_at DESC, id DESC LIMIT $2",
            owner, limit, *(after or (None, None)), topic,
        )  # fmt: skip
        return [BroadcastRow(**dict(r)) for r in rows]

    async def subscriptions(
        self, owner: str, topic: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[SubscriptionRow]:
        """Current subscribers a caller added to a topic, newest first."""
        rows = await self.conn.fetch(
            "SELECT * FROM subscriptions WHERE owner = $1 AND topic = $2 AND subscribed"
            " AND ($4::timestamptz IS NULL OR (changed_at, bot_id::text || ':' || chat_id::text)"
            " < ($4, $5)) ORDER BY changed_at DESC, bot_id::text || ':' || chat_id::text DESC"
            " LIMIT $3",
            owner, topic, limit, *(after or (None, None)),
        )  # fmt: skip
        return [SubscriptionRow(**dict(r)) for r in rows]

    async def topics(self, owner: str) -> list[tuple[str, int]]:
        """The topics a caller has subscribers in, with how many."""
        rows = await self.conn.fetch(
            "SELECT topic, count(*) FILTER (WHERE subscribed) AS n FROM subscriptions"
            " WHERE owner = $1 GROUP BY topic ORDER BY topic",
            owner,
        )
        return [(r["topic"], r["n"]) for r in rows]
