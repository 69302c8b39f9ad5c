"""In-memory chats projection, for handler tests without a database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from chime_contracts.events import TimeZoneSet, UserStarted
from chime_ingest.ports import ChatRow
from chime_kit.event_store import Recorded


class InMemoryChats:
    tables = ("chats",)

    def __init__(self) -> None:
        self.rows: dict[tuple[int, int], ChatRow] = {}

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            data = r.envelope.data
            if isinstance(data, UserStarted | TimeZoneSet):
                key = (data.bot_id, data.chat_id)
                row = self.rows.get(key, ChatRow(None, None))
                if isinstance(data, UserStarted):
                    row = replace(row, started_at=r.envelope.occurred_at)
                else:
                    row = replace(row, time_zone=data.time_zone)
                self.rows[key] = row

    async def get(self, bot_id: int, chat_id: int) -> ChatRow | None:
        return self.rows.get((bot_id, chat_id))
