"""The api's repositories that handlers take: PostgreSQL in `adapters/`, memory in
`adapters/memory.py`; one contract suite runs both
(`tests/integration/test_api_read_models_contract.py`,
`tests/integration/test_api_requests_contract.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from chime_api.domain.chats import BotChat, Chat, ChatFilter
from chime_api.domain.keys import ApiKey
from chime_api.domain.notifications import Notification, Status
from chime_api.domain.recipients import Recipient, RecipientStatus
from chime_api.domain.requests import BroadcastRow, ScheduleRow, SubscriptionRow
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


class Keys(Protocol):
    """The keys projection (`PostgresKeys`, `InMemoryKeys`)."""

    async def apply(self, events: Sequence[Recorded]) -> None: ...

    async def get(self, key_id: str) -> ApiKey | None: ...

    async def page(
        self, caller: ApiKey, limit: int, after: tuple[datetime, str] | None
    ) -> list[ApiKey]: ...

    async def all(self) -> list[ApiKey]: ...


class Requests(Protocol):
    """Schedules, broadcasts and subscriptions (`PostgresRequests`, `InMemoryRequests`)."""

    async def apply(self, events: Sequence[Recorded]) -> None: ...

    async def schedule(self, schedule_id: str) -> ScheduleRow | None: ...

    async def schedules(
        self, owner: str, limit: int, after: tuple[datetime, str] | None, status: str | None
    ) -> list[ScheduleRow]: ...

    async def broadcast(self, broadcast_id: str) -> BroadcastRow | None: ...

    async def broadcasts(
        self, owner: str, limit: int, after: tuple[datetime, str] | None, topic: str | None
    ) -> list[BroadcastRow]: ...

    async def subscriptions(
        self, owner: str, topic: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[SubscriptionRow]: ...

    async def topics(self, owner: str) -> list[tuple[str, int]]: ...
