"""Poll leases (operational): which replica long-polls each bot."""

from __future__ import annotations

from collections.abc import Iterable

from chime_kit.db import Connection

_HOLD = """
INSERT INTO poll_leases (bot_id, holder, expires_at)
SELECT bot_id, $2, now() + make_interval(secs => $3)
FROM unnest($1::bigint[]) AS b(bot_id)
ORDER BY bot_id
ON CONFLICT (bot_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE poll_leases.holder = excluded.holder OR poll_leases.expires_at < now()
RETURNING bot_id
"""


class PollLeases:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def hold(self, bot_ids: Iterable[int], holder: str, seconds: float) -> set[int]:
        """Renew `holder`'s leases and take those that are free or expired, for `seconds`;
        the bots `holder` holds now."""
        rows = await self.conn.fetch(_HOLD, sorted(bot_ids), holder, seconds)
        return {r["bot_id"] for r in rows}

    async def release(self, holder: str) -> None:
        """Give up every lease of `holder` (stopping): another replica takes them at once."""
        await self.conn.execute("DELETE FROM poll_leases WHERE holder = $1", holder)

    async def holders(self) -> dict[int, str]:
        rows = await self.conn.fetch(
            "SELECT bot_id, holder FROM poll_leases WHERE expires_at >= now()"
        )
        return {r["bot_id"]: r["holder"] for r in rows}
