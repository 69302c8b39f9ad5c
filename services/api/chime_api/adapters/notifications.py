"""The notifications table: a projection of the notification streams."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chime_api.domain.keys import owner_of
from chime_api.domain.notifications import Failure, Notification, Status, outcome_of
from chime_contracts.events import (
    MessageDeleteRequested,
    MessageEditRequested,
    MessageSent,
    NotificationRequested,
    SendFailed,
)
from chime_kit.db import Connection
from chime_kit.event_store import Recorded

_COLUMNS = (
    "id, api_key_id, owner, bot_id, chat_id, parse_mode, status, created_at, sent_at,"
    " telegram_message_id, failure, edited_at, deleted_at"
)


class PostgresNotifications:
    tables = ("notifications",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            if not r.stream_id.startswith("notification-"):
                continue
            if isinstance(e, NotificationRequested):
                await self.conn.execute(
                    "INSERT INTO notifications (id, api_key_id, owner, bot_id, chat_id,"
                    " parse_mode, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    e.notification_id, e.api_key_id, owner_of(e.api_key_id, e.team), e.bot_id,
                    e.chat_id, e.parse_mode, Status.ACCEPTED.value, e.requested_at,
                )  # fmt: skip
            elif isinstance(e, MessageSent):
                await self.conn.execute(
                    "UPDATE notifications SET status = 'sent', sent_at = $2,"
                    " telegram_message_id = $3, failure = NULL WHERE id = $1",
                    _id_of(r), e.sent_at, e.telegram_message_id,
                )  # fmt: skip
            elif isinstance(e, SendFailed):
                failure = {
                    "reason": e.reason,
                    "error_code": e.error_code,
                    "description": e.description,
                    "permanent": e.permanent,
                }
                await self.conn.execute(
                    "UPDATE notifications SET status = $2, failure = $3 WHERE id = $1",
                    _id_of(r), outcome_of(e).value, failure,
                )  # fmt: skip
            elif isinstance(e, MessageEditRequested | MessageDeleteRequested):
                column = "edited_at" if isinstance(e, MessageEditRequested) else "deleted_at"
                await self.conn.execute(
                    f"UPDATE notifications SET {column} = $2 WHERE id = $1",  # noqa: S608
                    _id_of(r),
                    r.envelope.occurred_at,
                )

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
            f"SELECT {_COLUMNS} FROM notifications WHERE owner = $1"  # noqa: S608
            " AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))"
            " AND ($5::text IS NULL OR status = $5) AND ($6::bigint IS NULL OR chat_id = $6)"
            " ORDER BY created_at DESC, id DESC LIMIT $2",
            owner,
            limit,
            after[0] if after else None,
            after[1] if after else None,
            status.value if status else None,
            chat_id,
        )
        return [notification_of(r) for r in rows]


def _id_of(recorded: Recorded) -> str:
    return recorded.stream_id.removeprefix("notification-")


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
