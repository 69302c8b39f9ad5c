"""The chats projection in PostgreSQL (the update log is in `update_log.py`)."""

from __future__ import annotations

from collections.abc import Sequence

from chime_contracts.events import TimeZoneSet, UserStarted
from chime_ingest.ports import ChatRow
from chime_kit.db import Connection
from chime_kit.event_store import Recorded
from chime_kit.projection import Projection


class PostgresChats:
    """Projection of the chat streams (`user.started.v1`, `time_zone.set.v1`)."""

    tables = ("chats",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            data = r.envelope.data
            if isinstance(data, UserStarted):
                await self.conn.execute(
                    "INSERT INTO chats (bot_id, chat_id, started_at) VALUES ($1, $2, $3)"
                    " ON CONFLICT (bot_id, chat_id) DO UPDATE SET started_at = excluded.started_at",
                    data.bot_id, data.chat_id, r.envelope.occurred_at,
                )  # fmt: skip
            elif isinstance(data, TimeZoneSet):
                await self.conn.execute(
                    "INSERT INTO chats (bot_id, chat_id, time_zone) VALUES ($1, $2, $3)"
                    " ON CONFLICT (bot_id, chat_id) DO UPDATE SET time_zone = excluded.time_zone",
                    data.bot_id, data.chat_id, data.time_zone,
                )  # fmt: skip

    async def get(self, bot_id: int, chat_id: int) -> ChatRow | None:
        row = await self.conn.fetchrow(
            "SELECT time_zone, started_at FROM chats WHERE bot_id = $1 AND chat_id = $2",
            bot_id,
            chat_id,
        )
        return ChatRow(row["time_zone"], row["started_at"]) if row else None


def projections(conn: Connection) -> Sequence[Projection]:
    """Every projection of ingest, for `python -m chime_ingest rebuild`."""
    return [PostgresChats(conn)]
