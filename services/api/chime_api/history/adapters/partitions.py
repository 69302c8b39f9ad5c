"""Day partitions: created ahead of time, dropped whole when older than the retention.

A new partition is made as a plain table and attached (SHARE UPDATE EXCLUSIVE on the
parent), and an old one detached CONCURRENTLY before it is dropped, so neither step makes
writers of the parent wait for an ACCESS EXCLUSIVE lock.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime

from chime_api.history.domain.buckets import DAY, floor_day
from chime_kit.db import Connection

log = logging.getLogger(__name__)

PARTITIONED = ("history_log", "history_messages", "stats_rollups", "stats_members")
_NAME = re.compile(r"^(?P<parent>[a-z_]+)_p(?P<day>\d{8})$")


@dataclass(frozen=True)
class Window:
    """Days [horizon, ahead) have partitions; facts outside are not kept."""

    horizon: datetime
    ahead: datetime

    def holds(self, at: datetime) -> bool:
        return self.horizon <= at < self.ahead


def window_at(now: datetime, retention_days: int, ahead_days: int) -> Window:
    """Today and the `retention_days` before it are kept; `ahead_days` after it are ready."""
    today = floor_day(now)
    return Window(today - retention_days * DAY, today + (ahead_days + 1) * DAY)


def partition_name(parent: str, day: date) -> str:
    return f"{parent}_p{day:%Y%m%d}"


async def existing(conn: Connection) -> dict[str, set[date]]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace"
        " WHERE n.nspname = current_schema() AND p.relname = ANY($1::text[])",
        list(PARTITIONED),
    )
    days: dict[str, set[date]] = {parent: set() for parent in PARTITIONED}
    for row in rows:
        match = _NAME.match(row["relname"])
        if match and match["parent"] in days:
            days[match["parent"]].add(datetime.strptime(match["day"], "%Y%m%d").date())
    return days


# One number for "history's partitions are being changed", the same in every replica.
MAINTENANCE_LOCK = 0x6869_7374_6F72_79  # "history"


async def current_window(conn: Connection) -> Window | None:
    row = await conn.fetchrow("SELECT horizon, ahead FROM history_window")
    return Window(row["horizon"], row["ahead"]) if row is not None else None


@dataclass(frozen=True)
class Maintained:
    window: Window
    created: int
    dropped: int


async def maintain(
    conn: Connection, now: datetime, retention_days: int, ahead_days: int
) -> Maintained:
    """Create the missing partitions of the window, move the window, drop what fell out.

    `conn` must not be in a transaction (DETACH ... CONCURRENTLY cannot run in one). Replicas
    take turns (a session advisory lock): one starting beside another waits, then finds the
    partitions the other made instead of racing it to create the same table.
    """
    await conn.execute("SELECT pg_advisory_lock($1)", MAINTENANCE_LOCK)
    try:
        return await _maintain(conn, now, retention_days, ahead_days)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MAINTENANCE_LOCK)


async def _maintain(
    conn: Connection, now: datetime, retention_days: int, ahead_days: int
) -> Maintained:
    window = window_at(now, retention_days, ahead_days)
    have = await existing(conn)
    created = 0
    day = window.horizon
    while day < window.ahead:
        for parent in PARTITIONED:
            if day.date() not in have[parent]:
                await _create(conn, parent, day)
                created += 1
        day += DAY
    # The window moves first, so no writer aims at a partition about to go.
    await conn.execute(
        "INSERT INTO history_window (horizon, ahead) VALUES ($1, $2) ON CONFLICT (only_row)"
        " DO UPDATE SET horizon = excluded.horizon, ahead = excluded.ahead",
        window.horizon,
        window.ahead,
    )
    dropped = 0
    for parent, days in have.items():
        for old in sorted(d for d in days if d < window.horizon.date()):
            await _drop(conn, parent, old)
            dropped += 1
    await conn.execute("DELETE FROM history_deliveries WHERE seen_at < $1", window.horizon)
    if created or dropped:
        log.info("history partitions: %d created, %d dropped", created, dropped)
    return Maintained(window, created, dropped)


async def _create(conn: Connection, parent: str, day: datetime) -> None:
    name = partition_name(parent, day.date())
    start, end = day.isoformat(), (day + DAY).isoformat()
    key = _key(parent)
    async with conn.transaction():
        await conn.execute(f"CREATE TABLE {name} (LIKE {parent} INCLUDING ALL)")
        # The bounds as a constraint first, so attaching need not scan the table.
        await conn.execute(
            f"ALTER TABLE {name} ADD CONSTRAINT {name}_bounds"
            f" CHECK ({key} >= '{start}' AND {key} < '{end}')"
        )
        await conn.execute(
            f"ALTER TABLE {parent} ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{end}')"
        )
        await conn.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bounds")


async def _drop(conn: Connection, parent: str, day: date) -> None:
    name = partition_name(parent, day)
    await conn.execute(f"ALTER TABLE {parent} DETACH PARTITION {name} CONCURRENTLY")
    await conn.execute(f"DROP TABLE {name}")


def _key(parent: str) -> str:
    return "bucket" if parent.startswith("stats_") else "at"
