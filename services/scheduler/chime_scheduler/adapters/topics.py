"""Topics, subscriptions, chats and broadcasts in PostgreSQL: projections and queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chime_contracts.events import (
    BroadcastFinished,
    BroadcastProgressed,
    BroadcastRequested,
    BroadcastStarted,
    ChatBlocked,
    ChatMemberChanged,
    ChatMigrated,
    ChatResumed,
    ChatStopped,
    LanguageSet,
    SendBatchRequested,
    SubscriptionChanged,
    TimeZoneSet,
)
from chime_contracts.events.scheduler import SkipReason
from chime_kit.db import Connection
from chime_kit.event_store import Recorded
from chime_scheduler.domain.chats import GONE
from chime_scheduler.ports import DueBroadcast, HeldSlice


class PostgresSubscriptions:
    tables = ("subscriptions", "topics")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            if not isinstance(e, SubscriptionChanged):
                continue
            if e.subscribed:
                await self.conn.execute(
                    "INSERT INTO subscriptions (bot_id, topic, chat_id, subscribed_at)"
                    " VALUES ($1, $2, $3, $4)", e.bot_id, e.topic, e.chat_id, e.changed_at,
                )  # fmt: skip
            else:
                await self.conn.execute(
                    "DELETE FROM subscriptions WHERE bot_id = $1 AND topic = $2 AND chat_id = $3",
                    e.bot_id, e.topic, e.chat_id,
                )  # fmt: skip
            await self.conn.execute(
                "INSERT INTO topics (bot_id, topic, subscribers, created_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (bot_id, topic)"
                " DO UPDATE SET subscribers = topics.subscribers + $3",
                e.bot_id, e.topic, 1 if e.subscribed else -1, e.changed_at,
            )  # fmt: skip

    async def topics_of(self, bot_id: int, chat_id: int, page: int, size: int
                        ) -> tuple[list[str], int]:  # fmt: skip
        total: int = await self.conn.fetchval(
            "SELECT count(*) FROM subscriptions WHERE bot_id = $1 AND chat_id = $2",
            bot_id, chat_id,
        )  # fmt: skip
        rows = await self.conn.fetch(
            "SELECT topic FROM subscriptions WHERE bot_id = $1 AND chat_id = $2"
            " ORDER BY topic LIMIT $3 OFFSET $4", bot_id, chat_id, size, (page - 1) * size,
        )  # fmt: skip
        return [r["topic"] for r in rows], total

    async def topics_of_chat(self, bot_id: int, chat_id: int) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT topic FROM subscriptions WHERE bot_id = $1 AND chat_id = $2", bot_id, chat_id
        )
        return [r["topic"] for r in rows]

    async def recipients(
        self, bot_id: int, topic: str
    ) -> tuple[list[int], list[tuple[int, SkipReason]]]:
        """The topic's subscribers now, less those that blocked the bot or stopped (and
        those, with the reason: blocked first, when both)."""
        rows = await self.conn.fetch(
            "SELECT s.chat_id, CASE WHEN c.blocked THEN 'blocked'"
            " WHEN c.stopped THEN 'stopped' END AS skip"
            " FROM subscriptions s LEFT JOIN chats c USING (bot_id, chat_id)"
            " WHERE s.bot_id = $1 AND s.topic = $2 ORDER BY s.chat_id",
            bot_id, topic,
        )  # fmt: skip
        chats = [r["chat_id"] for r in rows if r["skip"] is None]
        return chats, [(r["chat_id"], r["skip"]) for r in rows if r["skip"] is not None]


class PostgresChats:
    tables = ("chats",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            column, value = chat_change(e)
            if column is None:
                continue
            chat_id = e.old_chat_id if isinstance(e, ChatMigrated) else e.chat_id
            await self.conn.execute(
                f"INSERT INTO chats (bot_id, chat_id, {column}) VALUES ($1, $2, $3)"  # noqa: S608
                f" ON CONFLICT (bot_id, chat_id) DO UPDATE SET {column} = $3",
                e.bot_id, chat_id, value,
            )  # fmt: skip

    async def language(self, bot_id: int, chat_id: int) -> str | None:
        value: str | None = await self.conn.fetchval(
            "SELECT language FROM chats WHERE bot_id = $1 AND chat_id = $2", bot_id, chat_id
        )
        return value


def chat_change(e: Any) -> tuple[str | None, Any]:
    """The one column of `chats` a chat fact sets (column names are constants here)."""
    if isinstance(e, ChatBlocked):
        return "blocked", True
    if isinstance(e, ChatMemberChanged):
        return "blocked", e.new_state in GONE
    if isinstance(e, ChatStopped | ChatResumed):
        return "stopped", isinstance(e, ChatStopped)
    if isinstance(e, TimeZoneSet):
        return "time_zone", e.time_zone
    if isinstance(e, LanguageSet):
        return "language", e.language
    if isinstance(e, ChatMigrated):
        return "migrated_to", e.new_chat_id
    return None, None


class PostgresBroadcasts:
    tables = ("broadcasts",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e, env = r.envelope.data, r.envelope
            if isinstance(e, BroadcastRequested):
                await self.conn.execute(
                    "INSERT INTO broadcasts (id, owner_kind, owner_id, bot_id, topic, message,"
                    " paid, status, due_at, version, correlation_id, traceparent)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, 'scheduled', $8, $9, $10, $11)",
                    e.broadcast_id, e.owner.kind, e.owner.id, e.bot_id, e.topic,
                    e.message.model_dump(mode="json", exclude_none=True), e.paid_broadcast,
                    e.at or env.occurred_at, r.version, env.correlation_id, env.traceparent,
                )  # fmt: skip
            elif isinstance(e, BroadcastStarted):
                await self.conn.execute(
                    "INSERT INTO broadcasts (id, owner_kind, owner_id, bot_id, topic, schedule_id,"
                    " message, status, due_at, recipients, skipped, handed, started_at,"
                    " estimated_finish_at, version, correlation_id) VALUES ($1, $2, $3, $4, $5,"
                    " $6, '{}', 'sending', $7, $8, $9, $8, $7, $10, $11, $12)"
                    " ON CONFLICT (id) DO UPDATE SET status = 'sending', recipients = $8,"
                    " skipped = $9, handed = $8, started_at = $7, estimated_finish_at = $10,"
                    " version = $11",
                    e.broadcast_id, e.owner.kind, e.owner.id, e.bot_id, e.topic, e.schedule_id,
                    e.started_at, e.recipients, e.skipped, e.estimated_finish_at, r.version,
                    env.correlation_id,
                )  # fmt: skip
            elif isinstance(e, BroadcastProgressed | BroadcastFinished):
                finished = isinstance(e, BroadcastFinished)
                status = "sending"
                if isinstance(e, BroadcastFinished):
                    status = "cancelled" if e.cancelled else "finished"
                await self.conn.execute(
                    "UPDATE broadcasts SET sent = $2, failed = $3, status = $4, version = $5,"
                    " handed = $9,"
                    " finished_at = CASE WHEN $6 THEN $7 ELSE finished_at END,"
                    " estimated_finish_at = coalesce($8, estimated_finish_at) WHERE id = $1",
                    e.broadcast_id, e.sent, e.failed, status, r.version, finished,
                    e.finished_at if isinstance(e, BroadcastFinished) else None,
                    e.estimated_finish_at if isinstance(e, BroadcastProgressed) else None,
                    e.handed,
                )  # fmt: skip

    async def claim_due(self, now: datetime, limit: int) -> list[DueBroadcast]:
        rows = await self.conn.fetch(
            "SELECT id, owner_kind, owner_id, bot_id, topic, message, paid, due_at, version,"
            " correlation_id, traceparent FROM broadcasts WHERE status = 'scheduled'"
            " AND due_at <= $1"
            " ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            now, limit,
        )  # fmt: skip
        return [DueBroadcast(**dict(r)) for r in rows]

    async def next_due_at(self) -> datetime | None:
        value: datetime | None = await self.conn.fetchval(
            "SELECT min(due_at) FROM broadcasts WHERE status = 'scheduled'"
        )
        return value

    async def start_tally(self, broadcast_id: str, handed: int) -> None:
        await self.conn.execute(
            "INSERT INTO broadcast_tallies (broadcast_id, handed) VALUES ($1, $2)"
            " ON CONFLICT (broadcast_id) DO UPDATE SET handed = $2",
            broadcast_id, handed,
        )  # fmt: skip

    async def tally(
        self, counts: dict[str, tuple[int, int]]
    ) -> dict[str, tuple[int, int, int, int]]:
        """Add outcomes (sent, failed) per broadcast: the totals, the last reported and how
        many were handed over."""
        rows = await self.conn.fetch(
            "INSERT INTO broadcast_tallies AS t (broadcast_id, sent, failed)"
            " SELECT * FROM unnest($1::text[], $2::int[], $3::int[])"
            " ON CONFLICT (broadcast_id) DO UPDATE"
            " SET sent = t.sent + excluded.sent, failed = t.failed + excluded.failed"
            " RETURNING broadcast_id, sent, failed, reported, handed",
            list(counts), [c[0] for c in counts.values()], [c[1] for c in counts.values()],
        )  # fmt: skip
        return {
            r["broadcast_id"]: (r["sent"], r["failed"], r["reported"], r["handed"]) for r in rows
        }

    async def reported(self, broadcast_id: str, done: int) -> None:
        await self.conn.execute(
            "UPDATE broadcast_tallies SET reported = $2 WHERE broadcast_id = $1",
            broadcast_id, done,
        )  # fmt: skip

    async def hold_slices(self, held: Sequence[HeldSlice]) -> None:
        await self.conn.executemany(
            "INSERT INTO broadcast_slices (broadcast_id, n, recipients, batch, due_at,"
            " correlation_id, traceparent) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT DO NOTHING",
            [(h.batch.source.id, int(h.batch.batch_id.rsplit(":", 1)[1]), len(h.batch.chat_ids),
              h.batch.model_dump(mode="json", exclude_none=True), h.due_at, h.correlation_id,
              h.traceparent)
             for h in held if h.batch.source is not None],
        )  # fmt: skip

    async def claim_slices(self, now: datetime, limit: int) -> list[HeldSlice]:
        """The slices whose time came, taken (deleted) for this transaction to hand over;
        other replicas skip them."""
        rows = await self.conn.fetch(
            "DELETE FROM broadcast_slices WHERE (broadcast_id, n) IN (SELECT broadcast_id, n"
            " FROM broadcast_slices WHERE due_at <= $1 ORDER BY due_at LIMIT $2"
            " FOR UPDATE SKIP LOCKED) RETURNING batch, due_at, correlation_id, traceparent",
            now, limit,
        )  # fmt: skip
        return [
            HeldSlice(SendBatchRequested.model_validate(r["batch"]), r["due_at"],
                      r["correlation_id"], r["traceparent"])
            for r in rows
        ]  # fmt: skip

    async def drop_slices(self, broadcast_id: str) -> int:
        """Drop the slices not yet handed over; how many recipients they held."""
        dropped: int = await self.conn.fetchval(
            "WITH d AS (DELETE FROM broadcast_slices WHERE broadcast_id = $1"
            " RETURNING recipients) SELECT coalesce(sum(recipients), 0) FROM d",
            broadcast_id,
        )  # fmt: skip
        return dropped

    async def next_slice_at(self) -> datetime | None:
        value: datetime | None = await self.conn.fetchval(
            "SELECT min(due_at) FROM broadcast_slices"
        )
        return value

    async def outcomes(self, broadcast_id: str) -> tuple[int, int]:
        """Sent and failed so far, as tallied from the sender's outcomes."""
        row = await self.conn.fetchrow(
            "SELECT sent, failed FROM broadcast_tallies WHERE broadcast_id = $1", broadcast_id
        )
        return (row["sent"], row["failed"]) if row else (0, 0)
