"""The api's events as a feed for a caller: those of its own notifications, schedules and
broadcasts (with the chats a broadcast skipped), in global order, never past a transaction
still in flight.

Positions are handed out at insert, not at commit, so a reader that took position 11 while
10 was still uncommitted would skip 10 for ever. A row is read only when its inserting
transaction is older than every api transaction still running: only the api's processes
(`application_name` chime-api, set by the kit's pool) write these events, so a long
transaction of another service or database does not hold the feed back. Xids are widened
to 64 bits with the snapshot's epoch to compare them: a running transaction's xid lies
within 2^31 of the snapshot's xmax, on either side (one that began after the snapshot was
taken is past it, and must not be read as one of the epoch before, which would hold
everything back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chime_kit.db import Connection

# Types a caller may follow (the key streams' private events never leave the api).
FEED_TYPES = (
    "notification.requested.v1",
    "message.sent.v1",
    "send.failed.v1",
    "message.edit.requested.v1",
    "message.delete.requested.v1",
    "schedule.requested.v1",
    "schedule.change.requested.v1",
    "schedule.created.v1",
    "schedule.rejected.v1",
    "schedule.changed.v1",
    "schedule.fired.v1",
    "broadcast.requested.v1",
    "broadcast.cancel.requested.v1",
    "broadcast.started.v1",
    "broadcast.progress.v1",
    "broadcast.finished.v1",
    "broadcast.recipients.skipped.v1",
)

_FEED = """
WITH s AS (
    SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax
), f AS (
    SELECT s.xmax, COALESCE((
        SELECT min(x.xid - CASE WHEN x.xid > s.xmax + 2147483648 THEN 4294967296
                                WHEN x.xid < s.xmax - 2147483648 THEN -4294967296
                                ELSE 0 END)
        FROM pg_stat_activity a,
             LATERAL (SELECT (s.xmax >> 32) << 32 | a.backend_xid::text::bigint AS xid) x
        WHERE a.datname = current_database() AND a.application_name = 'chime-api'
          AND a.backend_xid IS NOT NULL
    ), s.xmax) AS frontier
    FROM s
)
SELECT e.position, e.type, e.envelope
FROM events e, f
WHERE e.position > $1 AND e.type = ANY($2::text[])
  AND ((f.xmax >> 32) << 32 | e.xmin::text::bigint)
      - CASE WHEN ((f.xmax >> 32) << 32 | e.xmin::text::bigint) > f.xmax
             THEN 4294967296 ELSE 0 END < f.frontier
  AND (
    (e.stream_id LIKE 'notification-%' AND EXISTS (
        SELECT 1 FROM notifications n WHERE n.id = substr(e.stream_id, 14) AND n.owner = $3))
    OR (e.stream_id LIKE 'schedule-%' AND EXISTS (
        SELECT 1 FROM schedules s WHERE s.id = substr(e.stream_id, 10) AND s.owner = $3))
    OR (e.stream_id LIKE 'broadcast-%' AND EXISTS (
        SELECT 1 FROM broadcasts b WHERE b.id = substr(e.stream_id, 11) AND b.owner = $3))
    -- `skipped-<broadcast id>:skipped:<n>`: the slice's broadcast decides who may read it.
    OR (e.stream_id LIKE 'skipped-%' AND EXISTS (
        SELECT 1 FROM broadcasts b
        WHERE b.id = split_part(substr(e.stream_id, 9), ':', 1) AND b.owner = $3))
  )
ORDER BY e.position
LIMIT $4
"""


@dataclass(frozen=True)
class FeedEvent:
    position: int
    type: str
    envelope: dict[str, Any]


async def feed_after(
    conn: Connection, owner: str, after: int, types: Sequence[str], limit: int = 100
) -> list[FeedEvent]:
    rows = await conn.fetch(_FEED, after, list(types), owner, limit)
    return [FeedEvent(r["position"], r["type"], r["envelope"]) for r in rows]
