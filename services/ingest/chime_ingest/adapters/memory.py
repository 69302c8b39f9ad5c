"""In-memory chats projection, for handler tests without a database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from chime_contracts.events import (
    ChatMemberChanged,
    ChatMigrated,
    ChatResumed,
    ChatStopped,
    LanguageSet,
    TimeZoneSet,
    UserStarted,
)
from chime_ingest.ports import ChatRow
from chime_kit.event_store import Recorded


class InMemoryChats:
    tables = ("chats", "bots")

    def __init__(self) -> None:
        self.rows: dict[tuple[int, int], ChatRow] = {}
        self.usernames: dict[int, str] = {}
        self.answers: list[tuple[int, str, str]] = []

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            data = r.envelope.data
            if isinstance(data, ChatMigrated):
                self._set(data.bot_id, data.old_chat_id, migrated_to=data.new_chat_id)
            elif isinstance(data, UserStarted):
                self._set(data.bot_id, data.chat_id, started_at=r.envelope.occurred_at)
            elif isinstance(data, TimeZoneSet):
                self._set(data.bot_id, data.chat_id, time_zone=data.time_zone)
            elif isinstance(data, LanguageSet):
                self._set(data.bot_id, data.chat_id, language=data.language)
            elif isinstance(data, ChatStopped | ChatResumed):
                self._set(data.bot_id, data.chat_id, stopped=isinstance(data, ChatStopped))
            elif isinstance(data, ChatMemberChanged):
                self._set(
                    data.bot_id, data.chat_id, chat_type=data.chat_type, member=data.new_state,
                    can_post=data.can_post_messages,
                )  # fmt: skip
                if data.bot_username:
                    await self.set_bot_username(data.bot_id, data.bot_username)

    def _set(self, bot_id: int, chat_id: int, **changes: Any) -> None:
        row = self.rows.get((bot_id, chat_id), ChatRow(None, None))
        self.rows[(bot_id, chat_id)] = replace(row, **changes)

    async def get(self, bot_id: int, chat_id: int) -> ChatRow | None:
        return self.rows.get((bot_id, chat_id))

    async def bot_username(self, bot_id: int) -> str | None:
        return self.usernames.get(bot_id)

    async def set_bot_username(self, bot_id: int, username: str) -> None:
        self.usernames[bot_id] = username

    async def answer_callback(self, bot_id: int, query_id: str, text: str) -> None:
        self.answers.append((bot_id, query_id, text))
