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


# A bot with one of these statuses is in the chat and receives its updates.
ACTIVE_STATUSES = frozenset({"member", "administrator"})


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@dataclass
class User:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    deactivated: bool = False

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
    # Messages that can still be replied to, edited or deleted, by message_id.
    messages: dict[int, "StoredMessage"] = field(default_factory=dict)
    # The status of each bot in a group or channel ("member", "administrator", "left",
    # "kicked"); a bot never mentioned is treated as a member (an administrator of a channel).
    members: dict[int, str] = field(default_factory=dict)
    migrated_to: int | None = None

    @property
    def chat_class(self) -> ChatClass:
        """Private chats have the per-chat interval; groups and channels 20 a minute."""
        return ChatClass.PRIVATE if self.type == "private" else ChatClass.GROUP

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
class StoredMessage:
    """A message in a chat as it stands now: `message` is edited in place."""

    message: dict[str, Any]
    bot_id: int | None  # the bot that sent it; None for a user's message
    sent_at: float
    deleted: bool = False

    def to_control(self) -> dict[str, Any]:
        shown = self.message | {"sent_at": self.sent_at}
        if self.deleted:
            shown["deleted"] = True
        return shown


@dataclass
class CallbackQuery:
    id: str
    bot_id: int
    chat_id: int
    message_id: int
    data: str | None
    answer: dict[str, Any] | None = None

    def to_control(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "data": self.data,
            "answered": self.answer is not None,
            "answer": self.answer,
        }


@dataclass(eq=False)
class PendingUpdate:
    update_id: int
    payload: Any
    # Updates of one chat are delivered one at a time, in order; other chats' in parallel.
    chat_id: int | None = None


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
    # Telegram's default is on; here off unless asked, so every group message reaches the bot.
    privacy_mode: bool = False
    # As Telegram: a bot may not write first to a user who never wrote to it. Off unless
    # asked, since tests create chats and send at once.
    require_start: bool = False
    started_by: set[int] = field(default_factory=set)
    webhook_url: str = ""
    webhook_secret: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None
    pending: deque[PendingUpdate] = field(default_factory=deque)
    last_update_id: int = field(default_factory=update_id_origin)
    blocked_by: set[int] = field(default_factory=set)
    sent: list[StoredMessage] = field(default_factory=list)
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
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }


@dataclass
class Stats:
    sent_total: int = 0
    sent_per_bot: Counter[int] = field(default_factory=Counter)
    paid_broadcast_sent: int = 0
    edited_total: int = 0
    deleted_total: int = 0
    rejected_429: int = 0
    rejected_per_status: Counter[int] = field(default_factory=Counter)
    breaches: Counter[LimitKind] = field(default_factory=Counter)
    breaches_per_bot: dict[int, Counter[LimitKind]] = field(default_factory=dict)
    errors_5xx_injected: int = 0
    updates_injected: int = 0
    webhook_deliveries_ok: int = 0
    webhook_deliveries_failed: int = 0
    webhook_attempts_failed: int = 0
    requests_per_method: Counter[str] = field(default_factory=Counter)

    def count_breaches(self, bot_id: int, kinds: tuple[LimitKind, ...]) -> None:
        self.rejected_429 += 1
        self.breaches.update(kinds)
        self.breaches_per_bot.setdefault(bot_id, Counter()).update(kinds)

    def to_api(self) -> dict[str, Any]:
        return {
            "sent_total": self.sent_total,
            "sent_per_bot": {str(bot_id): count for bot_id, count in self.sent_per_bot.items()},
            "paid_broadcast_sent": self.paid_broadcast_sent,
            "edited_total": self.edited_total,
            "deleted_total": self.deleted_total,
            "rejected_429": self.rejected_429,
            "rejected_per_status": {
                str(status): count for status, count in self.rejected_per_status.items()
            },
            "breaches": _per_kind(self.breaches),
            "breaches_per_bot": {
                str(bot_id): _per_kind(counter) for bot_id, counter in self.breaches_per_bot.items()
            },
            "errors_5xx_injected": self.errors_5xx_injected,
            "updates_injected": self.updates_injected,
            "webhook_deliveries_ok": self.webhook_deliveries_ok,
            "webhook_deliveries_failed": self.webhook_deliveries_failed,
            "webhook_attempts_failed": self.webhook_attempts_failed,
            "requests_per_method": dict(self.requests_per_method),
        }


@dataclass(frozen=True)
class StoredFile:
    """A file Telegram keeps: `kind` is the message field it fills (photo, document)."""

    kind: str
    value: Any  # the PhotoSize list or the Document object


def _per_kind(counter: Counter[LimitKind]) -> dict[str, int]:
    return {kind.value: counter[kind] for kind in LimitKind}


class EmulatorState:
    def __init__(self) -> None:
        self.bots_by_token: dict[str, Bot] = {}
        self.bots_by_id: dict[int, Bot] = {}
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.files: dict[str, StoredFile] = {}
        self.callback_queries: dict[str, CallbackQuery] = {}
        self.stats = Stats()
        self._file_numbers = itertools.count(1)
        self._callback_numbers = itertools.count(1)
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
        return self.find_chat_by_name(chat_id)

    def find_chat_by_name(self, username: str) -> Chat | None:
        username = username.removeprefix("@").lower()
        return next(
            (c for c in self.chats.values() if (c.username or "").lower() == username), None
        )

    def new_file_number(self) -> int:
        return next(self._file_numbers)

    def new_callback_query_id(self) -> str:
        # Telegram's ids are decimal strings of a 64-bit number.
        return str(4_382_000_000_000_000_000 + next(self._callback_numbers))
