"""The sender's ports in memory, for handler tests without a database. They keep the
PostgreSQL adapters' rules (one claim per chat, attempt and owner fences, leases); the
contract suite (`tests/test_sender_contract.py`) runs the same tests on both."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from chime_contracts.events import ChatBlocked, ChatMemberChanged, UserStarted
from chime_kit.event_store import Recorded
from chime_sender.adapters.assignments import InMemoryAssignments
from chime_sender.adapters.postgres import ORDER_GRACE
from chime_sender.adapters.projections import outcome_row, requested_row
from chime_sender.domain.circuit import CLOSED, Breaker
from chime_sender.domain.deliveries import Claim, Delivery
from chime_sender.domain.limits import BotPace, ChatPace
from chime_sender.domain.settlement import Live, Settlement
from chime_sender.ports import Queued, SentMessage, Stores


@dataclass
class Row:
    delivery: Delivery
    origin: str
    parts_total: int
    requested_at: datetime
    seq: int
    version: int
    state: str = "pending"
    attempts: int = 0
    failures: int = 0
    parts_sent: int = 0
    first_message_id: int | None = None
    next_attempt_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    lease_until: datetime | None = None
    claimed_by: str | None = None
    slot_at: datetime | None = None
    last_error: str | None = None
    finished_at: datetime | None = None


class InMemoryChats:
    tables = ("chats",)

    def __init__(self) -> None:
        self.blocked_at: dict[tuple[int, int], datetime] = {}

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            data = r.envelope.data
            chat = (getattr(data, "bot_id", 0), getattr(data, "chat_id", 0))
            if isinstance(data, ChatBlocked):
                self.blocked_at[chat] = data.blocked_at
            elif isinstance(data, ChatMemberChanged) and data.new_state == "kicked":
                self.blocked_at[chat] = data.changed_at
            elif isinstance(data, UserStarted | ChatMemberChanged):
                self.blocked_at.pop(chat, None)

    async def blocked(self, bot_id: int, chat_id: int) -> bool:
        return (bot_id, chat_id) in self.blocked_at


class InMemoryDeliveryLog:
    tables = ("delivery_log",)

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, object]] = {}

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            if (row := requested_row(r)) is not None:
                self.rows[row[0]] = {"state": "pending", "version": row[-1]}
            elif (out := outcome_row(r)) is not None and out[0] in self.rows:
                self.rows[out[0]] |= {"state": out[1], "attempts": out[2], "version": out[-1]}

    async def status(self, delivery_id: str) -> str | None:
        row = self.rows.get(delivery_id)
        return str(row["state"]) if row else None


class InMemoryInstances:
    def __init__(self) -> None:
        self.live: set[str] = set()

    async def remove(self, instance_id: str) -> None:
        self.live.discard(instance_id)


class InMemoryBotSlots:
    def __init__(self) -> None:
        self.paces: dict[int, BotPace] = {}

    async def beyond(self, horizon: timedelta) -> list[int]:
        limit = datetime.now(UTC) + horizon
        return [
            bot
            for bot, pace in self.paces.items()
            if pace.next_slot_at > limit or (pace.free_from() > limit and pace.paid_from() > limit)
        ]

    async def lock(self, bot_ids: Sequence[int]) -> tuple[dict[int, BotPace], datetime]:
        now = datetime.now(UTC)
        for bot in bot_ids:
            self.paces.setdefault(bot, BotPace(now))
        return {bot: self.paces[bot] for bot in sorted(set(bot_ids))}, now

    async def store(self, paces: Mapping[int, BotPace]) -> None:
        self.paces.update(paces)

    async def clock(self) -> datetime:
        return datetime.now(UTC)


class InMemoryBotBreakers:
    def __init__(self) -> None:
        self.rows: dict[int, Breaker] = {}

    async def load(self) -> tuple[dict[int, Breaker], datetime]:
        return {bot: b for bot, b in self.rows.items() if not b.quiet}, datetime.now(UTC)

    async def lock(self, bot_ids: Sequence[int]) -> tuple[dict[int, Breaker], datetime]:
        return {bot: self.rows.get(bot, CLOSED) for bot in sorted(set(bot_ids))}, datetime.now(UTC)

    async def store(self, breakers: Mapping[int, Breaker]) -> None:
        self.rows.update(breakers)


class InMemoryDeliveries:
    def __init__(self, chats: InMemoryChats, instances: InMemoryInstances) -> None:
        self.chats = chats
        self.instances = instances
        self.rows: dict[str, Row] = {}
        self.attempts: dict[tuple[str, int], str | None] = {}
        self.pacing: dict[tuple[int, int], ChatPace] = {}
        self._seq = itertools.count(1)

    async def add(
        self,
        delivery: Delivery,
        origin: str,
        parts_total: int,
        requested_at: datetime,
        version: int,
    ) -> bool:
        if delivery.delivery_id in self.rows:
            return False
        self.rows[delivery.delivery_id] = Row(
            delivery, origin, parts_total, requested_at, next(self._seq), version,
            next_attempt_at=datetime.now(UTC) + ORDER_GRACE,
        )  # fmt: skip
        return True

    async def add_many(self, queued: Sequence[Queued]) -> set[str]:
        added = set()
        for q in queued:
            if await self.add(q.delivery, q.origin, q.parts_total, q.requested_at, q.version):
                added.add(q.delivery.delivery_id)
        return added

    def _claim(self, row: Row) -> Claim:
        d = row.delivery
        return Claim(
            delivery=d,
            attempt=row.attempts,
            failures=row.failures,
            parts_sent=row.parts_sent,
            first_message_id=row.first_message_id,
            chat_blocked=(d.bot_id, d.chat_id) in self.chats.blocked_at,
            version=row.version,
            due_at=row.next_attempt_at,
        )

    def _free(self, bot_id: int, chat_id: int, now: datetime) -> bool:
        pace = self.pacing.get((bot_id, chat_id))
        return pace is None or pace.next_send_at <= now

    async def ready(
        self, now: datetime, limit: int, skip_bots: Sequence[int], before: datetime | None = None
    ) -> list[Claim]:
        rows = sorted(
            (r for r in self.rows.values()
             if r.state == "pending" and r.next_attempt_at <= now
             and r.delivery.bot_id not in skip_bots
             and (before is None or r.requested_at < before)
             and self._free(r.delivery.bot_id, r.delivery.chat_id, now)),
            key=lambda r: (r.requested_at, r.seq),
        )  # fmt: skip
        return [self._claim(r) for r in rows[:limit]]

    async def reserve_chats(
        self, chats: Sequence[tuple[int, int]], now: datetime, until: datetime
    ) -> set[tuple[int, int]]:
        held = set()
        for chat in chats:
            if self._free(*chat, now):
                recent = self.pacing[chat].recent if chat in self.pacing else ()
                self.pacing[chat] = ChatPace(until, recent)
                held.add(chat)
        return held

    async def mark_sending(
        self, claims: Sequence[Claim], now: datetime, lease_until: datetime
    ) -> list[Claim]:
        taken = []
        for c in claims:
            row = self.rows[c.delivery.delivery_id]
            row.state, row.lease_until = "sending", lease_until
            row.attempts += 1
            row.claimed_by, row.slot_at = c.owner, c.slot
            self.attempts[(c.delivery.delivery_id, row.attempts)] = None
            taken.append(replace(c, attempt=row.attempts))
        return taken

    async def release(
        self,
        owner: str,
        now: datetime,
        *,
        slots_after: datetime | None = None,
        ids: Sequence[str] = (),
        all_but: Sequence[str] | None = None,
    ) -> int:
        released = 0
        for row in self.rows.values():
            d = row.delivery
            if row.state != "sending" or row.claimed_by != owner:
                continue
            if not (
                (slots_after is not None and row.slot_at is not None and row.slot_at > slots_after)
                or d.delivery_id in ids
                or (all_but is not None and d.delivery_id not in all_but)
            ):
                continue
            row.state, row.next_attempt_at = "pending", now
            row.lease_until = row.claimed_by = row.slot_at = None
            self.attempts[(d.delivery_id, row.attempts)] = "released"
            chat = (d.bot_id, d.chat_id)
            if chat in self.pacing and self.pacing[chat].next_send_at > now:
                self.pacing[chat] = ChatPace(now, self.pacing[chat].recent)
            released += 1
        return released

    def _live(self, row: Row) -> Live:
        pace = self.pacing.get((row.delivery.bot_id, row.delivery.chat_id))
        recent = pace.recent if pace else ()
        return Live(row.parts_total, row.parts_sent, row.first_message_id, recent)

    async def hold(self, claims: Sequence[Claim]) -> dict[str, Live]:
        held = {}
        for c in claims:
            row = self.rows.get(c.delivery.delivery_id)
            if (
                row is not None
                and row.state == "sending"
                and row.attempts == c.attempt
                and row.claimed_by == c.owner
            ):
                held[c.delivery.delivery_id] = self._live(row)
        return held

    async def settle(self, settlements: Sequence[Settlement], now: datetime) -> None:
        for s in settlements:
            d = s.claim.delivery
            row = self.rows[d.delivery_id]
            row.state, row.lease_until = s.state, None
            if s.next_attempt_at is not None:
                row.next_attempt_at = s.next_attempt_at
            row.failures += int(s.failed)
            if s.part_sent:
                row.parts_sent += 1
                row.first_message_id = row.first_message_id or s.answer.message_id
            row.last_error = s.error or row.last_error
            row.finished_at = None if s.state == "pending" else now
            if s.migrate_to is not None:
                row.delivery = replace(row.delivery, chat_id=s.migrate_to)
            if s.called:
                self.attempts[(d.delivery_id, s.claim.attempt)] = s.outcome
            if s.pace is not None:
                self.pacing[(d.bot_id, d.chat_id)] = s.pace

    async def expire(self, now: datetime, owner: str | None = None) -> list[tuple[Claim, Live]]:
        lost = [
            row for row in self.rows.values()
            if row.state == "sending" and (
                row.claimed_by == owner if owner is not None
                else row.lease_until is not None and row.lease_until < now
                and (row.claimed_by is None or row.claimed_by not in self.instances.live))
        ]  # fmt: skip
        return [
            (replace(self._claim(r), chat_blocked=False, owner=r.claimed_by), self._live(r))
            for r in lost
        ]

    async def move_chat(self, bot_id: int, old_chat_id: int, new_chat_id: int) -> int:
        old = (bot_id, old_chat_id)
        moved = [
            r for r in self.rows.values()
            if r.state == "pending" and (r.delivery.bot_id, r.delivery.chat_id) == old
        ]  # fmt: skip
        for row in moved:
            row.delivery = replace(row.delivery, chat_id=new_chat_id)
        return len(moved)

    async def sent_message(self, delivery_id: str) -> SentMessage | None:
        row = self.rows.get(delivery_id)
        if row is None or row.state != "sent" or row.first_message_id is None:
            return None
        d = row.delivery
        return SentMessage(d.bot_id, d.chat_id, row.first_message_id, d.options)

    async def next_ready_at(self) -> datetime | None:
        due = [r.next_attempt_at for r in self.rows.values() if r.state == "pending"]
        return min(due, default=None)


class InMemoryStores:
    """One set of fakes shared by every unit of work of a test (the database they stand for)."""

    def __init__(self) -> None:
        self.chats = InMemoryChats()
        self.instances = InMemoryInstances()
        self.deliveries = InMemoryDeliveries(self.chats, self.instances)
        self.slots = InMemoryBotSlots()
        self.log = InMemoryDeliveryLog()
        self.assignments = InMemoryAssignments()
        self.breakers = InMemoryBotBreakers()

    def stores(self) -> Stores:
        return Stores(
            self.deliveries,
            self.slots,
            self.log,
            self.chats,
            self.instances,
            self.assignments,
            self.breakers,
        )
