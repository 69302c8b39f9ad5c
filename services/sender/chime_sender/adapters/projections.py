"""The projections of the sender's streams in PostgreSQL: `delivery_log` and `chats`.

Each folds its events with set-based statements (one per event type in a batch), live in the
transaction that appends them and again by `python -m chime_sender rebuild`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chime_contracts.events import (
    ChatBlocked,
    ChatMemberChanged,
    MessageSent,
    NotificationDue,
    SendFailed,
    SendRequested,
    UserStarted,
)
from chime_kit.db import Connection
from chime_kit.event_store import Recorded
from chime_kit.projection import Projection


def requested_row(r: Recorded) -> tuple[Any, ...] | None:
    """A delivery_log row for a recorded request (send.requested.v1 or notification.due.v1)."""
    e, data = r.envelope, r.envelope.data
    if isinstance(data, SendRequested):
        source = data.source
        return (
            data.delivery_id, data.bot_id, data.chat_id, data.origin,
            source.kind if source else None, source.id if source else None,
            e.occurred_at, r.version,
        )  # fmt: skip
    if isinstance(data, NotificationDue):
        return (
            data.delivery_id, data.bot_id, data.chat_id, f"scheduler.{data.source}",
            data.source, data.source_id, e.occurred_at, r.version,
        )  # fmt: skip
    return None


def outcome_row(r: Recorded) -> tuple[Any, ...] | None:
    data = r.envelope.data
    if isinstance(data, MessageSent):
        return (
            data.delivery_id, "sent", data.attempts, data.telegram_message_id, None, None,
            data.sent_at, r.version,
        )  # fmt: skip
    if isinstance(data, SendFailed):
        state = "unknown" if data.outcome_unknown else "failed"
        return (
            data.delivery_id, state, data.attempts, None, data.reason, data.error_code,
            data.failed_at, r.version,
        )  # fmt: skip
    return None


class PostgresDeliveryLog:
    tables = ("delivery_log",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        requested = [row for r in events if (row := requested_row(r)) is not None]
        if requested:
            await self.conn.executemany(
                "INSERT INTO delivery_log (delivery_id, bot_id, chat_id, origin, source_kind,"
                " source_id, requested_at, state, version)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8)",
                requested,
            )
        outcomes = [row for r in events if (row := outcome_row(r)) is not None]
        if outcomes:
            await self.conn.execute(
                "UPDATE delivery_log l SET state = t.state, attempts = t.attempts,"
                " telegram_message_id = t.mid, reason = t.reason, error_code = t.code,"
                " finished_at = t.at, version = t.version"
                " FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::text[],"
                "   $6::int[], $7::timestamptz[], $8::int[])"
                "   AS t(id, state, attempts, mid, reason, code, at, version)"
                " WHERE l.delivery_id = t.id",
                *(list(column) for column in zip(*outcomes, strict=True)),
            )

    async def status(self, delivery_id: str) -> str | None:
        value: str | None = await self.conn.fetchval(
            "SELECT state FROM delivery_log WHERE delivery_id = $1", delivery_id
        )
        return value


class PostgresChats:
    tables = ("chats",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            data = r.envelope.data
            # Only changes are recorded (see domain.streams.reported): apply them as they come.
            if isinstance(data, ChatBlocked):
                await self._block(data.bot_id, data.chat_id, data.blocked_at, data.detected_by)
            elif isinstance(data, ChatMemberChanged) and data.new_state == "kicked":
                await self._block(data.bot_id, data.chat_id, data.changed_at, "kicked")
            elif isinstance(data, UserStarted | ChatMemberChanged):
                await self.conn.execute(
                    "UPDATE chats SET blocked_at = NULL, block_reason = NULL"
                    " WHERE bot_id = $1 AND chat_id = $2",
                    data.bot_id,
                    data.chat_id,
                )

    async def _block(self, bot_id: int, chat_id: int, at: datetime, reason: str) -> None:
        await self.conn.execute(
            "INSERT INTO chats (bot_id, chat_id, blocked_at, block_reason)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (bot_id, chat_id) DO UPDATE"
            " SET blocked_at = EXCLUDED.blocked_at, block_reason = EXCLUDED.block_reason",
            bot_id, chat_id, at, reason,
        )  # fmt: skip

    async def blocked(self, bot_id: int, chat_id: int) -> bool:
        value = await self.conn.fetchval(
            "SELECT blocked_at IS NOT NULL FROM chats WHERE bot_id = $1 AND chat_id = $2",
            bot_id,
            chat_id,
        )
        return bool(value)


def projections(conn: Connection) -> Sequence[Projection]:
    """Every projection of the sender, for `python -m chime_sender rebuild`."""
    return [PostgresDeliveryLog(conn), PostgresChats(conn)]
