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
# The record and the chat's place in the listing in one round trip: the listing moves only
# when this bot's first sight of the chat is new or earlier than it was.
_UPSERT_LISTED = (
    f"WITH c AS ({_UPSERT} RETURNING chat_id, first_seen_at)"  # noqa: S608 - ours
    " INSERT INTO chat_listing (chat_id, first_seen_at) SELECT chat_id, first_seen_at FROM c"
    " ON CONFLICT (chat_id) DO UPDATE SET"
    " first_seen_at = LEAST(chat_listing.first_seen_at, excluded.first_seen_at)"
)


def _page_query(where: ChatFilter, paged: bool) -> tuple[str, list[str]]:
    """A chat's place in a listing: when any bot first saw it (`chat_listing`), then its id.

    Walks `chat_listing_page` newest first and stops at the limit; a chat matches when one
    of its bots' rows matches every filter (looked up by key). Only the conditions asked for
    are in the text, so each shape gets a plan of its own and the cursor is an index bound.
    """
    conditions, names = ["c.chat_id = l.chat_id"], []
    for name, value in (
        ("bot_id", where.bot_id), ("blocked", where.blocked), ("language", where.language)
    ):  # fmt: skip
        if value is not None:
            names.append(name)
            conditions.append(f"c.{name} = ${len(names) + 1}")
    cursor = ""
    if paged:
        n = len(names) + 2
        cursor = f" AND (l.first_seen_at, l.chat_id) < (${n}, ${n + 1})"
    query = (
        "SELECT l.chat_id FROM chat_listing l"  # noqa: S608 - our column names and $n only
        f" WHERE EXISTS (SELECT 1 FROM chats c WHERE {' AND '.join(conditions)}){cursor}"
        " ORDER BY l.first_seen_at DESC, l.chat_id DESC LIMIT $1"
    )
    return query, names


class PostgresChats:
    """One transaction's view of the chats table (a new one per unit of work)."""

    tables = ("chats", "chat_listing")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # Records this transaction has read or written, by (bot, chat): the projection of
        # an event the handler has just decided on folds from the record it read, instead
        # of reading it again.
        self._known: dict[tuple[int, int], BotChat | None] = {}

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            if not r.stream_id.startswith("chat-") or not isinstance(e, CHAT_EVENTS):
                continue
            key = (e.bot_id, e.chat_id)
            before = self._known.get(key, _UNREAD)
            if before is _UNREAD or _version(before) != r.version - 1:
                before = await self.get(e.bot_id, e.chat_id)
            chat = evolve(before, r.envelope, r.version)
            if before is not None and before.first_seen_at <= chat.first_seen_at:
                await self.conn.execute(_UPSERT, *astuple(chat))
            else:
                await self.conn.execute(_UPSERT_LISTED, *astuple(chat))
            self._known[key] = chat

    async def get(self, bot_id: int, chat_id: int) -> BotChat | None:
        row = await self.conn.fetchrow(
            f"SELECT {_COLUMNS} FROM chats WHERE bot_id = $1 AND chat_id = $2",  # noqa: S608
            bot_id,
            chat_id,
        )
        chat = _bot_chat(row) if row is not None else None
        self._known[(bot_id, chat_id)] = chat
        return chat

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
        query, names = _page_query(where, after is not None)
        found = await self.conn.fetch(
            query, limit, *(getattr(where, n) for n in names), *(after or ())
        )
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


_UNREAD: Any = object()  # not read by this transaction (None is a chat not yet recorded)


def _version(chat: BotChat | None) -> int:
    return chat.version if chat is not None else 0


def _bot_chat(row: Any) -> BotChat:
    return BotChat(**{name: row[name] for name in _NAMES})
