"""The sender's own tables: deliveries, their attempts, chat pacing and blocked chats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from chime_kit.db import Connection
from chime_sender.domain.deliveries import Claim, Delivery
from chime_sender.domain.limits import ChatPace

# NOTIFY is delivered on commit only, so a listener wakes exactly when a new row is visible.
NEW_DELIVERY_CHANNEL = "chime_sender_deliveries"
# Consumers apply events concurrently, so an earlier request to a chat may commit a moment
# after a later one; waiting this long before a new delivery is claimable keeps their order.
ORDER_GRACE = timedelta(milliseconds=50)

_CLAIM_COLUMNS = (
    "d.delivery_id, d.bot_id, d.chat_id, d.text, d.parse_mode, d.reply_to_message_id,"
    " d.correlation_id, d.traceparent, d.attempts, d.failures, d.parts_sent,"
    " d.first_message_id, (c.blocked_at IS NOT NULL) AS chat_blocked"
)

_EXPIRED_COLUMNS = _CLAIM_COLUMNS.replace("(c.blocked_at IS NOT NULL)", "false")


def _claim(row: Any, attempt: int | None = None) -> Claim:
    delivery = Delivery(
        delivery_id=row["delivery_id"],
        bot_id=row["bot_id"],
        chat_id=row["chat_id"],
        text=row["text"],
        parse_mode=row["parse_mode"],
        reply_to_message_id=row["reply_to_message_id"],
        correlation_id=row["correlation_id"],
        traceparent=row["traceparent"],
    )
    return Claim(
        delivery=delivery,
        attempt=row["attempts"] if attempt is None else attempt,
        failures=row["failures"],
        parts_sent=row["parts_sent"],
        first_message_id=row["first_message_id"],
        chat_blocked=row["chat_blocked"],
    )


class DeliveryRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(
        self, delivery: Delivery, origin: str, parts_total: int, requested_at: datetime
    ) -> bool:
        """False when this delivery_id is already known (a redelivery or a duplicate)."""
        status = await self.conn.execute(
            "INSERT INTO deliveries (delivery_id, bot_id, chat_id, text, parse_mode,"
            " reply_to_message_id, origin, correlation_id, traceparent, parts_total,"
            " requested_at, next_attempt_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now() + $12::interval)"
            " ON CONFLICT (delivery_id) DO NOTHING",
            delivery.delivery_id,
            delivery.bot_id,
            delivery.chat_id,
            delivery.text,
            delivery.parse_mode,
            delivery.reply_to_message_id,
            origin,
            delivery.correlation_id,
            delivery.traceparent,
            parts_total,
            requested_at,
            ORDER_GRACE,
        )
        if status != "INSERT 0 1":
            return False
        await self.conn.execute("SELECT pg_notify($1, '')", NEW_DELIVERY_CHANNEL)
        return True

    async def ready(
        self,
        now: datetime,
        limit: int,
        skip_bots: Sequence[int],
        before: datetime | None = None,
    ) -> list[Claim]:
        """Pending deliveries due now to chats free now, oldest first, locked for this
        transaction; other replicas skip them. With `before`, only those requested earlier
        (the rest may have an earlier sibling still being stored)."""
        rows = await self.conn.fetch(
            f"SELECT {_CLAIM_COLUMNS} FROM deliveries d"  # noqa: S608 - constant columns
            " LEFT JOIN chats c ON c.bot_id = d.bot_id AND c.chat_id = d.chat_id"
            " WHERE d.state = 'pending' AND d.next_attempt_at <= $1"
            " AND NOT (d.bot_id = ANY($3::bigint[]))"
            " AND ($4::timestamptz IS NULL OR d.requested_at < $4)"
            " AND NOT EXISTS (SELECT 1 FROM chat_pacing p WHERE p.bot_id = d.bot_id"
            "   AND p.chat_id = d.chat_id AND p.next_send_at > $1)"
            " ORDER BY d.requested_at, d.seq LIMIT $2 FOR UPDATE OF d SKIP LOCKED",
            now,
            limit,
            list(skip_bots),
            before,
        )
        return [_claim(row) for row in rows]

    async def reserve_chats(
        self, chats: Sequence[tuple[int, int]], now: datetime, until: datetime
    ) -> set[tuple[int, int]]:
        """Hold each chat until `until` unless another replica holds it; returns those held."""
        if not chats:
            return set()
        rows = await self.conn.fetch(
            "INSERT INTO chat_pacing (bot_id, chat_id, next_send_at)"
            " SELECT b, c, $3 FROM unnest($1::bigint[], $2::bigint[]) AS t(b, c)"
            " ON CONFLICT (bot_id, chat_id) DO UPDATE SET next_send_at = EXCLUDED.next_send_at"
            " WHERE chat_pacing.next_send_at <= $4"
            " RETURNING bot_id, chat_id",
            [b for b, _ in chats],
            [c for _, c in chats],
            until,
            now,
        )
        return {(row["bot_id"], row["chat_id"]) for row in rows}

    async def mark_sending(
        self, claims: Sequence[Claim], now: datetime, lease_until: datetime
    ) -> list[Claim]:
        """Start one call per claim: count the attempt, take the lease for the claim's owner
        at its slot, record the attempt."""
        if not claims:
            return []
        rows = await self.conn.fetch(
            "UPDATE deliveries d SET state = 'sending', attempts = attempts + 1,"
            " lease_until = $2, claimed_by = t.owner, slot_at = t.slot"
            " FROM unnest($1::text[], $3::text[], $4::timestamptz[]) AS t(id, owner, slot)"
            " WHERE d.delivery_id = t.id RETURNING d.delivery_id, d.attempts, d.parts_sent",
            [c.delivery.delivery_id for c in claims],
            lease_until,
            [c.owner for c in claims],
            [c.slot for c in claims],
        )
        attempt = {row["delivery_id"]: row["attempts"] for row in rows}
        await self.conn.executemany(
            "INSERT INTO delivery_attempts (delivery_id, attempt, part, started_at)"
            " VALUES ($1, $2, $3, $4)",
            [(row["delivery_id"], row["attempts"], row["parts_sent"] + 1, now) for row in rows],
        )
        return [replace(c, attempt=attempt[c.delivery.delivery_id]) for c in claims]

    async def release(
        self,
        owner: str,
        now: datetime,
        *,
        slots_after: datetime | None = None,
        ids: Sequence[str] = (),
        all_but: Sequence[str] | None = None,
    ) -> int:
        """Make `owner`'s claims that were never called pending again at once, and free their
        chats: those named, those whose slot starts after `slots_after`, or all but those
        named in `all_but`."""
        rows = await self.conn.fetch(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $2, lease_until = NULL,"
            " claimed_by = NULL, slot_at = NULL WHERE state = 'sending' AND claimed_by = $1"
            " AND (slot_at > $3 OR delivery_id = ANY($4::text[])"
            "   OR ($5::text[] IS NOT NULL AND NOT delivery_id = ANY($5::text[])))"
            " RETURNING delivery_id, attempts, bot_id, chat_id",
            owner,
            now,
            slots_after,
            list(ids),
            None if all_but is None else list(all_but),
        )
        await self.conn.executemany(
            "UPDATE delivery_attempts SET finished_at = $3, outcome = 'released'"
            " WHERE delivery_id = $1 AND attempt = $2 AND outcome IS NULL",
            [(row["delivery_id"], row["attempts"], now) for row in rows],
        )
        # The chat was free when claimed (and held for the claim since): free again now.
        await self.conn.execute(
            "UPDATE chat_pacing p SET next_send_at = $3"
            " FROM unnest($1::bigint[], $2::bigint[]) AS t(b, c)"
            " WHERE p.bot_id = t.b AND p.chat_id = t.c AND p.next_send_at > $3",
            [row["bot_id"] for row in rows],
            [row["chat_id"] for row in rows],
            now,
        )
        return len(rows)

    async def still_sending(self, delivery_id: str, attempt: int, owner: str | None) -> int | None:
        """Lock the delivery if this call still owns it; returns its parts_total."""
        value: int | None = await self.conn.fetchval(
            "SELECT parts_total FROM deliveries WHERE delivery_id = $1"
            " AND state = 'sending' AND attempts = $2 AND claimed_by IS NOT DISTINCT FROM $3"
            " FOR UPDATE",
            delivery_id,
            attempt,
            owner,
        )
        return value

    async def finish_attempt(
        self,
        delivery_id: str,
        attempt: int,
        now: datetime,
        outcome: str,
        error_code: int | None,
        description: str | None,
        message_id: int | None,
    ) -> None:
        await self.conn.execute(
            "UPDATE delivery_attempts SET finished_at = $3, outcome = $4, error_code = $5,"
            " description = $6, telegram_message_id = $7"
            " WHERE delivery_id = $1 AND attempt = $2",
            delivery_id,
            attempt,
            now,
            outcome,
            error_code,
            description,
            message_id,
        )

    async def part_sent(self, delivery_id: str, message_id: int | None) -> tuple[int, int | None]:
        row = await self.conn.fetchrow(
            "UPDATE deliveries SET parts_sent = parts_sent + 1,"
            " first_message_id = coalesce(first_message_id, $2)"
            " WHERE delivery_id = $1 RETURNING parts_sent, first_message_id",
            delivery_id,
            message_id,
        )
        assert row is not None
        return row["parts_sent"], row["first_message_id"]

    async def retry_at(
        self, delivery_id: str, at: datetime, *, failed: bool, error: str | None
    ) -> None:
        await self.conn.execute(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $2, lease_until = NULL,"
            " failures = failures + $3::int, last_error = coalesce($4, last_error)"
            " WHERE delivery_id = $1",
            delivery_id,
            at,
            1 if failed else 0,
            error,
        )

    async def finish(
        self, delivery_id: str, state: str, now: datetime, error: str | None = None
    ) -> None:
        await self.conn.execute(
            "UPDATE deliveries SET state = $2, finished_at = $3, lease_until = NULL,"
            " last_error = coalesce($4, last_error) WHERE delivery_id = $1",
            delivery_id,
            state,
            now,
            error,
        )

    async def expire(self, now: datetime, owner: str | None = None) -> list[Claim]:
        """Calls maybe in flight when their process died: their outcome is unknown, never
        re-sent. With `owner`, every claim still held by that dead instance; without, claims
        of no live instance (none recorded, or its row is gone) whose lease ran out."""
        rows = await self.conn.fetch(
            "WITH lost AS (SELECT delivery_id FROM deliveries"  # noqa: S608 - constant columns
            "  WHERE state = 'sending' AND CASE WHEN $2::text IS NULL"
            "    THEN lease_until < $1 AND (claimed_by IS NULL OR NOT EXISTS (SELECT 1"
            "      FROM sender_instances i WHERE i.instance_id = deliveries.claimed_by))"
            "    ELSE claimed_by = $2 END"
            "  FOR UPDATE SKIP LOCKED)"
            " UPDATE deliveries d SET state = 'unknown', finished_at = $1, lease_until = NULL,"
            " last_error = 'outcome unknown after crash' FROM lost"
            " WHERE d.delivery_id = lost.delivery_id"
            f" RETURNING {_EXPIRED_COLUMNS}",
            now,
            owner,
        )
        await self.conn.executemany(
            "UPDATE delivery_attempts SET finished_at = $3, outcome = 'unknown'"
            " WHERE delivery_id = $1 AND attempt = $2 AND outcome IS NULL",
            [(row["delivery_id"], row["attempts"], now) for row in rows],
        )
        return [_claim(row) for row in rows]

    async def pace_of(self, bot_id: int, chat_id: int) -> ChatPace | None:
        row = await self.conn.fetchrow(
            "SELECT next_send_at, recent FROM chat_pacing WHERE bot_id = $1 AND chat_id = $2"
            " FOR UPDATE",
            bot_id,
            chat_id,
        )
        if row is None:
            return None
        return ChatPace(row["next_send_at"], tuple(row["recent"]))

    async def set_pace(self, bot_id: int, chat_id: int, pace: ChatPace) -> None:
        await self.conn.execute(
            "INSERT INTO chat_pacing (bot_id, chat_id, next_send_at, recent)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (bot_id, chat_id) DO UPDATE"
            " SET next_send_at = EXCLUDED.next_send_at, recent = EXCLUDED.recent",
            bot_id,
            chat_id,
            pace.next_send_at,
            list(pace.recent),
        )

    async def block_chat(self, bot_id: int, chat_id: int, now: datetime, reason: str) -> bool:
        """Mark the chat blocked; False when it already was."""
        status = await self.conn.execute(
            "INSERT INTO chats (bot_id, chat_id, blocked_at, block_reason) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (bot_id, chat_id) DO UPDATE SET blocked_at = EXCLUDED.blocked_at,"
            " block_reason = EXCLUDED.block_reason WHERE chats.blocked_at IS NULL",
            bot_id,
            chat_id,
            now,
            reason,
        )
        return bool(status == "INSERT 0 1")

    async def next_ready_at(self) -> datetime | None:
        value: datetime | None = await self.conn.fetchval(
            "SELECT min(next_attempt_at) FROM deliveries WHERE state = 'pending'"
        )
        return value
