"""The api's repositories that handlers take: PostgreSQL in `adapters/`, memory in
`adapters/memory.py`; one contract suite runs both
(`tests/integration/test_api_read_models_contract.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from chime_api.domain.chats import BotChat, Chat, ChatFilter
from chime_api.domain.notifications import Notification, Status
from chime_api.domain.recipients import Recipient, RecipientStatus
from chime_kit.event_store import Recorded


class Notifications(Protocol):
    """The notifications projection (`PostgresNotifications`, `InMemoryNotifications`)."""

    async def apply(self, events: Sequence[Recorded]) -> None: ...

    async def get(self, notification_id: str) -> Notification | None: ...

    async def page(
        self,
        owner: str,
        limit: int,
        after: tuple[datetime, str] | None,
        status: Status | None = None,
        chat_id: int | None = None,
    ) -> list[Notification]: ...


class Chats(Protocol):
    """The chats projection (`PostgresChats`, `InMemoryChats`)."""

    async def apply(self, events: Sequence[Recorded]) -> None: ...

    async def get(self, bot_id: int, chat_id: int) -> BotChat | None: ...

    async def chat(self, chat_id: int) -> Chat | None: ...

    async def page(
        self, where: ChatFilter, limit: int, after: tuple[datetime, int] | None
    ) -> list[Chat]: ...


class Recipients(Protocol):
    """The recipients projection (`PostgresRecipients`, `InMemoryRecipients`)."""

    async def apply(self, events: Sequence[Recorded]) -> None: ...

    async def is_ours(self, broadcast_id: str) -> bool: ...

    async def page(
        self,
        broadcast_id: str,
        limit: int,
        after: tuple[datetime, int] | None,
        status: RecipientStatus | None = None,
    ) -> list[Recipient]: ...
