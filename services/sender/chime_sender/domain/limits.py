"""Telegram's flood limits as pure rules over an injected clock.

Per bot token: at most `token_rate` sends in any `token_window` (sliding). Per chat: a
private chat (positive id) gets one send per `chat_interval`; a group (negative id) at most
`group_rate` sends in any `group_window`. Chat pacing is computed here and stored in
PostgreSQL so every replica sees it; the token window lives in the process (one replica per
token set for now).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Limits:
    token_rate: int = 30
    token_window: float = 1.0
    chat_interval: float = 1.0
    group_rate: int = 20
    group_window: float = 60.0
    # Requests reach Telegram a little after we time them; the slack keeps jitter under it.
    margin: float = 0.03


def is_group(chat_id: int) -> bool:
    return chat_id < 0


class TokenLimiter:
    """A sliding-window log per bot: `delay` says how long until a send fits, `take` records it.

    A 429 `pause`s the bot: nothing is allowed until the pause ends.
    """

    def __init__(self, limits: Limits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self.clock = clock
        self._sends: dict[int, deque[float]] = {}
        self._paused_until: dict[int, float] = {}

    def delay(self, bot_id: int) -> float:
        now = self.clock()
        window = self.limits.token_window + self.limits.margin
        sends = self._sends.setdefault(bot_id, deque())
        while sends and now - sends[0] >= window:
            sends.popleft()
        wait = self._paused_until.get(bot_id, now) - now
        if len(sends) >= self.limits.token_rate:
            wait = max(wait, sends[len(sends) - self.limits.token_rate] + window - now)
        return max(0.0, wait)

    def take(self, bot_id: int) -> float:
        """Record a send now and return 0, or return the seconds to wait (nothing recorded)."""
        wait = self.delay(bot_id)
        if wait <= 0:
            self._sends[bot_id].append(self.clock())
        return wait

    def available(self, bot_id: int) -> int:
        """How many sends would fit right now."""
        if self.delay(bot_id) > 0:
            return 0
        return self.limits.token_rate - len(self._sends[bot_id])

    def pause(self, bot_id: int, seconds: float) -> None:
        until = self.clock() + seconds
        self._paused_until[bot_id] = max(until, self._paused_until.get(bot_id, until))


@dataclass(frozen=True)
class ChatPace:
    """What is stored per (bot, chat): when the next send may start and the recent sends."""

    next_send_at: datetime
    recent: tuple[datetime, ...] = ()


def after_send(
    limits: Limits, chat_id: int, recent: Sequence[datetime], done: datetime
) -> ChatPace:
    """The chat's pace after a send that finished at `done`.

    `done` is after Telegram received the message, so spacing from it never undercuts the
    limit, whatever the network did.
    """
    if not is_group(chat_id):
        return ChatPace(done + timedelta(seconds=limits.chat_interval))
    window = timedelta(seconds=limits.group_window)
    kept = (*(t for t in recent if done - t < window), done)
    kept = kept[-limits.group_rate :]
    if len(kept) < limits.group_rate:
        return ChatPace(done, kept)
    return ChatPace(kept[0] + window, kept)


def paused(pace: ChatPace, until: datetime) -> ChatPace:
    """The chat's pace when it must also wait until `until` (a 429, a retry's backoff)."""
    return ChatPace(max(pace.next_send_at, until), pace.recent)
