"""Telegram's flood limits as pure logic over an injected clock.

Three limits apply per bot token: messages per second across all chats, a minimum
interval between messages to the same private chat, and messages per minute to one group
or channel. A value <= 0 disables that limit. A message sent with `allow_paid_broadcast`
may use the token's paid rate (1000/s) instead; the others still count against 30/s.
"""

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

TOKEN_WINDOW_S = 1.0
GROUP_WINDOW_S = 60.0
# Absorbs float noise such as 0.1 * 10 != 1.0 in window and ceil() arithmetic.
_EPSILON = 1e-9


class LimitKind(StrEnum):
    TOKEN = "token"  # noqa: S105 - the per-token limit, not a secret
    CHAT = "chat"
    GROUP = "group"


class ChatClass(StrEnum):
    PRIVATE = "private"
    GROUP = "group"
    OTHER = "other"


@dataclass(frozen=True)
class RateLimits:
    messages_per_second: int = 30
    private_chat_interval_s: float = 1.0
    group_messages_per_minute: int = 20
    paid_messages_per_second: int = 1000


@dataclass(frozen=True)
class Rejection:
    breached: tuple[LimitKind, ...]
    retry_after: int


def retry_after_seconds(wait_s: float) -> int:
    """Whole seconds a client must wait, never below one (as Telegram reports)."""
    return max(1, math.ceil(wait_s - _EPSILON))


def _window_wait(sends: deque[float], now: float, window_s: float, capacity: int) -> float:
    """Seconds until one more send fits into a sliding window; prunes expired sends."""
    while sends and now - sends[0] >= window_s - _EPSILON:
        sends.popleft()
    if len(sends) < capacity:
        return 0.0
    return sends[len(sends) - capacity] + window_s - now


class RateLimiter:
    def __init__(self, limits: RateLimits, clock: Callable[[], float]) -> None:
        self._limits = limits
        self._clock = clock
        self._token_sends: dict[str, deque[float]] = {}
        self._private_last_send: dict[tuple[str, int], float] = {}
        self._group_sends: dict[tuple[str, int], deque[float]] = {}

    def try_send(
        self, token: str, chat_id: int, chat_class: ChatClass, *, paid: bool = False
    ) -> Rejection | None:
        """Records the send and returns None when allowed; a rejected send is not recorded."""
        now = self._clock()
        waits: dict[LimitKind, float] = {}
        limits = self._limits
        token_sends: deque[float] | None = None
        per_second = limits.paid_messages_per_second if paid else limits.messages_per_second
        if limits.messages_per_second > 0 and per_second > 0:
            token_sends = self._token_sends.setdefault(token, deque())
            waits[LimitKind.TOKEN] = _window_wait(token_sends, now, TOKEN_WINDOW_S, per_second)
        chat_key = (token, chat_id)
        if chat_class is ChatClass.PRIVATE and limits.private_chat_interval_s > 0:
            last = self._private_last_send.get(chat_key)
            if last is not None:
                waits[LimitKind.CHAT] = last + limits.private_chat_interval_s - now
        group_sends: deque[float] | None = None
        if chat_class is ChatClass.GROUP and limits.group_messages_per_minute > 0:
            group_sends = self._group_sends.setdefault(chat_key, deque())
            waits[LimitKind.GROUP] = _window_wait(
                group_sends, now, GROUP_WINDOW_S, limits.group_messages_per_minute
            )
        breached = tuple(kind for kind, wait in waits.items() if wait > _EPSILON)
        if breached:
            return Rejection(breached, retry_after_seconds(max(waits[k] for k in breached)))
        if token_sends is not None:
            token_sends.append(now)
        if chat_class is ChatClass.PRIVATE and limits.private_chat_interval_s > 0:
            self._private_last_send[chat_key] = now
        if group_sends is not None:
            group_sends.append(now)
        return None

    def reset(self) -> None:
        self._token_sends.clear()
        self._private_last_send.clear()
        self._group_sends.clear()
