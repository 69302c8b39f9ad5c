"""The chats projection in PostgreSQL (the update log is in `update_log.py`)."""

from __future__ import annotations

from collections.abc import Sequence

from chime_contracts.events import (
    ChatMemberChanged,
    ChatMigrated,
    ChatResumed,
    ChatStopped,
    LanguageSet,
    TimeZoneSet,
    UserStarted,
)
from chime_ingest.adapters.pools import PostgresPools
from chime_ingest.ports import ChatRow
from chime_kit.db import Connection
from chime_kit.event_store import Recorded
from chime_kit.projection import Projection


class PostgresChats:
    """Projection of the chat streams, and the callback answers owed (see ports.ChatsView)."""

    tables = ("chats", "bots")
    ANSWERS_CHANNEL = "ingest_callback_answers"

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            data = r.envelope.data
            if isinstance(data, ChatMigrated):
                await self._set(data.bot_id, data.old_chat_id, "migrated_to", data.new_chat_id)
                continue
            column = _COLUMNS.get(type(data))
            if column is None:
                continue
            bot_id, chat_id = data.bot_id, data.chat_id
            if isinstance(data, UserStarted):
                await self._set(bot_id, chat_id, column, r.envelope.occurred_at)
            elif isinstance(data, TimeZoneSet):
                await self._set(bot_id, chat_id, column, data.time_zone)
            elif isinstance(data, LanguageSet):
                await self._set(bot_id, chat_id, column, data.language)
            elif isinstance(data, ChatStopped | ChatResumed):
                await self._set(bot_id, chat_id, column, isinstance(data, ChatStopped))
            elif isinstance(data, ChatMemberChanged):
                await self.conn.execute(
                    "INSERT INTO chats (bot_id, chat_id, chat_type, member, can_post)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (bot_id, chat_id) DO UPDATE SET"
                    " chat_type = excluded.chat_type, member = excluded.member,"
                    " can_post = excluded.can_post",
                    bot_id, chat_id, data.chat_type, data.new_state, data.can_post_messages,
                )  # fmt: skip
                if data.bot_username:
                    await self.set_bot_username(bot_id, data.bot_username)

    async def set_bot_username(self, bot_id: int, username: str) -> None:
        """The bot's own username, as a `my_chat_member` update or `getMe` told it."""
        await self.conn.execute(
            "INSERT INTO bots (bot_id, username) VALUES ($1, $2)"
            " ON CONFLICT (bot_id) DO UPDATE SET username = excluded.username",
            bot_id, username,
        )  # fmt: skip

    async def _set(self, bot_id: int, chat_id: int, column: str, value: object) -> None:
        await self.conn.execute(
            f"INSERT INTO chats (bot_id, chat_id, {column}) VALUES ($1, $2, $3)"  # noqa: S608
            f" ON CONFLICT (bot_id, chat_id) DO UPDATE SET {column} = excluded.{column}",
            bot_id, chat_id, value,
        )  # fmt: skip

    async def get(self, bot_id: int, chat_id: int) -> ChatRow | None:
        row = await self.conn.fetchrow(
            "SELECT time_zone, started_at, language, stopped, chat_type, member, can_post,"
            " migrated_to FROM chats WHERE bot_id = $1 AND chat_id = $2",
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


# The column each chat-stream event sets (a ChatMemberChanged sets several).
_COLUMNS: dict[type, str] = {
    UserStarted: "started_at",
    TimeZoneSet: "time_zone",
    LanguageSet: "language",
    ChatStopped: "stopped",
    ChatResumed: "stopped",
    ChatMemberChanged: "member",
}


def projections(conn: Connection) -> Sequence[Projection]:
    """Every projection of ingest, for `python -m chime_ingest rebuild`."""
    return [PostgresChats(conn), PostgresPools(conn)]
