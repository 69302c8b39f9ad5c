"""Each bot token's circuit breaker in PostgreSQL (`bot_breakers`), shared by every replica.

Rows are changed under a row lock, one replica after another, by the pure rules of
`domain.circuit`; times are the database's clock (`clock_timestamp()`), which every replica
shares. A bot without a row is closed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from chime_kit.db import Connection
from chime_sender.domain.circuit import Breaker

_COLUMNS = "bot_id, failures, opened_at, cooldown_seconds, probe_owner, probe_until"


def _breaker(row: Any) -> Breaker:
    return Breaker(
        failures=row["failures"],
        opened_at=row["opened_at"],
        cooldown=row["cooldown_seconds"],
        probe_owner=row["probe_owner"],
        probe_until=row["probe_until"],
    )


class BreakerRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def load(self) -> tuple[dict[int, Breaker], datetime]:
        """Every breaker that is not closed and quiet, and the database's clock: one query."""
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS}, clock_timestamp() AS now FROM (SELECT) AS one"  # noqa: S608 - constant columns
            " LEFT JOIN bot_breakers ON opened_at IS NOT NULL OR failures > 0"
        )
        found = {row["bot_id"]: _breaker(row) for row in rows if row["bot_id"] is not None}
        return found, rows[0]["now"]

    async def lock(self, bot_ids: Sequence[int]) -> tuple[dict[int, Breaker], datetime]:
        """Lock the bots' rows (created closed when missing) until the transaction ends, in
        bot_id order (no two replicas wait on each other in a cycle); returns them and the
        database's clock once they are held."""
        ids = sorted(set(bot_ids))
        await self.conn.execute(
            "INSERT INTO bot_breakers (bot_id) SELECT unnest($1::bigint[])"
            " ON CONFLICT (bot_id) DO NOTHING",
            ids,
        )
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM bot_breakers WHERE bot_id = ANY($1::bigint[])"  # noqa: S608 - constant columns
            " ORDER BY bot_id FOR UPDATE",
            ids,
        )
        now: datetime = await self.conn.fetchval("SELECT clock_timestamp()")
        return {row["bot_id"]: _breaker(row) for row in rows}, now

    async def store(self, breakers: Mapping[int, Breaker]) -> None:
        """Write locked bots' breakers (the caller computed them under the lock)."""
        if not breakers:
            return
        rows = list(breakers.items())
        await self.conn.execute(
            "UPDATE bot_breakers b SET failures = t.f, opened_at = t.o, cooldown_seconds = t.c,"
            " probe_owner = t.po, probe_until = t.pu"
            " FROM unnest($1::bigint[], $2::int[], $3::timestamptz[], $4::float8[], $5::text[],"
            "             $6::timestamptz[]) AS t(b, f, o, c, po, pu)"
            " WHERE b.bot_id = t.b",
            [bot for bot, _ in rows],
            [b.failures for _, b in rows],
            [b.opened_at for _, b in rows],
            [b.cooldown for _, b in rows],
            [b.probe_owner for _, b in rows],
            [b.probe_until for _, b in rows],
        )
