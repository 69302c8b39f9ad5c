"""Projections of the api's requests to the scheduler: schedules, broadcasts, subscriptions.

Each event is folded into its row by `chime_api.domain.requests` (as the in-memory
projection does) and the row written back whole. A request carries the id of the key that
made it; its owner (the key's team) is read from the keys projection, which a rebuild
replays first and whose team never changes. Rows are written in the transaction that
appended the event at its stream's version, so two writers never fold the same row at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, fields
from datetime import datetime

from chime_api.domain.keys import owner_of
from chime_api.domain.requests import (
    BroadcastRow,
    ScheduleRow,
    SubscriptionRow,
    broadcast_id_of,
    evolve_broadcast,
    evolve_schedule,
    requester_of,
    schedule_id_of,
    subscription_of,
)
from chime_contracts.events import SubscriptionRequested
from chime_kit.db import Connection
from chime_kit.event_store import Recorded

__all__ = ["BroadcastRow", "PostgresRequests", "ScheduleRow", "SubscriptionRow"]


def _upsert(table: str, row_type: type, key: str) -> str:
    names = [f.name for f in fields(row_type)]
    keys = {k.strip() for k in key.split(",")}
    return (
        f"INSERT INTO {table} ({', '.join(names)})"  # noqa: S608 - our names only
        f" VALUES ({', '.join(f'${n}' for n in range(1, len(names) + 1))})"
        f" ON CONFLICT ({key}) DO UPDATE SET "
        + ", ".join(f"{n} = excluded.{n}" for n in names if n not in keys)
    )


_SCHEDULE = _upsert("schedules", ScheduleRow, "id")
_BROADCAST = _upsert("broadcasts", BroadcastRow, "id")
_SUBSCRIPTION = _upsert("subscriptions", SubscriptionRow, "owner, topic, bot_id, chat_id")


class PostgresRequests:
    """The three tables, folded from the request streams."""

    tables = ("schedules", "broadcasts", "subscriptions")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def _owner(self, key_id: str | None) -> str | None:
        if key_id is None:
            return None
        team = await self.conn.fetchrow("SELECT team FROM api_keys WHERE id = $1", key_id)
        return owner_of(key_id, team["team"]) if team is not None else None

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            owner = await self._owner(requester_of(e))
            if (sid := schedule_id_of(e)) is not None:
                schedule = evolve_schedule(await self.schedule(sid), e, owner)
                if schedule is not None:
                    await self.conn.execute(_SCHEDULE, *astuple(schedule))
            elif (bid := broadcast_id_of(e)) is not None:
                broadcast = evolve_broadcast(await self.broadcast(bid), e, owner)
                if broadcast is not None:
                    await self.conn.execute(_BROADCAST, *astuple(broadcast))
            elif isinstance(e, SubscriptionRequested) and owner is not None:
                await self.conn.execute(_SUBSCRIPTION, *astuple(subscription_of(e, owner)))

    async def schedule(self, schedule_id: str) -> ScheduleRow | None:
        row = await self.conn.fetchrow("SELECT * FROM schedules WHERE id = $1", schedule_id)
        return ScheduleRow(**dict(row)) if row else None

    async def schedules(
        self, owner: str, limit: int, after: tuple[datetime, str] | None, status: str | None
    ) -> list[ScheduleRow]:
        rows = await self.conn.fetch(
            "SELECT * FROM schedules WHERE owner = $1"
            " AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))"
            " AND ($5::text IS NULL OR status = $5)"
            " ORDER BY created_at DESC, id DESC LIMIT $2",
            owner, limit, *(after or (None, None)), status,
        )  # fmt: skip
        return [ScheduleRow(**dict(r)) for r in rows]

    async def broadcast(self, broadcast_id: str) -> BroadcastRow | None:
        row = await self.conn.fetchrow("SELECT * FROM broadcasts WHERE id = $1", broadcast_id)
        return BroadcastRow(**dict(row)) if row else None

    async def broadcasts(
        self, owner: str, limit: int, after: tuple[datetime, str] | None, topic: str | None
    ) -> list[BroadcastRow]:
        rows = await self.conn.fetch(
            "SELECT * FROM broadcasts WHERE owner = $1"
            " AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))"
            " AND ($5::text IS NULL OR topic = $5)"
            " ORDER BY created_at DESC, id DESC LIMIT $2",
            owner, limit, *(after or (None, None)), topic,
        )  # fmt: skip
        return [BroadcastRow(**dict(r)) for r in rows]

    async def subscriptions(
        self, owner: str, topic: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[SubscriptionRow]:
        """Current subscribers a caller added to a topic, newest first."""
        rows = await self.conn.fetch(
            "SELECT * FROM subscriptions WHERE owner = $1 AND topic = $2 AND subscribed"
            " AND ($4::timestamptz IS NULL OR (changed_at, bot_id::text || ':' || chat_id::text)"
            " < ($4, $5)) ORDER BY changed_at DESC, bot_id::text || ':' || chat_id::text DESC"
            " LIMIT $3",
            owner, topic, limit, *(after or (None, None)),
        )  # fmt: skip
        return [SubscriptionRow(**dict(r)) for r in rows]

    async def topics(self, owner: str) -> list[tuple[str, int]]:
        """The topics a caller has subscribers in, with how many."""
        rows = await self.conn.fetch(
            "SELECT topic, count(*) FILTER (WHERE subscribed) AS n FROM subscriptions"
            " WHERE owner = $1 GROUP BY topic ORDER BY topic",
            owner,
        )
        return [(r["topic"], r["n"]) for r in rows]
