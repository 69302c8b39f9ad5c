"""Each bot token's send slots in PostgreSQL (`bot_pacing`), shared by every replica.

Times here are the database's clock (`clock_timestamp()`), the one clock all replicas share,
so slots stay `interval` apart whatever the replicas' clocks say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from chime_kit.db import Connection


class BotPacing:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def beyond(self, horizon: timedelta) -> list[int]:
        """Bots with no slot starting within `horizon`: nothing of theirs can be claimed."""
        rows = await self.conn.fetch(
            "SELECT bot_id FROM bot_pacing WHERE next_slot_at > clock_timestamp() + $1",
            horizon,
        )
        return [row["bot_id"] for row in rows]

    async def lock(self, bot_ids: Sequence[int]) -> tuple[dict[int, datetime], datetime]:
        """Lock the bots' rows (created free when missing) until the transaction ends;
        returns each bot's next_slot_at and the database's clock once they are held.

        Rows are locked in bot_id order, so two replicas never wait on each other in a cycle.
        """
        if not bot_ids:
            return {}, await self._clock()
        ids = sorted(set(bot_ids))
        await self.conn.execute(
            "INSERT INTO bot_pacing (bot_id, next_slot_at)"
            " SELECT b, clock_timestamp() FROM unnest($1::bigint[]) AS t(b)"
            " ON CONFLICT (bot_id) DO NOTHING",
            ids,
        )
        rows = await self.conn.fetch(
            "SELECT bot_id, next_slot_at FROM bot_pacing WHERE bot_id = ANY($1::bigint[])"
            " ORDER BY bot_id FOR UPDATE",
            ids,
        )
        return {row["bot_id"]: row["next_slot_at"] for row in rows}, await self._clock()

    async def store(self, next_slots: Mapping[int, datetime]) -> None:
        """Move locked bots' next_slot_at (the caller computed them under the lock)."""
        if not next_slots:
            return
        await self.conn.execute(
            "UPDATE bot_pacing p SET next_slot_at = t.s"
            " FROM unnest($1::bigint[], $2::timestamptz[]) AS t(b, s) WHERE p.bot_id = t.b",
            list(next_slots),
            list(next_slots.values()),
        )

    async def clock(self) -> datetime:
        return await self._clock()

    async def _clock(self) -> datetime:
        value: datetime = await self.conn.fetchval("SELECT clock_timestamp()")
        return value
