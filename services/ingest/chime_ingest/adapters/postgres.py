"""The chats projection in PostgreSQL (the update log is in `update_log.py`)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from chime_contracts.events import ChatMemberChanged
from chime_ingest.adapters.pools import PostgresPools
from chime_ingest.domain.chats import (
    EMPTY_ROW,
    ChatState,
    chat_of_stream,
    row_changes,
    row_of,
    stream_id,
)
from chime_ingest.ports import ChatRow, ChatSnapshot
from chime_kit.db import Connection
from chime_kit.event_store import Recorded
from chime_kit.projection import Projection


class PostgresChats:
    """Projection of the chat streams, and the callback answers owed (see ports.ChatsView).

    A chat's row is also its stream's snapshot: `version` is the stream version it was
    folded to, and `snapshot` hands it out only while that is still the stream's version.
    """

    tables = ("chats", "bots")
    ANSWERS_CHANNEL = "ingest_callback_answers"

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        """One statement per chat however many of its events (a /start with its language):
        they fold into the row's columns. The row takes the version of the last one only
        when it held the version before the first (it is then folded to exactly that
        version); a row not known to be current (NULL) is folded again from its stream by
        the next update of the chat that reads it (`restore`)."""
        changes: dict[tuple[int, int], dict[str, Any]] = {}
        after: dict[tuple[int, int], tuple[int, int]] = {}  # (version before, version after)
        usernames: dict[int, str] = {}
        for r in events:
            chat = chat_of_stream(r.stream_id)
            if chat is None:
                continue  # not a chat stream (a pool's assignment)
            changes.setdefault(chat, {}).update(row_changes(r))
            before = after[chat][0] if chat in after else r.version - 1
            after[chat] = (before, r.version)
            data = r.envelope.data
            if isinstance(data, ChatMemberChanged) and data.bot_username:
                usernames[data.bot_id] = data.bot_username
        for (bot_id, chat_id), columns in changes.items():
            before, version = after[(bot_id, chat_id)]
            names = tuple(sorted(columns))  # one statement text per set of columns
            await self.conn.execute(
                _upsert(names), bot_id, chat_id, before, version, *(columns[n] for n in names)
            )
        for bot_id, username in usernames.items():
            await self.set_bot_username(bot_id, username)

    async def snapshot(self, bot_id: int, chat_id: int) -> ChatSnapshot | None:
        # The stream's version and the row in one statement (one snapshot of the database):
        # the row is used only when it was folded to exactly that version.
        row = await self.conn.fetchrow(_SNAPSHOT, bot_id, chat_id, stream_id(bot_id, chat_id))
        if row is None:  # pragma: no cover - the aggregate always yields a row
            return None
        if row["stream_version"] == 0:
            return ChatSnapshot(0, ChatState())
        if row["version"] != row["stream_version"]:
            return None
        return ChatSnapshot(
            row["version"],
            ChatState(
                started=row["started"], time_zone=row["time_zone"], language=row["language"],
                language_chosen_by=row["language_chosen_by"], stopped=row["stopped"],
                member=row["member"], migrated_to=row["migrated_to"],
            ),
        )  # fmt: skip

    async def restore(self, bot_id: int, chat_id: int, events: Sequence[Recorded]) -> None:
        if not events:
            return
        row = row_of(events)  # its columns in EMPTY_ROW's order, as _RESTORE names them
        await self.conn.execute(_RESTORE, bot_id, chat_id, events[-1].version, *row.values())

    async def set_bot_username(self, bot_id: int, username: str) -> None:
        """The bot's own username, as a `my_chat_member` update or `getMe` told it."""
        await self.conn.execute(
            "INSERT INTO bots (bot_id, username) VALUES ($1, $2)"
            " ON CONFLICT (bot_id) DO UPDATE SET username = excluded.username",
            bot_id, username,
        )  # fmt: skip

    async def get(self, bot_id: int, chat_id: int) -> ChatRow | None:
        row = await self.conn.fetchrow(
            "SELECT time_zone, started_at, language, stopped, chat_type, member, can_post,"
            " migrated_to, language_chosen_by, version FROM chats"
            " WHERE bot_id = $1 AND chat_id = $2",
            bot_id,
            chat_id,
        )
        return ChatRow(**dict(row)) if row else None

    async def bot_username(self, bot_id: int) -> str | None:
        username: str | None = await self.conn.fetchval(
            "SELECT username FROM bots WHERE bot_id = $1", bot_id
        )
        return username

    async def answer_callback(self, bot_id: int, query_id: str, text: str) -> None:
        await self.conn.execute(
            "INSERT INTO callback_answers (bot_id, query_id, text) VALUES ($1, $2, $3)",
            bot_id, query_id, text,
        )  # fmt: skip
        await self.conn.execute("SELECT pg_notify($1, '')", self.ANSWERS_CHANNEL)


_SNAPSHOT = """
SELECT e.version AS stream_version, c.version, c.started_at IS NOT NULL AS started,
       c.time_zone, c.language, c.language_chosen_by, c.stopped, c.member, c.migrated_to
FROM (SELECT coalesce(max(version), 0) AS version FROM events WHERE stream_id = $3) e
LEFT JOIN chats c ON c.bot_id = $1 AND c.chat_id = $2
"""


# The whole row at a version, replacing one not known to be current or behind it; a row
# already at that version or later (another update restored or advanced it meanwhile) stays.
_RESTORE = (
    "INSERT INTO chats AS c (bot_id, chat_id, version"  # noqa: S608
    + "".join(f", {name}" for name in EMPTY_ROW)
    + ") VALUES ($1, $2, $3"
    + "".join(f", ${n}" for n in range(4, len(EMPTY_ROW) + 4))
    + ") ON CONFLICT (bot_id, chat_id) DO UPDATE SET version = excluded.version"
    + "".join(f", {name} = excluded.{name}" for name in EMPTY_ROW)
    + " WHERE c.version IS NULL OR c.version < excluded.version"
)


@functools.cache
def _upsert(columns: tuple[str, ...]) -> str:
    """The row's upsert setting `columns` ($5...) and its version ($4, when it held $3)."""
    values = "".join(f", ${n}" for n in range(5, len(columns) + 5))
    return (
        "INSERT INTO chats AS c (bot_id, chat_id, version"  # noqa: S608
        + "".join(f", {name}" for name in columns)
        + f") VALUES ($1, $2, CASE WHEN $3::integer = 0 THEN $4::integer END{values})"
        " ON CONFLICT (bot_id, chat_id) DO UPDATE SET"
        " version = CASE WHEN c.version = $3::integer THEN $4::integer END"
        + "".join(f", {name} = excluded.{name}" for name in columns)
    )


def projections(conn: Connection) -> Sequence[Projection]:
    """Every projection of ingest, for `python -m chime_ingest rebuild`."""
    return [PostgresChats(conn), PostgresPools(conn)]
