"""The broadcast_recipients table: a projection of the slice, skipped and recipient streams."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, fields
from datetime import datetime
from typing import Any

from chime_api.domain.recipients import (
    Recipient,
    RecipientStatus,
    broadcast_of,
    outcome_row,
)
from chime_contracts.events import (
    BroadcastRecipientsSkipped,
    MessageSent,
    SendBatchRequested,
    SendFailed,
)
from chime_kit.db import Connection
from chime_kit.event_store import Recorded

_NAMES = [f.name for f in fields(Recipient)]
_COLUMNS = ", ".join(_NAMES)
_VALUES = ", ".join(f"${n}" for n in range(1, len(_NAMES) + 1))
# A slice and an outcome of one recipient are in different streams, so two transactions
# may apply them in either order (and a rebuild in the order of their positions): the row is
# the same either way. The outcome's fields win over pending; the earlier time is kept.
_OUTCOME = (
    f"INSERT INTO broadcast_recipients ({_COLUMNS}) VALUES ({_VALUES})"  # noqa: S608
    " ON CONFLICT (broadcast_id, chat_id) DO UPDATE SET "
    + ", ".join(
        f"{n} = excluded.{n}" for n in _NAMES if n not in ("broadcast_id", "chat_id", "created_at")
    )
    + ", created_at = least(broadcast_recipients.created_at, excluded.created_at)"
)
_PENDING = (
    f"INSERT INTO broadcast_recipients ({_COLUMNS})"  # noqa: S608
    " SELECT $1, chat_id, $2, 'pending', $3, $3, NULL, NULL, NULL, NULL"
    " FROM unnest($4::bigint[]) AS chat_id ON CONFLICT (broadcast_id, chat_id) DO UPDATE SET"
    " created_at = least(broadcast_recipients.created_at, excluded.created_at)"
)

# Skipped wins over pending only (an outcome, which cannot come for a skipped chat, would
# win over skipped), so either order gives the same row.
_SKIPPED = (
    f"INSERT INTO broadcast_recipients ({_COLUMNS})"  # noqa: S608
    " SELECT $1, chat_id, $2, 'skipped', $3, $3, $4, NULL, NULL, NULL"
    " FROM unnest($5::bigint[]) AS chat_id ON CONFLICT (broadcast_id, chat_id) DO UPDATE SET"
    " status = CASE WHEN broadcast_recipients.status = 'pending' THEN 'skipped'"
    " ELSE broadcast_recipients.status END,"
    " reason = CASE WHEN broadcast_recipients.status = 'pending' THEN excluded.reason"
    " ELSE broadcast_recipients.reason END,"
    " updated_at = CASE WHEN broadcast_recipients.status = 'pending' THEN excluded.updated_at"
    " ELSE broadcast_recipients.updated_at END,"
    " created_at = least(broadcast_recipients.created_at, excluded.created_at)"
)


class PostgresRecipients:
    tables = ("broadcast_recipients",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            stream = r.stream_id
            if stream.startswith("slice-") and isinstance(e, SendBatchRequested):
                broadcast_id = broadcast_of(e)
                if broadcast_id is not None:
                    at = r.envelope.occurred_at
                    await self.conn.execute(_PENDING, broadcast_id, e.bot_id, at, e.chat_ids)
            elif stream.startswith("skipped-") and isinstance(e, BroadcastRecipientsSkipped):
                at = r.envelope.occurred_at
                await self.conn.execute(
                    _SKIPPED, e.broadcast_id, e.bot_id, at, e.reason, e.chat_ids
                )
            elif stream.startswith("recipient-") and isinstance(e, MessageSent | SendFailed):
                broadcast_id = broadcast_of(e)
                if broadcast_id is not None:
                    await self.conn.execute(_OUTCOME, *astuple(outcome_row(broadcast_id, e)))

    async def is_ours(self, broadcast_id: str) -> bool:
        """Whether the broadcast is one the api asked for (the scheduler has others)."""
        found = await self.conn.fetchval("SELECT 1 FROM broadcasts WHERE id = $1", broadcast_id)
        return found is not None

    async def page(
        self,
        broadcast_id: str,
        limit: int,
        after: tuple[datetime, int] | None,
        status: RecipientStatus | None = None,
    ) -> list[Recipient]:
        """In the order they became known; `after` is the previous page's last (time, chat)."""
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM broadcast_recipients WHERE broadcast_id = $1"  # noqa: S608
            " AND ($3::timestamptz IS NULL OR (created_at, chat_id) > ($3, $4))"
            " AND ($5::text IS NULL OR status = $5) ORDER BY created_at, chat_id LIMIT $2",
            broadcast_id, limit, after[0] if after else None, after[1] if after else None,
            status,
        )  # fmt: skip
        return [_recipient(r) for r in rows]


def _recipient(row: Any) -> Recipient:
    return Recipient(**{name: row[name] for name in _NAMES})
