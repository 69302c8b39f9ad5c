"""Usage per key per UTC day: requests from the counters, messages and failures from the
notifications projection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from chime_api.domain.keys import ApiKey
from chime_kit.db import Connection


@dataclass(frozen=True)
class UsageDay:
    api_key_id: str
    day: date
    requests: int
    limited: int
    messages: int
    sent: int
    failures: int


_USAGE = """
WITH keys AS (
    SELECT id FROM api_keys
    WHERE (CASE WHEN $1::text IS NULL THEN id = $2 ELSE team = $1 END)
      AND ($3::text IS NULL OR id = $3)
), req AS (
    SELECT api_key_id, day, requests, limited FROM usage_requests
    WHERE api_key_id IN (SELECT id FROM keys) AND day BETWEEN $4 AND $5
), msg AS (
    SELECT api_key_id, (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS messages,
           count(*) FILTER (WHERE status = 'sent') AS sent,
           count(*) FILTER (WHERE status = 'failed') AS failures
    FROM notifications
    WHERE api_key_id IN (SELECT id FROM keys)
      AND created_at >= $4::date::timestamp AT TIME ZONE 'UTC'
      AND created_at < ($5::date + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY 1, 2
)
SELECT api_key_id, day, COALESCE(requests, 0) AS requests, COALESCE(limited, 0) AS limited,
       COALESCE(messages, 0) AS messages, COALESCE(sent, 0) AS sent,
       COALESCE(failures, 0) AS failures
FROM req FULL JOIN msg USING (api_key_id, day)
WHERE $6::date IS NULL OR (day, api_key_id) < ($6, $7)
ORDER BY day DESC, api_key_id DESC
LIMIT $8
"""


async def usage_page(
    conn: Connection,
    caller: ApiKey,
    since: date,
    until: date,
    key_id: str | None,
    limit: int,
    after: tuple[date, str] | None,
) -> list[UsageDay]:
    """Newest day first; only the keys of the caller's team (or the caller alone)."""
    rows = await conn.fetch(
        _USAGE,
        caller.team,
        caller.id,
        key_id,
        since,
        until,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [UsageDay(**dict(r)) for r in rows]
