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
    language: str | None = None
    stopped: bool = False
    chat_type: str | None = None
    member: str | None = None  # the bot's own status there
    can_post: bool | None = None
    migrated_to: int | None = None


class ChatsView(Projection, Protocol):
    """The chats projection: what ingest knows of each chat, for queries (decisions are
    taken from the chat's stream). It also keeps the callback answers a conversation owes
    Telegram, which `entrypoints/callback_answers.py` sends as soon as they are committed."""

    async def get(self, bot_id: int, chat_id: int) -> ChatRow | None: ...

    async def bot_username(self, bot_id: int) -> str | None: ...

    async def set_bot_username(self, bot_id: int, username: str) -> None: ...

    async def answer_callback(self, bot_id: int, query_id: str, text: str) -> None: ...
