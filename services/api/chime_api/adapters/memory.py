"""In-memory stand-ins for the api's projections, for handler tests without a database.

They fold the same domain functions as the PostgreSQL ones and answer the same queries in
the same order; `tests/integration/test_api_read_models_contract.py` runs one suite against both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from chime_api.domain.chats import CHAT_EVENTS, BotChat, Chat, ChatFilter, chat_of, evolve
from chime_api.domain.keys import owner_of
from chime_api.domain.notifications import Failure, Notification, Status, outcome_of
from chime_api.domain.recipients import (
    Recipient,
    RecipientStatus,
    broadcast_of,
    outcome_row,
    pending_rows,
    replaces,
    skipped_rows,
)
from chime_contracts.events import (
    BroadcastRecipientsSkipped,
    MessageDeleteRequested,
    MessageEditRequested,
    MessageSent,
    NotificationRequested,
    SendBatchRequested,
    SendFailed,
)
from chime_kit.event_store import Recorded


class InMemoryNotifications:
    def __init__(self) -> None:
        self.rows: dict[str, Notification] = {}

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            if not r.stream_id.startswith("notification-"):
                continue
            nid = r.stream_id.removeprefix("notification-")
            if isinstance(e, NotificationRequested):
                self.rows[nid] = Notification(
                    id=e.notification_id, api_key_id=e.api_key_id,
                    owner=owner_of(e.api_key_id, e.team), bot_id=e.bot_id, chat_id=e.chat_id,
                    parse_mode=e.parse_mode, status=Status.ACCEPTED, created_at=e.requested_at,
                )  # fmt: skip
                continue
            known = self.rows.get(nid)
            if known is None:
                continue
            if isinstance(e, MessageSent):
                self.rows[nid] = replace(
                    known, status=Status.SENT, sent_at=e.sent_at,
                    telegram_message_id=e.telegram_message_id, failure=None,
                )  # fmt: skip
            elif isinstance(e, SendFailed):
                failure = Failure(e.reason, e.error_code, e.description, e.permanent)
                self.rows[nid] = replace(known, status=outcome_of(e), failure=failure)
            elif isinstance(e, MessageEditRequested):
                self.rows[nid] = replace(known, edited_at=r.envelope.occurred_at)
            elif isinstance(e, MessageDeleteRequested):
                self.rows[nid] = replace(known, deleted_at=r.envelope.occurred_at)

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
