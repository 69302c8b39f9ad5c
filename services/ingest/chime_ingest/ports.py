"""What ingest's handlers need of storage, as ports: PostgreSQL in `adapters/postgres.py`,
in memory in `adapters/memory.py`; one contract suite runs on both."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chime_kit.projection import Projection


@dataclass(frozen=True)
class ChatRow:
    time_zone: str | None
    started_at: datetime | None


class ChatsView(Projection, Protocol):
    """The chats projection: what ingest knows of each chat, for queries (decisions are
    taken from the chat's stream)."""

    async def get(self, bot_id: int, chat_id: int) -> ChatRow | None: ...
