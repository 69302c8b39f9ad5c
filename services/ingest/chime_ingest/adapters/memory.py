"""In-memory chats and pools projections, for handler tests without a database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from chime_contracts.events import ChatAssigned, ChatAssignmentConfirmed, ChatMemberChanged
from chime_ingest.domain.chats import ChatState, chat_of_stream, row_changes, row_of
from chime_ingest.ports import ChatRow, ChatSnapshot, PoolLoad
from chime_kit.event_store import Recorded


class InMemoryChats:
    tables = ("chats", "bots")

    def __init__(self) -> None:
        self.rows: dict[tuple[int, int], ChatRow] = {}
        self.usernames: dict[int, str] = {}
        self.answers: list[tuple[int, str, str]] = []

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            chat = chat_of_stream(r.stream_id)
            if chat is None:
                continue
            row = self.rows.get(chat)
            held = row.version if row is not None else 0
            current = r.version if held == r.version - 1 else None  # as PostgresChats
            self._set(*chat, **row_changes(r), version=current)
            data = r.envelope.data
            if isinstance(data, ChatMemberChanged) and data.bot_username:
                await self.set_bot_username(data.bot_id, data.bot_username)

    async def snapshot(self, bot_id: int, chat_id: int) -> ChatSnapshot | None:
        """The row as last projected: the fake's rows are behind its streams only when a
        test appends without projecting, and then not known to be current (None)."""
        row = self.rows.get((bot_id, chat_id))
        if row is None:
            return ChatSnapshot(0, ChatState())
        if row.version is None:
            return None
        return ChatSnapshot(
            row.version,
            ChatState(
                started=row.started_at is not None, time_zone=row.time_zone,
                language=row.language, language_chosen_by=row.language_chosen_by,
                stopped=row.stopped, member=row.member, migrated_to=row.migrated_to,
            ),
        )  # fmt: skip

    async def restore(self, bot_id: int, chat_id: int, events: Sequence[Recorded]) -> None:
        row = self.rows.get((bot_id, chat_id))
        if not events or (row is not None and (row.version or 0) >= events[-1].version):
            return  # as PostgresChats: a row at that version or later stays
        self._set(bot_id, chat_id, **row_of(events), version=events[-1].version)

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
