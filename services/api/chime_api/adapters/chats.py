"""The chats table: a projection of the chat streams (see `chime_api.domain.chats`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, fields
from datetime import datetime
from itertools import groupby
from typing import Any

from chime_api.domain.chats import CHAT_EVENTS, BotChat, Chat, ChatFilter, chat_of, evolve
from chime_kit.db import Connection
from chime_kit.event_store import Recorded

_NAMES = [f.name for f in fields(BotChat)]
_COLUMNS = ", ".join(_NAMES)
_UPSERT = (
    f"INSERT INTO chats ({_COLUMNS}) VALUES"  # noqa: S608 - column names are ours
    f" ({', '.join(f'${n}' for n in range(1, len(_NAMES) + 1))})"
    " ON CONFLICT (bot_id, chat_id) DO UPDATE SET "
    + ", ".join(f"{n} = excluded.{n}" for n in _NAMES[2:])
)
# A chat's place in a listing: when any bot first saw it (it never moves), then its id.
_PAGE = """
SELECT chat_id, min(first_seen_at) AS first_seen_at FROM chats
GROUP BY chat_id
HAVING bool_or(($1::bigint IS NULL OR bot_id = $1) AND ($2::boolean IS NULL OR blocked = $2)
               AND ($3::text IS NULL OR language = $3))
   AND ($5::timestamptz IS NULL OR (min(first_seen_at), chat_id) < ($5, $6))
ORDER BY min(first_seen_at) DESC, chat_id DESC
LIMIT $4
"""


class PostgresChats:
    tables = ("chats",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            if not r.stream_id.startswith("chat-") or not isinstance(e, CHAT_EVENTS):
                continue
            chat = evolve(await self.get(e.bot_id, e.chat_id), r.envelope, r.version)
            await self.conn.execute(_UPSERT, *astuple(chat))

    async def get(self, bot_id: int, chat_id: int) -> BotChat | None:
        row = await self.conn.fetchrow(
            f"SELECT {_COLUMNS} FROM chats WHERE bot_id = $1 AND chat_id = $2",  # noqa: S608
            bot_id,
            chat_id,
        )
        return _bot_chat(row) if row is not None else None

    async def chat(self, chat_id: int) -> Chat | None:
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM chats WHERE chat_id = $1",  # noqa: S608
            chat_id,
        )
        return chat_of([_bot_chat(r) for r in rows]) if rows else None

    async def page(
        self, where: ChatFilter, limit: int, after: tuple[datetime, int] | None
    ) -> list[Chat]:
        """Newest first by first sight; `after` is the previous page's last (time, chat)."""
        found = await self.conn.fetch(
            _PAGE, where.bot_id, where.blocked, where.language, limit,
            after[0] if after else None, after[1] if after else None,
        )  # fmt: skip
        ids = [r["chat_id"] for r in found]
        rows = await self.conn.fetch(
            f"SELECT {_COLUMNS} FROM chats WHERE chat_id = ANY($1::bigint[])"  # noqa: S608
            " ORDER BY chat_id, bot_id",
            ids,
        )
        by_chat = {
            chat_id: chat_of([_bot_chat(r) for r in group])
            for chat_id, group in groupby(rows, key=lambda r: r["chat_id"])
        }
        return [by_chat[chat_id] for chat_id in ids]


def _bot_chat(row: Any) -> BotChat:
    return BotChat(**{name: row[name] for name in _NAMES})
