"""The history log: facts appended with their positions, replayed in position order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from chime_api.history.adapters.projection import HistoryProjection, Positioned
from chime_api.history.adapters.replay import replay
from chime_api.history.domain.facts import FACT, Fact
from chime_kit.db import Connection

# Positions are taken in the facts' order, then the facts inserted with theirs: one round
# trip for the whole batch.
_APPEND = """
WITH taken AS (
    SELECT array_agg(nextval('history_log_position') ORDER BY n) AS positions
    FROM generate_series(1, cardinality($1::timestamptz[])) AS n
), logged AS (
    INSERT INTO history_log (position, at, bot_id, chat_id, kind, fact)
    SELECT taken.positions[t.n], t.at, t.bot_id, t.chat_id, t.kind, t.fact
    FROM taken, unnest($1::timestamptz[], $2::bigint[], $3::bigint[], $4::text[], $5::jsonb[])
        WITH ORDINALITY AS t(at, bot_id, chat_id, kind, fact, n)
)
SELECT positions FROM taken
"""


async def append(conn: Connection, facts: Sequence[Fact]) -> list[Positioned]:
    """Store `facts` in order; each gets its position in the log."""
    if not facts:
        return []
    positions = await conn.fetchval(
        _APPEND,
        [f.at for f in facts],
        [f.bot_id for f in facts],
        [f.chat_id for f in facts],
        [f.kind for f in facts],
        [f.model_dump(mode="json") for f in facts],
    )
    return list(zip(positions, facts, strict=True))


async def read(
    conn: Connection, batch_size: int, chat: tuple[int, int] | None = None
) -> AsyncIterator[list[Positioned]]:
    """The log (or one chat's part of it) in position order; must run in a transaction."""
    query = "SELECT position, fact FROM history_log"
    args: list[object] = []
    if chat is not None:
        query += " WHERE bot_id = $1 AND chat_id = $2"
        args = list(chat)
    cursor = conn.cursor(query + " ORDER BY position", *args, prefetch=batch_size)
    batch: list[Positioned] = []
    async for row in cursor:
        batch.append((row["position"], FACT.validate_python(row["fact"])))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


class HistoryReplay:
    """The history tables for the kit's `rebuild`: emptied with the others, then re-folded
    from the history log (they are not folded from the event store)."""

    tables = HistoryProjection.tables

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[object]) -> None:
        """Nothing in the event store feeds these tables."""

    async def replay(self, batch_size: int) -> int:
        return await replay(self.conn, batch_size * 5)
