"""In-memory chats and pools projections, for handler tests without a database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from chime_contracts.events import (
    ChatAssigned,
    ChatAssignmentConfirmed,
    ChatMemberChanged,
    ChatMigrated,
    ChatResumed,
    ChatStopped,
    LanguageSet,
    TimeZoneSet,
    UserStarted,
)
from chime_ingest.ports import ChatRow, PoolLoad
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


class InMemoryPools:
    """The pools projection in memory; usernames come from the chats fake, as the
    PostgreSQL one reads them from `bots`."""

    tables = ("pool_assignments", "pool_loads")

    def __init__(self, chats: InMemoryChats) -> None:
        self.chats = chats
        self.assignments: dict[tuple[str, int], tuple[int, bool]] = {}
        self.counts: dict[tuple[str, int], PoolLoad] = {}

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            data = r.envelope.data
            if isinstance(data, ChatAssigned):
                confirmed = data.started_bot_id == data.bot_id
                self.assignments[(data.pool, data.chat_id)] = (data.bot_id, confirmed)
                self._count(data.pool, data.bot_id, 1, int(confirmed))
            elif isinstance(data, ChatAssignmentConfirmed):
                worker, _ = self.assignments[(data.pool, data.chat_id)]
                self.assignments[(data.pool, data.chat_id)] = (worker, True)
                self._count(data.pool, data.bot_id, 0, 1)

    def _count(self, pool: str, bot_id: int, chats: int, confirmed: int) -> None:
        load = self.counts.get((pool, bot_id), PoolLoad(pool, bot_id, 0, 0))
        self.counts[(pool, bot_id)] = replace(
            load, chats=load.chats + chats, confirmed=load.confirmed + confirmed
        )

    async def loads(self, pool: str, workers: Sequence[int]) -> dict[int, int]:
        return {
            w: self.counts[(pool, w)].chats if (pool, w) in self.counts else 0
            for w in workers
            if w in self.chats.usernames
        }

    async def all_loads(self) -> list[PoolLoad]:
        return [self.counts[key] for key in sorted(self.counts)]
