"""Subscriptions, chats and broadcasts in memory: the fakes of `topics.py`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from chime_contracts.events import (
    BroadcastFinished,
    BroadcastProgressed,
    BroadcastRequested,
    BroadcastStarted,
    ChatMigrated,
    SubscriptionChanged,
)
from chime_contracts.events.scheduler import SkipReason
from chime_kit.event_store import Recorded
from chime_scheduler.adapters.topics import chat_change
from chime_scheduler.ports import DueBroadcast, HeldSlice


class InMemoryChats:
    tables = ("chats",)

    def __init__(self) -> None:
        self.rows: dict[tuple[int, int], dict[str, Any]] = {}

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            column, value = chat_change(e)
            if column is None:
                continue
            chat_id = e.old_chat_id if isinstance(e, ChatMigrated) else e.chat_id
            self.rows.setdefault((e.bot_id, chat_id), {})[column] = value

    async def language(self, bot_id: int, chat_id: int) -> str | None:
        language: str | None = self.rows.get((bot_id, chat_id), {}).get("language")
        return language

    def skipped(self, bot_id: int, chat_id: int) -> SkipReason | None:
        """Why a broadcast skips the chat (it blocked the bot, or stopped), if it does."""
        row = self.rows.get((bot_id, chat_id), {})
        return "blocked" if row.get("blocked") else "stopped" if row.get("stopped") else None


class InMemorySubscriptions:
    tables = ("subscriptions", "topics")

    def __init__(self, chats: InMemoryChats) -> None:
        self.chats = chats
        self.rows: dict[tuple[int, str, int], datetime] = {}  # (bot, topic, chat): since
        self.topics: dict[tuple[int, str], int] = {}  # (bot, topic): subscribers

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            if not isinstance(e, SubscriptionChanged):
                continue
            if e.subscribed:
                self.rows[(e.bot_id, e.topic, e.chat_id)] = e.changed_at
            else:
                self.rows.pop((e.bot_id, e.topic, e.chat_id), None)
            topic = (e.bot_id, e.topic)
            self.topics[topic] = self.topics.get(topic, 0) + (1 if e.subscribed else -1)

    async def topics_of(self, bot_id: int, chat_id: int, page: int, size: int
                        ) -> tuple[list[str], int]:  # fmt: skip
        topics = await self.topics_of_chat(bot_id, chat_id)
        return topics[(page - 1) * size : page * size], len(topics)

    async def topics_of_chat(self, bot_id: int, chat_id: int) -> list[str]:
        return sorted(t for b, t, c in self.rows if (b, c) == (bot_id, chat_id))

    async def recipients(
        self, bot_id: int, topic: str
    ) -> tuple[list[int], list[tuple[int, SkipReason]]]:
        subscribers = sorted(c for b, t, c in self.rows if (b, t) == (bot_id, topic))
        why = {c: self.chats.skipped(bot_id, c) for c in subscribers}
        chats = [c for c in subscribers if why[c] is None]
        return chats, [(c, r) for c, r in why.items() if r is not None]


@dataclass(frozen=True)
class Broadcast:
    """A row of the `broadcasts` table (what the fake's queries read of it)."""

    id: str
    owner_kind: Literal["chat", "api_key"]
    owner_id: str
    bot_id: int
    topic: str
    message: dict[str, Any]
    paid: bool
    status: str
    due_at: datetime
    version: int
    correlation_id: str
    traceparent: str | None = None  # the request's span
    recipients: int = 0
    skipped: int = 0
    handed: int = 0
    sent: int = 0
    failed: int = 0
    finished_at: datetime | None = None


@dataclass
class Tally:
    sent: int = 0
    failed: int = 0
    reported: int = 0
    handed: int = 0


class InMemoryBroadcasts:
    tables = ("broadcasts",)

    def __init__(self) -> None:
        self.rows: dict[str, Broadcast] = {}
        self.tallies: dict[str, Tally] = {}
        self.slices: dict[tuple[str, int], tuple[int, HeldSlice]] = {}  # recipients, slice

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e, env = r.envelope.data, r.envelope
            if isinstance(e, BroadcastRequested):
                self.rows[e.broadcast_id] = Broadcast(
                    e.broadcast_id, e.owner.kind, e.owner.id, e.bot_id, e.topic,
                    e.message.model_dump(mode="json", exclude_none=True), e.paid_broadcast,
                    "scheduled", e.at or env.occurred_at, r.version, env.correlation_id,
                    env.traceparent,
                )  # fmt: skip
            elif isinstance(e, BroadcastStarted):
                row = self.rows.get(e.broadcast_id) or Broadcast(
                    e.broadcast_id, e.owner.kind, e.owner.id, e.bot_id, e.topic, {}, False,
                    "sending", e.started_at, r.version, env.correlation_id,
                )  # fmt: skip
                self.rows[e.broadcast_id] = replace(
                    row, status="sending", recipients=e.recipients, skipped=e.skipped,
                    handed=e.recipients, version=r.version,
                )  # fmt: skip
            elif isinstance(e, BroadcastProgressed | BroadcastFinished) and (
                e.broadcast_id in self.rows
            ):
                status = "sending"
                if isinstance(e, BroadcastFinished):
                    status = "cancelled" if e.cancelled else "finished"
                row = self.rows[e.broadcast_id]
                self.rows[e.broadcast_id] = replace(
                    row, sent=e.sent, failed=e.failed, status=status, version=r.version,
                    handed=e.handed,
                    finished_at=e.finished_at if isinstance(e, BroadcastFinished)
                    else row.finished_at,
                )  # fmt: skip

    def _scheduled(self) -> list[Broadcast]:
        return [row for row in self.rows.values() if row.status == "scheduled"]

    async def claim_due(self, now: datetime, limit: int) -> list[DueBroadcast]:
        due = sorted((b for b in self._scheduled() if b.due_at <= now), key=lambda b: b.due_at)
        return [
            DueBroadcast(b.id, b.owner_kind, b.owner_id, b.bot_id, b.topic, b.message, b.paid,
                         b.due_at, b.version, b.correlation_id, b.traceparent)
            for b in due[:limit]
        ]  # fmt: skip

    async def next_due_at(self) -> datetime | None:
        return min((b.due_at for b in self._scheduled()), default=None)

    async def start_tally(self, broadcast_id: str, handed: int) -> None:
        self.tallies.setdefault(broadcast_id, Tally()).handed = handed

    async def tally(
        self, counts: dict[str, tuple[int, int]]
    ) -> dict[str, tuple[int, int, int, int]]:
        totals = {}
        for broadcast_id, (sent, failed) in counts.items():
            t = self.tallies.setdefault(broadcast_id, Tally())
            t.sent, t.failed = t.sent + sent, t.failed + failed
            totals[broadcast_id] = (t.sent, t.failed, t.reported, t.handed)
        return totals

    async def reported(self, broadcast_id: str, done: int) -> None:
        if broadcast_id in self.tallies:
            self.tallies[broadcast_id].reported = done

    async def hold_slices(self, held: Sequence[HeldSlice]) -> None:
        for h in held:
            if h.batch.source is not None:
                key = (h.batch.source.id, int(h.batch.batch_id.rsplit(":", 1)[1]))
                self.slices.setdefault(key, (len(h.batch.chat_ids), h))

    async def claim_slices(self, now: datetime, limit: int) -> list[HeldSlice]:
        due = sorted(
            (key for key, (_, h) in self.slices.items() if h.due_at <= now),
            key=lambda key: self.slices[key][1].due_at,
        )[:limit]
        return [self.slices.pop(key)[1] for key in due]

    async def drop_slices(self, broadcast_id: str) -> int:
        dropped = [key for key in self.slices if key[0] == broadcast_id]
        return sum(self.slices.pop(key)[0] for key in dropped)

    async def next_slice_at(self) -> datetime | None:
        return min((h.due_at for _, h in self.slices.values()), default=None)

    async def outcomes(self, broadcast_id: str) -> tuple[int, int]:
        t = self.tallies.get(broadcast_id)
        return (t.sent, t.failed) if t else (0, 0)
