"""Running sender processes and their heartbeats (`sender_instances`, an operational table).

Times are the database's clock, the one every replica shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chime_kit.db import Connection


@dataclass(frozen=True)
class DeadInstance:
    instance_id: str
    heartbeat_at: datetime


class Instances:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def register(self, instance_id: str, name: str) -> None:
        await self.conn.execute(
            "INSERT INTO sender_instances (instance_id, name) VALUES ($1, $2)", instance_id, name
        )

    async def beat(self, instance_id: str) -> bool:
        """False when this instance's row is gone: another replica judged it dead."""
        status = await self.conn.execute(
            "UPDATE sender_instances SET heartbeat_at = clock_timestamp() WHERE instance_id = $1",
            instance_id,
        )
        return bool(status == "UPDATE 1")

    async def dead(
        self, instance_id: str, name: str, stale_after: timedelta | None
    ) -> list[DeadInstance]:
        """This instance's predecessors of the same name (a restart: dead at once; one still
        beating since this one started is not a predecessor) and, with `stale_after`, every
        instance whose heartbeat is older than that."""
        rows = await self.conn.fetch(
            "SELECT instance_id, heartbeat_at FROM sender_instances WHERE instance_id <> $1"
            " AND ((name = $2 AND heartbeat_at < (SELECT started_at FROM sender_instances"
            "        WHERE instance_id = $1))"
            "   OR ($3::interval IS NOT NULL AND heartbeat_at < clock_timestamp() - $3))"
            " ORDER BY instance_id FOR UPDATE SKIP LOCKED",
            instance_id,
            name,
            stale_after,
        )
        return [DeadInstance(row["instance_id"], row["heartbeat_at"]) for row in rows]

    async def remove(self, instance_id: str) -> None:
        await self.conn.execute("DELETE FROM sender_instances WHERE instance_id = $1", instance_id)
