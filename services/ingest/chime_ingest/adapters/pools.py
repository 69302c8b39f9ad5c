"""The pools projection in PostgreSQL: `pool_assignments` and `pool_loads`."""

from __future__ import annotations

from collections.abc import Sequence

from chime_contracts.events import ChatAssigned, ChatAssignmentConfirmed
from chime_ingest.ports import PoolLoad
from chime_kit.db import Connection
from chime_kit.event_store import Recorded


class PostgresPools:
    tables = ("pool_assignments", "pool_loads")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            data = r.envelope.data
            if isinstance(data, ChatAssigned):
                confirmed_at = data.assigned_at if data.started_bot_id == data.bot_id else None
                await self.conn.execute(
                    "INSERT INTO pool_assignments"
                    " (pool, chat_id, bot_id, front_bot_id, assigned_at, confirmed_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6)",
                    data.pool, data.chat_id, data.bot_id, data.front_bot_id, data.assigned_at,
                    confirmed_at,
                )  # fmt: skip
                await self._count(data.pool, data.bot_id, 1, int(confirmed_at is not None))
            elif isinstance(data, ChatAssignmentConfirmed):
                await self.conn.execute(
                    "UPDATE pool_assignments SET confirmed_at = $3"
                    " WHERE pool = $1 AND chat_id = $2",
                    data.pool, data.chat_id, data.confirmed_at,
                )  # fmt: skip
                await self._count(data.pool, data.bot_id, 0, 1)

    async def _count(self, pool: str, bot_id: int, chats: int, confirmed: int) -> None:
        await self.conn.execute(
            "INSERT INTO pool_loads (pool, bot_id, chats, confirmed) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (pool, bot_id) DO UPDATE SET chats = pool_loads.chats + $3,"
            " confirmed = pool_loads.confirmed + $4",
            pool, bot_id, chats, confirmed,
        )  # fmt: skip

    async def loads(self, pool: str, workers: Sequence[int]) -> dict[int, int]:
        rows = await self.conn.fetch(
            "SELECT b.bot_id, coalesce(l.chats, 0) AS chats FROM bots b"
            " LEFT JOIN pool_loads l ON l.pool = $1 AND l.bot_id = b.bot_id"
            " WHERE b.bot_id = ANY($2::bigint[])",
            pool, list(workers),
        )  # fmt: skip
        return {r["bot_id"]: r["chats"] for r in rows}

    async def all_loads(self) -> list[PoolLoad]:
        rows = await self.conn.fetch(
            "SELECT pool, bot_id, chats, confirmed FROM pool_loads ORDER BY pool, bot_id"
        )
        return [PoolLoad(**dict(r)) for r in rows]
