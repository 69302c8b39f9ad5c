"""In-memory stand-ins for the api's projections, for handler tests without a database.

They fold the same domain functions as the PostgreSQL ones and answer the same queries in
the same order; one suite runs against both (`tests/integration/test_api_read_models_contract.py`
for notifications, chats and recipients, `test_api_requests_contract.py` for keys,
schedules, broadcasts and subscriptions, `test_api_requests_handlers_contract.py` for the
handlers of keys, schedules, broadcasts and topics given either).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from chime_api.domain.chats import CHAT_EVENTS, BotChat, Chat, ChatFilter, chat_of, evolve
from chime_api.domain.events import ApiKeyCreated, ApiKeyLimitsSet, ApiKeyRevoked, ApiKeyRotated
from chime_api.domain.keys import KEY, ApiKey, owner_of
from chime_api.domain.notifications import Notification, Status, evolve_notification
from chime_api.domain.recipients import (
    Recipient,
    RecipientStatus,
    broadcast_of,
    outcome_row,
    pending_rows,
    replaces,
    skipped_rows,
)
from chime_api.domain.requests import (
    BroadcastRow,
    ScheduleRow,
    SubscriptionRow,
    broadcast_id_of,
    evolve_broadcast,
    evolve_schedule,
    requester_of,
    schedule_id_of,
    subscription_of,
)
from chime_contracts.events import (
    BroadcastRecipientsSkipped,
    MessageSent,
    SendBatchRequested,
    SendFailed,
    SubscriptionRequested,
)
from chime_kit.event_store import Recorded


class InMemoryNotifications:
    def __init__(self) -> None:
        self.rows: dict[str, Notification] = {}

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            if not r.stream_id.startswith("notification-"):
                continue
            nid = r.stream_id.removeprefix("notification-")
            row = evolve_notification(self.rows.get(nid), r.envelope)
            if row is not None:
                self.rows[nid] = row

    async def get(self, notification_id: str) -> Notification | None:
        return self.rows.get(notification_id)

    async def page(
        self,
        owner: str,
        limit: int,
        after: tuple[datetime, str] | None,
        status: Status | None = None,
        chat_id: int | None = None,
    ) -> list[Notification]:
        rows = sorted(
            (
                n for n in self.rows.values()
                if n.owner == owner and (status is None or n.status == status)
                and (chat_id is None or n.chat_id == chat_id)
                and (after is None or (n.created_at, n.id) < after)
            ),
            key=lambda n: (n.created_at, n.id),
            reverse=True,
        )  # fmt: skip
        return rows[:limit]


class InMemoryChats:
    def __init__(self) -> None:
        self.rows: dict[tuple[int, int], BotChat] = {}

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            if not r.stream_id.startswith("chat-") or not isinstance(e, CHAT_EVENTS):
                continue
            key = (e.bot_id, e.chat_id)
            self.rows[key] = evolve(self.rows.get(key), r.envelope, r.version)

    async def get(self, bot_id: int, chat_id: int) -> BotChat | None:
        return self.rows.get((bot_id, chat_id))

    async def chat(self, chat_id: int) -> Chat | None:
        bots = [b for b in self.rows.values() if b.chat_id == chat_id]
        return chat_of(bots) if bots else None

    async def page(
        self, where: ChatFilter, limit: int, after: tuple[datetime, int] | None
    ) -> list[Chat]:
        chats = [c for c in self._chats() if any(where.matches(b) for b in c.bots)]
        chats.sort(key=lambda c: (c.first_seen_at, c.chat_id), reverse=True)
        if after is not None:
            chats = [c for c in chats if (c.first_seen_at, c.chat_id) < after]
        return chats[:limit]

    def _chats(self) -> Iterable[Chat]:
        for chat_id in {chat_id for _, chat_id in self.rows}:
            chat = chat_of([b for b in self.rows.values() if b.chat_id == chat_id])
            yield chat


class InMemoryRecipients:
    def __init__(self, ours: Iterable[str] = ()) -> None:
        self.ours = set(ours)
        self.rows: dict[tuple[str, int], Recipient] = {}

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            if r.stream_id.startswith("slice-") and isinstance(e, SendBatchRequested):
                broadcast_id = broadcast_of(e)
                if broadcast_id is not None:
                    for row in pending_rows(broadcast_id, e, r.envelope.occurred_at):
                        self._merge(row)
            elif r.stream_id.startswith("skipped-") and isinstance(e, BroadcastRecipientsSkipped):
                for row in skipped_rows(e, r.envelope.occurred_at):
                    self._merge(row)
            elif r.stream_id.startswith("recipient-") and isinstance(e, MessageSent | SendFailed):
                broadcast_id = broadcast_of(e)
                if broadcast_id is not None:
                    self._merge(outcome_row(broadcast_id, e))

    def _merge(self, row: Recipient) -> None:
        """As the SQL does: a slice keeps what is known, a skip replaces only pending, an
        outcome replaces it; the earlier time of the two stays (they may come in any order)."""
        key = (row.broadcast_id, row.chat_id)
        known = self.rows.get(key)
        if known is None:
            self.rows[key] = row
            return
        kept = row if replaces(row.status, known.status) else known
        self.rows[key] = replace(kept, created_at=min(known.created_at, row.created_at))

    async def is_ours(self, broadcast_id: str) -> bool:
        return broadcast_id in self.ours

    async def page(
        self,
        broadcast_id: str,
        limit: int,
        after: tuple[datetime, int] | None,
        status: RecipientStatus | None = None,
    ) -> list[Recipient]:
        rows = sorted(
            (
                r for r in self.rows.values()
                if r.broadcast_id == broadcast_id and (status is None or r.status == status)
            ),
            key=lambda r: (r.created_at, r.chat_id),
        )  # fmt: skip
        if after is not None:
            rows = [r for r in rows if (r.created_at, r.chat_id) > after]
        return rows[:limit]


_Row = TypeVar("_Row")
_KEY_EVENTS = (ApiKeyCreated, ApiKeyRevoked, ApiKeyRotated, ApiKeyLimitsSet)


class InMemoryKeys:
    def __init__(self) -> None:
        self.rows: dict[str, ApiKey] = {}

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            if isinstance(e, _KEY_EVENTS):
                key = KEY.evolve(self.rows.get(e.api_key_id), e)
                if key is not None:
                    self.rows[e.api_key_id] = key

    async def get(self, key_id: str) -> ApiKey | None:
        return self.rows.get(key_id)

    async def page(
        self, caller: ApiKey, limit: int, after: tuple[datetime, str] | None
    ) -> list[ApiKey]:
        rows = sorted(
            (
                k for k in self.rows.values()
                if (k.id == caller.id if caller.team is None else k.team == caller.team)
                and (after is None or (k.created_at, k.id) < after)
            ),
            key=lambda k: (k.created_at, k.id),
            reverse=True,
        )  # fmt: skip
        return rows[:limit]

    async def all(self) -> list[ApiKey]:
        return sorted(self.rows.values(), key=lambda k: (k.created_at, k.id))


class InMemoryRequests:
    """Schedules, broadcasts and subscriptions; owners are read from `keys`, as the
    PostgreSQL projection reads them from the keys table."""

    def __init__(self, keys: InMemoryKeys) -> None:
        self.keys = keys
        self.schedule_rows: dict[str, ScheduleRow] = {}
        self.broadcast_rows: dict[str, BroadcastRow] = {}
        self.subscription_rows: dict[tuple[str, str, int, int], SubscriptionRow] = {}

    def _owner(self, key_id: str | None) -> str | None:
        key = self.keys.rows.get(key_id) if key_id is not None else None
        return owner_of(key.id, key.team) if key is not None else None

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            owner = self._owner(requester_of(e))
            if (sid := schedule_id_of(e)) is not None:
                schedule = evolve_schedule(self.schedule_rows.get(sid), e, owner)
                if schedule is not None:
                    self.schedule_rows[sid] = schedule
            elif (bid := broadcast_id_of(e)) is not None:
                broadcast = evolve_broadcast(self.broadcast_rows.get(bid), e, owner)
                if broadcast is not None:
                    self.broadcast_rows[bid] = broadcast
            elif isinstance(e, SubscriptionRequested) and owner is not None:
                row = subscription_of(e, owner)
                self.subscription_rows[row.owner, row.topic, row.bot_id, row.chat_id] = row

    async def schedule(self, schedule_id: str) -> ScheduleRow | None:
        return self.schedule_rows.get(schedule_id)

    async def schedules(
        self, owner: str, limit: int, after: tuple[datetime, str] | None, status: str | None
    ) -> list[ScheduleRow]:
        rows = [
            s for s in self.schedule_rows.values()
            if s.owner == owner and (status is None or s.status == status)
        ]  # fmt: skip
        return _newest(rows, lambda s: (s.created_at, s.id), limit, after)

    async def broadcast(self, broadcast_id: str) -> BroadcastRow | None:
        return self.broadcast_rows.get(broadcast_id)

    async def broadcasts(
        self, owner: str, limit: int, after: tuple[datetime, str] | None, topic: str | None
    ) -> list[BroadcastRow]:
        rows = [
            b for b in self.broadcast_rows.values()
            if b.owner == owner and (topic is None or b.topic == topic)
        ]  # fmt: skip
        return _newest(rows, lambda b: (b.created_at, b.id), limit, after)

    async def subscriptions(
        self, owner: str, topic: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[SubscriptionRow]:
        rows = [
            s for s in self.subscription_rows.values()
            if s.owner == owner and s.topic == topic and s.subscribed
        ]  # fmt: skip
        return _newest(rows, lambda s: (s.changed_at, f"{s.bot_id}:{s.chat_id}"), limit, after)

    async def topics(self, owner: str) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for s in self.subscription_rows.values():
            if s.owner == owner:
                counts[s.topic] = counts.get(s.topic, 0) + s.subscribed
        return sorted(counts.items())


def _newest(
    rows: Iterable[_Row],
    key: Callable[[_Row], tuple[datetime, str]],
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[_Row]:
    """Newest first by (time, id), strictly after the previous page's last."""
    ordered = sorted((r for r in rows if after is None or key(r) < after), key=key, reverse=True)
    return ordered[:limit]
