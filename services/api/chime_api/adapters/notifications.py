"""The notifications table: a projection of the notification streams."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from chime_api.adapters.limits import Read
from chime_api.domain.notifications import (
    Failure,
    Notification,
    Status,
    evolve_notification,
)
from chime_contracts.events import NotificationRequested
from chime_kit.db import Connection
from chime_kit.event_store import Recorded

_COLUMNS = (
    "id, api_key_id, owner, bot_id, chat_id, parse_mode, status, created_at, sent_at,"
    " telegram_message_id, failure, edited_at, deleted_at"
)
_UPSERT = (
    f"INSERT INTO notifications ({_COLUMNS}) VALUES"  # noqa: S608 - our column names
    " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO UPDATE SET"
    " status = excluded.status, sent_at = excluded.sent_at,"
    " telegram_message_id = excluded.telegram_message_id, failure = excluded.failure,"
    " edited_at = excluded.edited_at, deleted_at = excluded.deleted_at"
)


def one_read(notification_id: str) -> Read:
    """`get`'s read, to run in the key's statement (`admit`)."""
    return Read(f"SELECT {_COLUMNS} FROM notifications WHERE id = $5", (notification_id,))  # noqa: S608


_PAGE = (
    f"SELECT {_COLUMNS} FROM notifications WHERE owner = {{}}"  # noqa: S608 - our column names
    " AND ({}::timestamptz IS NULL OR (created_at, id) < ({}, {}))"
    " AND ({}::text IS NULL OR status = {}) AND ({}::bigint IS NULL OR chat_id = {})"
    " ORDER BY created_at DESC, id DESC LIMIT {}"
)
_PAGE_ARGS = ["$1", "$3", "$3", "$4", "$5", "$5", "$6", "$6", "$2"]


def _page_args(
    owner: str,
    limit: int,
    after: tuple[datetime, str] | None,
    status: Status | None,
    chat_id: int | None,
) -> tuple[Any, ...]:
    return (
        owner, limit, after[0] if after else None, after[1] if after else None,
        status.value if status else None, chat_id,
    )  # fmt: skip


def page_read(
    owner: str,
    limit: int,
    after: tuple[datetime, str] | None,
    status: Status | None = None,
    chat_id: int | None = None,
) -> Read:
    """`page`'s read, to run in the key's statement (`admit`)."""
    numbered = [f"${int(a[1:]) + 4}" for a in _PAGE_ARGS]
    return Read(
        _PAGE.format(*numbered),
        _page_args(owner, limit, after, status, chat_id),
        order="ORDER BY r.created_at DESC, r.id DESC",
    )


class PostgresNotifications:
    tables = ("notifications",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        """Each event folded into its row by `evolve_notification` and the row written back
        (in the transaction that appended it at its stream's version)."""
        for r in events:
            if not r.stream_id.startswith("notification-"):
                continue
            nid = r.stream_id.removeprefix("notification-")
            requested = isinstance(r.envelope.data, NotificationRequested)
            row = evolve_notification(None if requested else await self.get(nid), r.envelope)
            if row is None:
                continue
            failure = asdict(row.failure) if row.failure is not None else None
            await self.conn.execute(
                _UPSERT, row.id, row.api_key_id, row.owner, row.bot_id, row.chat_id,
                row.parse_mode, row.status.value, row.created_at, row.sent_at,
                row.telegram_message_id, failure, row.edited_at, row.deleted_at,
            )  # fmt: skip

    async def get(self, notification_id: str) -> Notification | None:
        row = await self.conn.fetchrow(
            f"SELECT {_COLUMNS} FROM notifications WHERE id = $1",  # noqa: S608
            notification_id,
        )
        return notification_of(row) if row is not None else None

    async def page(
        self,
        owner: str,
        limit: int,
        after: tuple[datetime, str] | None,
        status: Status | None = None,
        chat_id: int | None = None,
    ) -> list[Notification]:
        """Newest first; `after` is the (created_at, id) of the previous page's last item."""
        rows = await self.conn.fetch(
            _PAGE.format(*_PAGE_ARGS), *_page_args(owner, limit, after, status, chat_id)
        )
        return [notification_of(r) for r in rows]


def notification_of(row: Any) -> Notification:
    failure = row["failure"]
    return Notification(
        id=row["id"],
        api_key_id=row["api_key_id"],
        owner=row["owner"],
        bot_id=row["bot_id"],
        chat_id=row["chat_id"],
        parse_mode=row["parse_mode"],
        status=Status(row["status"]),
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        telegram_message_id=row["telegram_message_id"],
        failure=Failure(**failure) if failure is not None else None,
        edited_at=row["edited_at"],
        deleted_at=row["deleted_at"],
    )
