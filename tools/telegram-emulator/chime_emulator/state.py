"""In-memory world of the emulator: bots, users, chats, pending updates and counters."""

import asyncio
import itertools
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from chime_emulator.limits import ChatClass, LimitKind

PRIVATE_ID_START = 100_000_001
GROUP_ID_START = 4_000_000_001
SUPERGROUP_ID_OFFSET = 1_000_000_000_000
SUPERGROUP_ID_START = 2_000_000_001


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@dataclass
class User:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    def to_api(self) -> dict[str, Any]:
        return _without_none(
            {
                "id": self.id,
                "is_bot": False,
                "first_name": self.first_name,
                "last_name": self.last_name,
                "username": self.username,
                "language_code": self.language_code,
            }
        )


@dataclass
class Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool | None = None
    last_message_id: int = 0

    @property
    def chat_class(self) -> ChatClass:
        if self.type == "private":
            return ChatClass.PRIVATE
        if self.type in ("group", "supergroup"):
            return ChatClass.GROUP
        return ChatClass.OTHER

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id

    def to_api(self) -> dict[str, Any]:
        return _without_none(
            {
                "id": self.id,
                "type": self.type,
                "title": self.title,
                "username": self.username,
                "first_name": self.first_name,
                "last_name": self.last_name,
                "is_forum": self.is_forum,
            }
        )


@dataclass
class PendingUpdate:
    update_id: int
    payload: Any


def update_id_origin(now: float | None = None) -> int:
    """Where a bot's update ids start: Telegram never reuses one, so a restarted emulator
    must not either (a bot's ingest deduplicates by it). Eighths of a second since 2025
    stay below 2**31, Telegram's bound, until 2033."""
    seconds = (time.time() if now is None else now) - 1_735_689_600
    return max(0, int(seconds * 8))


@dataclass
class Bot:
    id: int
    token: str
    username: str
    first_name: str
    webhook_url: str = ""
    webhook_secret: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None
    pending: deque[PendingUpdate] = field(default_factory=deque)
    last_update_id: int = field(default_factory=update_id_origin)
    blocked_by: set[int] = field(default_factory=set)
    sent: list[dict[str, Any]] = field(default_factory=list)
    poll_generation: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        """Wakes everyone waiting on `changed`; later waiters get a fresh event."""
        self.changed.set()
        self.changed = asyncio.Event()

    def allocate_update_id(self, wanted: int | None = None) -> int:
        update_id = wanted if wanted is not None else self.last_update_id + 1
        self.last_update_id = max(self.last_update_id, update_id)
        return update_id

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def get_me(self) -> dict[str, Any]:
        return self.to_api() | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }


@dataclass
class Stats:
    sent_total: int = 0
    sent_per_bot: Counter[int] = field(default_factory=Counter)
    rejected_429: int = 0
    breaches: Counter[LimitKind] = field(default_factory=Counter)
    errors_5xx_injected: int = 0
    updates_injected: int = 0
    webhook_deliveries_ok: int = 0
    webhook_deliveries_failed: int = 0
    requests_per_method: Counter[str] = field(default_factory=Counter)

    def to_api(self) -> dict[str, Any]:
        return {
            "sent_total": self.sent_total,
            "sent_per_bot": {str(bot_id): count for bot_id, count in self.sent_per_bot.items()},
            "rejected_429": self.rejected_429,
            "breaches": {kind.value: self.breaches[kind] for kind in LimitKind},
            "errors_5xx_injected": self.errors_5xx_injected,
            "updates_injected": self.updates_injected,
            "webhook_deliveries_ok": self.webhook_deliveries_ok,
            "webhook_deliveries_failed": self.webhook_deliveries_failed,
            "requests_per_method": dict(self.requests_per_method),
        }


class EmulatorState:
    def __init__(self) -> None:
        self.bots_by_token: dict[str, Bot] = {}
        self.bots_by_id: dict[int, Bot] = {}
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.stats = Stats()
        self._private_ids = itertools.count(PRIVATE_ID_START)
        self._group_ids = itertools.count(GROUP_ID_START)
        self._supergroup_ids = itertools.count(SUPERGROUP_ID_START)

    def register_bot(
        self, token: str, username: str | None = None, first_name: str | None = None
    ) -> Bot:
        bot_id = int(token.split(":", 1)[0])
        existing = self.bots_by_id.get(bot_id)
        if existing is not None and existing.token == token:
            existing.username = username or existing.username
            existing.first_name = first_name or existing.first_name
            return existing
        if existing is not None:  # a new token for the same bot revokes the old one
            del self.bots_by_token[existing.token]
        bot = Bot(
            id=bot_id,
            token=token,
            username=username or f"bot{bot_id}_bot",
            first_name=first_name or f"Bot {bot_id}",
        )
        self.bots_by_token[token] = bot
        self.bots_by_id[bot_id] = bot
        return bot

    def add_user(self, user: User) -> User:
        self.users[user.id] = user
        return user

    def user(self, user_id: int) -> User:
        """The user with that id, invented on first mention."""
        return self.users.get(user_id) or self.add_user(User(user_id, f"User {user_id}"))

    def private_chat(self, user: User) -> Chat:
        chat = self.chats.get(user.id)
        if chat is None:
            chat = Chat(user.id, "private")
            self.chats[user.id] = chat
        chat.first_name, chat.last_name, chat.username = (
            user.first_name,
            user.last_name,
            user.username,
        )
        return chat

    def new_chat_id(self, chat_type: str) -> int:
        if chat_type == "private":
            return next(self._private_ids)
        if chat_type == "group":
            return -next(self._group_ids)
        return -(SUPERGROUP_ID_OFFSET + next(self._supergroup_ids))

    def find_chat(self, chat_id: int | str) -> Chat | None:
        if isinstance(chat_id, int):
            return self.chats.get(chat_id)
        username = chat_id.removeprefix("@").lower()
        return next(
            (c for c in self.chats.values() if (c.username or "").lower() == username), None
        )
