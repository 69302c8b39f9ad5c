"""Reads of history and stats: index range scans of one chat, rollup rows of one scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chime_api.history.domain.buckets import Granularity
from chime_api.history.domain.series import Bucket
from chime_kit.db import Connection

_COLUMNS = (
    "id, at, direction, message_id, user_id, content_type, text, command,"
    " reply_to_message_id, edited_at, delivery_id, source_kind, status, failure_reason"
)


@dataclass(frozen=True)
class Message:
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
    return [Message(*r) for r in rows]  # the columns are the fields, in order


# Most reads are of chats that spoke lately: the newest day's partitions answer them alone.
# Bounded by a literal time, the plan prunes the other partitions (neither opened nor
# locked, which costs more than the scan); a chat with fewer messages that day is read on
# from before the bound.
RECENT = timedelta(days=1)


async def last(
    conn: Connection, bot_id: int, chat_id: int, limit: int, now: datetime | None = None
) -> list[Message]:
    """The chat's newest `limit` messages, oldest first."""
    bound = (now or datetime.now(UTC)) - RECENT
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM history_messages WHERE bot_id = $1 AND chat_id = $2"  # noqa: S608
        " AND at >= $3 ORDER BY at DESC, id DESC LIMIT $4",
        bot_id,
        chat_id,
        bound,
        limit,
    )
    if len(rows) < limit:
        rows += await conn.fetch(
            f"SELECT {_COLUMNS} FROM history_messages WHERE bot_id = $1 AND chat_id = $2"  # noqa: S608
            " AND at < $3 ORDER BY at DESC, id DESC LIMIT $4",
            bot_id,
            chat_id,
            bound,
            limit - len(rows),
        )
    return list(reversed(_messages(rows)))


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
        " AND at >= $3 AND at < $4 AND (at, id) > ($5, $6) ORDER BY at, id LIMIT $7",
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
) -> dict[datetime, Bucket]:
    rows = await conn.fetch(
        "SELECT bucket, received, received_by_kind, sent, failed, failed_by_reason, blocked,"
        " latency, active_chats, active_users FROM stats_rollups WHERE scope = $1"
        " AND scope_id = $2 AND granularity = $3 AND bucket >= $4 AND bucket < $5",
        scope,
        scope_id,
        granularity.value,
        since,
        until,
    )
    return {r[0]: Bucket(*r[1:]) for r in rows}  # the columns after bucket are the fields


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
        "SELECT scope_id, sum(received) AS received, sum(sent) AS sent FROM stats_rollups"
        " WHERE scope = 'chat' AND granularity = $1 AND bucket >= $2 AND bucket < $3"
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
