"""Reads of history and stats: index range scans of one chat, rollup rows of one scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from chime_api.history.adapters.closed import CLOSED, ROWS, ClosedRollups, split
from chime_api.history.domain.buckets import DAY, Granularity, floor_day
from chime_api.history.domain.series import Bucket
from chime_kit.db import Connection

_COLUMNS = (
    "id, at, direction, message_id, user_id, content_type, text, command,"
    " reply_to_message_id, edited_at, delivery_id, source_kind, status, failure_reason"
)


class Message(NamedTuple):
    """A row of a chat's history (a tuple: 500 of them are made per page, and a frozen
    dataclass cost six times as much to build)."""

    id: int
    at: datetime
    direction: str
    message_id: int | None
    user_id: int | None
    content_type: str
    text: str | None
    command: str | None
    reply_to_message_id: int | None
    edited_at: datetime | None
    delivery_id: str | None
    source_kind: str | None
    status: str
    failure_reason: str | None


def _messages(rows: list[Any]) -> list[Message]:
    return list(map(Message._make, rows))  # the columns are the fields, in order


def _instant(at: datetime) -> str:
    """A time as an SQL literal. Bounds that decide which day partitions a read needs are
    written into the statement, not passed as parameters: with a parameter the plan that
    asyncpg's prepared statement settles on (a generic one, after five runs) keeps every
    partition, opening and locking each on every run and pruning only then; with a literal
    the plan holds just the partitions the bound admits. These bounds are whole UTC days
    (where partitions begin), so a statement's text, and its prepared plan, changes once a
    day. Never user input: a datetime's isoformat."""
    return f"'{at.astimezone(UTC).isoformat()}'::timestamptz"


def _day_after(at: datetime) -> datetime:
    """The first day boundary after `at` (the end of the partition holding it)."""
    return floor_day(at) + DAY


# Most reads are of chats that spoke lately: yesterday's and today's partitions answer them
# alone. A chat with fewer messages since yesterday began is read on from before it.
RECENT = DAY


async def last(
    conn: Connection, bot_id: int, chat_id: int, limit: int, now: datetime | None = None
) -> list[Message]:
    """The chat's newest `limit` messages, oldest first."""
    bound = _instant(floor_day(now or datetime.now(UTC)) - RECENT)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM history_messages WHERE bot_id = $1 AND chat_id = $2"  # noqa: S608
        f" AND at >= {bound} ORDER BY at DESC, id DESC LIMIT $3",
        bot_id,
        chat_id,
        limit,
    )
    if len(rows) < limit:
        rows += await conn.fetch(
            f"SELECT {_COLUMNS} FROM history_messages WHERE bot_id = $1 AND chat_id = $2"  # noqa: S608
            f" AND at < {bound} ORDER BY at DESC, id DESC LIMIT $3",
            bot_id,
            chat_id,
            limit - len(rows),
        )
    rows.reverse()
    return _messages(rows)


async def between(
    conn: Connection,
    bot_id: int,
    chat_id: int,
    since: datetime,
    until: datetime,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Message]:
    """Messages in [since, until), oldest first, after the cursor's (at, id)."""
    at, row_id = after or (since, -1)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM history_messages WHERE bot_id = $1 AND chat_id = $2"  # noqa: S608
        " AND at >= $3 AND at < $4 AND (at, id) > ($5, $6)"
        f" AND at >= {_instant(floor_day(since))} AND at < {_instant(_day_after(until))}"
        " ORDER BY at, id LIMIT $7",
        bot_id,
        chat_id,
        since,
        until,
        at,
        row_id,
        limit,
    )
    return _messages(rows)


async def search(
    conn: Connection,
    bot_id: int,
    chat_id: int,
    query: str,
    before: tuple[datetime, int] | None,
    limit: int,
) -> list[Message]:
    """Messages whose words match `query` (web search syntax), newest first."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM history_messages WHERE bot_id = $1 AND chat_id = $2"  # noqa: S608
        " AND search @@ websearch_to_tsquery('simple', $3)"
        " AND ($4::timestamptz IS NULL OR (at, id) < ($4, $5)) ORDER BY at DESC, id DESC LIMIT $6",
        bot_id,
        chat_id,
        query,
        before[0] if before else None,
        before[1] if before else None,
        limit,
    )
    return _messages(rows)


async def rollups(
    conn: Connection,
    scope: str,
    scope_id: str,
    granularity: Granularity,
    since: datetime,
    until: datetime,
    now: datetime | None = None,
    kept: ClosedRollups | None = CLOSED,
) -> dict[datetime, Bucket]:
    """The scope's rollup rows in [since, until) by bucket. The closed buckets' rows (before
    `now`'s bucket) of a large series come from `kept` when the table still holds the same
    versions of them (see `closed`); `kept=None` reads every row."""

    async def select(conn: Connection, columns: str, since: datetime, until: datetime) -> Any:
        # The range's days as literals (which partitions), the range itself as parameters.
        days = f"bucket >= {_instant(floor_day(since))} AND bucket < {_instant(_day_after(until))}"
        return await conn.fetch(
            f"SELECT {columns} FROM stats_rollups WHERE scope = $1"  # noqa: S608
            " AND scope_id = $2 AND granularity = $3 AND bucket >= $4 AND bucket < $5"
            f" AND {days}",
            scope,
            scope_id,
            granularity.value,
            since,
            until,
        )

    if kept is None:
        return {r[0]: Bucket(*r[1:]) for r in await select(conn, ROWS, since, until)}
    cut = split(since, until, now or datetime.now(UTC), granularity)
    return await kept.read(conn, select, (scope, scope_id, granularity.value), since, until, cut)


@dataclass(frozen=True)
class ChatActivity:
    bot_id: int
    chat_id: int
    received: int
    sent: int


async def top_chats(
    conn: Connection,
    granularity: Granularity,
    since: datetime,
    until: datetime,
    bot_id: int | None,
    limit: int,
) -> list[ChatActivity]:
    """Chats by messages received and sent in [since, until), most first."""
    rows = await conn.fetch(
        "SELECT scope_id, sum(received) AS received, sum(sent) AS sent FROM stats_rollups"  # noqa: S608
        " WHERE scope = 'chat' AND granularity = $1 AND bucket >= $2 AND bucket < $3"
        f" AND bucket >= {_instant(floor_day(since))} AND bucket < {_instant(_day_after(until))}"
        " AND ($4::text IS NULL OR scope_id LIKE $4 || ':%')"
        " GROUP BY scope_id ORDER BY sum(received) + sum(sent) DESC, scope_id LIMIT $5",
        granularity.value,
        since,
        until,
        str(bot_id) if bot_id is not None else None,
        limit,
    )
    out = []
    for r in rows:
        bot, _, chat = r["scope_id"].partition(":")
        out.append(ChatActivity(int(bot), int(chat), int(r["received"]), int(r["sent"])))
    return out
