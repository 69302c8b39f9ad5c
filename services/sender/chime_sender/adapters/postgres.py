"""The sender's send queue in PostgreSQL (machinery): deliveries, their attempts, chat pacing.

The projections of its streams (`delivery_log`, `chats`) are in `adapters/projections.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from chime_contracts.events.shared import SendSource
from chime_kit.db import Connection
from chime_sender.adapters.assignments import PostgresAssignments
from chime_sender.adapters.breakers import BreakerRepository
from chime_sender.adapters.instances import Instances
from chime_sender.adapters.pacing import BotPacing
from chime_sender.adapters.projections import PostgresChats, PostgresDeliveryLog
from chime_sender.domain.deliveries import Claim, Delivery
from chime_sender.domain.settlement import Live, Settlement
from chime_sender.ports import Queued, SentMessage, Stores

# NOTIFY (from a trigger on deliveries) is delivered on commit only, so a listener wakes
# exactly when a new row is visible.
NEW_DELIVERY_CHANNEL = "chime_sender_deliveries"
# Consumers apply events concurrently, so an earlier request to a chat may commit a moment
# after a later one; waiting this long before a new delivery is claimable keeps their order.
ORDER_GRACE = timedelta(milliseconds=50)

_CLAIM_COLUMNS = (
    "d.delivery_id, d.bot_id, d.chat_id, d.text, d.parse_mode, d.reply_to_message_id,"
    " d.correlation_id, d.traceparent, d.attempts, d.failures, d.parts_sent,"
    " d.first_message_id, d.version, d.source_kind, d.source_id, d.method, d.options,"
    " d.next_attempt_at,"
    " (c.blocked_at IS NOT NULL) AS chat_blocked"
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
        source=SendSource(kind=row["source_kind"], id=row["source_id"])
        if row["source_kind"]
        else None,
        method=row["method"],
        options=row["options"],
    )
    return Claim(
        delivery=delivery,
        attempt=row["attempts"] if attempt is None else attempt,
        failures=row["failures"],
        parts_sent=row["parts_sent"],
        first_message_id=row["first_message_id"],
        chat_blocked=row["chat_blocked"],
        version=row["version"],
        due_at=row["next_attempt_at"],
    )


def _live(row: Any) -> Live:
    return Live(
        parts_total=row["parts_total"],
        parts_sent=row["parts_sent"],
        first_message_id=row["first_message_id"],
        recent=tuple(row["recent"]),
    )


def _recent(values: Sequence[datetime]) -> str:
    """A timestamptz[] literal, so rows of different lengths pass through one unnest."""
    return "{" + ",".join(f'"{t.isoformat()}"' for t in values) + "}"


class DeliveryRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(
        self,
        delivery: Delivery,
        origin: str,
        parts_total: int,
        requested_at: datetime,
        version: int,
    ) -> bool:
        """False when this delivery_id is already known (a redelivery or a duplicate)."""
        source = delivery.source
        status = await self.conn.execute(
            "INSERT INTO deliveries (delivery_id, bot_id, chat_id, text, parse_mode,"
            " reply_to_message_id, origin, correlation_id, traceparent, parts_total,"
            " requested_at, next_attempt_at, version, source_kind, source_id, method, options)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now() + $12::interval,"
            " $13, $14, $15, $16, $17)"
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
            version,
            source.kind if source else None,
            source.id if source else None,
            delivery.method,
            dict(delivery.options),
        )
        # A trigger notifies NEW_DELIVERY_CHANNEL (migration 0005).
        return bool(status == "INSERT 0 1")

    async def add_many(self, queued: Sequence[Queued]) -> set[str]:
        """One statement for all, in the order given (their `seq`, the claims' tiebreak)."""
        if not queued:
            return set()
        ds = [q.delivery for q in queued]
        rows = await self.conn.fetch(
            "INSERT INTO deliveries (delivery_id, bot_id, chat_id, text, parse_mode,"
            " reply_to_message_id, origin, correlation_id, traceparent, parts_total,"
            " requested_at, next_attempt_at, version, source_kind, source_id, method, options)"
            " SELECT id, b, c, text, mode, reply, origin, corr, tp, parts, at,"
            "   now() + $12::interval, v, kind, sid, method, opts"
            " FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[],"
            "   $6::bigint[], $7::text[], $8::text[], $9::text[], $10::int[],"
            "   $11::timestamptz[], $13::int[], $14::text[], $15::text[], $16::text[],"
            "   $17::jsonb[]) WITH ORDINALITY AS t(id, b, c, text, mode, reply, origin, corr,"
            "   tp, parts, at, v, kind, sid, method, opts, n)"
            " ORDER BY n ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id",
            [d.delivery_id for d in ds],
            [d.bot_id for d in ds],
            [d.chat_id for d in ds],
            [d.text for d in ds],
            [d.parse_mode for d in ds],
            [d.reply_to_message_id for d in ds],
            [q.origin for q in queued],
            [d.correlation_id for d in ds],
            [d.traceparent for d in ds],
            [q.parts_total for q in queued],
            [q.requested_at for q in queued],
            ORDER_GRACE,
            [q.version for q in queued],
            [d.source.kind if d.source else None for d in ds],
            [d.source.id if d.source else None for d in ds],
            [d.method for d in ds],
            [dict(d.options) for d in ds],
        )
        # A trigger notifies NEW_DELIVERY_CHANNEL once for the statement (migration 0005).
        return {row["delivery_id"] for row in rows}

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
        chats = sorted(chats)  # rows locked in one order: replicas never wait in a cycle
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
        at its slot, record the attempt; one statement."""
        if not claims:
            return []
        rows = await self.conn.fetch(
            "WITH taken AS (UPDATE deliveries d SET state = 'sending', attempts = attempts + 1,"
            " lease_until = $2, claimed_by = t.owner, slot_at = t.slot"
            " FROM unnest($1::text[], $3::text[], $4::timestamptz[]) AS t(id, owner, slot)"
            " WHERE d.delivery_id = t.id RETURNING d.delivery_id, d.attempts, d.parts_sent),"
            " started AS (INSERT INTO delivery_attempts (delivery_id, attempt, part, started_at)"
            " SELECT delivery_id, attempts, parts_sent + 1, $5 FROM taken)"
            " SELECT delivery_id, attempts FROM taken",
            [c.delivery.delivery_id for c in claims],
            lease_until,
            [c.owner for c in claims],
            [c.slot for c in claims],
            now,
        )
        attempt = {row["delivery_id"]: row["attempts"] for row in rows}
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

    async def hold(self, claims: Sequence[Claim]) -> dict[str, Live]:
        """Lock the claims still held by their call (attempt and owner unchanged), with what
        settling them needs; claims settled meanwhile (their owner judged dead) are absent."""
        if not claims:
            return {}
        rows = await self.conn.fetch(
            "SELECT d.delivery_id, d.parts_total, d.parts_sent, d.first_message_id,"
            " coalesce(p.recent, '{}') AS recent FROM deliveries d"
            " JOIN unnest($1::text[], $2::int[], $3::text[]) AS t(id, attempt, owner)"
            "   ON d.delivery_id = t.id"
            " LEFT JOIN chat_pacing p ON p.bot_id = d.bot_id AND p.chat_id = d.chat_id"
            " WHERE d.state = 'sending' AND d.attempts = t.attempt"
            " AND d.claimed_by IS NOT DISTINCT FROM t.owner"
            " ORDER BY d.delivery_id FOR UPDATE OF d",
            [c.delivery.delivery_id for c in claims],
            [c.attempt for c in claims],
            [c.owner for c in claims],
        )
        return {row["delivery_id"]: _live(row) for row in rows}

    async def settle(self, settlements: Sequence[Settlement], now: datetime) -> None:
        """Write a batch of settlements, however many, in one statement: the deliveries, the
        attempts of the calls made, and the chats' paces."""
        if not settlements:
            return
        called = [s for s in settlements if s.called]
        paced = sorted(
            ((s.claim.delivery.bot_id, s.claim.delivery.chat_id), s.pace)
            for s in settlements
            if s.pace is not None
        )
        await self.conn.execute(
            "WITH settled AS (UPDATE deliveries d SET state = t.state, lease_until = NULL,"
            " next_attempt_at = coalesce(t.next_at, d.next_attempt_at),"
            " failures = d.failures + t.failed::int, parts_sent = d.parts_sent + t.part::int,"
            " first_message_id = coalesce(d.first_message_id, t.message_id),"
            " last_error = coalesce(t.error, d.last_error), chat_id = coalesce(t.moved, d.chat_id),"
            " finished_at = CASE WHEN t.state = 'pending' THEN NULL ELSE $9::timestamptz END"
            " FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bool[], $5::bool[],"
            "   $6::bigint[], $7::text[], $8::bigint[])"
            "   AS t(id, state, next_at, failed, part, message_id, error, moved)"
            " WHERE d.delivery_id = t.id),"
            " answered AS (UPDATE delivery_attempts a SET finished_at = $9, outcome = t.outcome,"
            " error_code = t.code, description = t.description, telegram_message_id = t.mid"
            " FROM unnest($10::text[], $11::int[], $12::text[], $13::int[], $14::text[],"
            "   $15::bigint[]) AS t(id, attempt, outcome, code, description, mid)"
            " WHERE a.delivery_id = t.id AND a.attempt = t.attempt)"
            " INSERT INTO chat_pacing (bot_id, chat_id, next_send_at, recent)"
            " SELECT b, c, n, r::timestamptz[]"
            " FROM unnest($16::bigint[], $17::bigint[], $18::timestamptz[], $19::text[])"
            "   AS t(b, c, n, r)"
            " ON CONFLICT (bot_id, chat_id) DO UPDATE"
            " SET next_send_at = EXCLUDED.next_send_at, recent = EXCLUDED.recent",
            [s.claim.delivery.delivery_id for s in settlements],
            [s.state for s in settlements],
            [s.next_attempt_at for s in settlements],
            [s.failed for s in settlements],
            [s.part_sent for s in settlements],
            [s.answer.message_id if s.part_sent else None for s in settlements],
            [s.error for s in settlements],
            [s.migrate_to for s in settlements],
            now,
            [s.claim.delivery.delivery_id for s in called],
            [s.claim.attempt for s in called],
            [s.outcome for s in called],
            [s.answer.error_code for s in called],
            [s.answer.description or s.answer.transport_error for s in called],
            [s.answer.message_id for s in called],
            [chat[0] for chat, _ in paced],
            [chat[1] for chat, _ in paced],
            [pace.next_send_at for _, pace in paced if pace is not None],
            [_recent(pace.recent) for _, pace in paced if pace is not None],
        )

    async def expire(self, now: datetime, owner: str | None = None) -> list[tuple[Claim, Live]]:
        """Calls maybe in flight when their process died, locked for settling as unknown
        (never re-sent). With `owner`, every claim still held by that dead instance; without,
        claims of no live instance (none recorded, or its row is gone) whose lease ran out."""
        rows = await self.conn.fetch(
            f"SELECT {_EXPIRED_COLUMNS}, d.parts_total,"  # noqa: S608 - constant columns
            " coalesce(p.recent, '{}') AS recent FROM deliveries d"
            " LEFT JOIN chat_pacing p ON p.bot_id = d.bot_id AND p.chat_id = d.chat_id"
            " WHERE d.state = 'sending' AND CASE WHEN $2::text IS NULL"
            "   THEN d.lease_until < $1 AND (d.claimed_by IS NULL OR NOT EXISTS (SELECT 1"
            "     FROM sender_instances i WHERE i.instance_id = d.claimed_by))"
            "   ELSE d.claimed_by = $2 END"
            " ORDER BY d.delivery_id FOR UPDATE OF d SKIP LOCKED",
            now,
            owner,
        )
        return [(_claim(row), _live(row)) for row in rows]

    async def move_chat(self, bot_id: int, old_chat_id: int, new_chat_id: int) -> int:
        status = await self.conn.execute(
            "UPDATE deliveries SET chat_id = $3"
            " WHERE bot_id = $1 AND chat_id = $2 AND state = 'pending'",
            bot_id,
            old_chat_id,
            new_chat_id,
        )
        return int(status.split()[-1])

    async def sent_message(self, delivery_id: str) -> SentMessage | None:
        row = await self.conn.fetchrow(
            "SELECT bot_id, chat_id, first_message_id, options FROM deliveries"
            " WHERE delivery_id = $1 AND state = 'sent' AND first_message_id IS NOT NULL",
            delivery_id,
        )
        if row is None:
            return None
        return SentMessage(row["bot_id"], row["chat_id"], row["first_message_id"], row["options"])

    async def next_ready_at(self) -> datetime | None:
        value: datetime | None = await self.conn.fetchval(
            "SELECT min(next_attempt_at) FROM deliveries WHERE state = 'pending'"
        )
        return value


def stores(conn: Connection) -> Stores:
    """The sender's ports on one connection (one unit of work's transaction)."""
    return Stores(
        deliveries=DeliveryRepository(conn),
        slots=BotPacing(conn),
        log=PostgresDeliveryLog(conn),
        chats=PostgresChats(conn),
        instances=Instances(conn),
        assignments=PostgresAssignments(conn),
        breakers=BreakerRepository(conn),
    )
