"""Each bot token's send slots in PostgreSQL (`bot_pacing`), shared by every replica.

Times here are the database's clock (`clock_timestamp()`), the one clock all replicas share,
so slots stay `interval` apart whatever the replicas' clocks say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from chime_kit.db import Connection
from chime_sender.domain.limits import BotPace


def _array(values: Sequence[datetime]) -> str:
    """A timestamptz[] literal, so rows of different lengths pass through one unnest."""
    return "{" + ",".join(f'"{t.isoformat()}"' for t in values) + "}"


class BotPacing:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def beyond(self, horizon: timedelta) -> list[int]:
        """Bots with no slot starting within `horizon`, free or paid (paid slots never start
        before the next free one): nothing of theirs can be claimed."""
        rows = await self.conn.fetch(
            "SELECT bot_id FROM bot_pacing WHERE next_slot_at > clock_timestamp() + $1"
            " OR (paid_clear_at > clock_timestamp() + $1"
            " AND coalesce(next_paid_slot_at, next_slot_at) > clock_timestamp() + $1)",
            horizon,
        )
        return [row["bot_id"] for row in rows]

    async def lock(self, bot_ids: Sequence[int]) -> tuple[dict[int, BotPace], datetime]:
        """Lock the bots' rows (created free when missing) until the transaction ends;
        returns each bot's pace and the database's clock, read with the rows.

        Rows are locked in bot_id order, so two replicas never wait on each other in a cycle.
        The clock may be read before a wait for another replica's lock ends: an earlier
        instant, which never yields more slots than the time they are granted at (read it
        again for a pause). One statement when every row exists, as it does but the first
        time a bot sends.
        """
        if not bot_ids:
            return {}, await self._clock()
        ids = sorted(set(bot_ids))
        rows = await self._locked(ids)
        if len(rows) < len(ids):
            await self.conn.execute(
                "INSERT INTO bot_pacing (bot_id, next_slot_at)"
                " SELECT b, clock_timestamp() FROM unnest($1::bigint[]) AS t(b)"
                " ON CONFLICT (bot_id) DO NOTHING",
                ids,
            )
            rows = await self._locked(ids)
        paces = {
            row["bot_id"]: BotPace(
                row["next_slot_at"],
                row["next_paid_slot_at"],
                row["paid_clear_at"],
                tuple(row["deadlines"]),
            )
            for row in rows
        }
        return paces, rows[0]["now"]

    async def _locked(self, ids: list[int]) -> list[Any]:
        rows: list[Any] = await self.conn.fetch(
            "SELECT bot_id, next_slot_at, next_paid_slot_at, paid_clear_at, deadlines,"
            " clock_timestamp() AS now FROM bot_pacing"
            " WHERE bot_id = ANY($1::bigint[]) ORDER BY bot_id FOR UPDATE",
            ids,
        )
        return rows

    async def store(self, paces: Mapping[int, BotPace]) -> None:
        """Move locked bots' paces (the caller computed them under the lock)."""
        if not paces:
            return
        await self.conn.execute(
            "UPDATE bot_pacing p SET next_slot_at = t.s, next_paid_slot_at = t.ps,"
            " paid_clear_at = t.pc, deadlines = t.d::timestamptz[]"
            " FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[],"
            " $4::timestamptz[], $5::text[]) AS t(b, s, ps, pc, d) WHERE p.bot_id = t.b",
            list(paces),
            [p.next_slot_at for p in paces.values()],
            [p.next_paid_slot_at for p in paces.values()],
            [p.paid_clear_at for p in paces.values()],
            [_array(p.deadlines) for p in paces.values()],
        )

    async def clock(self) -> datetime:
        return await self._clock()

    async def _clock(self) -> datetime:
        value: datetime = await self.conn.fetchval("SELECT clock_timestamp()")
        return value
