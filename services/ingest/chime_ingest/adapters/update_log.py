"""The update log (operational): every update once per (bot, update_id), and the queue of
accepted updates the interpreter claims."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chime_kit.db import Connection


@dataclass(frozen=True, slots=True)
class Arrival:
    """One update to store: `payload` is its JSON text, `event_id` and `traceparent` name
    its receipt (what interpreting it causes carries them)."""

    bot_id: int
    update_id: int
    kind: str
    payload: str
    chat_id: int | None
    user_id: int | None
    reason: str | None
    event_id: str
    traceparent: str | None


@dataclass(frozen=True, slots=True)
class Claimed:
    """An accepted update the interpreter holds (its queue row locked) until it commits."""

    seq: int
    bot_id: int
    update_id: int
    chat_key: int | None
    kind: str
    chat_id: int | None
    user_id: int | None
    payload: dict[str, Any]
    received_at: datetime
    event_id: str
    traceparent: str | None
    attempts: int


_ADD = """
WITH arrived AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                         $6::bigint[], $7::bigint[], $8::text[], $9::text[])
        WITH ORDINALITY AS a(bot_id, update_id, kind, payload, reason, chat_id, user_id,
                             event_id, traceparent, ord)
), stored AS (
    -- In key order, so two batches holding the same updates cannot deadlock.
    INSERT INTO updates (bot_id, update_id, kind, status, reason, payload, chat_id, user_id)
    SELECT bot_id, update_id, kind, CASE WHEN reason IS NULL THEN 'accepted' ELSE 'rejected'
           END, reason, payload::jsonb, chat_id, user_id
    FROM arrived ORDER BY bot_id, update_id
    ON CONFLICT DO NOTHING
    RETURNING bot_id, update_id, status
), queued AS (
    -- In arrival order: `seq` orders each chat's updates for the interpreter.
    INSERT INTO update_queue (bot_id, update_id, chat_key, event_id, traceparent)
    SELECT a.bot_id, a.update_id, coalesce(a.chat_id, a.user_id), a.event_id, a.traceparent
    FROM stored s JOIN arrived a USING (bot_id, update_id)
    WHERE s.status = 'accepted'
    ORDER BY a.ord
)
SELECT bot_id, update_id FROM stored
"""

# The first waiting update of each chat (an earlier one of the chat, claimed by another
# interpreter and not yet committed, still counts as waiting), skipping what others hold.
_CLAIM = """
WITH heads AS (
    SELECT q.seq FROM update_queue q
    WHERE (q.retry_at IS NULL OR q.retry_at <= now())
      AND NOT EXISTS (
          SELECT 1 FROM update_queue e
          WHERE e.bot_id = q.bot_id AND e.chat_key = q.chat_key AND e.seq < q.seq
      )
    ORDER BY q.seq
    LIMIT $1
    FOR UPDATE OF q SKIP LOCKED
)
SELECT q.seq, q.bot_id, q.update_id, q.chat_key, q.event_id, q.traceparent, q.attempts,
       u.kind, u.chat_id, u.user_id, u.payload, u.received_at
FROM heads h
JOIN update_queue q ON q.seq = h.seq
JOIN updates u ON u.bot_id = q.bot_id AND u.update_id = q.update_id
ORDER BY q.seq
"""

# What waits behind the claimed heads in their chats: no other claimer can take these (their
# head is still there), so the claim holds them too and a busy chat moves a batch at a time.
_FOLLOWERS = """
SELECT q.seq, q.bot_id, q.update_id, q.chat_key, q.event_id, q.traceparent, q.attempts,
       u.kind, u.chat_id, u.user_id, u.payload, u.received_at
FROM update_queue q
JOIN updates u ON u.bot_id = q.bot_id AND u.update_id = q.update_id
WHERE (q.bot_id, q.chat_key) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))
  AND NOT (q.seq = ANY($3::bigint[]))
ORDER BY q.seq
LIMIT $4
FOR UPDATE OF q
"""


class UpdateLog:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, arrivals: Sequence[Arrival]) -> set[tuple[int, int]]:
        """Store what is new; the (bot, update_id) of each one stored (the rest were there).
        Accepted ones are queued for the interpreter in the same statement."""
        columns = list(
            zip(
                *(
                    (a.bot_id, a.update_id, a.kind, a.payload, a.reason, a.chat_id, a.user_id,
                     a.event_id, a.traceparent)
                    for a in arrivals
                ),
                strict=True,
            )
        )  # fmt: skip
        rows = await self.conn.fetch(_ADD, *columns)
        return {(r["bot_id"], r["update_id"]) for r in rows}

    async def reject_body(self, bot_id: int, reason: str, body: str) -> None:
        await self.conn.execute(
            "INSERT INTO rejected_bodies (bot_id, reason, body) VALUES ($1, $2, $3)",
            bot_id,
            reason,
            body[:65536],
        )

    async def claim(self, limit: int) -> list[Claimed]:
        """Lock up to `limit` updates to interpret in `seq` order: the first waiting update of
        as many chats as there are, then what follows them in those chats."""
        heads = [Claimed(**dict(r)) for r in await self.conn.fetch(_CLAIM, limit)]
        chats = [h for h in heads if h.chat_key is not None]
        if not chats or len(heads) >= limit:
            return heads
        rows = await self.conn.fetch(
            _FOLLOWERS,
            [h.bot_id for h in chats],
            [h.chat_key for h in chats],
            [h.seq for h in chats],
            limit - len(heads),
        )
        # A follower's retry_at cannot be pending: it never failed while its head waited.
        return sorted(heads + [Claimed(**dict(r)) for r in rows], key=lambda c: c.seq)

    async def interpreted(self, seqs: Sequence[int]) -> None:
        await self.conn.execute("DELETE FROM update_queue WHERE seq = ANY($1::bigint[])", seqs)

    async def failed(self, claimed: Claimed, error: str, retry_in: float) -> None:
        """The chat's later updates wait behind it until it is retried."""
        await self.conn.execute(
            "UPDATE update_queue SET attempts = attempts + 1, last_error = $2,"
            " retry_at = clock_timestamp() + make_interval(secs => $3) WHERE seq = $1",
            claimed.seq,
            error,
            retry_in,
        )

    async def poisoned(self, claimed: Claimed, error: str) -> None:
        """Given up on: out of the queue (its chat goes on), marked in the log with why."""
        await self.conn.execute("DELETE FROM update_queue WHERE seq = $1", claimed.seq)
        await self.conn.execute(
            "UPDATE updates SET status = 'poison', reason = $3"
            " WHERE bot_id = $1 AND update_id = $2",
            claimed.bot_id,
            claimed.update_id,
            error,
        )

    async def backlog(self) -> dict[int, tuple[int, int]]:
        """Per bot: updates waiting to be interpreted, and those given up on (poison)."""
        rows = await self.conn.fetch(
            "SELECT bot_id, sum(waiting)::bigint AS waiting, sum(poison)::bigint AS poison FROM ("
            " SELECT bot_id, count(*) AS waiting, 0 AS poison FROM update_queue GROUP BY bot_id"
            " UNION ALL SELECT bot_id, 0, count(*) FROM updates WHERE status = 'poison'"
            " GROUP BY bot_id) c GROUP BY bot_id"
        )
        return {r["bot_id"]: (r["waiting"], r["poison"]) for r in rows}
