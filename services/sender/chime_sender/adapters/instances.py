"""Running sender processes and their heartbeats (`sender_instances`, an operational table).

Times are the database's clock, the one every replica shares.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chime_kit.db import Connection
from chime_sender.ports import DeadInstance


class Instances:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def register(self, instance_id: str, name: str, fence: timedelta) -> datetime:
        """Returns the first promise: calls_until."""
        value: datetime = await self.conn.fetchval(
            "INSERT INTO sender_instances (instance_id, name, calls_until)"
            " VALUES ($1, $2, clock_timestamp() + $3) RETURNING calls_until",
            instance_id,
            name,
            fence,
        )
        return value

    async def beat(self, instance_id: str, fence: timedelta) -> datetime | None:
        """Beat and move the promise `fence` ahead; returns it once stored. None when this
        instance's row is gone: another replica judged it dead."""
        value: datetime | None = await self.conn.fetchval(
            "UPDATE sender_instances SET heartbeat_at = clock_timestamp(),"
            " calls_until = greatest(calls_until, clock_timestamp() + $2)"
            " WHERE instance_id = $1 RETURNING calls_until",
            instance_id,
            fence,
        )
        return value

    async def dead(
        self, instance_id: str, name: str, stale_after: timedelta | None
    ) -> list[DeadInstance]:
        """This instance's predecessors of the same name (a restart: dead at once; one still
        beating since this one started is not a predecessor) and, with `stale_after`, every
        instance whose heartbeat is older than that."""
        rows = await self.conn.fetch(
            "SELECT instance_id, calls_until FROM sender_instances WHERE instance_id <> $1"
            " AND ((name = $2 AND heartbeat_at < (SELECT started_at FROM sender_instances"
            "        WHERE instance_id = $1))"
            "   OR ($3::interval IS NOT NULL AND heartbeat_at < clock_timestamp() - $3))"
            " ORDER BY instance_id FOR UPDATE SKIP LOCKED",
            instance_id,
            name,
            stale_after,
        )
        return [DeadInstance(row["instance_id"], row["calls_until"]) for row in rows]

    async def remove(self, instance_id: str) -> None:
        await self.conn.execute("DELETE FROM sender_instances WHERE instance_id = $1", instance_id)
