"""What ingest's handlers need of storage, as ports: PostgreSQL in `adapters/postgres.py`,
in memory in `adapters/memory.py`; one contract suite runs on both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chime_ingest.domain.chats import ChatState
from chime_ingest.domain.pools import Pools
from chime_kit.event_store import Recorded
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
    language_chosen_by: str | None = None
    version: int | None = None  # of the chat's stream, as far as this row was folded


@dataclass(frozen=True)
class ChatSnapshot:
    """A chat's state as folded from its stream up to `version`."""

    version: int
    state: ChatState


class ChatsView(Projection, Protocol):
    """The chats projection: what ingest knows of each chat, for queries, and the snapshot
    its decisions start from (`snapshot`). It also keeps the callback answers a
    conversation owes Telegram, which `entrypoints/callback_answers.py` sends as soon as
    they are committed."""

    async def get(self, bot_id: int, chat_id: int) -> ChatRow | None: ...

    async def snapshot(self, bot_id: int, chat_id: int) -> ChatSnapshot | None:
        """The chat's state at its stream's current version, read from its row; None when
        the row is not known to be current (the caller replays the stream)."""
        ...

    async def restore(self, bot_id: int, chat_id: int, events: Sequence[Recorded]) -> None:
        """Fold the chat's row again from its whole stream (`events`, from version 1) and
        mark it current at the last one's version, unless a newer fold got there first: a
        row found behind its stream is repaired by the update that found it."""
        ...

    async def bot_username(self, bot_id: int) -> str | None: ...

    async def set_bot_username(self, bot_id: int, username: str) -> None: ...

    async def answer_callback(self, bot_id: int, query_id: str, text: str) -> None: ...


@dataclass(frozen=True)
class PoolLoad:
    pool: str
    bot_id: int
    chats: int  # assigned to it
    confirmed: int  # of those, the ones that started it


class PoolsView(Projection, Protocol):
    """The pools projection: each chat's worker and each worker's load (decisions on a
    chat's assignment are taken from its stream; the load a new one is chosen by is read
    here)."""

    async def loads(self, pool: str, workers: Sequence[int]) -> dict[int, int]:
        """Chats assigned to each of `workers` whose username is known (a deep link can be
        made to it), 0 for one never assigned any."""
        ...

    async def all_loads(self) -> list[PoolLoad]: ...


@dataclass(frozen=True)
class Pooling:
    """The configured pools and their projection, for one unit of work."""

    pools: Pools
    view: PoolsView
