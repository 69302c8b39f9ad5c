"""Projections: query tables folded from a service's events, and their rebuild from zero.

A projection is applied live, in the transaction that appends its events, and replayed by
`rebuild`; both go through its `apply`, so a rebuilt table equals the live one. A projection
folded from a log of its own (one retained by time, say) also has `replay`, which `rebuild`
calls after emptying its tables.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from chime_kit import event_store
from chime_kit.db import Connection
from chime_kit.event_store import Recorded

log = logging.getLogger(__name__)


class Projection(Protocol):
    @property
    def tables(self) -> tuple[str, ...]:
        """What `rebuild` empties before replaying."""
        ...

    async def apply(self, events: Sequence[Recorded]) -> None:
        """Fold these events (in their global order) into the tables; ignore other types."""
        ...


@runtime_checkable
class Replaying(Protocol):
    async def replay(self, batch_size: int) -> int:
        """Fold the projection's own log into its (emptied) tables; how many it applied."""
        ...


@dataclass(frozen=True)
class Rebuilt:
    tables: tuple[str, ...]
    events: int


async def rebuild(
    conn: Connection, projections: Sequence[Projection], batch_size: int = 1000
) -> Rebuilt:
    """Empty every projection's tables and replay all events into them, in one transaction.

    Meanwhile readers keep seeing the old rows (MVCC) and see the new ones at the commit,
    never a half-built table; writers of those tables (consumers, the firing loop) wait for
    the commit, so no event is applied twice or missed. `DELETE` rather than `TRUNCATE`,
    because TRUNCATE is not MVCC-safe for readers that took their snapshot before it.
    """
    tables = tuple(t for p in projections for t in p.tables)
    for table in tables:
        if not table.isidentifier():
            raise ValueError(f"not a plain table name: {table!r}")
    applied = 0
    async with conn.transaction():
        # EXCLUSIVE blocks writers (and SELECT ... FOR UPDATE) but not plain readers.
        await conn.execute(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")
        for table in tables:
            await conn.execute(f"DELETE FROM {table}")  # noqa: S608
        async for batch in event_store.read_all(conn, batch_size):
            for projection in projections:
                await projection.apply(batch)
            applied += len(batch)
        for projection in projections:
            if isinstance(projection, Replaying):
                applied += await projection.replay(batch_size)
    log.info("rebuilt %s from %d events", ", ".join(tables), applied)
    return Rebuilt(tables, applied)
